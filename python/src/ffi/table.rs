//! One dataset as a table provider for a foreign (datafusion-python) session.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{Session, TableProvider};
use datafusion::common::Column;
use datafusion::common::Statistics;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::config::ConfigOptions;
use datafusion::datasource::provider_as_source;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::execution::session_state::{SessionState, SessionStateBuilder};
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::expr_rewriter::unnormalize_col;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, LogicalPlanBuilder, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, displayable,
};
use datafusion_ffi::table_provider::FFI_TableProvider;
use datafusion_rollout::resolve::{VersionedTable, recorded_table, resolve, version_table};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::config::reader_of;
use super::{Reader, StoreHandle, runtime_handle, session_codec};
use crate::to_py_err;

/// A dataset (or one pinned version of it) that resolves in its own `scan`: the analyzer rule
/// that does this in a `RolloutContext` does not exist in a foreign session.
#[derive(Debug)]
pub struct RolloutTableProvider {
    handle: StoreHandle,
    table: VersionedTable,
    default_reader: Reader,
    runtime: tokio::runtime::Handle,
}

impl RolloutTableProvider {
    pub fn new(
        handle: StoreHandle,
        table: VersionedTable,
        default_reader: Reader,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self {
            handle,
            table,
            default_reader,
            runtime,
        }
    }
}

#[async_trait]
impl TableProvider for RolloutTableProvider {
    fn schema(&self) -> SchemaRef {
        self.table.schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> Result<Vec<TableProviderFilterPushDown>> {
        self.table.supports_filters_pushdown(filters)
    }

    async fn scan(
        &self,
        session: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let config = session.config().clone();
        let reader = reader_of(config.options(), &self.default_reader)?;
        let store = Arc::clone(&self.handle.store);
        let runtime_env = Arc::clone(&self.handle.runtime_env);
        let dataset = self.table.dataset().to_string();
        let pinned = self.table.pinned().map(str::to_string);
        let schema = self.table.schema();
        let projection = projection.cloned();
        let filters = filters.to_vec();
        // The foreign session polls this future outside our runtime, and its object store
        // registry is empty: the I/O runs on our runtime, the scan in a state of our own.
        let task = async move {
            // A PROMOTE or ROLLBACK committed by any session since the last read.
            store.refresh().await?;
            let resolution = resolve(
                &store.state(),
                &dataset,
                pinned.as_deref(),
                reader.consumer.as_deref(),
                reader.cohort.as_deref(),
            )?;
            let table = version_table(
                &store,
                &dataset,
                &resolution.version,
                schema,
                config.options(),
            )?;
            let described = resolution.to_string();
            let table = if reader.record_reads {
                recorded_table(&store, resolution, reader.consumer.clone(), table)
            } else {
                table
            };
            let state = SessionStateBuilder::new()
                .with_config(config)
                .with_runtime_env(Arc::clone(&runtime_env))
                .build();
            let plan = plan_scan(table, &state, projection.as_ref(), filters, limit).await?;
            let scan = RolloutScanExec::new(plan, runtime_env, described);
            Ok::<_, DataFusionError>(Arc::new(scan) as Arc<dyn ExecutionPlan>)
        };
        self.runtime
            .spawn(task)
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))?
    }
}

/// The plan reading `table`. Natively, DataFusion's physical optimizer pushes the query's
/// filters into the Parquet scan (row group and page pruning); the foreign optimizer cannot
/// reach into our plan, so with filters the scan is planned here as `filter, projection, limit`
/// over the table, through our session's optimizers. The foreign side still applies the
/// filters above it (they are `Inexact`), at little cost.
async fn plan_scan(
    table: Arc<dyn TableProvider>,
    state: &SessionState,
    projection: Option<&Vec<usize>>,
    filters: Vec<Expr>,
    limit: Option<usize>,
) -> Result<Arc<dyn ExecutionPlan>> {
    // Columns arrive qualified by the foreign session's table name.
    let Some(predicate) = conjunction(filters.into_iter().map(unnormalize_col)) else {
        return table.scan(state, projection, &[], limit).await;
    };
    let schema = table.schema();
    let mut plan =
        LogicalPlanBuilder::scan("version", provider_as_source(table), None)?.filter(predicate)?;
    if let Some(projection) = projection {
        let columns = projection
            .iter()
            .map(|&i| Expr::Column(Column::from_name(schema.field(i).name())));
        plan = plan.project(columns)?;
    }
    if limit.is_some() {
        plan = plan.limit(0, limit)?;
    }
    state.create_physical_plan(&plan.build()?).await
}

/// The scan of the version a session resolved to, run with the store's runtime environment
/// rather than the task's: across FFI the task context arrives with a default `RuntimeEnv`,
/// which lacks the store's (verifying) object stores.
///
/// A leaf on purpose: a child would be visible to the foreign optimizer, which inserts its own
/// operators above it, and every FFI crossing resets the runtime environment again.
#[derive(Debug)]
struct RolloutScanExec {
    input: Arc<dyn ExecutionPlan>,
    runtime_env: Arc<RuntimeEnv>,
    /// `RolloutScanExec: <dataset> -> '<version>': <why>`, as the node's name: only the name
    /// crosses FFI into the foreign EXPLAIN, where our `rollout_resolution` rows cannot go.
    label: String,
}

impl RolloutScanExec {
    fn new(
        input: Arc<dyn ExecutionPlan>,
        runtime_env: Arc<RuntimeEnv>,
        resolution: String,
    ) -> Self {
        Self {
            input,
            runtime_env,
            label: format!("RolloutScanExec: {resolution}"),
        }
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            input,
            runtime_env: Arc::clone(&self.runtime_env),
            label: self.label.clone(),
        }
    }
}

impl DisplayAs for RolloutScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let input = displayable(self.input.as_ref()).one_line().to_string();
        write!(f, "{} | {}", self.label, input.trim_end())
    }
}

impl ExecutionPlan for RolloutScanExec {
    fn name(&self) -> &str {
        &self.label
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        if children.is_empty() {
            Ok(self)
        } else {
            Err(DataFusionError::Internal(format!(
                "RolloutScanExec is a leaf, got {} children",
                children.len()
            )))
        }
    }

    /// The file scan spreads its files over `target_partitions` as it would locally.
    fn repartitioned(
        &self,
        target_partitions: usize,
        config: &ConfigOptions,
    ) -> Result<Option<Arc<dyn ExecutionPlan>>> {
        let input = self.input.repartitioned(target_partitions, config)?;
        Ok(input.map(|input| Arc::new(self.with_input(input)) as Arc<dyn ExecutionPlan>))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let context = TaskContext::new(
            context.task_id(),
            context.session_id(),
            context.session_config().clone(),
            context.scalar_functions().clone(),
            context.higher_order_functions().clone(),
            context.aggregate_functions().clone(),
            context.window_functions().clone(),
            Arc::clone(&self.runtime_env),
        );
        self.input.execute(partition, Arc::new(context))
    }

    fn partition_statistics(&self, partition: Option<usize>) -> Result<Arc<Statistics>> {
        #[allow(deprecated)]
        self.input.partition_statistics(partition)
    }
}

/// One dataset of a rollout store as a datafusion-python table.
///
/// Register it with `ctx.register_table("orders", table)`. It resolves like `RolloutCatalog`;
/// `version` pins it to one version. Its schema is the dataset's when the table was made.
#[pyclass(module = "datafusion_rollout", name = "RolloutTable", frozen)]
pub struct PyRolloutTable {
    provider: Arc<RolloutTableProvider>,
}

impl PyRolloutTable {
    pub fn from_provider(provider: RolloutTableProvider) -> Self {
        Self {
            provider: Arc::new(provider),
        }
    }
}

#[pymethods]
impl PyRolloutTable {
    #[new]
    #[pyo3(signature = (store, dataset, version = None, consumer = None, cohort = None))]
    fn new(
        store: &Bound<'_, PyAny>,
        dataset: &str,
        version: Option<&str>,
        consumer: Option<String>,
        cohort: Option<String>,
    ) -> PyResult<Self> {
        let handle = StoreHandle::open(store)?;
        let table = VersionedTable::try_new(Arc::clone(&handle.store), dataset, version)
            .map_err(to_py_err)?;
        let reader = Reader {
            consumer,
            cohort,
            ..Reader::default()
        };
        let provider = RolloutTableProvider::new(handle, table, reader, runtime_handle()?);
        Ok(Self::from_provider(provider))
    }

    /// The dataset's name.
    #[getter]
    fn dataset(&self) -> String {
        self.provider.table.dataset().to_string()
    }

    /// The version this table is pinned to, or None (resolved per consumer).
    #[getter]
    fn version(&self) -> Option<String> {
        self.provider.table.pinned().map(str::to_string)
    }

    fn __datafusion_table_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = session_codec(&session)?;
        let provider: Arc<dyn TableProvider> = self.provider.clone();
        let ffi =
            FFI_TableProvider::new_with_ffi_codec(provider, true, Some(runtime_handle()?), codec);
        PyCapsule::new_with_value(py, ffi, c"datafusion_table_provider")
    }

    fn __repr__(&self) -> String {
        let t = &self.provider.table;
        let d = &self.provider.default_reader;
        format!(
            "RolloutTable(store={:?}, dataset={:?}, version={:?}, consumer={:?}, cohort={:?})",
            self.provider.handle.store.url().as_str(),
            t.dataset(),
            t.pinned(),
            d.consumer,
            d.cohort
        )
    }
}
