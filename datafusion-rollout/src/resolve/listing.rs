//! A version's files scanned as pinned, without listing them.
//!
//! A `ListingTable` of a version's files asks the object store about each file at every
//! planning (a `HEAD` per file, answered from the pin by [`super::PinnedStoreRegistry`], but
//! still 40 round trips through the store's stack for 40 files). The files and their sizes are
//! in the log already: [`PinnedListing`] plans the scan from them, with the statistics of each
//! file from the store's cache (read from its footer once), the way the `ListingTable` would.
//! Engines that serialize the plan (Ballista) get the same table as a `ListingTable` from
//! [`PinnedListing::listing`], built only then.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::stats::Precision;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl, PartitionedFile,
};
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder};
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::Result as DfResult;
use datafusion::execution::cache::cache_manager::{CachedFileMetadata, FileStatisticsCache};
use datafusion::execution::cache::{SchemaFingerprint, TableScopedPath};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::object_store::ObjectMeta;
use datafusion::physical_expr::LexOrdering;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion_datasource::compute_all_files_statistics;
use futures::{StreamExt, TryStreamExt};

/// A file's statistics and the ordering its metadata declares.
type FileStatistics = (Arc<datafusion::common::Statistics>, Option<LexOrdering>);

/// The table of a version's pinned files (see the module's comment).
#[derive(Debug)]
pub struct PinnedListing {
    format: Arc<dyn FileFormat>,
    /// The files' URLs, for [`Self::listing`].
    urls: Vec<ListingTableUrl>,
    schema: SchemaRef,
    store_url: ObjectStoreUrl,
    /// The files as the version pinned them, in registration order.
    files: Vec<ObjectMeta>,
    statistics: Arc<FileStatisticsCache>,
    fingerprint: Arc<SchemaFingerprint>,
}

impl PinnedListing {
    /// The table of `files` at `urls` (all in the store of `store_url`), read as `format`
    /// with `schema`.
    pub(crate) fn new(
        format: Arc<dyn FileFormat>,
        schema: SchemaRef,
        urls: Vec<ListingTableUrl>,
        store_url: ObjectStoreUrl,
        files: Vec<ObjectMeta>,
        statistics: Arc<FileStatisticsCache>,
    ) -> Self {
        let fingerprint = Arc::new(SchemaFingerprint::from_schema(&schema));
        Self {
            format,
            urls,
            schema,
            store_url,
            files,
            statistics,
            fingerprint,
        }
    }

    /// The same table as DataFusion's `ListingTable`, which other engines serialize; built
    /// when asked for, since a local query does not need it.
    pub fn listing(&self) -> DfResult<Arc<ListingTable>> {
        listing_of(
            Arc::clone(&self.format),
            self.urls.clone(),
            Arc::clone(&self.schema),
            Arc::clone(&self.statistics),
        )
        .map(Arc::new)
    }

    /// The scan of `args`, its first file carrying `tag` when there is one; and whether one
    /// did (a version with no file to read plans an empty scan).
    pub(crate) async fn plan<T: Any + Send + Sync>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'_>,
        tag: Option<T>,
    ) -> DfResult<(Arc<dyn ExecutionPlan>, bool)> {
        let projection = args.projection().map(<[usize]>::to_vec);
        let limit = args.limit();
        // Rows can only be counted towards the limit when no filter drops any.
        let filtered = args.filters().is_some_and(|f| !f.is_empty());
        let (mut files, stopped) = self
            .files(state, if filtered { None } else { limit })
            .await?;
        let Some(first) = files.first_mut() else {
            let schema =
                datafusion::physical_plan::project_schema(&self.schema, projection.as_ref())?;
            return Ok((Arc::new(EmptyExec::new(schema)), false));
        };
        let tagged = match tag {
            Some(tag) => {
                first.extensions.insert(tag);
                true
            }
            None => false,
        };
        let ordering = common_ordering(&files);
        let groups = FileGroup::new(files).split_files(state.config().target_partitions());
        let (groups, statistics) = compute_all_files_statistics(
            groups,
            Arc::clone(&self.schema),
            state.config().collect_statistics(),
            stopped,
        )?;
        let source = self
            .format
            .file_source(TableSchema::from(Arc::clone(&self.schema)));
        let config = FileScanConfigBuilder::new(self.store_url.clone(), source)
            .with_file_groups(groups)
            .with_statistics(statistics)
            .with_projection_indices(projection)?
            .with_limit(limit)
            .with_output_ordering(ordering.into_iter().collect())
            .build();
        let plan = self.format.create_physical_plan(state, config).await?;
        Ok((plan, tagged))
    }

    /// The statistics and ordering of `meta`'s file if the cache holds them for this file
    /// (size and time) and schema.
    fn cached_statistics(&self, meta: &ObjectMeta) -> Option<FileStatistics> {
        let key = TableScopedPath {
            table: None,
            path: meta.location.clone(),
        };
        let cached = self.statistics.get(&key)?;
        cached
            .is_valid_for(meta, &self.fingerprint)
            .then_some((cached.statistics, cached.ordering))
    }

    /// The statistics and ordering of `meta`'s file: from the cache when it holds them for
    /// this file (size and time) and schema, else read from the file and kept.
    async fn file_statistics(
        &self,
        state: &dyn Session,
        meta: &ObjectMeta,
    ) -> DfResult<FileStatistics> {
        if let Some(cached) = self.cached_statistics(meta) {
            return Ok(cached);
        }
        let key = TableScopedPath {
            table: None,
            path: meta.location.clone(),
        };
        let store = state.runtime_env().object_store(&self.store_url)?;
        let found = self
            .format
            .infer_stats_and_ordering(state, &store, Arc::clone(&self.schema), meta)
            .await?;
        let statistics = Arc::new(found.statistics);
        self.statistics.put(
            &key,
            CachedFileMetadata::new(
                meta.clone(),
                Arc::clone(&self.fingerprint),
                Arc::clone(&statistics),
                found.ordering.clone(),
            ),
        );
        Ok((statistics, found.ordering))
    }

    /// The `i`th file with its statistics and ordering.
    async fn described(&self, state: &dyn Session, i: usize) -> DfResult<PartitionedFile> {
        let meta = &self.files[i];
        let (statistics, ordering) = self.file_statistics(state, meta).await?;
        Ok(PartitionedFile::from(meta.clone())
            .with_statistics(statistics)
            .with_ordering(ordering))
    }

    /// The version's files with their statistics and orderings (when the session collects
    /// statistics), stopping, as the `ListingTable` does, once the files' exact row counts
    /// exceed `limit`; and whether it stopped before the last file.
    async fn files(
        &self,
        state: &dyn Session,
        limit: Option<usize>,
    ) -> DfResult<(Vec<PartitionedFile>, bool)> {
        if !state.config().collect_statistics() {
            let files = self
                .files
                .iter()
                .map(|meta| PartitionedFile::from(meta.clone()))
                .collect();
            return Ok((files, false));
        }
        // Usually every file's statistics are cached: no future per file then.
        let cached: Option<Vec<PartitionedFile>> = self
            .files
            .iter()
            .map(|meta| {
                let (statistics, ordering) = self.cached_statistics(meta)?;
                Some(
                    PartitionedFile::from(meta.clone())
                        .with_statistics(statistics)
                        .with_ordering(ordering),
                )
            })
            .collect();
        let mut found = match cached {
            Some(files) => futures::stream::iter(files.into_iter().map(Ok)).boxed(),
            None => {
                let concurrency = state
                    .config_options()
                    .execution
                    .meta_fetch_concurrency
                    .get();
                futures::stream::iter(0..self.files.len())
                    .map(|i| self.described(state, i))
                    .buffered(concurrency)
                    .boxed()
            }
        };
        let mut files = Vec::with_capacity(self.files.len());
        let mut rows = Precision::Absent;
        while let Some(file) = found.try_next().await? {
            if let Some(statistics) = &file.statistics {
                rows = match files.is_empty() {
                    true => statistics.num_rows,
                    false => rows.add(&statistics.num_rows),
                };
            }
            files.push(file);
            if let (Some(limit), Precision::Exact(rows)) = (limit, rows)
                && rows > limit
            {
                let stopped = files.len() < self.files.len();
                return Ok((files, stopped));
            }
        }
        Ok((files, false))
    }
}

/// The longest ordering every file shares (a prefix of each), as DataFusion derives a scan's
/// ordering from its files' when none is declared.
fn common_ordering(files: &[PartitionedFile]) -> Option<LexOrdering> {
    let mut common: Option<Vec<_>> = None;
    for file in files {
        let ordering = file.ordering.as_ref()?;
        let next: Vec<_> = match common {
            None => ordering.iter().cloned().collect(),
            Some(current) => current
                .into_iter()
                .zip(ordering.iter())
                .take_while(|(a, b)| a == *b)
                .map(|(a, _)| a)
                .collect(),
        };
        common = Some(next);
    }
    LexOrdering::new(common?)
}

#[async_trait]
impl TableProvider for PinnedListing {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// As the `ListingTable` answers for a table without partition columns: every filter is
    /// applied above the scan too (the scan prunes with it, not exactly).
    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let args = ScanArgs::default()
            .with_projection(projection.map(Vec::as_slice))
            .with_filters(Some(filters))
            .with_limit(limit);
        Ok(self.scan_with_args(state, args).await?.into_inner())
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> DfResult<ScanResult> {
        Ok(ScanResult::new(self.plan(state, args, None::<()>).await?.0))
    }
}

/// The `ListingTable` of the files at `urls` read as `format` with `schema`, its statistics
/// kept in `statistics` (the store's cache: each query builds its table).
pub(crate) fn listing_of(
    format: Arc<dyn FileFormat>,
    urls: Vec<ListingTableUrl>,
    schema: SchemaRef,
    statistics: Arc<FileStatisticsCache>,
) -> DfResult<ListingTable> {
    // Files are pinned one by one, so any extension is fine.
    let options = ListingOptions::new(format).with_file_extension("");
    let config = ListingTableConfig::new_with_multi_paths(urls)
        .with_listing_options(options)
        .with_schema(schema);
    Ok(ListingTable::try_new(config)?.with_cache(Some(statistics)))
}
