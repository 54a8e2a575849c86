//! Cohorts: `CREATE COHORT`, `ALTER COHORT ... ADD|DROP MEMBERS`, `DROP COHORT`, `SHOW COHORTS`.

use std::collections::BTreeSet;
use std::fmt;

use chrono::Utc;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_reason, parse_string, parse_word};
use super::table::Table;
use crate::catalog::{Action, Cohort, State, validate_identifier};
use crate::error::{Error, Refusal, Result};
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
    let members = parse_members(p, true)?;
    let reason = parse_reason(p)?;
    Ok(CreateCohort {
        name,
        members,
        reason,
    })
}

/// `MEMBERS ('a', 'b')`; an empty list only where `empty_ok`.
fn parse_members(p: &mut Parser, empty_ok: bool) -> Result<Vec<String>, ParserError> {
    expect_word(p, "MEMBERS")?;
    p.expect_token(&Token::LParen)?;
    let members = if empty_ok && p.peek_token().token == Token::RParen {
        vec![]
    } else {
        p.parse_comma_separated(|p| parse_string(p, "a consumer id in quotes"))?
    };
    p.expect_token(&Token::RParen)?;
    Ok(members)
}

/// `('a', 'b')` as the statements print it.
struct Members<'a>(&'a [String]);

impl fmt::Display for Members<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let members: Vec<String> = self.0.iter().map(|m| Quoted(m).to_string()).collect();
        write!(f, "({})", members.join(", "))
    }
}

impl fmt::Display for CreateCohort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE COHORT {} MEMBERS {}{}",
            Ident(&self.name),
            Members(&self.members),
            ReasonClause(&self.reason)
        )
    }
}

/// A consumer id must not be empty.
fn check_members(members: &[String]) -> Result<()> {
    match members.iter().find(|m| m.is_empty()) {
        Some(empty) => Err(Error::InvalidName {
            kind: "consumer id",
            name: empty.clone(),
            reason: "it is empty".into(),
        }),
        None => Ok(()),
    }
}

impl CreateCohort {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        validate_identifier("cohort name", &self.name)?;
        check_members(&self.members)?;
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

/// `ALTER COHORT canary ADD|DROP MEMBERS ('bob') [REASON '...']` and `DROP COHORT canary
/// [REASON '...']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterCohort {
    /// The cohort.
    pub name: String,
    /// What changes.
    pub change: CohortChange,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// What `ALTER COHORT` / `DROP COHORT` changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CohortChange {
    /// `ADD MEMBERS (...)`: the consumers join; they read what the cohort is exposed to.
    AddMembers(Vec<String>),
    /// `DROP MEMBERS (...)`: the consumers leave.
    DropMembers(Vec<String>),
    /// `DROP COHORT`: refused while a rollout exposes the cohort.
    Drop,
}

pub(super) fn parse_alter(p: &mut Parser) -> Result<AlterCohort, ParserError> {
    if p.parse_keyword(Keyword::DROP) {
        expect_word(p, "COHORT")?;
        let name = parse_name(p, "a cohort name after DROP COHORT")?;
        let reason = parse_reason(p)?;
        return Ok(AlterCohort {
            name,
            change: CohortChange::Drop,
            reason,
        });
    }
    p.expect_keyword(Keyword::ALTER)?;
    expect_word(p, "COHORT")?;
    let name = parse_name(p, "a cohort name after ALTER COHORT")?;
    let change = if parse_word(p, "ADD") {
        CohortChange::AddMembers(parse_members(p, false)?)
    } else if p.parse_keyword(Keyword::DROP) {
        CohortChange::DropMembers(parse_members(p, false)?)
    } else {
        return p.expected("ADD MEMBERS (...) or DROP MEMBERS (...)", p.peek_token());
    };
    let reason = parse_reason(p)?;
    Ok(AlterCohort {
        name,
        change,
        reason,
    })
}

impl fmt::Display for AlterCohort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Ident(&self.name);
        match &self.change {
            CohortChange::AddMembers(m) => {
                write!(f, "ALTER COHORT {name} ADD MEMBERS {}", Members(m))?
            }
            CohortChange::DropMembers(m) => {
                write!(f, "ALTER COHORT {name} DROP MEMBERS {}", Members(m))?
            }
            CohortChange::Drop => write!(f, "DROP COHORT {name}")?,
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

/// The live rollouts exposing `cohort`, as `orders 'v2'`.
fn exposing(state: &State, cohort: &str) -> Vec<String> {
    state
        .datasets
        .values()
        .filter_map(|d| {
            let c = d.rollout.candidate.as_ref()?;
            c.cohorts
                .contains(cohort)
                .then(|| format!("{} '{}'", d.name, c.version))
        })
        .collect()
}

impl AlterCohort {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        if let CohortChange::AddMembers(m) | CohortChange::DropMembers(m) = &self.change {
            check_members(m)?;
        }
        let done = env
            .commit(|state| {
                let cohort = state.cohort(&self.name)?;
                let exposed = exposing(state, &self.name);
                let (action, message) = match &self.change {
                    CohortChange::Drop => {
                        if !exposed.is_empty() {
                            return Err(Error::refused(Refusal::CohortExposed {
                                cohort: self.name.clone(),
                                exposed,
                            }));
                        }
                        (
                            Action::DropCohort {
                                cohort: self.name.clone(),
                            },
                            format!(
                                "dropped cohort {} ({} member(s))",
                                self.name,
                                cohort.members.len()
                            ),
                        )
                    }
                    CohortChange::AddMembers(m) | CohortChange::DropMembers(m) => {
                        let adding = matches!(self.change, CohortChange::AddMembers(_));
                        let named: BTreeSet<&String> = m.iter().collect();
                        let wrong: Vec<String> = named
                            .iter()
                            .filter(|x| cohort.members.contains(**x) == adding)
                            .map(|x| x.to_string())
                            .collect();
                        if !wrong.is_empty() {
                            return Err(Error::refused(Refusal::Membership {
                                cohort: self.name.clone(),
                                members: wrong,
                                already: adding,
                            }));
                        }
                        let mut members = cohort.members.clone();
                        for x in named {
                            if adding {
                                members.insert(x.clone());
                            } else {
                                members.remove(x);
                            }
                        }
                        let verb = if adding { "added" } else { "removed" };
                        let mut message = format!(
                            "{verb} {} member(s) {} cohort {} (now {})",
                            m.iter().collect::<BTreeSet<_>>().len(),
                            if adding { "to" } else { "from" },
                            self.name,
                            members.len()
                        );
                        if !exposed.is_empty() {
                            let reads = if adding { "now read" } else { "no longer read" };
                            message.push_str(&format!(
                                "; they {reads} the candidate of {}",
                                exposed.join(", ")
                            ));
                        }
                        (
                            Action::SetCohortMembers {
                                cohort: self.name.clone(),
                                members,
                            },
                            message,
                        )
                    }
                };
                Ok(Some(Commit {
                    operation: match self.change {
                        CohortChange::Drop => "DROP COHORT",
                        _ => "ALTER COHORT",
                    }
                    .into(),
                    dataset: None,
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![action],
                    message,
                    blast_radius: None,
                }))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || "nothing to do".into()))
    }
}

/// `SHOW COHORTS`: each cohort, its members and the live rollouts exposing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowCohorts;

pub(super) fn parse_show(p: &mut Parser) -> Result<ShowCohorts, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    expect_word(p, "COHORTS")?;
    Ok(ShowCohorts)
}

impl fmt::Display for ShowCohorts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SHOW COHORTS")
    }
}

impl ShowCohorts {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let all: Vec<&Cohort> = state.cohorts.values().collect();
        let batch = Table::new()
            .text("name", all.iter().map(|c| &c.name))
            .text(
                "members",
                all.iter().map(|c| {
                    c.members
                        .iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                }),
            )
            .count("member_count", all.iter().map(|c| c.members.len() as u64))
            .text(
                "exposed_to",
                all.iter().map(|c| exposing(&state, &c.name).join(", ")),
            )
            .text(
                "created_at",
                all.iter().map(|c| {
                    c.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                }),
            )
            .text("created_by", all.iter().map(|c| &c.created_by))
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}
