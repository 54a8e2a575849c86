//! `CHECK orders [VERSION 'v']`, `CHECK ROLLOUT orders`, `CHECK ROLLOUTS`, `EXPLAIN CHECK ...`.

use std::fmt;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::parser::{parse_name, parse_string, parse_word};
use super::rollback::Rollback;
use super::table::Table;
use crate::catalog::State;
use crate::contract::{
    CheckReport, CheckResult, CheckStatus, compile, contract_queries, profiled_metrics,
    settled_by_statistics,
};
use crate::error::{Error, Result};
use crate::guard::{
    self, Env, GUARD_ACTOR, Gate, OnFailure, Verdict, guarded_commit, version_target,
};
use crate::sql::{Ident, Quoted};
use crate::store::CommitOutcome;

/// What `CHECK` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckTarget {
    /// `CHECK orders [VERSION 'v']`: the contract over a version (default: the candidate, else
    /// the stable version), with drift against stable.
    Version {
        /// The dataset.
        dataset: String,
        /// The version; `None` picks the candidate, else the stable version.
        version: Option<String>,
    },
    /// `CHECK ROLLOUT orders`: the guards of the live rollout; a failure rolls it back.
    Rollout {
        /// The dataset.
        dataset: String,
    },
    /// `CHECK ROLLOUTS`: every live rollout with a contract.
    Rollouts,
}

/// A `CHECK` statement (`explain`: show the queries instead of running them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What to check.
    pub target: CheckTarget,
    /// `EXPLAIN CHECK`: show the queries instead of running them.
    pub explain: bool,
}

pub(super) fn parse(p: &mut Parser) -> Result<Check, ParserError> {
    let explain = p.parse_keyword(Keyword::EXPLAIN);
    p.expect_keyword(Keyword::CHECK)?;
    let target = if parse_word(p, "ROLLOUTS") {
        CheckTarget::Rollouts
    } else if parse_word(p, "ROLLOUT") {
        CheckTarget::Rollout {
            dataset: parse_name(p, "a dataset name after CHECK ROLLOUT")?,
        }
    } else {
        let dataset = parse_name(p, "a dataset name after CHECK")?;
        let version = if p.parse_keyword(Keyword::VERSION) {
            Some(parse_string(p, "a version id in quotes after VERSION")?)
        } else {
            None
        };
        CheckTarget::Version { dataset, version }
    };
    Ok(Check { target, explain })
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.explain {
            write!(f, "EXPLAIN ")?;
        }
        match &self.target {
            CheckTarget::Version { dataset, version } => {
                // A dataset named rollout or rollouts is quoted, or it reads as CHECK ROLLOUT(S).
                if matches!(dataset.as_str(), "rollout" | "rollouts") {
                    write!(f, "CHECK \"{dataset}\"")?;
                } else {
                    write!(f, "CHECK {}", Ident(dataset))?;
                }
                if let Some(v) = version {
                    write!(f, " VERSION {}", Quoted(v))?;
                }
                Ok(())
            }
            CheckTarget::Rollout { dataset } => write!(f, "CHECK ROLLOUT {}", Ident(dataset)),
            CheckTarget::Rollouts => write!(f, "CHECK ROLLOUTS"),
        }
    }
}

fn no_contract(dataset: &str) -> Error {
    Error::NoContract {
        dataset: dataset.to_string(),
    }
}

impl Check {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let report = match &self.target {
            CheckTarget::Version { dataset, version } => {
                let ds = state.dataset(dataset)?;
                let version = match version {
                    Some(v) => v.clone(),
                    None => ds
                        .rollout
                        .candidate
                        .as_ref()
                        .map(|c| c.version.clone())
                        .or_else(|| ds.rollout.stable.clone())
                        .ok_or_else(|| Error::NothingToCheck {
                            dataset: dataset.clone(),
                        })?,
                };
                if self.explain {
                    return self.explain_queries(env, &state, dataset, &version).await;
                }
                guard::evaluate(env, &state, dataset, &version)
                    .await?
                    .ok_or_else(|| no_contract(dataset))?
            }
            CheckTarget::Rollout { dataset } => {
                let ds = state.dataset(dataset)?;
                let candidate =
                    ds.rollout
                        .candidate
                        .as_ref()
                        .ok_or_else(|| Error::NoLiveRollout {
                            dataset: dataset.clone(),
                        })?;
                if ds.contract.is_none() {
                    return Err(no_contract(dataset));
                }
                check_rollout(env, &state, dataset, &candidate.version).await?
            }
            CheckTarget::Rollouts => {
                let mut all = Vec::new();
                for (name, ds) in &state.datasets {
                    let (Some(candidate), Some(_)) = (&ds.rollout.candidate, &ds.contract) else {
                        continue;
                    };
                    let report = check_rollout(env, &state, name, &candidate.version).await?;
                    all.extend(report.results.into_iter().map(|mut r| {
                        r.detail = format!("{name}@{}: {}", candidate.version, r.detail);
                        r
                    }));
                }
                CheckReport::new(all)
            }
        };
        Ok(Outcome::Checked { report })
    }

    async fn explain_queries(
        &self,
        env: &Env<'_>,
        state: &State,
        dataset: &str,
        version: &str,
    ) -> Result<Outcome> {
        let ds = state.dataset(dataset)?;
        let contract = ds.contract.as_ref().ok_or_else(|| no_contract(dataset))?;
        let specs = compile(contract)?;
        let candidate = version_target(state, dataset, version)?;
        let baseline = match ds.rollout.stable.as_deref() {
            Some(s) if s != version => Some(version_target(state, dataset, s)?),
            _ => None,
        };
        let profiled = profiled_metrics(env.session, &specs, &candidate, baseline.as_ref());
        let settled = settled_by_statistics(env.session, &specs, &candidate.table).await;
        let (metrics, drift) =
            contract_queries(&specs, &candidate, baseline.as_ref(), &profiled, &settled);
        let mut kinds = Vec::new();
        let mut texts = Vec::new();
        kinds.push("checks".to_string());
        texts.push(format!(
            "{} check(s) over {dataset}@{version} in {} scan(s)",
            specs.len(),
            usize::from(metrics.is_some()) + usize::from(drift.is_some())
        ));
        if !settled.is_empty() {
            kinds.push("statistics".into());
            let checks: Vec<String> = settled
                .iter()
                .filter_map(|s| specs.get(s.index))
                .map(|s| match &s.column {
                    Some(c) => format!("{} on {c}", s.check),
                    None => s.check.clone(),
                })
                .collect();
            texts.push(format!(
                "{} from the statistics of the files of {dataset}@{version} (exact row and null counts, minimum and maximum; SET rollout.check_statistics = false reads their rows instead)",
                checks.join(", ")
            ));
        }
        if let Some(m) = metrics {
            kinds.push("metric_scan".into());
            texts.push(m);
        }
        if let Some(d) = drift {
            kinds.push("drift_scan".into());
            texts.push(d);
        }
        if !profiled.is_empty() {
            kinds.push("drift_profiles".into());
            let calls: Vec<String> = profiled.iter().flat_map(|p| p.calls()).collect();
            texts.push(format!(
                "{} from the stored profiles of {dataset}@{} and {dataset}@{version} (a version's profile of a column is computed once, by one scan, on first use)",
                calls.join(", "),
                baseline.as_ref().map_or("", |b| b.version.as_str())
            ));
        }
        let batch = Table::new()
            .text("plan_type", kinds)
            .text("plan", texts)
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}

/// Evaluates a live rollout's guards and rolls it back (actor `guard`) when they fail: the
/// guarded commit of a rollback, recorded with the failing checks as its evidence.
async fn check_rollout(
    env: &Env<'_>,
    state: &State,
    dataset: &str,
    version: &str,
) -> Result<CheckReport> {
    let mut seen = std::collections::BTreeMap::new();
    let since = state
        .dataset(dataset)?
        .rollout
        .candidate
        .as_ref()
        .map(|c| c.started_at);
    let events = match env.store.events().read_since(since).await {
        Ok(read) => read.events,
        Err(_) => vec![],
    };
    let gate = Gate {
        operation: "ROLLBACK",
        dataset,
        candidate: version_target(state, dataset, version)?,
        on_failure: OnFailure::Record,
        force: false,
        actor: GUARD_ACTOR,
    };
    let done = guarded_commit(env, gate, |s, verdict| {
        // Only roll back the rollout that was checked, and only when a guard failed.
        let still_live = s
            .dataset(dataset)?
            .rollout
            .candidate
            .as_ref()
            .is_some_and(|c| c.version == version);
        let failures = match verdict {
            Verdict::Passed => return Ok(None),
            Verdict::Pending => vec![],
            Verdict::Failed(failures) => failures.clone(),
        };
        if !still_live {
            return Ok(None);
        }
        let rollback = Rollback {
            dataset: dataset.to_string(),
            to: None,
            cascade: false,
            more: vec![],
            reason: Some(format!("guard failed: {}", failures.join("; "))),
        };
        rollback.plan(s, &mut seen, &events)
    })
    .await?;
    let mut report = done.report.unwrap_or_default();
    if let CommitOutcome::Committed(done) = done.outcome {
        report.results.push(CheckResult {
            check: "rollback".into(),
            column: None,
            value: None,
            threshold: "all guards pass".into(),
            status: CheckStatus::Fail,
            detail: format!("{} (#{})", done.message, done.entry.sequence),
        });
    }
    Ok(report)
}
