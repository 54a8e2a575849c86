//! The reads ledger's probe: every scan of a dataset through its name records what the
//! consumer experienced (version, arm, rows, elapsed time, error) in the store's event buffer.
//!
//! Resolution wraps the version's table in a [`RecordedTable`]; its physical plan is the
//! version's own, under a pass-through [`RecordReadsExec`] that counts rows and catches the
//! error that ends a stream. One [`ReadProbe`] is shared by the table, the plan node and every
//! stream of one query; when the last of them is gone the read is recorded, once. Nothing is
//! written on the read's path: events reach the store at the next flush.
//!
//! In a session with the [`RecordReads`] rule (every [`crate::RolloutContext`]'s) the scan's
//! files carry the probe instead, and the rule puts the node over the scan once the plan is
//! optimized: DataFusion's optimizer works on exactly the plan of a direct read, with no
//! level of ours to look through (each level costs every rule that walks the plan, and the
//! statistics of the 40-file scan below it were computed again for it).
//!
//! A query answered without reading files (`count(*)` from file statistics) is recorded with
//! no row count. `EXPLAIN` through a [`crate::RolloutContext`] shows the node but records
//! nothing; `SET rollout.record_reads = false` leaves the version's table as it is.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Instant;

use async_trait::async_trait;
use chrono::Utc;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{ScanArgs, ScanResult, Session, TableProvider};
use datafusion::common::Statistics;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::config::ConfigOptions;
use datafusion::datasource::physical_plan::FileScanConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::SessionState;
use datafusion::execution::TaskContext;
use datafusion::execution::cache::cache_manager::FileMetadataCache;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown, TableType};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::execution_plan::CardinalityEffect;
use datafusion::physical_plan::filter_pushdown::{
    ChildPushdownResult, FilterDescription, FilterPushdownPhase, FilterPushdownPropagation,
};
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::{
    ChildStats, DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties, RecordBatchStream,
    SendableRecordBatchStream, StatisticsArgs, replace_children_if_necessary,
};
use datafusion::prelude::SessionContext;
use futures::Stream;

use super::balance::{balanced_scan, may_balance};
use super::config::RolloutConfig;
use super::listing::PinnedListing;
use super::resolution::{Resolution, arm_of};
use crate::error::message_of;
use crate::store::{Event, EventLog, ReadEvent};

/// What one query's scan of a dataset experienced; recorded when the last holder drops it.
pub(crate) struct ReadProbe {
    log: Arc<EventLog>,
    resolution: Resolution,
    consumer: Option<String>,
    /// False under `EXPLAIN`: the plan shows the node, nothing is recorded.
    record: bool,
    planned_at: chrono::DateTime<Utc>,
    planned: Instant,
    /// The scan was planned (or failed to be): the query ran, whether or not its files were read.
    pub(super) scanned: AtomicBool,
    /// A stream was opened.
    executed: AtomicBool,
    rows: AtomicU64,
    /// The scan ran elsewhere (on a cluster): its rows were not seen here.
    pub(super) remote: AtomicBool,
    /// The rows of a scan that ran elsewhere, as that engine counted them.
    pub(super) counted_elsewhere: AtomicBool,
    ended: Mutex<Option<Instant>>,
    error: Mutex<Option<String>>,
    /// The deprecated compatibility columns the table has, and those the scan read.
    deprecated: Vec<String>,
    read_deprecated: Mutex<Vec<String>>,
}

impl fmt::Debug for ReadProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReadProbe")
            .field("dataset", &self.resolution.dataset)
            .field("version", &self.resolution.version)
            .finish()
    }
}

impl ReadProbe {
    pub(crate) fn new(
        log: Arc<EventLog>,
        resolution: Resolution,
        consumer: Option<String>,
        record: bool,
    ) -> Arc<ReadProbe> {
        Arc::new(ReadProbe {
            log,
            resolution,
            consumer,
            record,
            planned_at: Utc::now(),
            planned: Instant::now(),
            scanned: AtomicBool::new(false),
            executed: AtomicBool::new(false),
            rows: AtomicU64::new(0),
            remote: AtomicBool::new(false),
            counted_elsewhere: AtomicBool::new(false),
            ended: Mutex::new(None),
            error: Mutex::new(None),
            deprecated: vec![],
            read_deprecated: Mutex::new(vec![]),
        })
    }

    /// The same probe, noting which of `columns` (deprecated compatibility columns) a scan
    /// reads.
    pub(crate) fn watching(mut self: Arc<Self>, columns: Vec<String>) -> Arc<Self> {
        if let Some(probe) = Arc::get_mut(&mut self) {
            probe.deprecated = columns;
        }
        self
    }

    /// Notes the deprecated columns among those of `schema` a scan projects or filters on (a
    /// filter the scan takes whole need not be projected).
    pub(super) fn projected(
        &self,
        schema: &SchemaRef,
        projection: Option<&[usize]>,
        filters: &[Expr],
    ) {
        if self.deprecated.is_empty() {
            return;
        }
        let fields = schema.fields();
        let mut names: Vec<&String> = match projection {
            Some(p) => p
                .iter()
                .filter_map(|i| fields.get(*i))
                .map(|f| f.name())
                .collect(),
            None => fields.iter().map(|f| f.name()).collect(),
        };
        names.extend(
            filters
                .iter()
                .flat_map(|f| f.column_refs())
                .map(|c| &c.name),
        );
        let mut read = self
            .read_deprecated
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        for name in names {
            if self.deprecated.contains(name) && !read.contains(name) {
                read.push(name.clone());
            }
        }
    }

    pub(super) fn fail(&self, error: &DataFusionError) {
        let mut slot = self.error.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(message_of(error));
        }
    }

    /// The rows a scan that ran elsewhere read, as that engine counted them.
    pub(super) fn counted(&self, rows: u64) {
        self.rows.store(rows, Ordering::Relaxed);
        self.counted_elsewhere.store(true, Ordering::Relaxed);
    }

    fn stream_ended(&self) {
        let mut ended = self.ended.lock().unwrap_or_else(|p| p.into_inner());
        *ended = Some(Instant::now());
    }
}

impl Drop for ReadProbe {
    fn drop(&mut self) {
        if !self.record || !self.scanned.load(Ordering::Relaxed) {
            return;
        }
        let ended = self
            .ended
            .get_mut()
            .map(|e| *e)
            .unwrap_or(None)
            .unwrap_or_else(Instant::now);
        let error = self.error.get_mut().map(|e| e.take()).unwrap_or(None);
        let executed = self.executed.load(Ordering::Relaxed)
            && (!self.remote.load(Ordering::Relaxed)
                || self.counted_elsewhere.load(Ordering::Relaxed));
        self.log.record(Event::Read(ReadEvent {
            time: self.planned_at,
            dataset: self.resolution.dataset.clone(),
            version: self.resolution.version.clone(),
            arm: arm_of(&self.resolution.reason),
            consumer: self.consumer.clone(),
            reason: self.resolution.to_string(),
            rows: executed.then(|| self.rows.load(Ordering::Relaxed)),
            elapsed_ms: ended.saturating_duration_since(self.planned).as_secs_f64() * 1e3,
            error,
            deprecated: self
                .read_deprecated
                .get_mut()
                .map(std::mem::take)
                .unwrap_or_default(),
        }));
    }
}

/// The resolved version's table, recording each query's scan of it.
#[derive(Debug)]
pub(crate) struct RecordedTable {
    pub(super) inner: Arc<dyn TableProvider>,
    pub(super) probe: Arc<ReadProbe>,
}

impl RecordedTable {
    pub(crate) fn new(inner: Arc<dyn TableProvider>, probe: Arc<ReadProbe>) -> Self {
        Self { inner, probe }
    }

    fn wrap(
        &self,
        state: &dyn Session,
        planned: DfResult<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.probe.scanned.store(true, Ordering::Relaxed);
        match planned {
            Ok(plan) => {
                if has_record_reads(state)
                    && let Some(tagged) = tag_scans(state, &plan, &self.probe)?
                {
                    return Ok(tagged);
                }
                Ok(Arc::new(RecordReadsExec::new(
                    plan,
                    Arc::new([Arc::clone(&self.probe)]),
                )))
            }
            Err(e) => {
                // Planning reads the files' metadata: a missing or changed file fails here.
                self.probe.fail(&e);
                Err(e)
            }
        }
    }
}

/// A session like `ctx` whose scans record no read: for the engine's own scans of a version (a
/// contract's checks, the statistics that settle some of them, a version's profile). The ledger
/// is what consumers read; a guard reading a candidate is not an exposure of it, and must not
/// count in a rollback's blast radius or stand for a consumer's latest read.
///
/// A session that records nothing already is itself (no copy of its state).
pub(crate) fn unrecorded(ctx: &SessionContext) -> DfResult<SessionContext> {
    if !RolloutConfig::of(ctx).record_reads {
        return Ok(ctx.clone());
    }
    let mut state = ctx.state();
    state
        .config_mut()
        .options_mut()
        .set("rollout.record_reads", "false")?;
    Ok(SessionContext::new_with_state(state))
}

/// Whether `state` optimizes its plans with [`RecordReads`] (a foreign session, through FFI,
/// does not: its scans keep the node from the start).
fn has_record_reads(state: &dyn Session) -> bool {
    state
        .as_any()
        .downcast_ref::<SessionState>()
        .is_some_and(|s| {
            s.physical_optimizers()
                .iter()
                .any(|r| r.name() == RecordReads::NAME)
        })
}

/// What the first file of a scan read through a name carries, for [`RecordReads`]: the read's
/// probe, and where the files' footers are cached when the scan may be split by rows. One
/// file carries it: every rule that rewrites the scan copies each file's extensions.
#[derive(Clone)]
struct ReadTag {
    probe: Arc<ReadProbe>,
    footers: Option<Arc<FileMetadataCache>>,
}

/// `plan` with the first file of each of its file scans carrying `probe`; `None` when it has
/// no file scan to carry it.
fn tag_scans(
    state: &dyn Session,
    plan: &Arc<dyn ExecutionPlan>,
    probe: &Arc<ReadProbe>,
) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
    let options = state.config_options();
    let tagged = Arc::clone(plan).transform_down(|node| {
        let Some(config) = file_scan(&node) else {
            return Ok(Transformed::no(node));
        };
        let mut config = config.clone();
        let footers = may_balance(&config, options)
            .then(|| state.runtime_env().cache_manager.get_file_metadata_cache());
        let Some(first) = config.file_groups.iter_mut().find(|g| !g.is_empty()) else {
            return Ok(Transformed::no(node));
        };
        first[0].extensions.insert(ReadTag {
            probe: Arc::clone(probe),
            footers,
        });
        Ok(Transformed::new(
            DataSourceExec::from_data_source(config),
            true,
            TreeNodeRecursion::Jump,
        ))
    })?;
    Ok(tagged.transformed.then_some(tagged.data))
}

/// The file scan `node` is, if it is one.
fn file_scan(node: &Arc<dyn ExecutionPlan>) -> Option<&FileScanConfig> {
    node.downcast_ref::<DataSourceExec>()?
        .data_source()
        .downcast_ref::<FileScanConfig>()
}

/// The last physical optimizer rule of a [`crate::RolloutContext`]: puts a [`RecordReadsExec`]
/// over each file scan whose files carry a read's probe (scans of datasets read through their
/// name), its partitions split by rows at row-group boundaries when the files' footers are
/// known and `rollout.balance_scans` is on.
#[derive(Debug, Default)]
pub struct RecordReads;

impl RecordReads {
    const NAME: &'static str = "record_reads";
}

impl PhysicalOptimizerRule for RecordReads {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        options: &ConfigOptions,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let recorded = plan.transform_down(|node| {
            // Already recorded (the rule ran before on this plan).
            if node.is::<RecordReadsExec>() {
                return Ok(Transformed::new(node, false, TreeNodeRecursion::Jump));
            }
            let Some(config) = file_scan(&node) else {
                return Ok(Transformed::no(node));
            };
            let Some(tag) = config
                .file_groups
                .iter()
                .flat_map(|g| g.iter())
                .find_map(|f| f.extension::<ReadTag>())
            else {
                return Ok(Transformed::no(node));
            };
            let probe = Arc::clone(&tag.probe);
            let balanced = tag
                .footers
                .as_ref()
                .and_then(|footers| balanced_scan(config, options, footers.as_ref()));
            let scan = match balanced {
                Some(config) => DataSourceExec::from_data_source(config),
                None => node,
            };
            Ok(Transformed::new(
                Arc::new(RecordReadsExec::new(scan, Arc::new([probe]))),
                true,
                TreeNodeRecursion::Jump,
            ))
        })?;
        Ok(recorded.data)
    }

    fn name(&self) -> &str {
        Self::NAME
    }

    fn schema_check(&self) -> bool {
        true
    }
}

#[async_trait]
impl TableProvider for RecordedTable {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }

    fn table_type(&self) -> TableType {
        self.inner.table_type()
    }

    fn supports_filters_pushdown(
        &self,
        filters: &[&Expr],
    ) -> DfResult<Vec<TableProviderFilterPushDown>> {
        self.inner.supports_filters_pushdown(filters)
    }

    fn statistics(&self) -> Option<Statistics> {
        self.inner.statistics()
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        self.probe
            .projected(&self.inner.schema(), projection.map(Vec::as_slice), filters);
        let planned = self.inner.scan(state, projection, filters, limit).await;
        self.wrap(state, planned)
    }

    async fn scan_with_args<'a>(
        &self,
        state: &dyn Session,
        args: ScanArgs<'a>,
    ) -> DfResult<ScanResult> {
        self.probe.projected(
            &self.inner.schema(),
            args.projection(),
            args.filters().unwrap_or_default(),
        );
        // A version's pinned files, planned with the tag on their first file (no second
        // building of the scan to add it).
        if let Some(pinned) = self.inner.downcast_ref::<PinnedListing>()
            && has_record_reads(state)
        {
            let tag = ReadTag {
                probe: Arc::clone(&self.probe),
                footers: Some(state.runtime_env().cache_manager.get_file_metadata_cache()),
            };
            let planned = pinned.plan(state, args, Some(tag)).await;
            if let Ok((plan, true)) = &planned {
                self.probe.scanned.store(true, Ordering::Relaxed);
                return Ok(ScanResult::new(Arc::clone(plan)));
            }
            let plan = self.wrap(state, planned.map(|(plan, _)| plan))?;
            return Ok(ScanResult::new(plan));
        }
        let planned = self.inner.scan_with_args(state, args).await;
        let plan = self.wrap(state, planned.map(|r| r.into_inner()))?;
        Ok(ScanResult::new(plan))
    }
}

/// Pass-through over a version's scan that counts its rows and catches its error; over a
/// plan that runs elsewhere ([`detach_reads`]), it records the error and the time of every
/// read the plan makes, but no rows.
#[derive(Debug, Clone)]
pub struct RecordReadsExec {
    input: Arc<dyn ExecutionPlan>,
    /// One probe over a local scan; every read of a plan that runs elsewhere.
    probes: Arc<[Arc<ReadProbe>]>,
}

impl RecordReadsExec {
    pub(super) fn new(input: Arc<dyn ExecutionPlan>, probes: Arc<[Arc<ReadProbe>]>) -> Self {
        Self { input, probes }
    }

    fn with_input(&self, input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            input,
            probes: Arc::clone(&self.probes),
        }
    }

    fn fail(&self, error: &DataFusionError) {
        for probe in self.probes.iter() {
            probe.fail(error);
        }
    }
}

impl DisplayAs for RecordReadsExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordReadsExec:")?;
        for (i, probe) in self.probes.iter().enumerate() {
            let r = &probe.resolution;
            let sep = if i == 0 { " " } else { "; " };
            write!(
                f,
                "{sep}dataset={} version={} arm={}",
                r.dataset,
                r.version,
                arm_of(&r.reason)
            )?;
        }
        if self.probes.iter().any(|p| p.remote.load(Ordering::Relaxed)) {
            write!(f, " (read elsewhere)")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for RecordReadsExec {
    fn name(&self) -> &str {
        "RecordReadsExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.input.properties()
    }

    fn maintains_input_order(&self) -> Vec<bool> {
        vec![true]
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> DfResult<TreeNodeRecursion>,
    ) -> DfResult<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    #[allow(deprecated)]
    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        if children.len() != 1 {
            return Err(DataFusionError::Internal(format!(
                "RecordReadsExec has one child, got {}",
                children.len()
            )));
        }
        Ok(Arc::new(self.with_input(children.swap_remove(0))))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> DfResult<SendableRecordBatchStream> {
        for probe in self.probes.iter() {
            probe.executed.store(true, Ordering::Relaxed);
        }
        match self.input.execute(partition, context) {
            Ok(inner) => Ok(Box::pin(RecordingStream {
                inner,
                probes: Arc::clone(&self.probes),
            })),
            Err(e) => {
                self.fail(&e);
                Err(e)
            }
        }
    }

    fn child_stats_requests(&self, partition: Option<usize>) -> Vec<ChildStats> {
        vec![ChildStats::At(partition)]
    }

    fn statistics_from_inputs(
        &self,
        input_stats: &[Arc<Statistics>],
        _args: &StatisticsArgs,
    ) -> DfResult<Arc<Statistics>> {
        match input_stats.first() {
            Some(s) => Ok(Arc::clone(s)),
            None => Ok(Arc::new(Statistics::new_unknown(&self.schema()))),
        }
    }

    fn supports_limit_pushdown(&self) -> bool {
        true
    }

    fn cardinality_effect(&self) -> CardinalityEffect {
        CardinalityEffect::Equal
    }

    /// Lets the projection above go below, offered to the input as if it sat on it (what
    /// implementations assume: offered the one over this node, a projecting input wrapped
    /// this node inside itself again and again, and planning never ended).
    fn try_swapping_with_projection(
        &self,
        projection: &ProjectionExec,
    ) -> DfResult<Option<Arc<dyn ExecutionPlan>>> {
        let on_input =
            ProjectionExec::try_new(projection.expr().to_vec(), Arc::clone(&self.input))?;
        match self.input.try_swapping_with_projection(&on_input)? {
            Some(input) => Ok(Some(replace_children_if_necessary(
                Arc::new(self.clone()),
                vec![input],
            )?)),
            None => Ok(None),
        }
    }

    fn gather_filters_for_pushdown(
        &self,
        _phase: FilterPushdownPhase,
        parent_filters: Vec<Arc<dyn PhysicalExpr>>,
        _config: &ConfigOptions,
    ) -> DfResult<FilterDescription> {
        FilterDescription::from_children(parent_filters, &self.children())
    }

    fn handle_child_pushdown_result(
        &self,
        _phase: FilterPushdownPhase,
        child_pushdown_result: ChildPushdownResult,
        _config: &ConfigOptions,
    ) -> DfResult<FilterPushdownPropagation<Arc<dyn ExecutionPlan>>> {
        Ok(FilterPushdownPropagation::if_all(child_pushdown_result))
    }
}

/// A scan's stream, counting rows and keeping the first error.
struct RecordingStream {
    inner: SendableRecordBatchStream,
    probes: Arc<[Arc<ReadProbe>]>,
}

impl Stream for RecordingStream {
    type Item = DfResult<RecordBatch>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let polled = self.inner.as_mut().poll_next(cx);
        match &polled {
            Poll::Ready(Some(Ok(batch))) => {
                for probe in self.probes.iter() {
                    probe
                        .rows
                        .fetch_add(batch.num_rows() as u64, Ordering::Relaxed);
                }
            }
            Poll::Ready(Some(Err(e))) => self.probes.iter().for_each(|p| p.fail(e)),
            Poll::Ready(None) => self.probes.iter().for_each(|p| p.stream_ended()),
            Poll::Pending => {}
        }
        polled
    }
}

impl RecordBatchStream for RecordingStream {
    fn schema(&self) -> SchemaRef {
        self.inner.schema()
    }
}

impl Drop for RecordingStream {
    fn drop(&mut self) {
        self.probes.iter().for_each(|p| p.stream_ended());
    }
}
