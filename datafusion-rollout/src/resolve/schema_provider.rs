//! The default schema, with the store's datasets in it.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::catalog::{SchemaProvider, TableProvider};
use datafusion::error::{DataFusionError, Result};

use super::provider::VersionedTable;
use crate::store::Store;

/// Separates a dataset from a version in the internal name of a pinned read (`orders@v1`).
/// Neither dataset names nor version ids can contain it.
pub const PIN_SEPARATOR: char = '@';

/// Wraps a schema so that every dataset of the store appears in it as a [`VersionedTable`]
/// (and `"orders@v1"` as the pinned version). Other tables live in the wrapped schema as usual;
/// a table cannot take a dataset's name.
#[derive(Debug)]
pub(crate) struct RolloutSchemaProvider {
    inner: Arc<dyn SchemaProvider>,
    store: Arc<Store>,
}

impl RolloutSchemaProvider {
    pub fn new(inner: Arc<dyn SchemaProvider>, store: Arc<Store>) -> Self {
        Self { inner, store }
    }

    fn dataset_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        let (dataset, pinned) = match name.split_once(PIN_SEPARATOR) {
            Some((d, v)) => (d, Some(v)),
            None => (name, None),
        };
        let state = self.store.state();
        if !state.datasets.contains_key(dataset) {
            if pinned.is_some() {
                // `x VERSION AS OF 'v'` on something that is not a dataset.
                return Err(DataFusionError::from(crate::Error::DatasetNotFound {
                    dataset: dataset.to_string(),
                    hint: format!(
                        "; VERSION AS OF reads versions of rollout datasets{}",
                        crate::error::hint_known("datasets", state.datasets.keys())
                    ),
                }));
            }
            return Ok(None);
        }
        let table = VersionedTable::try_new(Arc::clone(&self.store), dataset, pinned)
            .map_err(DataFusionError::from)?;
        Ok(Some(Arc::new(table)))
    }
}

#[async_trait]
impl SchemaProvider for RolloutSchemaProvider {
    fn owner_name(&self) -> Option<&str> {
        self.inner.owner_name()
    }

    fn table_names(&self) -> Vec<String> {
        let mut names = self.inner.table_names();
        names.extend(self.store.state().datasets.keys().cloned());
        names.sort();
        names.dedup();
        names
    }

    async fn table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        match self.dataset_table(name)? {
            Some(t) => Ok(Some(t)),
            None => self.inner.table(name).await,
        }
    }

    fn register_table(
        &self,
        name: String,
        table: Arc<dyn TableProvider>,
    ) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.store.state().datasets.contains_key(&name) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a rollout dataset; a table cannot take its name"
            )));
        }
        self.inner.register_table(name, table)
    }

    fn deregister_table(&self, name: &str) -> Result<Option<Arc<dyn TableProvider>>> {
        if self.store.state().datasets.contains_key(name) {
            return Err(DataFusionError::Plan(format!(
                "'{name}' is a rollout dataset, not a table; datasets are never dropped (their history is kept)"
            )));
        }
        self.inner.deregister_table(name)
    }

    fn table_exist(&self, name: &str) -> bool {
        let dataset = name.split_once(PIN_SEPARATOR).map_or(name, |(d, _)| d);
        self.store.state().datasets.contains_key(dataset) || self.inner.table_exist(name)
    }
}
