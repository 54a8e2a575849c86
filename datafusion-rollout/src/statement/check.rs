//! `CHECK orders [VERSION 'v']`, `CHECK ROLLOUT orders`, `CHECK ROLLOUTS`, `EXPLAIN CHECK ...`.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::StringArray;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::parser::{parse_name, parse_string, parse_word};
use super::rollback::Rollback;
use super::{Ident, Quoted};
use crate::catalog::State;
use crate::contract::{CheckResult, compile, contract_queries, results_batch, summarize_failures};
use crate::error::{Error, Result};
use crate::guard::{self, GUARD_ACTOR, checks_json, version_target};
use crate::session::RolloutContext;

/// What `CHECK` checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckTarget {
    /// `CHECK orders [VERSION 'v']`: the contract over a version (default: the candidate, else
    /// the stable version), with drift against stable.
    Version {
        dataset: String,
        version: Option<String>,
    },
    /// `CHECK ROLLOUT orders`: the guards of the live rollout; a failure rolls it back.
    Rollout { dataset: String },
    /// `CHECK ROLLOUTS`: every live rollout with a contract.
    Rollouts,
}

/// A `CHECK` statement (`explain`: show the queries instead of running them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub target: CheckTarget,
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
    Error::precondition(format!(
        "{dataset} has no contract, so there is nothing to check; CREATE CONTRACT name FOR {dataset} (...) attaches one"
    ))
}

impl Check {
    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        let state = rc.store().state();
        match &self.target {
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
                        .ok_or_else(|| {
                            Error::precondition(format!(
                                "{dataset} has no candidate or stable version; CHECK {dataset} VERSION '<v>' checks a registered one"
                            ))
                        })?,
                };
                if self.explain {
                    return self.explain_queries(rc, &state, dataset, &version);
                }
                let results = guard::evaluate(rc, &state, dataset, &version)
                    .await?
                    .ok_or_else(|| no_contract(dataset))?;
                rc.frame(results_batch(&results)?)
            }
            CheckTarget::Rollout { dataset } => {
                let ds = state.dataset(dataset)?;
                let candidate = ds.rollout.candidate.as_ref().ok_or_else(|| {
                    Error::precondition(format!("{dataset} has no live rollout to check"))
                })?;
                if ds.contract.is_none() {
                    return Err(no_contract(dataset));
                }
                let results = self
                    .check_rollout(rc, &state, dataset, &candidate.version)
                    .await?;
                rc.frame(results_batch(&results)?)
            }
            CheckTarget::Rollouts => {
                let mut all = Vec::new();
                for (name, ds) in &state.datasets {
                    let (Some(candidate), Some(_)) = (&ds.rollout.candidate, &ds.contract) else {
                        continue;
                    };
                    let results = self
                        .check_rollout(rc, &state, name, &candidate.version)
                        .await?;
                    all.extend(results.into_iter().map(|mut r| {
                        r.detail = format!("{name}@{}: {}", candidate.version, r.detail);
                        r
                    }));
                }
                rc.frame(results_batch(&all)?)
            }
        }
    }

    /// Evaluates a live rollout's guards and rolls it back (actor `guard`) when they fail.
    async fn check_rollout(
        &self,
        rc: &RolloutContext,
        state: &State,
        dataset: &str,
        version: &str,
    ) -> Result<Vec<CheckResult>> {
        let Some(mut results) = guard::evaluate(rc, state, dataset, version).await? else {
            return Ok(vec![]);
        };
        if guard::failed(&results) {
            let failures = summarize_failures(&results);
            let rollback = Rollback {
                dataset: dataset.to_string(),
                to: None,
                reason: Some(format!("guard failed: {}", failures.join("; "))),
            };
            let mut seen = None;
            let checks = checks_json(&results);
            let done = rc
                .commit_as(GUARD_ACTOR, |s| {
                    // Only roll back the rollout that was checked.
                    let still_live = s
                        .dataset(dataset)?
                        .rollout
                        .candidate
                        .as_ref()
                        .is_some_and(|c| c.version == version);
                    if !still_live {
                        return Ok(None);
                    }
                    let mut commit = rollback.plan(s, &mut seen)?;
                    if let Some(c) = commit.as_mut() {
                        c.checks = checks.clone();
                    }
                    Ok(commit)
                })
                .await?;
            if let Some(done) = done {
                results.push(CheckResult {
                    check: "rollback".into(),
                    column: None,
                    value: None,
                    threshold: "all guards pass".into(),
                    status: crate::contract::CheckStatus::Fail,
                    detail: format!("{} (#{})", done.message, done.entry.sequence),
                });
            }
        }
        Ok(results)
    }

    fn explain_queries(
        &self,
        rc: &RolloutContext,
        state: &State,
        dataset: &str,
        version: &str,
    ) -> Result<DataFrame> {
        let ds = state.dataset(dataset)?;
        let contract = ds.contract.as_ref().ok_or_else(|| no_contract(dataset))?;
        let specs = compile(contract)?;
        let candidate = version_target(state, dataset, version)?;
        let baseline = match ds.rollout.stable.as_deref() {
            Some(s) if s != version => Some(version_target(state, dataset, s)?),
            _ => None,
        };
        let (metrics, drift) = contract_queries(&specs, &candidate, baseline.as_ref());
        let mut kinds = Vec::new();
        let mut texts = Vec::new();
        kinds.push("checks".to_string());
        texts.push(format!(
            "{} check(s) over {dataset}@{version} in {} scan(s)",
            specs.len(),
            usize::from(metrics.is_some()) + usize::from(drift.is_some())
        ));
        if let Some(m) = metrics {
            kinds.push("metric_scan".into());
            texts.push(m);
        }
        if let Some(d) = drift {
            kinds.push("drift_scan".into());
            texts.push(d);
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("plan_type", DataType::Utf8, false),
            Field::new("plan", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(StringArray::from(kinds)),
                Arc::new(StringArray::from(texts)),
            ],
        )?;
        rc.frame(batch)
    }
}
