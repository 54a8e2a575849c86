//! `CREATE DATASET` and `SHOW DATASETS`.

use std::fmt;

use chrono::Utc;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_string, parse_word};
use super::table::Table;
use crate::catalog::{Action, Dataset, Privilege, Rollout, validate_identifier};
use crate::error::{Error, Result};
use crate::guard::Env;
use crate::sql::{Ident, Quoted, ReasonClause};
use crate::store::Commit;

/// `CREATE DATASET [IF NOT EXISTS] name [COMMENT '...'] [REASON '...']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateDataset {
    /// Its name.
    pub name: String,
    /// No error when it exists already.
    pub if_not_exists: bool,
    /// A description, shown by `SHOW DATASETS`.
    pub comment: Option<String>,
    /// Why, for the history.
    pub reason: Option<String>,
}

pub(super) fn parse_create(p: &mut Parser) -> Result<CreateDataset, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    expect_word(p, "DATASET")?;
    let if_not_exists = p.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let name = parse_name(p, "a dataset name")?;
    let mut comment = None;
    let mut reason = None;
    loop {
        if comment.is_none() && p.parse_keyword(Keyword::COMMENT) {
            comment = Some(parse_string(p, "a comment in quotes after COMMENT")?);
        } else if reason.is_none() && parse_word(p, "REASON") {
            reason = Some(parse_string(p, "a reason in quotes after REASON")?);
        } else {
            break;
        }
    }
    Ok(CreateDataset {
        name,
        if_not_exists,
        comment,
        reason,
    })
}

impl fmt::Display for CreateDataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE DATASET ")?;
        if self.if_not_exists {
            write!(f, "IF NOT EXISTS ")?;
        }
        write!(f, "{}", Ident(&self.name))?;
        if let Some(c) = &self.comment {
            write!(f, " COMMENT {}", Quoted(c))?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl CreateDataset {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        validate_identifier("dataset name", &self.name)?;
        if env.session.table_exist(self.name.as_str())?
            && !env.store.state().datasets.contains_key(&self.name)
        {
            return Err(Error::NameTaken {
                name: self.name.clone(),
            });
        }
        let outcome = env
            .commit(|state| {
                if state.datasets.contains_key(&self.name) {
                    return if self.if_not_exists {
                        Ok(None)
                    } else {
                        Err(Error::DatasetExists {
                            dataset: self.name.clone(),
                        })
                    };
                }
                let dataset = Dataset {
                    name: self.name.clone(),
                    comment: self.comment.clone(),
                    created_at: Utc::now(),
                    created_by: env.actor.to_string(),
                    all_columns: vec![],
                    versions: vec![],
                    rollout: Rollout::default(),
                    contract: None,
                    retention: None,
                };
                Ok(Some(Commit {
                    operation: "CREATE DATASET".into(),
                    dataset: Some(self.name.clone()),
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![Action::CreateDataset {
                        dataset: Box::new(dataset),
                    }],
                    message: format!("created dataset {}", self.name),
                    blast_radius: None,
                }))
            })
            .await?;
        Ok(Outcome::of_commit(outcome, None, || {
            format!("dataset {} already exists", self.name)
        }))
    }
}

/// `SHOW DATASETS`
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShowDatasets;

impl fmt::Display for ShowDatasets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW DATASETS")
    }
}

impl ShowDatasets {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        // Only the datasets the actor may read: on a store with users a name, its versions
        // and its rollout are as private as its data.
        let access = &state.access;
        let ds: Vec<&Dataset> = state
            .datasets
            .values()
            .filter(|d| access.allows(env.actor, Privilege::Read, Some(&d.name)))
            .collect();
        let candidate = |d: &&Dataset| d.rollout.candidate.clone();
        let batch = Table::new()
            .text("dataset", ds.iter().map(|d| &d.name))
            .text_opt("stable", ds.iter().map(|d| d.rollout.stable.as_ref()))
            .text_opt(
                "candidate",
                ds.iter().map(|d| candidate(d).map(|c| c.version)),
            )
            .text_opt(
                "exposure",
                ds.iter().map(|d| candidate(d).map(|c| c.exposure())),
            )
            .count("versions", ds.iter().map(|d| d.versions.len() as u64))
            .text_opt("comment", ds.iter().map(|d| d.comment.as_ref()))
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}
