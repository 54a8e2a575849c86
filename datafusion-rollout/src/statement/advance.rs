//! `ADVANCE orders`: the next stage of a staged rollout, if its soak time has passed and its
//! guards hold. A stage of 100% makes the candidate stable (see `catalog::Transition`).

use std::fmt;

use chrono::Utc;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_string, parse_word};
use crate::catalog::{State, Transition};
use crate::error::{Error, Refusal, Result};
use crate::guard::{Env, Gate, OnFailure, guarded_commit, version_target};
use crate::sql::{Ident, ReasonClause};
use crate::store::Commit;

/// `ADVANCE orders [FORCE] [REASON '...']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    /// The dataset.
    pub dataset: String,
    /// Advance although the stage has not soaked or the guards fail.
    pub force: bool,
    /// Why, for the history.
    pub reason: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<Advance, ParserError> {
    expect_word(p, "ADVANCE")?;
    let dataset = parse_name(p, "a dataset name after ADVANCE")?;
    let mut force = false;
    let mut reason = None;
    loop {
        if !force && parse_word(p, "FORCE") {
            force = true;
        } else if reason.is_none() && parse_word(p, "REASON") {
            reason = Some(parse_string(p, "a reason in quotes after REASON")?);
        } else {
            break;
        }
    }
    if force && reason.is_none() {
        return Err(ParserError::ParserError(
            "ADVANCE ... FORCE needs a REASON '...' saying why the guards are bypassed".into(),
        ));
    }
    Ok(Advance {
        dataset,
        force,
        reason,
    })
}

impl fmt::Display for Advance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ADVANCE {}", Ident(&self.dataset))?;
        if self.force {
            write!(f, " FORCE")?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl Advance {
    /// The datasets this advances: the one named, and those released in stages with it.
    pub(crate) fn members(&self, state: &State) -> Result<Vec<String>> {
        let ds = state.dataset(&self.dataset)?;
        let mut all = vec![self.dataset.clone()];
        all.extend(
            ds.rollout
                .candidate
                .iter()
                .flat_map(|c| c.linked.iter().cloned()),
        );
        Ok(all)
    }

    /// The commit moving every member to its next stage (planned in turn, one commit), or a
    /// refusal saying what is missing.
    pub(crate) fn plan(&self, state: &State) -> Result<Option<Commit>> {
        let transition = Transition::Advance { force: self.force };
        let members = self.members(state)?;
        super::combined::in_turn(state, &members, |working, d| {
            let Some(change) = working.dataset(d)?.transition(&transition, Utc::now())? else {
                return Ok(None);
            };
            Ok(Some(super::combined::change_commit(
                "ADVANCE",
                &self.dataset,
                self,
                self.reason.clone(),
                &change,
            )))
        })
    }

    /// `ADVANCE` of a release of several datasets: every member's guards run first (any
    /// failure refuses all, unless FORCE), then one commit moves all to their next stage.
    async fn execute_linked(&self, env: &Env<'_>, members: &[String]) -> Result<Outcome> {
        let state = env.store.state();
        let mut versions = Vec::new();
        let mut evidence = Vec::new();
        let mut results = Vec::new();
        for d in members {
            let Some(c) = state.dataset(d)?.rollout.candidate.as_ref() else {
                return Err(Error::refused(Refusal::NotStaged { dataset: d.clone() }));
            };
            let report = crate::guard::evaluate(env, &state, d, &c.version).await?;
            if let Some(report) = report {
                if report.failed() && !self.force {
                    return Err(Error::GuardFailed {
                        operation: "ADVANCE".into(),
                        dataset: d.clone(),
                        version: c.version.clone(),
                        failures: report.failures(),
                    });
                }
                for mut check in report.to_json() {
                    if let Some(o) = check.as_object_mut() {
                        o.insert("dataset".into(), serde_json::Value::from(d.as_str()));
                    }
                    evidence.push(check);
                }
                results.extend(report.results);
            }
            versions.push(c.version.clone());
        }
        let done = env
            .commit(|s| {
                // The guards checked these candidates: advance them, not ones that replaced them.
                for (d, v) in members.iter().zip(&versions) {
                    let live = s.dataset(d)?.rollout.candidate.as_ref();
                    if live.map(|c| &c.version) != Some(v) {
                        return Err(Error::refused(Refusal::ChangedMeanwhile {
                            dataset: d.clone(),
                            operation: "ADVANCE".into(),
                        }));
                    }
                }
                Ok(self.plan(s)?.map(|mut c| {
                    c.checks = evidence.clone();
                    c
                }))
            })
            .await?;
        let report = (!results.is_empty()).then(|| crate::contract::CheckReport::new(results));
        Ok(Outcome::of_forced_commit(done, report, self.force, || {
            "nothing to do".into()
        }))
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let ds = state.dataset(&self.dataset)?;
        let Some(candidate) = ds
            .rollout
            .candidate
            .as_ref()
            .filter(|c| !c.stages.is_empty())
        else {
            return Err(Error::refused(Refusal::NotStaged {
                dataset: self.dataset.clone(),
            }));
        };
        let version = candidate.version.clone();
        let members = self.members(&state)?;
        if members.len() > 1 {
            return self.execute_linked(env, &members).await;
        }
        let gate = Gate {
            operation: "ADVANCE",
            dataset: &self.dataset,
            candidate: version_target(&state, &self.dataset, &version)?,
            on_failure: OnFailure::Refuse,
            force: self.force,
            actor: env.actor,
        };
        let done = guarded_commit(env, gate, |s, _| {
            // The guards checked this candidate: advance it, not one that replaced it.
            let live = s.dataset(&self.dataset)?.rollout.candidate.as_ref();
            if live.map(|c| &c.version) != Some(&version) {
                return Err(Error::refused(Refusal::ChangedMeanwhile {
                    dataset: self.dataset.clone(),
                    operation: "ADVANCE".into(),
                }));
            }
            self.plan(s)
        })
        .await?;
        Ok(Outcome::of_forced_commit(
            done.outcome,
            done.report,
            self.force,
            || "nothing to do".into(),
        ))
    }
}
