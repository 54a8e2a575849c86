//! `GRANT` / `REVOKE` of privileges and roles, and `SHOW GRANTS [FOR user]`.

use std::fmt;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_reason, parse_word};
use super::principals::keeps_an_admin;
use super::table::Table;
use crate::catalog::{Action, Grant, Grantee, Privilege, Scope, State};
use crate::error::Result;
use crate::guard::Env;
use crate::sql::{Ident, ReasonClause};
use crate::store::Commit;

/// What a `GRANT` or `REVOKE` gives or takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Granted {
    /// `PROMOTE, ROLLBACK ON DATASET orders` / `... ON ALL DATASETS`.
    Privileges {
        /// The privileges, in the order written.
        privileges: Vec<Privilege>,
        /// Where.
        scope: Scope,
    },
    /// `ROLE release` (to or from a user).
    Role(String),
}

/// `GRANT PROMOTE, ROLLBACK ON DATASET orders TO {alice | ROLE release}`,
/// `REVOKE ... FROM ...`, `GRANT ROLE release TO alice`, `REVOKE ROLE release FROM alice`,
/// each with an optional `REASON '...'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeGrants {
    /// `REVOKE` rather than `GRANT`.
    pub revoke: bool,
    /// What is given or taken.
    pub granted: Granted,
    /// To or from whom (a role is only ever given to a user).
    pub grantee: Grantee,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// `SHOW GRANTS` (every grant; ADMIN) or `SHOW GRANTS FOR alice` (what alice holds, directly
/// or through roles; ADMIN, or alice herself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowGrants {
    /// Whose effective grants.
    pub user: Option<String>,
}

pub(super) fn parse_change(p: &mut Parser) -> Result<ChangeGrants, ParserError> {
    let revoke = p.parse_keyword(Keyword::REVOKE);
    if !revoke {
        p.expect_keyword(Keyword::GRANT)?;
    }
    let granted = if parse_word(p, "ROLE") {
        Granted::Role(parse_name(p, "a role name after ROLE")?)
    } else {
        let privileges = p.parse_comma_separated(|p| {
            let token = p.next_token();
            let privilege = match &token.token {
                Token::Word(w) if w.quote_style.is_none() => Privilege::parse(&w.value),
                _ => None,
            };
            match privilege {
                Some(privilege) => Ok(privilege),
                None => p.expected(
                    "a privilege (READ, REGISTER, PROMOTE, ROLLBACK, FORCE, CONTRACT, ADMIN or \
                     IMPERSONATE) or ROLE",
                    token,
                ),
            }
        })?;
        p.expect_keyword(Keyword::ON)?;
        let scope = if p.parse_keyword(Keyword::ALL) {
            expect_word(p, "DATASETS")?;
            Scope::AllDatasets
        } else {
            expect_word(p, "DATASET")?;
            Scope::Dataset(parse_name(p, "a dataset name after DATASET")?)
        };
        Granted::Privileges { privileges, scope }
    };
    if revoke {
        p.expect_keyword(Keyword::FROM)?;
    } else {
        p.expect_keyword(Keyword::TO)?;
    }
    let grantee = if parse_word(p, "ROLE") {
        if matches!(granted, Granted::Role(_)) {
            return Err(ParserError::ParserError(
                "a role is granted to users, not to another role".into(),
            ));
        }
        Grantee::Role(parse_name(p, "a role name after ROLE")?)
    } else {
        Grantee::User(parse_name(p, "a user name, or ROLE and a role name")?)
    };
    let reason = parse_reason(p)?;
    Ok(ChangeGrants {
        revoke,
        granted,
        grantee,
        reason,
    })
}

pub(super) fn parse_show(p: &mut Parser) -> Result<ShowGrants, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    expect_word(p, "GRANTS")?;
    let user = if p.parse_keyword(Keyword::FOR) {
        Some(parse_name(p, "a user name after FOR")?)
    } else {
        None
    };
    Ok(ShowGrants { user })
}

impl fmt::Display for ChangeGrants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.revoke { "REVOKE " } else { "GRANT " })?;
        match &self.granted {
            Granted::Role(r) => write!(f, "ROLE {}", Ident(r))?,
            Granted::Privileges { privileges, scope } => {
                let names: Vec<&str> = privileges.iter().map(|p| p.as_str()).collect();
                write!(f, "{} ON {scope}", names.join(", "))?;
            }
        }
        let to = if self.revoke { "FROM" } else { "TO" };
        write!(f, " {to} {}{}", self.grantee, ReasonClause(&self.reason))
    }
}

impl fmt::Display for ShowGrants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.user {
            Some(u) => write!(f, "SHOW GRANTS FOR {}", Ident(u)),
            None => f.write_str("SHOW GRANTS"),
        }
    }
}

impl ChangeGrants {
    /// The scope whose ADMIN may make this change (roles are store-wide).
    pub(crate) fn scope(&self) -> Option<&str> {
        match &self.granted {
            Granted::Privileges {
                scope: Scope::Dataset(d),
                ..
            } => Some(d),
            _ => None,
        }
    }

    /// The actions that make the change in `state` (none when it holds already).
    fn plan(&self, state: &State) -> Result<Vec<Action>> {
        let access = &state.access;
        match &self.grantee {
            Grantee::User(u) => {
                access.user(u)?;
            }
            Grantee::Role(r) => {
                access.role(r)?;
            }
        }
        let mut actions = Vec::new();
        match &self.granted {
            Granted::Role(role) => {
                access.role(role)?;
                let Grantee::User(user) = &self.grantee else {
                    return Ok(actions);
                };
                let holds = access
                    .users
                    .get(user)
                    .is_some_and(|u| u.roles.contains(role));
                let (role, user) = (role.clone(), user.clone());
                if self.revoke && holds {
                    actions.push(Action::RevokeRole { role, user });
                } else if !self.revoke && !holds {
                    actions.push(Action::GrantRole { role, user });
                }
            }
            Granted::Privileges { privileges, scope } => {
                if let Scope::Dataset(d) = scope {
                    state.dataset(d)?;
                }
                for privilege in privileges {
                    let grant = Grant {
                        grantee: self.grantee.clone(),
                        privilege: *privilege,
                        scope: scope.clone(),
                    };
                    let held = access.grants.contains(&grant);
                    if self.revoke && held {
                        actions.push(Action::RemoveGrant { grant });
                    } else if !self.revoke
                        && !held
                        && !actions
                            .iter()
                            .any(|a| matches!(a, Action::AddGrant { grant: g } if *g == grant))
                    {
                        actions.push(Action::AddGrant { grant });
                    }
                }
            }
        }
        Ok(actions)
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let done = env
            .commit(|state| {
                let actions = self.plan(state)?;
                if actions.is_empty() {
                    return Ok(None);
                }
                keeps_an_admin(state, &actions)?;
                let verb = if self.revoke { "REVOKE" } else { "GRANT" };
                let message = match &self.granted {
                    Granted::Role(r) if self.revoke => {
                        format!("{} no longer holds role {r}", self.grantee)
                    }
                    Granted::Role(r) => format!("{} holds role {r}", self.grantee),
                    Granted::Privileges { scope, .. } => {
                        let changed: Vec<&str> = actions
                            .iter()
                            .filter_map(|a| match a {
                                Action::AddGrant { grant } | Action::RemoveGrant { grant } => {
                                    Some(grant.privilege.as_str())
                                }
                                _ => None,
                            })
                            .collect();
                        let how = if self.revoke { "revoked" } else { "granted" };
                        format!(
                            "{how} {} ON {scope} {} {}",
                            changed.join(", "),
                            if self.revoke { "from" } else { "to" },
                            self.grantee
                        )
                    }
                };
                Ok(Some(Commit {
                    operation: verb.into(),
                    dataset: self.scope().map(str::to_string),
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions,
                    message,
                    blast_radius: None,
                }))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || {
            if self.revoke {
                format!("nothing to do: {} does not hold that", self.grantee)
            } else {
                format!("nothing to do: {} holds that already", self.grantee)
            }
        }))
    }
}

impl ShowGrants {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let access = &state.access;
        let rows: Vec<(String, &Grant, Option<&str>)> = match &self.user {
            Some(u) => {
                access.user(u)?;
                access
                    .grants_of(u)
                    .map(|(g, via)| (g.grantee.to_string(), g, via))
                    .collect()
            }
            None => access
                .grants
                .iter()
                .map(|g| (g.grantee.to_string(), g, None))
                .collect(),
        };
        let batch = Table::new()
            .text("grantee", rows.iter().map(|(who, _, _)| who.as_str()))
            .text(
                "privilege",
                rows.iter().map(|(_, g, _)| g.privilege.as_str()),
            )
            .text("on", rows.iter().map(|(_, g, _)| g.scope.to_string()))
            .text_opt("via_role", rows.iter().map(|(_, _, via)| *via))
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}
