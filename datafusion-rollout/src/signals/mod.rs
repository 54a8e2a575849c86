//! Signals: what consumers experience while a rollout is live, recorded and queried.
//!
//! The reads ledger is written by resolution (each scan through a dataset's name, see
//! [`crate::resolve::RecordReadsExec`]); metrics by [`report_metric`]. Both are events of the
//! store ([`crate::store::EventLog`]). Here they become tables (`rollout_reads`,
//! `rollout_metrics`), the exposure of each version, and a rollback's blast radius.

mod exposure;
mod live;
mod metrics;
pub mod notify;
pub mod sequential;
mod tables;

use std::sync::Arc;

use datafusion::prelude::SessionContext;

use crate::error::Result;
use crate::store::Store;

pub use exposure::{BlastRadius, Exposure, blast_radius, exposure, nearest_rank};
pub use live::MIN_READS_PER_ARM;
pub(crate) use live::{LiveWindow, evaluate_live};
pub use metrics::{MetricReport, check_metric_name, report_metric};
pub use tables::{EventTable, EventTableFunction};

/// Registers every function of the library on `ctx` (the contract layer's aggregates, scalar
/// functions and `drift`, see [`crate::contract::register_functions`]) and the event tables
/// `rollout_reads` and `rollout_metrics` over `store`.
pub fn register_functions(ctx: &SessionContext, store: &Arc<Store>) -> Result<()> {
    crate::contract::register_functions(ctx, store)?;
    for table in [
        EventTable::Reads,
        EventTable::Metrics,
        EventTable::Evaluations,
        EventTable::Deliveries,
    ] {
        ctx.register_udtf(
            table.name(),
            Arc::new(EventTableFunction::new(Arc::clone(store), table)),
        );
    }
    Ok(())
}
