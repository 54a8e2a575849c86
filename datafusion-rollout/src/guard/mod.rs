//! Guards: a dataset's contract, with drift against the stable version, evaluated before a
//! version is exposed, at registration, at each stage of a staged rollout, and while it is
//! live; and the one path by which a guarded change is committed ([`guarded_commit`]).

mod env;

pub use env::{Env, new_transaction_id};

use crate::catalog::State;
use crate::contract::{CheckReport, Target, VersionKey, pinned_table, run_contract};
use crate::error::{Error, Refusal, Result};
use crate::store::{Commit, CommitOutcome};

/// Actor recorded for rollbacks made by guards.
pub const GUARD_ACTOR: &str = "guard";

/// The target reading a registered version through its pinned table.
pub fn version_target(state: &State, dataset: &str, version: &str) -> Result<Target> {
    let ds = state.dataset(dataset)?;
    state.readable_version(dataset, version)?;
    Ok(Target {
        version: version.to_string(),
        table: pinned_table(dataset, version),
        columns: ds.reader_columns(&[version]),
        profile: Some(VersionKey::of(state, dataset, version)?),
    })
}

/// The version guards compare a candidate against: the stable version, unless it is the
/// candidate itself.
fn baseline_of(state: &State, dataset: &str, candidate: &str) -> Result<Option<String>> {
    Ok(state
        .dataset(dataset)?
        .rollout
        .stable
        .clone()
        .filter(|s| s != candidate))
}

/// Runs the dataset's contract over `candidate`, with drift against `baseline`.
/// `None` when the dataset has no contract.
async fn run(
    env: &Env<'_>,
    state: &State,
    dataset: &str,
    candidate: &Target,
    baseline: Option<&str>,
) -> Result<Option<CheckReport>> {
    let Some(contract) = &state.dataset(dataset)?.contract else {
        return Ok(None);
    };
    let baseline = match baseline {
        Some(b) => Some(version_target(state, dataset, b)?),
        None => None,
    };
    let results = run_contract(
        env.session,
        env.store,
        contract,
        candidate,
        baseline.as_ref(),
    )
    .await?;
    Ok(Some(CheckReport::new(results)))
}

/// Runs the dataset's contract over a registered `version`, with drift against the stable
/// version. `None` when the dataset has no contract.
pub async fn evaluate(
    env: &Env<'_>,
    state: &State,
    dataset: &str,
    version: &str,
) -> Result<Option<CheckReport>> {
    let candidate = version_target(state, dataset, version)?;
    let baseline = baseline_of(state, dataset, version)?;
    run(env, state, dataset, &candidate, baseline.as_deref()).await
}

/// What the guards said, as the plan of a guarded commit sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Not evaluated yet: the plan is asked whether anything would change at all.
    Pending,
    /// Every guard held, or the dataset has no contract.
    Passed,
    /// Guards failed (and the gate lets the commit go on: FORCE, or a failure is recorded):
    /// one line per failing check.
    Failed(Vec<String>),
}

/// What to do when a guard fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Refuse the change unless it is forced (PROMOTE, ADVANCE).
    Refuse,
    /// Go on and let the plan record the failure (a rejected registration, a rollback).
    Record,
}

/// A change gated by the dataset's guards.
pub struct Gate<'a> {
    /// The statement's operation, for the refusal (`PROMOTE`, `ADVANCE`).
    pub operation: &'a str,
    pub dataset: &'a str,
    /// What the guards check: a registered version, or one about to be registered.
    pub candidate: Target,
    pub on_failure: OnFailure,
    pub force: bool,
    /// Who the commit is recorded as made by.
    pub actor: &'a str,
}

/// A guarded commit that happened (or found nothing to do), with the guards' report.
#[derive(Debug)]
pub struct Guarded {
    pub outcome: CommitOutcome,
    pub report: Option<CheckReport>,
}

/// The one path of a guarded change: ask the plan whether anything would change; choose the
/// targets (candidate, and the stable version as baseline) once; evaluate; refuse unless
/// FORCE (or let the plan record the failure); stamp the report on the entry as its evidence;
/// commit. When another writer changes the baseline before the commit lands, checks that ran
/// are stale evidence and the change is refused rather than committed on them.
pub async fn guarded_commit(
    env: &Env<'_>,
    gate: Gate<'_>,
    mut plan: impl FnMut(&State, &Verdict) -> Result<Option<Commit>>,
) -> Result<Guarded> {
    let state = env.store.state();
    if plan(&state, &Verdict::Pending)?.is_none() {
        return Ok(Guarded {
            outcome: CommitOutcome::Unchanged,
            report: None,
        });
    }
    let baseline = baseline_of(&state, gate.dataset, &gate.candidate.version)?;
    let report = run(
        env,
        &state,
        gate.dataset,
        &gate.candidate,
        baseline.as_deref(),
    )
    .await?;
    let failed = report.as_ref().is_some_and(CheckReport::failed);
    if failed && gate.on_failure == OnFailure::Refuse && !gate.force {
        return Err(Error::GuardFailed {
            operation: gate.operation.to_string(),
            dataset: gate.dataset.to_string(),
            version: gate.candidate.version.clone(),
            failures: report
                .as_ref()
                .map(CheckReport::failures)
                .unwrap_or_default(),
        });
    }
    let verdict = match &report {
        Some(r) if failed => Verdict::Failed(r.failures()),
        _ => Verdict::Passed,
    };
    let evidence = report
        .as_ref()
        .map(CheckReport::to_json)
        .unwrap_or_default();
    let outcome = env
        .commit_as(gate.actor, |s| {
            // The statement's own actor is checked as every commit of a statement is; the
            // guard acts on the contract's authority.
            if gate.actor == env.actor {
                s.access.check_all(env.actor, env.needs)?;
            }
            // Checks against a stable version that is no longer stable are stale evidence.
            if report.is_some()
                && baseline_of(s, gate.dataset, &gate.candidate.version)? != baseline
            {
                return Err(Error::refused(Refusal::ChangedMeanwhile {
                    dataset: gate.dataset.to_string(),
                    operation: gate.operation.to_string(),
                }));
            }
            let mut commit = plan(s, &verdict)?;
            if let Some(c) = commit.as_mut() {
                c.checks = evidence.clone();
                if gate.actor == env.actor {
                    c.actions.extend(env.also.iter().cloned());
                }
            }
            Ok(commit)
        })
        .await?;
    Ok(Guarded { outcome, report })
}
