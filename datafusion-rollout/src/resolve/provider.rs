//! `VersionedTable`: the table provider that stands for a dataset in the catalog.

use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::config::TableOptions;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{Column, ScalarValue};
use datafusion::config::ConfigOptions;
use datafusion::datasource::ViewTable;
use datafusion::datasource::file_format::FileFormat as DfFileFormat;
use datafusion::datasource::file_format::csv::CsvFormat;
use datafusion::datasource::file_format::json::JsonFormat;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{ListingTable, ListingTableUrl};
use datafusion::datasource::source_as_provider;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    Expr, LogicalPlan, LogicalPlanBuilder, TableProviderFilterPushDown, TableType, cast, col, lit,
};
use datafusion::object_store::ObjectMeta;
use datafusion::physical_plan::ExecutionPlan;

use super::config::Consistency;
use super::config::RolloutConfig;
use super::listing::{PinnedListing, listing_of};
use super::recording::{ReadProbe, RecordedTable};
use super::resolution::{Reason, Resolution, resolve};
use crate::catalog::{
    ColumnDef, FileFormat, Privilege, State, VersionStatus, columns_from_schema,
    schema_from_columns,
};
use crate::error::{Error, Result};
use crate::store::Store;

/// A dataset in the catalog. Its scans are replaced, during analysis, by the table of
/// the version the session resolves to (see [`super::ResolveVersions`]), so the physical plan
/// is that of a direct read of the version's files. `scan` resolves too, for engines that
/// skip the analyzer rule (a foreign session through FFI, for instance).
#[derive(Debug)]
pub struct VersionedTable {
    dataset: String,
    pinned: Option<String>,
    schema: SchemaRef,
    store: Arc<Store>,
}

impl VersionedTable {
    /// The provider for `dataset` (optionally pinned to one version) in the current state.
    pub fn try_new(store: Arc<Store>, dataset: &str, pinned: Option<&str>) -> Result<Self> {
        let state = store.state();
        let ds = state.dataset(dataset)?;
        if let Some(v) = pinned {
            state.readable_version(dataset, v)?;
        }
        Ok(Self {
            dataset: dataset.to_string(),
            pinned: pinned.map(str::to_string),
            schema: schema_from_columns(&ds.reader_columns(pinned.as_slice()))?,
            store,
        })
    }

    /// The dataset's name.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// The version it is pinned to (`orders VERSION AS OF 'v1'`), or `None` when it resolves
    /// per session.
    pub fn pinned(&self) -> Option<&str> {
        self.pinned.as_deref()
    }

    /// Which version a session with `options` reads.
    pub fn resolve(&self, options: &ConfigOptions) -> Result<Resolution> {
        let cfg = RolloutConfig::from_options(options);
        let state = self.store.state();
        authorize_read(&state, &self.dataset, &cfg)?;
        let fresh = || {
            resolve(
                &state,
                &self.dataset,
                self.pinned.as_deref(),
                cfg.consumer.as_deref(),
                cfg.cohort.as_deref(),
            )
        };
        if cfg.consistency != Consistency::Session || self.pinned.is_some() {
            return fresh();
        }
        // Session consistency: the version first resolved, unless it was rolled back since.
        let kept = cfg.session_versions.get(&self.dataset).filter(|v| {
            state.version(&self.dataset, v).is_ok_and(|v| {
                !matches!(
                    v.status,
                    VersionStatus::RolledBack | VersionStatus::Rejected | VersionStatus::Dropped
                )
            })
        });
        let resolution = fresh()?;
        match kept {
            Some(version) if version != resolution.version => Ok(Resolution {
                dataset: self.dataset.clone(),
                version,
                reason: Reason::KeptForSession,
            }),
            Some(_) => Ok(resolution),
            None => {
                cfg.session_versions
                    .keep(&self.dataset, &resolution.version);
                Ok(resolution)
            }
        }
    }

    /// The table of the version a session with `options` reads: its [`PinnedListing`] (or, for a
    /// CSV version lacking columns the dataset has since gained, a view adding them as NULL),
    /// under the reads ledger's probe unless `rollout.record_reads` is off.
    pub fn resolved_table(&self, options: &ConfigOptions) -> Result<Arc<dyn TableProvider>> {
        let resolution = self.resolve(options)?;
        let table = version_table(
            &self.store,
            &self.dataset,
            &resolution.version,
            Arc::clone(&self.schema),
            options,
        )?;
        let cfg = RolloutConfig::from_options(options);
        if !cfg.record_reads {
            return Ok(table);
        }
        // The old names of a migration in progress, which the ledger notes per read (none,
        // and no fold, for a dataset without one).
        let state = self.store.state();
        let ds = state.dataset(&self.dataset)?;
        let deprecated = match ds.unfinished_migration() {
            Some(_) => ds
                .compat_columns(self.pinned.as_deref().as_slice())
                .into_iter()
                .map(|c| c.column.name)
                .collect(),
            None => vec![],
        };
        let probe = ReadProbe::new(
            Arc::clone(self.store.events()),
            resolution,
            cfg.consumer,
            !cfg.explaining,
        )
        .watching(deprecated);
        Ok(Arc::new(RecordedTable::new(table, probe)))
    }
}

/// `table` (the resolved version's) recording each scan of it in `store`'s reads ledger: for
/// engines that resolve in their own provider (a foreign session through FFI) rather than
/// through [`super::ResolveVersions`], which does this itself.
pub fn recorded_table(
    store: &crate::store::Store,
    resolution: Resolution,
    consumer: Option<String>,
    table: Arc<dyn TableProvider>,
) -> Arc<dyn TableProvider> {
    let probe = ReadProbe::new(Arc::clone(store.events()), resolution, consumer, true);
    Arc::new(RecordedTable::new(table, probe))
}

/// How each dataset scanned by `plan` (before the analyzer rule replaced its scans) resolves
/// in a session with `options`, in plan order, each once.
pub fn resolutions_in(plan: &LogicalPlan, options: &ConfigOptions) -> Result<Vec<Resolution>> {
    let mut out: Vec<Resolution> = Vec::new();
    let mut error = None;
    plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
            && let Some(table) = provider.downcast_ref::<VersionedTable>()
        {
            match table.resolve(options) {
                Ok(r) => {
                    if !out.contains(&r) {
                        out.push(r);
                    }
                }
                Err(e) => {
                    error = Some(e);
                    return Ok(TreeNodeRecursion::Stop);
                }
            }
        }
        Ok(TreeNodeRecursion::Continue)
    })?;
    match error {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// On a store with users, a read needs a logged-in principal holding READ on the dataset, and
/// reading as another consumer or a cohort needs IMPERSONATE: this is the wall every path to
/// the data passes (our `SET`, DataFusion's, the FFI provider), not only our statements.
fn authorize_read(state: &State, dataset: &str, cfg: &RolloutConfig) -> Result<()> {
    let Some(principal) = reading_principal(state, cfg, &format!("reading {dataset}"))? else {
        return Ok(());
    };
    let access = &state.access;
    access.check(principal, Privilege::Read, Some(dataset))?;
    let as_other = cfg.consumer.as_deref().is_some_and(|c| c != principal) || cfg.cohort.is_some();
    if as_other {
        access.check(principal, Privilege::Impersonate, None)?;
    }
    Ok(())
}

/// Who reads: `None` on an open store (nothing is checked there); on a store with users the
/// session's logged-in principal, or an error saying that `what` needs a login.
pub(crate) fn reading_principal<'c>(
    state: &State,
    cfg: &'c RolloutConfig,
    what: &str,
) -> Result<Option<&'c str>> {
    if state.access.is_open() {
        return Ok(None);
    }
    match cfg.principal.as_deref() {
        Some(p) => Ok(Some(p)),
        None => Err(Error::Unauthenticated {
            message: format!(
                "the store has users, so {what} needs a login (rollout --user NAME, a token in \
                 ROLLOUT_TOKEN, or RolloutOptions::user/token)"
            ),
        }),
    }
}

/// The table of `version` of `dataset` as readers with `schema` see it: the [`PinnedListing`] of
/// its pinned files read with that schema (a column the version lacks reads as NULL, a narrower
/// type is cast), or, when some reader column reads another file column (a name a declared
/// migration changed) or a CSV version lacks columns the dataset has since gained, a view over
/// its own columns that maps each reader column to its source.
pub fn version_table(
    store: &Store,
    dataset: &str,
    version: &str,
    schema: SchemaRef,
    options: &ConfigOptions,
) -> Result<Arc<dyn TableProvider>> {
    let state = store.state();
    let v = state.readable_version(dataset, version)?;
    let ds = state.dataset(dataset)?;
    // Without declared migrations a reader column reads the file column of its name.
    let migrated = ds.versions.iter().any(|v| v.migration.is_some());
    let columns: Vec<(ColumnDef, Option<String>)> = columns_from_schema(&schema)
        .into_iter()
        .map(|c| {
            let source = if migrated {
                ds.column_source(v, &c.name, &[version])
            } else {
                v.schema
                    .iter()
                    .any(|o| o.name == c.name)
                    .then(|| c.name.clone())
            };
            (c, source)
        })
        .collect();
    let renamed = columns
        .iter()
        .any(|(c, source)| source.as_ref().is_some_and(|s| *s != c.name));
    let csv_lacks = v.format == FileFormat::Csv && v.schema.len() != columns.len();
    if !renamed && !csv_lacks {
        return pinned_listing(store, v, schema, options);
    }
    // A view's own scan stays a `ListingTable`, which other engines serialize inside it.
    let own = Arc::new(listing_table(
        store,
        v,
        schema_from_columns(&v.schema)?,
        options,
    )?);
    mapped_table(own, &format!("{dataset}@{version}"), &columns)
}

/// A view over `inner` (named `name` in its plan) with one column per entry of `columns`: the
/// named source column cast to the entry's type, or NULL of that type when it has none.
pub fn mapped_table(
    inner: Arc<dyn TableProvider>,
    name: &str,
    columns: &[(ColumnDef, Option<String>)],
) -> Result<Arc<dyn TableProvider>> {
    let schema = schema_from_columns(&columns.iter().map(|(c, _)| c.clone()).collect::<Vec<_>>())?;
    let own = inner.schema();
    let exprs: Vec<Expr> = schema
        .fields()
        .iter()
        .zip(columns)
        .map(|(field, (_, source))| {
            let value = match source.as_ref().and_then(|s| own.field_with_name(s).ok()) {
                Some(f) if f.data_type() == field.data_type() => col(Column::from_name(f.name())),
                Some(f) => cast(col(Column::from_name(f.name())), field.data_type().clone()),
                None => cast(lit(ScalarValue::Null), field.data_type().clone()),
            };
            value.alias(field.name())
        })
        .collect();
    let source = datafusion::datasource::provider_as_source(inner);
    let plan = LogicalPlanBuilder::scan(name, source, None)?
        .project(exprs)?
        .build()?;
    Ok(Arc::new(ViewTable::new(plan, None)))
}

/// The version's files as a [`PinnedListing`]: planned from the pins, without listing them
/// (or the plain `ListingTable` when they live in more than one object store).
fn pinned_listing(
    store: &Store,
    v: &crate::catalog::Version,
    schema: SchemaRef,
    options: &ConfigOptions,
) -> Result<Arc<dyn TableProvider>> {
    let format = version_format(v, options);
    let urls = store.listing_urls(v.files.iter().map(|f| f.url.as_str()))?;
    // No file, or files in more than one store: the plain `ListingTable`. Stores are compared
    // as text: parsing each file's store URL cost more than the rest of the listing.
    let Some(first) = urls
        .first()
        .filter(|first| urls.iter().all(|u| store_of(u) == store_of(first)))
    else {
        return Ok(Arc::new(listing_of(
            format,
            urls,
            schema,
            store.file_statistics(),
        )?));
    };
    let store_url = first.object_store();
    let files = urls
        .iter()
        .zip(&v.files)
        .map(|(url, f)| ObjectMeta {
            location: url.prefix().clone(),
            last_modified: f.last_modified,
            size: f.size,
            e_tag: f.e_tag.clone(),
            version: None,
        })
        .collect();
    Ok(Arc::new(PinnedListing::new(
        format,
        schema,
        urls,
        store_url,
        files,
        store.file_statistics(),
    )))
}

/// The object store part of `url` (`scheme://host:port`), as text.
fn store_of(url: &ListingTableUrl) -> &str {
    &url.get_url()[..url::Position::BeforePath]
}

/// The `ListingTable` of the version's pinned files read with `schema`.
fn listing_table(
    store: &Store,
    v: &crate::catalog::Version,
    schema: SchemaRef,
    options: &ConfigOptions,
) -> Result<ListingTable> {
    let urls = store.listing_urls(v.files.iter().map(|f| f.url.as_str()))?;
    Ok(listing_of(
        version_format(v, options),
        urls,
        schema,
        store.file_statistics(),
    )?)
}

/// The format the version's files are read with, under the session's options.
fn version_format(v: &crate::catalog::Version, options: &ConfigOptions) -> Arc<dyn DfFileFormat> {
    let table_options = TableOptions::default_from_session_config(options);
    match v.format {
        FileFormat::Parquet => {
            Arc::new(ParquetFormat::default().with_options(table_options.parquet))
        }
        FileFormat::Csv => Arc::new(
            CsvFormat::default()
                .with_options(table_options.csv)
                .with_has_header(true),
        ),
        FileFormat::Json => Arc::new(JsonFormat::default().with_options(table_options.json)),
    }
}

#[async_trait]
impl TableProvider for VersionedTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        // Only reached when the analyzer rule did not run; Inexact keeps the filter above the
        // scan, which is correct whatever version the scan resolves to.
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let table = self.resolved_table(state.config_options())?;
        table.scan(state, projection, filters, limit).await
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> DfResult<ScanResult> {
        let table = self.resolved_table(state.config_options())?;
        table.scan_with_args(state, args).await
    }
}
