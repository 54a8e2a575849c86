//! Contracts: the checks a version must pass, and how they run.
//!
//! A [`Contract`](crate::catalog::Contract) is attached to a dataset. Its column rules (`NOT NULL`, `UNIQUE`,
//! `CHECK (expr)`, a declared type) and `EXPECT` items compile to `CheckSpec`s; every
//! single-version metric of a contract is computed by **one** aggregate query over the version,
//! and every drift metric by one aggregate query over `baseline UNION ALL candidate`, so a
//! contract costs at most two scans whatever its size. A `NOT NULL` or `CHECK` rule that the
//! exact statistics of the version's files settle is left out of the scan (`statistics`). Each
//! check yields a [`CheckResult`]:
//! `(check, column, value, threshold, status, detail)` with status pass, warn, fail or error.

mod compile;
mod drift_fn;
mod functions;
mod histogram;
mod odcs;
mod profile;
mod profile_read;
mod result;
mod run;
mod statistics;

pub(crate) use compile::{CheckKind, CheckSpec, IS_CANDIDATE, LiveSignal, compile};
pub(crate) use drift_fn::DriftFunction;
pub use functions::{Functions, functions, register_functions};
pub use histogram::{Bins, ColumnHistogram, MAX_BINS, histograms};
pub(crate) use odcs::{Imported, import_odcs};
pub(crate) use profile::VersionKey;
pub use result::{
    CheckCounts, CheckReport, CheckResult, CheckStatus, results_batch, summarize_failures,
};
pub(crate) use run::{
    Target, contract_queries, pinned_table, profiled_metrics, run_contract, validate_contract,
};
pub(crate) use statistics::settled_by_statistics;
