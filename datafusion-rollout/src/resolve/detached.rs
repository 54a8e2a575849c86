//! Reads recorded around a plan that runs elsewhere: [`detach_reads`] gives a plan other
//! engines can serialize (a Ballista cluster), and the reads to record on this side.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use datafusion::common::tree_node::Transformed;
use datafusion::datasource::{provider_as_source, source_as_provider};
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;

use super::listing::PinnedListing;
use super::recording::{ReadProbe, RecordReadsExec, RecordedTable};

/// What [`detach_reads`] took out of a plan: the reads it makes, to record around the plan's
/// execution elsewhere.
#[derive(Debug, Default)]
pub struct DetachedReads {
    probes: Vec<Arc<ReadProbe>>,
    /// The plan also scans tables that are not datasets read through their name.
    other_scans: bool,
}

/// Where the engine that ran a plan reports how many rows its scans read, when they all read
/// one dataset ([`DetachedReads::sole_read`]).
#[derive(Debug, Clone)]
pub struct RowsReadElsewhere(Arc<ReadProbe>);

impl RowsReadElsewhere {
    /// The rows the plan's scans produced, summed over them (a self-join's two scans both
    /// count, as they do when the plan runs here).
    pub fn counted(&self, rows: u64) {
        self.0.counted(rows);
    }
}

impl DetachedReads {
    /// Whether the plan read any dataset through its name.
    pub fn is_empty(&self) -> bool {
        self.probes.is_empty()
    }

    /// When every scan of the plan reads one dataset through its name: where to report the
    /// rows they read (the scans' rows cannot be told apart otherwise).
    pub fn sole_read(&self) -> Option<RowsReadElsewhere> {
        match self.probes.as_slice() {
            [probe] if !self.other_scans => Some(RowsReadElsewhere(Arc::clone(probe))),
            _ => None,
        }
    }

    /// `plan` (the physical plan of what [`detach_reads`] returned) recording the reads.
    pub fn wrap(self, plan: Arc<dyn ExecutionPlan>) -> Arc<dyn ExecutionPlan> {
        if self.probes.is_empty() {
            return plan;
        }
        Arc::new(RecordReadsExec::new(plan, self.probes.into()))
    }

    /// Records `error` (planning the plan elsewhere failed) as every read's outcome.
    pub fn fail(&self, error: &DataFusionError) {
        for probe in &self.probes {
            probe.fail(error);
        }
    }
}

/// `plan` with each dataset read through its name (a scan the analyzer rule resolved and
/// wrapped to record) reading the version's own table, which other engines can serialize
/// (Ballista sends a `ListingTable` to its scheduler), and the reads to record around it.
pub fn detach_reads(plan: LogicalPlan) -> DfResult<(LogicalPlan, DetachedReads)> {
    let mut reads = DetachedReads::default();
    let plan = plan
        .transform_up_with_subqueries(|node| {
            let LogicalPlan::TableScan(scan) = &node else {
                return Ok(Transformed::no(node));
            };
            let Ok(provider) = source_as_provider(&scan.source) else {
                reads.other_scans = true;
                return Ok(Transformed::no(node));
            };
            // A version read unrecorded: its `ListingTable`, which other engines serialize.
            if let Some(pinned) = provider.downcast_ref::<PinnedListing>() {
                reads.other_scans = true;
                let mut scan = scan.clone();
                scan.source = provider_as_source(pinned.listing()?);
                return Ok(Transformed::yes(LogicalPlan::TableScan(scan)));
            }
            let Some(recorded) = provider.downcast_ref::<RecordedTable>() else {
                reads.other_scans = true;
                return Ok(Transformed::no(node));
            };
            let probe = Arc::clone(&recorded.probe);
            probe.projected(
                &recorded.inner.schema(),
                scan.projection.as_deref(),
                &scan.filters,
            );
            probe.scanned.store(true, Ordering::Relaxed);
            probe.remote.store(true, Ordering::Relaxed);
            if !reads.probes.iter().any(|p| Arc::ptr_eq(p, &probe)) {
                reads.probes.push(probe);
            }
            let inner = match recorded.inner.downcast_ref::<PinnedListing>() {
                Some(pinned) => pinned.listing()?,
                None => Arc::clone(&recorded.inner),
            };
            let mut scan = scan.clone();
            scan.source = provider_as_source(inner);
            Ok(Transformed::yes(LogicalPlan::TableScan(scan)))
        })?
        .data;
    Ok((plan, reads))
}
