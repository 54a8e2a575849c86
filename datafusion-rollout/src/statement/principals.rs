//! Users and roles: `CREATE USER`, `ALTER USER`, `DROP USER`, `CREATE ROLE`, `DROP ROLE`.
//!
//! Secrets never reach the log, the history or a `Display`: passwords are hashed (argon2id,
//! salted) before the commit is planned.

use std::fmt;

use chrono::Utc;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_reason, parse_string, parse_word};
use super::secret::{Secret, hash_secret};
use crate::catalog::{
    Action, Grant, Grantee, Privilege, Role, SYSTEM_PRINCIPALS, Scope, State, User,
    validate_identifier,
};
use crate::error::{Error, Result};
use crate::guard::Env;
use crate::sql::{Ident, ReasonClause};
use crate::store::Commit;

/// The shortest password `CREATE USER` and `ALTER USER` accept.
pub const MIN_PASSWORD_LEN: usize = 8;

/// `CREATE USER alice [PASSWORD '...'] [REASON '...']`. The first user of a store holds ADMIN
/// on all datasets, and from then on every statement needs a login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateUser {
    /// The login name.
    pub name: String,
    /// The password; a user without one logs in with tokens only.
    pub password: Option<Secret>,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// `ALTER USER alice PASSWORD '...'`: a user may change their own; others need ADMIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlterUser {
    /// The user.
    pub name: String,
    /// The new password.
    pub password: Secret,
}

/// `DROP USER [IF EXISTS] alice [REASON '...']`, with the user's grants and tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropUser {
    /// The user.
    pub name: String,
    /// No error when there is none.
    pub if_exists: bool,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// `CREATE ROLE release [REASON '...']` / `DROP ROLE [IF EXISTS] release [REASON '...']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleStatement {
    /// `DROP` rather than `CREATE`.
    pub drop: bool,
    /// The role.
    pub name: String,
    /// `DROP ROLE IF EXISTS`.
    pub if_exists: bool,
    /// Why, for the history.
    pub reason: Option<String>,
}

// ---- grammar ----

pub(super) fn parse_create_user(p: &mut Parser) -> Result<CreateUser, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    expect_word(p, "USER")?;
    let name = parse_name(p, "a user name after CREATE USER")?;
    let password = if parse_word(p, "PASSWORD") {
        Some(Secret::new(parse_string(
            p,
            "a password in quotes after PASSWORD",
        )?))
    } else {
        None
    };
    let reason = parse_reason(p)?;
    Ok(CreateUser {
        name,
        password,
        reason,
    })
}

pub(super) fn parse_alter_user(p: &mut Parser) -> Result<AlterUser, ParserError> {
    p.expect_keyword(Keyword::ALTER)?;
    expect_word(p, "USER")?;
    let name = parse_name(p, "a user name after ALTER USER")?;
    expect_word(p, "PASSWORD")?;
    let password = Secret::new(parse_string(p, "a password in quotes after PASSWORD")?);
    Ok(AlterUser { name, password })
}

pub(super) fn parse_drop_user(p: &mut Parser) -> Result<DropUser, ParserError> {
    p.expect_keyword(Keyword::DROP)?;
    expect_word(p, "USER")?;
    let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = parse_name(p, "a user name after DROP USER")?;
    let reason = parse_reason(p)?;
    Ok(DropUser {
        name,
        if_exists,
        reason,
    })
}

pub(super) fn parse_role(p: &mut Parser) -> Result<RoleStatement, ParserError> {
    let drop = p.parse_keyword(Keyword::DROP);
    if !drop {
        p.expect_keyword(Keyword::CREATE)?;
    }
    expect_word(p, "ROLE")?;
    let if_exists = drop && p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = parse_name(p, "a role name")?;
    let reason = parse_reason(p)?;
    Ok(RoleStatement {
        drop,
        name,
        if_exists,
        reason,
    })
}

impl fmt::Display for CreateUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE USER {}", Ident(&self.name))?;
        if let Some(p) = &self.password {
            write!(f, " PASSWORD {p}")?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl fmt::Display for AlterUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ALTER USER {} PASSWORD {}",
            Ident(&self.name),
            self.password
        )
    }
}

impl fmt::Display for DropUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let if_exists = if self.if_exists { "IF EXISTS " } else { "" };
        write!(
            f,
            "DROP USER {if_exists}{}{}",
            Ident(&self.name),
            ReasonClause(&self.reason)
        )
    }
}

impl fmt::Display for RoleStatement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.drop { "DROP" } else { "CREATE" };
        let if_exists = if self.if_exists { "IF EXISTS " } else { "" };
        write!(
            f,
            "{verb} ROLE {if_exists}{}{}",
            Ident(&self.name),
            ReasonClause(&self.reason)
        )
    }
}

// ---- helpers ----

fn check_password(password: &Secret) -> Result<()> {
    if password.expose().chars().count() < MIN_PASSWORD_LEN {
        return Err(Error::InvalidValue {
            what: "password",
            value: "(not shown)".into(),
            reason: format!("a password has at least {MIN_PASSWORD_LEN} characters"),
        });
    }
    Ok(())
}

fn check_user_name(name: &str) -> Result<()> {
    validate_identifier("user name", name)?;
    if SYSTEM_PRINCIPALS.contains(&name) {
        return Err(Error::InvalidName {
            kind: "user name",
            name: name.to_string(),
            reason: "it is the name the controller and the guard act under".into(),
        });
    }
    Ok(())
}

/// Refuses a change after which no user holds ADMIN on all datasets (nobody could manage
/// the store any more, and it could never be opened again).
pub(super) fn keeps_an_admin(state: &State, actions: &[Action]) -> Result<()> {
    let mut next = state.clone();
    next.apply(state.sequence + 1, actions)
        .map_err(|e| Error::internal(format!("a planned change does not apply: {e}")))?;
    let access = &next.access;
    if access.is_open()
        || access
            .users
            .keys()
            .any(|u| access.holds(u, Privilege::Admin, None))
    {
        Ok(())
    } else {
        Err(Error::InvalidValue {
            what: "change",
            value: "of principals".into(),
            reason: "afterwards no user would hold ADMIN ON ALL DATASETS; grant it to another \
                     user first"
                .into(),
        })
    }
}

pub(super) fn commit(
    operation: &str,
    statement: String,
    reason: &Option<String>,
    message: String,
    actions: Vec<Action>,
) -> Commit {
    Commit {
        operation: operation.into(),
        dataset: None,
        statement,
        reason: reason.clone(),
        checks: vec![],
        actions,
        message,
        blast_radius: None,
    }
}

// ---- execution ----

impl CreateUser {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        check_user_name(&self.name)?;
        let hash = match &self.password {
            Some(p) => {
                check_password(p)?;
                Some(hash_secret(p.expose()).await?)
            }
            None => None,
        };
        let done = env
            .commit(|state| {
                if state.access.users.contains_key(&self.name) {
                    return Err(Error::UserExists {
                        user: self.name.clone(),
                    });
                }
                let first = state.access.is_open();
                if first && hash.is_none() {
                    return Err(Error::InvalidValue {
                        what: "first user",
                        value: self.name.clone(),
                        reason: "the store's first user needs a PASSWORD: after it the store \
                                 asks every session to log in"
                            .into(),
                    });
                }
                let mut actions = vec![Action::CreateUser {
                    user: Box::new(User {
                        name: self.name.clone(),
                        password_hash: hash.clone(),
                        roles: Default::default(),
                        created_at: Utc::now(),
                        created_by: env.actor.to_string(),
                    }),
                }];
                let mut message = format!("created user {}", self.name);
                if first {
                    actions.push(Action::AddGrant {
                        grant: Grant {
                            grantee: Grantee::User(self.name.clone()),
                            privilege: Privilege::Admin,
                            scope: Scope::AllDatasets,
                        },
                    });
                    message.push_str(
                        ", the store's first: it holds ADMIN ON ALL DATASETS, and from now on \
                         every session logs in",
                    );
                }
                Ok(Some(commit(
                    "CREATE USER",
                    self.to_string(),
                    &self.reason,
                    message,
                    actions,
                )))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, unreachable_unchanged))
    }
}

/// Statements that always change something never come back unchanged.
pub(super) fn unreachable_unchanged() -> String {
    "nothing to do".into()
}

impl AlterUser {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        env.store.state().access.user(&self.name)?;
        check_password(&self.password)?;
        let hash = hash_secret(self.password.expose()).await?;
        let done = env
            .commit(|state| {
                state.access.user(&self.name)?;
                Ok(Some(commit(
                    "ALTER USER",
                    self.to_string(),
                    &None,
                    format!("changed the password of {}", self.name),
                    vec![Action::SetPassword {
                        user: self.name.clone(),
                        password_hash: Some(hash.clone()),
                    }],
                )))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, unreachable_unchanged))
    }
}

impl DropUser {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let done = env
            .commit(|state| {
                if !state.access.users.contains_key(&self.name) {
                    return if self.if_exists {
                        Ok(None)
                    } else {
                        state.access.user(&self.name).map(|_| None)
                    };
                }
                let actions = vec![Action::DropUser {
                    name: self.name.clone(),
                }];
                keeps_an_admin(state, &actions)?;
                Ok(Some(commit(
                    "DROP USER",
                    self.to_string(),
                    &self.reason,
                    format!("dropped user {} with their grants and tokens", self.name),
                    actions,
                )))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || {
            format!("nothing to do: there is no user {}", self.name)
        }))
    }
}

impl RoleStatement {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        validate_identifier("role name", &self.name)?;
        let done = env
            .commit(|state| {
                let exists = state.access.roles.contains_key(&self.name);
                let (operation, message, action) = match (self.drop, exists) {
                    (false, true) => {
                        return Err(Error::RoleExists {
                            role: self.name.clone(),
                        });
                    }
                    (false, false) => (
                        "CREATE ROLE",
                        format!("created role {}", self.name),
                        Action::CreateRole {
                            role: Role {
                                name: self.name.clone(),
                                created_at: Utc::now(),
                                created_by: env.actor.to_string(),
                            },
                        },
                    ),
                    (true, false) if self.if_exists => return Ok(None),
                    (true, false) => return state.access.role(&self.name).map(|_| None),
                    (true, true) => (
                        "DROP ROLE",
                        format!("dropped role {} with its grants", self.name),
                        Action::DropRole {
                            name: self.name.clone(),
                        },
                    ),
                };
                let actions = vec![action];
                keeps_an_admin(state, &actions)?;
                Ok(Some(commit(
                    operation,
                    self.to_string(),
                    &self.reason,
                    message,
                    actions,
                )))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || {
            format!("nothing to do: there is no role {}", self.name)
        }))
    }
}
