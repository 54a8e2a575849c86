//! `drift('orders', 'v1', 'v2')`: two versions of a dataset compared column by column.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Builder, RecordBatch, StringBuilder};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::streaming::StreamingTable;
use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::{SendableRecordBatchStream, SessionState, TaskContext};
use datafusion::logical_expr::Expr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::PartitionStream;
use datafusion::prelude::SessionContext;
use datafusion_rollout_udfs::drift::profile::{Binning, Metric};

use super::profile::{self, Stat, VersionKey};
use crate::catalog::{State, schema_from_columns};
use crate::resolve::unrecorded;
use crate::store::Store;

/// Thresholds of the verdict (Evidently's defaults for large samples): numeric columns drift
/// when `wasserstein_normed >= 0.1` or `psi >= 0.25`; categorical ones when
/// `js_distance >= 0.1` or `psi >= 0.25`; `psi >= 0.1` alone is `moderate`.
pub const WASSERSTEIN_NORMED_DRIFT: f64 = 0.1;
pub const JS_DISTANCE_DRIFT: f64 = 0.1;
pub const PSI_DRIFT: f64 = 0.25;
pub const PSI_MODERATE: f64 = 0.1;

/// The `drift` table function: one row per column both versions have, with the statistics
/// that fit its type (numeric: KS statistic and p-value, normed Wasserstein, PSI, JS distance;
/// string and boolean: PSI, JS distance, chi² p-value) and a verdict. Computed from the
/// versions' stored profiles: a version is scanned once for its profile, on first use.
#[derive(Debug)]
pub(crate) struct DriftFunction {
    store: Arc<Store>,
}

impl DriftFunction {
    pub fn new(store: Arc<Store>) -> Self {
        Self { store }
    }
}

fn string_arg(expr: &Expr, what: &str) -> Result<String> {
    match expr {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::Utf8View(Some(s))
            | ScalarValue::LargeUtf8(Some(s)),
            _,
        ) => Ok(s.clone()),
        other => Err(DataFusionError::Plan(format!(
            "drift(dataset, baseline_version, candidate_version): the {what} must be a string literal, got {other}"
        ))),
    }
}

#[derive(Debug)]
pub(super) enum Kind {
    Numeric,
    Categorical,
}

fn kind_of(t: &DataType) -> Option<Kind> {
    if t.is_numeric() {
        Some(Kind::Numeric)
    } else if matches!(
        t,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View | DataType::Boolean
    ) {
        Some(Kind::Categorical)
    } else {
        None
    }
}

/// The columns both versions of `dataset` have, in the dataset's order, of a type the drift
/// statistics (and histograms) apply to.
pub(super) fn shared_columns(
    state: &State,
    dataset: &str,
    baseline: &str,
    candidate: &str,
) -> crate::error::Result<Vec<(String, DataType, Kind)>> {
    let b = state.version(dataset, baseline)?;
    let c = state.version(dataset, candidate)?;
    let schema = schema_from_columns(
        &state
            .dataset(dataset)?
            .reader_columns(&[baseline, candidate]),
    )?;
    let has = |v: &crate::catalog::Version, name: &str| v.schema.iter().any(|x| x.name == name);
    Ok(schema
        .fields()
        .iter()
        .filter(|f| has(b, f.name()) && has(c, f.name()))
        .filter_map(|f| {
            kind_of(f.data_type()).map(|k| (f.name().clone(), f.data_type().clone(), k))
        })
        .collect())
}

impl TableFunctionImpl for DriftFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let [dataset, baseline, candidate] = args.exprs() else {
            return Err(DataFusionError::Plan(
                "drift takes three arguments: drift('dataset', 'baseline_version', 'candidate_version')".into(),
            ));
        };
        let dataset = string_arg(dataset, "dataset")?;
        let baseline = string_arg(baseline, "baseline version")?;
        let candidate = string_arg(candidate, "candidate version")?;
        let state = self.store.state();
        let columns = shared_columns(&state, &dataset, &baseline, &candidate)
            .map_err(DataFusionError::from)?;
        if columns.is_empty() {
            return Err(DataFusionError::Plan(format!(
                "drift: '{baseline}' and '{candidate}' of {dataset} share no numeric, string or boolean column"
            )));
        }
        let key = |v: &str| VersionKey::of(&state, &dataset, v).map_err(DataFusionError::from);
        let session = args
            .session()
            .as_any()
            .downcast_ref::<SessionState>()
            .ok_or_else(|| DataFusionError::Internal("drift: not a DataFusion session".into()))?;
        let schema = drift_schema();
        // Its reads of both versions (a profile computed on first use) are the engine's, as a
        // contract's drift expectations are: the same answer from stored profiles reads nothing.
        let ctx = unrecorded(&SessionContext::new_with_state(session.clone()))?;
        let stream = DriftStream {
            ctx,
            store: Arc::clone(&self.store),
            sides: Arc::new((key(&baseline)?, key(&candidate)?)),
            columns: Arc::new(columns),
            schema: Arc::clone(&schema),
        };
        Ok(Arc::new(StreamingTable::try_new(
            schema,
            vec![Arc::new(stream)],
        )?))
    }
}

fn drift_schema() -> SchemaRef {
    let f = |n: &str| Field::new(n, DataType::Float64, true);
    Arc::new(Schema::new(vec![
        Field::new("column", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        f("ks_statistic"),
        f("ks_pvalue"),
        f("wasserstein_normed"),
        f("psi"),
        f("js_distance"),
        f("chi2_pvalue"),
        Field::new("verdict", DataType::Utf8, false),
    ]))
}

/// The rows of `drift()`, computed when the query runs: each column's statistics from the two
/// versions' stored profiles (computed and stored on first use).
struct DriftStream {
    ctx: SessionContext,
    store: Arc<Store>,
    sides: Arc<(VersionKey, VersionKey)>,
    columns: Arc<Vec<(String, DataType, Kind)>>,
    schema: SchemaRef,
}

impl std::fmt::Debug for DriftStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriftStream")
            .field("sides", &self.sides)
            .field("columns", &self.columns.len())
            .finish()
    }
}

/// The verdict of one column (Evidently's thresholds, see the constants).
fn verdict(
    ks: Option<f64>,
    w_normed: Option<f64>,
    psi: Option<f64>,
    js: Option<f64>,
) -> &'static str {
    let at_least = |x: Option<f64>, t: f64| x.is_some_and(|x| x >= t);
    if at_least(w_normed, WASSERSTEIN_NORMED_DRIFT)
        || (ks.is_none() && at_least(js, JS_DISTANCE_DRIFT))
        || at_least(psi, PSI_DRIFT)
    {
        "drift"
    } else if at_least(psi, PSI_MODERATE) {
        "moderate"
    } else {
        "stable"
    }
}

async fn drift_rows(
    ctx: SessionContext,
    store: Arc<Store>,
    sides: Arc<(VersionKey, VersionKey)>,
    columns: Arc<Vec<(String, DataType, Kind)>>,
    schema: SchemaRef,
) -> crate::error::Result<RecordBatch> {
    let mut names = StringBuilder::new();
    let mut types = StringBuilder::new();
    let mut stats: [Float64Builder; 6] = Default::default();
    let mut verdicts = StringBuilder::new();
    for (name, data_type, kind) in columns.iter() {
        let numeric = matches!(kind, Kind::Numeric);
        let stat = Stat {
            function: "drift",
            metric: if numeric {
                Metric::Summary
            } else {
                Metric::Psi
            },
            binning: Binning::Evidently,
        };
        let value =
            profile::drift(&ctx, &store, (&sides.0, &sides.1), name, data_type, stat).await?;
        let get = |m: Metric| value.get(m, Binning::Evidently);
        let row = if numeric {
            [
                get(Metric::KsStatistic),
                get(Metric::KsPvalue),
                get(Metric::WassersteinNormed),
                get(Metric::Psi),
                get(Metric::Js),
                None,
            ]
        } else {
            [
                None,
                None,
                None,
                get(Metric::Psi),
                get(Metric::Js),
                get(Metric::Chi2Pvalue),
            ]
        };
        names.append_value(name);
        types.append_value(data_type.to_string());
        for (b, v) in stats.iter_mut().zip(row) {
            b.append_option(v);
        }
        verdicts.append_value(verdict(row[0], row[2], row[3], row[4]));
    }
    let mut cols: Vec<ArrayRef> = vec![Arc::new(names.finish()), Arc::new(types.finish())];
    cols.extend(stats.iter_mut().map(|b| Arc::new(b.finish()) as ArrayRef));
    cols.push(Arc::new(verdicts.finish()));
    Ok(RecordBatch::try_new(schema, cols)?)
}

impl PartitionStream for DriftStream {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let rows = drift_rows(
            self.ctx.clone(),
            Arc::clone(&self.store),
            Arc::clone(&self.sides),
            Arc::clone(&self.columns),
            Arc::clone(&self.schema),
        );
        Box::pin(RecordBatchStreamAdapter::new(
            Arc::clone(&self.schema),
            futures::stream::once(async move { rows.await.map_err(DataFusionError::from) }),
        ))
    }
}
