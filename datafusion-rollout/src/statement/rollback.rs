//! `ROLLBACK`: abort a live rollout, or go back to an earlier stable version. Metadata only.

use std::fmt;

use datafusion::dataframe::DataFrame;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::parser::{parse_name, parse_reason, parse_string};
use super::{Ident, Quoted, ReasonClause};
use crate::catalog::{Action, Rollout, State, VersionStatus};
use crate::error::{Error, Result};
use crate::session::RolloutContext;
use crate::store::Commit;

/// `ROLLBACK orders [TO 'v1'] [REASON '...']`
///
/// Without `TO`: a live candidate is aborted (it becomes `rolled_back`, everyone reads
/// stable); with no candidate, the previous stable version is restored. With `TO 'v'`: any
/// candidate is aborted and `v` becomes stable. Either way a new history entry; the same
/// history always yields the same state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollback {
    pub dataset: String,
    pub to: Option<String>,
    pub reason: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<Rollback, ParserError> {
    p.expect_keyword(Keyword::ROLLBACK)?;
    let dataset = parse_name(p, "a dataset name after ROLLBACK")?;
    let to = if p.parse_keyword(Keyword::TO) {
        Some(parse_string(
            p,
            "a version id in quotes after TO, like 'v1'",
        )?)
    } else {
        None
    };
    let reason = parse_reason(p)?;
    Ok(Rollback {
        dataset,
        to,
        reason,
    })
}

impl fmt::Display for Rollback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A dataset named like a word of DataFusion's own ROLLBACK is quoted, or it reads as one.
        if matches!(
            self.dataset.as_str(),
            "transaction" | "work" | "and" | "to" | "savepoint"
        ) {
            write!(f, "ROLLBACK \"{}\"", self.dataset)?;
        } else {
            write!(f, "ROLLBACK {}", Ident(&self.dataset))?;
        }
        if let Some(v) = &self.to {
            write!(f, " TO {}", Quoted(v))?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl Rollback {
    pub(crate) fn plan(&self, state: &State, seen: &mut Option<Rollout>) -> Result<Option<Commit>> {
        let ds = state.dataset(&self.dataset)?;
        let rollout = &ds.rollout;
        // A plain ROLLBACK means "undo what I am looking at": if another writer changed the
        // rollout meanwhile, rolling back again would undo their change too. Refuse instead,
        // so two concurrent ROLLBACKs yield one.
        match seen {
            Some(first) if first != rollout && self.to.is_none() => {
                return Err(Error::precondition(format!(
                    "{} changed while ROLLBACK was being committed (another writer committed first); \
                     nothing was rolled back: check SHOW ROLLOUT {} and retry if still wanted",
                    self.dataset, self.dataset
                )));
            }
            Some(_) => {}
            None => *seen = Some(rollout.clone()),
        }
        let mut next = rollout.clone();
        let mut actions = Vec::new();
        let set_status = |version: &str, status| Action::SetVersionStatus {
            dataset: self.dataset.clone(),
            version: version.to_string(),
            status,
        };
        if let Some(candidate) = &rollout.candidate {
            actions.push(set_status(&candidate.version, VersionStatus::RolledBack));
            next.candidate = None;
        }
        let message = match (&self.to, &rollout.candidate) {
            (None, Some(candidate)) => format!(
                "rolled back the rollout of '{}' on {}; everyone reads '{}'",
                candidate.version,
                self.dataset,
                rollout.stable.as_deref().unwrap_or("?")
            ),
            (None, None) => {
                let (Some(current), Some(previous)) =
                    (rollout.stable.clone(), next.previous_stable.pop())
                else {
                    return Err(Error::precondition(format!(
                        "nothing to roll back: {} has no candidate and no earlier stable version",
                        self.dataset
                    )));
                };
                actions.push(set_status(&current, VersionStatus::RolledBack));
                actions.push(set_status(&previous, VersionStatus::Stable));
                next.stable = Some(previous.clone());
                format!(
                    "rolled back {} from '{current}' to the previous stable version '{previous}'",
                    self.dataset
                )
            }
            (Some(target), _) => {
                let v = state.version(&self.dataset, target)?;
                if v.status == VersionStatus::Rejected {
                    return Err(Error::precondition(format!(
                        "version '{target}' of {} was rejected and cannot become stable",
                        self.dataset
                    )));
                }
                if rollout.stable.as_deref() == Some(target.as_str()) {
                    if rollout.candidate.is_none() {
                        return Ok(None);
                    }
                } else {
                    if let Some(current) = &rollout.stable {
                        actions.push(set_status(current, VersionStatus::RolledBack));
                    }
                    match next.previous_stable.iter().rposition(|p| p == target) {
                        Some(at) => next.previous_stable.truncate(at),
                        None => next.previous_stable.extend(rollout.stable.iter().cloned()),
                    }
                    actions.push(set_status(target, VersionStatus::Stable));
                    next.stable = Some(target.clone());
                }
                format!("rolled back {} to '{target}'", self.dataset)
            }
        };
        actions.push(Action::SetRollout {
            dataset: self.dataset.clone(),
            rollout: next,
        });
        Ok(Some(Commit {
            operation: "ROLLBACK".into(),
            dataset: Some(self.dataset.clone()),
            statement: self.to_string(),
            reason: self.reason.clone(),
            checks: vec![],
            actions,
            message,
        }))
    }

    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        let mut seen = None;
        match rc.commit(|state| self.plan(state, &mut seen)).await? {
            Some(done) => rc.message(&done),
            None => rc.message_text(&format!(
                "nothing to do: {} already reads '{}'",
                self.dataset,
                self.to.as_deref().unwrap_or("?")
            )),
        }
    }
}
