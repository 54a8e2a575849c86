//! Data-quality and drift aggregate functions for Apache DataFusion.
//!
//! Register everything on a context with [`register_all`], or take the list from
//! [`all_functions`] (e.g. for a `SessionStateBuilder`). Every function carries a
//! DataFusion `Documentation`, visible in `SHOW FUNCTIONS`; the generated reference is
//! `docs/functions.md` in the repository.
//!
//! Quality: `null_count`, `null_fraction`, `nan_count`, `missing_count`, `missing_fraction`,
//! `invalid_{count,fraction}_{in,regex,range}`, `distinct_count`, `duplicate_count`,
//! `min_length`, `max_length`, `freshness`, `retention`.
//!
//! Drift (two-sample, `(value, is_candidate)`): see [`drift`].

#![warn(missing_docs)]

mod common;
pub mod docs;
pub mod drift;
mod macros;
pub mod quality;
mod udaf;

use std::sync::Arc;

use datafusion::error::Result;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF};
use datafusion::prelude::SessionContext;

/// Builders for every function (`expr_fn::ks_statistic(col("v"), col("is_candidate"))`).
pub mod expr_fn {
    pub use crate::drift::{
        chi2_pvalue, chi2_statistic, drift_summary, hellinger, js_distance, ks_pvalue,
        ks_statistic, psi, wasserstein_distance, wasserstein_normed,
    };
    pub use crate::quality::{
        distinct_count, duplicate_count, freshness, invalid_count_in, invalid_count_range,
        invalid_count_regex, invalid_fraction_in, invalid_fraction_range, invalid_fraction_regex,
        max_length, min_length, missing_count, missing_fraction, nan_count, null_count,
        null_fraction, retention,
    };
}

/// Every function of this crate, by kind. All of them are aggregates today; `scalar` exists
/// so callers need not change when scalar helpers are added.
#[derive(Debug, Clone)]
pub struct Functions {
    /// Scalar functions (none yet).
    pub scalar: Vec<Arc<ScalarUDF>>,
    /// Aggregate functions.
    pub aggregate: Vec<Arc<AggregateUDF>>,
}

/// The list of all functions (singletons), in documentation order.
pub fn all_functions() -> Functions {
    use drift::*;
    use quality::*;
    Functions {
        scalar: vec![],
        aggregate: vec![
            null_count_udaf(),
            null_fraction_udaf(),
            nan_count_udaf(),
            missing_count_udaf(),
            missing_fraction_udaf(),
            invalid_count_in_udaf(),
            invalid_fraction_in_udaf(),
            invalid_count_regex_udaf(),
            invalid_fraction_regex_udaf(),
            invalid_count_range_udaf(),
            invalid_fraction_range_udaf(),
            distinct_count_udaf(),
            duplicate_count_udaf(),
            min_length_udaf(),
            max_length_udaf(),
            freshness_udaf(),
            retention_udaf(),
            ks_statistic_udaf(),
            ks_pvalue_udaf(),
            wasserstein_distance_udaf(),
            wasserstein_normed_udaf(),
            psi_udaf(),
            js_distance_udaf(),
            hellinger_udaf(),
            chi2_statistic_udaf(),
            chi2_pvalue_udaf(),
            drift_summary_udaf(),
        ],
    }
}

/// Registers every function of this crate on `ctx`.
pub fn register_all(ctx: &SessionContext) -> Result<()> {
    let f = all_functions();
    for s in f.scalar {
        ctx.register_udf(s.as_ref().clone());
    }
    for a in f.aggregate {
        ctx.register_udaf(a.as_ref().clone());
    }
    Ok(())
}
