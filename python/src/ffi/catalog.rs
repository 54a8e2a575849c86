//! The store as a catalog for datafusion-python: one schema, `public`, holding every dataset.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{CatalogProvider, SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};
use datafusion_ffi::catalog_provider::FFI_CatalogProvider;
use datafusion_rollout::resolve::{PIN_SEPARATOR, VersionedTable};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::table::{PyRolloutTable, RolloutTableProvider};
use super::{Reader, StoreHandle, runtime_handle, session_codec};
use crate::to_py_err;

/// The name of the catalog's only schema.
pub const SCHEMA: &str = "public";

/// A catalog whose `public` schema lists the store's datasets.
#[derive(Debug)]
struct RolloutCatalogProvider {
    schema: Arc<RolloutSchemaProvider>,
}

impl CatalogProvider for RolloutCatalogProvider {
    fn schema_names(&self) -> Vec<String> {
        vec![SCHEMA.to_string()]
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        (name == SCHEMA).then(|| Arc::clone(&self.schema) as Arc<dyn SchemaProvider>)
    }
}

/// Every dataset as a table resolving per consumer, and `"orders@v1"` as that version.
#[derive(Debug)]
struct RolloutSchemaProvider {
    handle: StoreHandle,
    default_reader: Reader,
    runtime: tokio::runtime::Handle,
}

impl RolloutSchemaProvider {
    fn provider(&self, name: &str) -> datafusion_rollout::Result<RolloutTableProvider> {
        let (dataset, pinned) = match name.split_once(PIN_SEPARATOR) {
            Some((d, v)) => (d, Some(v)),
            None => (name, None),
        };
        let table = VersionedTable::try_new(Arc::clone(&self.handle.store), dataset, pinned)?;
        Ok(RolloutTableProvider::new(
            self.handle.clone(),
            table,
            self.default_reader.clone(),
            self.runtime.clone(),
        ))
    }
}

#[async_trait]
impl SchemaProvider for RolloutSchemaProvider {
    /// The datasets as of the last lookup or scan (listing does not read the log).
    fn table_names(&self) -> Vec<String> {
        self.handle.store.state().datasets.keys().cloned().collect()
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        // Polled by the foreign session, outside our runtime: the log is read on ours.
        let store = Arc::clone(&self.handle.store);
        self.runtime
            .spawn(async move { store.refresh().await })
            .await
            .map_err(|e| DataFusionError::External(Box::new(e)))??;
        // Only datasets live here: an unknown name is an error naming the known ones.
        Ok(Some(Arc::new(self.provider(name)?)))
    }

    fn table_exist(&self, name: &str) -> bool {
        let dataset = name.split_once(PIN_SEPARATOR).map_or(name, |(d, _)| d);
        self.handle.store.state().datasets.contains_key(dataset)
    }
}

/// A rollout store as a datafusion-python catalog.
///
/// Register it with `ctx.register_catalog_provider("rollout", catalog)` and read
/// `rollout.public.<dataset>` (or `rollout.public."<dataset>@<version>"` for one version).
/// Each scan resolves the version for the session's `rollout.consumer` / `rollout.cohort`
/// (see `RolloutConfig`), else for the `consumer` / `cohort` given here, and reads the store's
/// log first: a `PROMOTE` or `ROLLBACK` made through `connect()` is seen by the next query.
#[pyclass(module = "datafusion_rollout", name = "RolloutCatalog", frozen)]
pub struct PyRolloutCatalog {
    schema: Arc<RolloutSchemaProvider>,
}

#[pymethods]
impl PyRolloutCatalog {
    #[new]
    #[pyo3(signature = (store, consumer = None, cohort = None))]
    fn new(
        store: &Bound<'_, PyAny>,
        consumer: Option<String>,
        cohort: Option<String>,
    ) -> PyResult<Self> {
        let schema = RolloutSchemaProvider {
            handle: StoreHandle::open(store)?,
            default_reader: Reader {
                consumer,
                cohort,
                ..Reader::default()
            },
            runtime: runtime_handle()?,
        };
        Ok(Self {
            schema: Arc::new(schema),
        })
    }

    /// Writes the reads this catalog's scans recorded (the reads ledger) to the store now;
    /// returns how many. They are also written every few seconds.
    fn flush_events(&self, py: Python<'_>) -> PyResult<usize> {
        let store = Arc::clone(&self.schema.handle.store);
        crate::run(py, async move { store.events().flush().await })
    }

    /// The datasets (as of the last lookup or scan).
    #[getter]
    fn datasets(&self) -> Vec<String> {
        self.schema.table_names()
    }

    /// One dataset (or `version` of it) of this store, for `SessionContext.register_table`.
    #[pyo3(signature = (dataset, version = None))]
    fn table(&self, dataset: &str, version: Option<&str>) -> PyResult<PyRolloutTable> {
        let name = match version {
            Some(v) => format!("{dataset}{PIN_SEPARATOR}{v}"),
            None => dataset.to_string(),
        };
        let provider = self.schema.provider(&name).map_err(to_py_err)?;
        Ok(PyRolloutTable::from_provider(provider))
    }

    fn __datafusion_catalog_provider__<'py>(
        &self,
        py: Python<'py>,
        session: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyCapsule>> {
        let codec = session_codec(&session)?;
        let catalog: Arc<dyn CatalogProvider> = Arc::new(RolloutCatalogProvider {
            schema: Arc::clone(&self.schema),
        });
        let ffi = FFI_CatalogProvider::new_with_ffi_codec(catalog, Some(runtime_handle()?), codec);
        PyCapsule::new_with_value(py, ffi, c"datafusion_catalog_provider")
    }

    fn __repr__(&self) -> String {
        let d = &self.schema.default_reader;
        format!(
            "RolloutCatalog(store={:?}, consumer={:?}, cohort={:?})",
            self.schema.handle.store.url().as_str(),
            d.consumer,
            d.cohort
        )
    }
}
