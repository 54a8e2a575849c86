//! `DROP VERSION 'v1' OF orders [REASON '...']`: a version leaves the catalog's working set.

use std::fmt;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_reason, parse_string};
use crate::catalog::{Action, Dataset, State, VersionStatus};
use crate::error::{Refusal, Result};
use crate::guard::Env;
use crate::sql::{Ident, Quoted, ReasonClause};
use crate::store::Commit;

/// `DROP VERSION 'v1' OF orders [REASON '...']`: the version is marked `dropped`. It stays in
/// `SHOW VERSIONS` and the history, but is never read (`VERSION AS OF` says it was dropped) or
/// exposed again, and `VACUUM` reclaims its data when the store wrote it (`CREATE VERSION`);
/// files a version was registered from are never deleted. Refused for the stable version,
/// the candidate, and the version a `ROLLBACK` would restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropVersion {
    /// The dataset.
    pub dataset: String,
    /// The version.
    pub version: String,
    /// Why, for the history.
    pub reason: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<DropVersion, ParserError> {
    p.expect_keyword(Keyword::DROP)?;
    p.expect_keyword(Keyword::VERSION)?;
    let version = parse_string(p, "a version id in quotes, like 'v1'")?;
    expect_word(p, "OF")?;
    let dataset = parse_name(p, "a dataset name after OF")?;
    let reason = parse_reason(p)?;
    Ok(DropVersion {
        dataset,
        version,
        reason,
    })
}

impl fmt::Display for DropVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DROP VERSION {} OF {}{}",
            Quoted(&self.version),
            Ident(&self.dataset),
            ReasonClause(&self.reason)
        )
    }
}

/// The actions dropping `versions` of `ds` (none of them protected): each becomes `dropped`,
/// and leaves the versions `ROLLBACK` may restore.
pub(super) fn drop_actions(ds: &Dataset, versions: &[&str]) -> Vec<Action> {
    let mut actions: Vec<Action> = versions
        .iter()
        .map(|v| Action::SetVersionStatus {
            dataset: ds.name.clone(),
            version: v.to_string(),
            status: VersionStatus::Dropped,
        })
        .collect();
    let rollout = &ds.rollout;
    if rollout
        .previous_stable
        .iter()
        .any(|p| versions.contains(&p.as_str()))
    {
        let mut next = rollout.clone();
        next.previous_stable
            .retain(|p| !versions.contains(&p.as_str()));
        actions.push(Action::SetRollout {
            dataset: ds.name.clone(),
            rollout: next,
        });
    }
    actions
}

impl DropVersion {
    fn plan(&self, state: &State) -> Result<Option<Commit>> {
        let ds = state.dataset(&self.dataset)?;
        let v = state.version(&self.dataset, &self.version)?;
        if v.status == VersionStatus::Dropped {
            return Ok(None);
        }
        if let Some(role) = ds.protected_role(&self.version) {
            return Err(crate::Error::refused(Refusal::VersionInUse {
                dataset: self.dataset.clone(),
                version: self.version.clone(),
                role: role.into(),
            }));
        }
        let actions = drop_actions(ds, &[self.version.as_str()]);
        let reclaim = if v.managed {
            "VACUUM reclaims its data"
        } else {
            "its files were registered, not written by the store, so they are kept"
        };
        Ok(Some(Commit {
            operation: "DROP VERSION".into(),
            dataset: Some(self.dataset.clone()),
            statement: self.to_string(),
            reason: self.reason.clone(),
            checks: vec![],
            actions,
            message: format!(
                "dropped version '{}' of {} (was {}); {reclaim}",
                self.version, self.dataset, v.status
            ),
            blast_radius: None,
        }))
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let done = env.commit(|state| self.plan(state)).await?;
        Ok(Outcome::of_commit(done, None, || {
            format!(
                "nothing to do: version '{}' of {} is dropped already",
                self.version, self.dataset
            )
        }))
    }
}
