//! `CREATE COHORT name MEMBERS ('alice', 'job-42')`.

use std::collections::BTreeSet;
use std::fmt;

use chrono::Utc;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_reason, parse_string};
use crate::catalog::{Action, Cohort, validate_identifier};
use crate::error::{Error, Result};
use crate::guard::Env;
use crate::sql::{Ident, Quoted, ReasonClause};
use crate::store::Commit;

/// `CREATE COHORT canary MEMBERS ('alice', 'job-42') [REASON '...']`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateCohort {
    /// Its name.
    pub name: String,
    /// The consumer ids in it.
    pub members: Vec<String>,
    /// Why, for the history.
    pub reason: Option<String>,
}

pub(super) fn parse_create(p: &mut Parser) -> Result<CreateCohort, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    expect_word(p, "COHORT")?;
    let name = parse_name(p, "a cohort name")?;
    expect_word(p, "MEMBERS")?;
    p.expect_token(&Token::LParen)?;
    let members = if p.peek_token().token == Token::RParen {
        vec![]
    } else {
        p.parse_comma_separated(|p| parse_string(p, "a consumer id in quotes"))?
    };
    p.expect_token(&Token::RParen)?;
    let reason = parse_reason(p)?;
    Ok(CreateCohort {
        name,
        members,
        reason,
    })
}

impl fmt::Display for CreateCohort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let members: Vec<String> = self.members.iter().map(|m| Quoted(m).to_string()).collect();
        write!(
            f,
            "CREATE COHORT {} MEMBERS ({}){}",
            Ident(&self.name),
            members.join(", "),
            ReasonClause(&self.reason)
        )
    }
}

impl CreateCohort {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        validate_identifier("cohort name", &self.name)?;
        if let Some(empty) = self.members.iter().find(|m| m.is_empty()) {
            return Err(Error::InvalidName {
                kind: "consumer id",
                name: empty.clone(),
                reason: "it is empty".into(),
            });
        }
        let members: BTreeSet<String> = self.members.iter().cloned().collect();
        let done = env
            .commit(|state| {
                if state.cohorts.contains_key(&self.name) {
                    return Err(Error::CohortExists {
                        cohort: self.name.clone(),
                    });
                }
                Ok(Some(Commit {
                    operation: "CREATE COHORT".into(),
                    dataset: None,
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![Action::CreateCohort {
                        cohort: Cohort {
                            name: self.name.clone(),
                            members: members.clone(),
                            created_at: Utc::now(),
                            created_by: env.actor.to_string(),
                        },
                    }],
                    message: format!(
                        "created cohort {} with {} member(s)",
                        self.name,
                        members.len()
                    ),
                    blast_radius: None,
                }))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || "nothing to do".into()))
    }
}
