//! `ADVANCE orders`: the next stage of a staged rollout, if its soak time has passed and its
//! guards hold. The last stage makes the candidate stable.

use std::fmt;

use chrono::Utc;
use datafusion::dataframe::DataFrame;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::parser::{expect_word, parse_name, parse_word};
use super::promote::Promote;
use super::{Ident, ReasonClause};
use crate::catalog::{Action, State, format_percent};
use crate::contract::summarize_failures;
use crate::error::{Error, Result};
use crate::guard;
use crate::session::RolloutContext;
use crate::store::Commit;

/// `ADVANCE orders [FORCE] [REASON '...']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Advance {
    pub dataset: String,
    pub force: bool,
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
            reason = Some(super::parser::parse_string(
                p,
                "a reason in quotes after REASON",
            )?);
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
    /// The commit moving to the next stage, or a refusal saying what is missing.
    fn plan(&self, state: &State, version: &str) -> Result<Option<Commit>> {
        let ds = state.dataset(&self.dataset)?;
        let Some(candidate) = ds
            .rollout
            .candidate
            .as_ref()
            .filter(|c| c.version == version)
        else {
            return Err(Error::precondition(format!(
                "{} has no live staged rollout of '{version}' any more (it changed meanwhile)",
                self.dataset
            )));
        };
        let Some(next) = candidate.next_stage() else {
            return Err(Error::precondition(format!(
                "'{version}' is at its last stage on {}; PROMOTE {} TO '{version}' makes it stable",
                self.dataset, self.dataset
            )));
        };
        if let Some(at) = candidate.may_advance_at()
            && Utc::now() < at
            && !self.force
        {
            let wait = at - Utc::now();
            return Err(Error::precondition(format!(
                "stage {} of {} ({}) of '{version}' on {} soaks until {} (another {}m{}s); the next stage ({}) may start then",
                candidate.stage + 1,
                candidate.stages.len(),
                format_percent(candidate.percent_bp),
                self.dataset,
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                wait.num_minutes(),
                wait.num_seconds() % 60,
                format_percent(next)
            )));
        }
        if next >= 10_000 {
            // The last stage: the candidate becomes stable, as a full PROMOTE would make it.
            let promote = Promote {
                dataset: self.dataset.clone(),
                version: version.to_string(),
                cohorts: vec![],
                percent_bp: None,
                stages: vec![],
                every: None,
                force: self.force,
                reason: self.reason.clone(),
            };
            let mut without_candidate = state.clone();
            if let Some(d) = without_candidate.datasets.get_mut(&self.dataset) {
                d.rollout.candidate = None;
            }
            let mut commit = promote.plan(&without_candidate, "")?;
            if let Some(c) = commit.as_mut() {
                c.operation = "ADVANCE".into();
                c.statement = self.to_string();
                c.message = format!("last stage: {}", c.message);
            }
            return Ok(commit);
        }
        let mut rollout = ds.rollout.clone();
        if let Some(c) = rollout.candidate.as_mut() {
            c.stage += 1;
            c.percent_bp = next;
            c.stage_started_at = Some(Utc::now());
        }
        Ok(Some(Commit {
            operation: "ADVANCE".into(),
            dataset: Some(self.dataset.clone()),
            statement: self.to_string(),
            reason: self.reason.clone(),
            checks: vec![],
            actions: vec![Action::SetRollout {
                dataset: self.dataset.clone(),
                rollout,
            }],
            message: format!(
                "'{version}' on {} advanced to stage {} of {}: {} of consumers",
                self.dataset,
                candidate.stage + 2,
                candidate.stages.len(),
                format_percent(next)
            ),
        }))
    }

    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        let state = rc.store().state();
        let ds = state.dataset(&self.dataset)?;
        let version = match &ds.rollout.candidate {
            Some(c) if !c.stages.is_empty() => c.version.clone(),
            _ => {
                return Err(Error::precondition(format!(
                    "{} has no staged rollout to advance; PROMOTE {} TO '<v>' IN STAGES (1, 10, 50, 100) starts one",
                    self.dataset, self.dataset
                )));
            }
        };
        // Refuse early (soak, last stage) before running the guards.
        self.plan(&state, &version)?;
        let mut checks = vec![];
        if let Some(results) = guard::evaluate(rc, &state, &self.dataset, &version).await? {
            if guard::failed(&results) && !self.force {
                return Err(Error::GuardFailed {
                    operation: "ADVANCE".into(),
                    dataset: self.dataset.clone(),
                    version,
                    failures: summarize_failures(&results),
                });
            }
            checks = guard::checks_json(&results);
        }
        let done = rc
            .commit(|s| {
                let mut commit = self.plan(s, &version)?;
                if let Some(c) = commit.as_mut() {
                    c.checks = checks.clone();
                }
                Ok(commit)
            })
            .await?;
        match done {
            Some(done) => rc.message(&done),
            None => rc.message_text("nothing to do"),
        }
    }
}
