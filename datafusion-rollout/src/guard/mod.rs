//! Guards: a dataset's contract, with drift against the stable version, evaluated before a
//! version is exposed, while it is live, and at each stage of a staged rollout.

mod drift_fn;

pub use drift_fn::DriftFunction;

use crate::catalog::State;
use crate::contract::{CheckResult, CheckStatus, Target, pinned_table, run_contract};
use crate::error::Result;
use crate::session::RolloutContext;

/// Actor recorded for rollbacks made by guards.
pub const GUARD_ACTOR: &str = "guard";

/// The target reading a registered version through its pinned table.
pub fn version_target(state: &State, dataset: &str, version: &str) -> Result<Target> {
    let ds = state.dataset(dataset)?;
    state.version(dataset, version)?;
    Ok(Target {
        version: version.to_string(),
        table: pinned_table(dataset, version),
        columns: ds.schema.clone(),
    })
}

/// Runs the dataset's contract over `version`, with drift against the stable version.
/// `None` when the dataset has no contract.
pub async fn evaluate(
    rc: &RolloutContext,
    state: &State,
    dataset: &str,
    version: &str,
) -> Result<Option<Vec<CheckResult>>> {
    let ds = state.dataset(dataset)?;
    let Some(contract) = &ds.contract else {
        return Ok(None);
    };
    let candidate = version_target(state, dataset, version)?;
    let baseline = match ds.rollout.stable.as_deref() {
        Some(stable) if stable != version => Some(version_target(state, dataset, stable)?),
        _ => None,
    };
    run_contract(rc.session(), contract, &candidate, baseline.as_ref())
        .await
        .map(Some)
}

/// Whether any check failed (or could not run).
pub fn failed(results: &[CheckResult]) -> bool {
    results
        .iter()
        .any(|r| matches!(r.status, CheckStatus::Fail | CheckStatus::Error))
}

/// Check results as stored in a log entry.
pub fn checks_json(results: &[CheckResult]) -> Vec<serde_json::Value> {
    results
        .iter()
        .filter_map(|r| serde_json::to_value(r).ok())
        .collect()
}
