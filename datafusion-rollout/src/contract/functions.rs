//! Our SQL functions, registered in one place: the quality and drift aggregates of
//! `datafusion-rollout-udfs`, `rollout_bucket(consumer, salt)`, the `rollout_count_compare` the
//! optimizer writes for a `CHECK`'s comparisons, and the `drift(...)` table
//! function over a store. [`RolloutContext::open`](crate::RolloutContext::open),
//! [`RolloutContext::install`](crate::RolloutContext::install) and the Python module all take
//! them from here.

use std::sync::Arc;

use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

use super::DriftFunction;
use crate::error::Result;
use crate::resolve::rollout_bucket_udf;
use crate::store::Store;
use datafusion_rollout_udfs::quality::compare::rollout_count_compare_udaf;

/// The aggregate and scalar functions the library adds to a session (the `drift` table
/// function needs a store: see [`register_functions`]).
pub struct Functions {
    /// The quality and drift aggregates, in documentation order.
    pub aggregate: Vec<Arc<AggregateUDF>>,
    /// The udfs crate's scalar functions, then `rollout_bucket`.
    pub scalar: Vec<Arc<ScalarUDF>>,
}

/// Every aggregate and scalar function of the library.
pub fn functions() -> Functions {
    let udfs = datafusion_rollout_udfs::all_functions();
    let mut scalar = udfs.scalar;
    scalar.push(rollout_bucket_udf());
    let mut aggregate = udfs.aggregate;
    aggregate.push(rollout_count_compare_udaf());
    Functions { aggregate, scalar }
}

/// Registers every function of the library on `ctx`, with `drift(...)` reading `store`.
pub fn register_functions(ctx: &SessionContext, store: &Arc<Store>) -> Result<()> {
    let all = functions();
    for f in all.scalar {
        ctx.register_udf(f.as_ref().clone());
    }
    for f in all.aggregate {
        ctx.register_udaf(f.as_ref().clone());
    }
    ctx.register_udtf("drift", Arc::new(DriftFunction::new(Arc::clone(store))));
    Ok(())
}
