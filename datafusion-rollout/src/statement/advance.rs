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
    /// The commit moving to the next stage, or a refusal saying what is missing.
    pub(crate) fn plan(&self, state: &State) -> Result<Option<Commit>> {
        let transition = Transition::Advance { force: self.force };
        let Some(change) = state
            .dataset(&self.dataset)?
            .transition(&transition, Utc::now())?
        else {
            return Ok(None);
        };
        Ok(Some(Commit {
            operation: "ADVANCE".into(),
            dataset: Some(self.dataset.clone()),
            statement: self.to_string(),
            reason: self.reason.clone(),
            checks: vec![],
            actions: change.actions(),
            message: change.message(),
            blast_radius: None,
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
