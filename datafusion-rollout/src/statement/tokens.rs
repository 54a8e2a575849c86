//! API tokens and listings of principals: `CREATE TOKEN`, `DROP TOKEN`, `SHOW USERS`,
//! `SHOW TOKENS`. A token's secret is shown once, in the result of `CREATE TOKEN`; the log
//! keeps its argon2id hash.

use std::fmt;

use chrono::{Duration as ChronoDuration, Utc};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_reason, parse_string, parse_word};
use super::principals::{commit, unreachable_unchanged};
use super::secret::{hash_secret, random_bytes};
use super::table::Table;
use crate::catalog::{Action, ApiToken, State, TOKEN_PREFIX, User};
use crate::error::{Error, Result};
use crate::guard::Env;
use crate::sql::{Ident, Quoted, ReasonClause, parse_interval};

/// How long a token lives unless `EXPIRES IN` says otherwise.
pub const DEFAULT_TOKEN_LIFETIME: &str = "90 days";

/// `CREATE TOKEN FOR svc [EXPIRES IN INTERVAL '30 days'] [REASON '...']`: an API token, shown
/// once. A user may make their own; others need ADMIN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateToken {
    /// The user the token acts as.
    pub user: String,
    /// Its lifetime as written (default [`DEFAULT_TOKEN_LIFETIME`]).
    pub expires_in: Option<String>,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// `DROP TOKEN 'id' [REASON '...']`: the token no longer logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropToken {
    /// The token's id (`SHOW TOKENS`).
    pub id: String,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// `SHOW USERS` (ADMIN) and `SHOW TOKENS [FOR alice]` (ADMIN, or one's own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShowPrincipals {
    /// Every user with their roles.
    Users,
    /// Tokens (never their secrets), of one user or all.
    Tokens {
        /// Only this user's.
        user: Option<String>,
    },
}

// ---- grammar ----

pub(super) fn parse_create_token(p: &mut Parser) -> Result<CreateToken, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    expect_word(p, "TOKEN")?;
    p.expect_keyword(Keyword::FOR)?;
    let user = parse_name(p, "a user name after CREATE TOKEN FOR")?;
    let expires_in = if parse_word(p, "EXPIRES") {
        p.expect_keyword(Keyword::IN)?;
        p.expect_keyword(Keyword::INTERVAL)?;
        let text = parse_string(p, "an interval in quotes, like '30 days'")?;
        token_lifetime(&text).map_err(|e| ParserError::ParserError(e.to_string()))?;
        Some(text)
    } else {
        None
    };
    let reason = parse_reason(p)?;
    Ok(CreateToken {
        user,
        expires_in,
        reason,
    })
}

pub(super) fn parse_drop_token(p: &mut Parser) -> Result<DropToken, ParserError> {
    p.expect_keyword(Keyword::DROP)?;
    expect_word(p, "TOKEN")?;
    let id = parse_string(p, "a token id in quotes after DROP TOKEN")?;
    let reason = parse_reason(p)?;
    Ok(DropToken { id, reason })
}

pub(super) fn parse_show(p: &mut Parser) -> Result<ShowPrincipals, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    if parse_word(p, "USERS") {
        return Ok(ShowPrincipals::Users);
    }
    expect_word(p, "TOKENS")?;
    let user = if p.parse_keyword(Keyword::FOR) {
        Some(parse_name(p, "a user name after FOR")?)
    } else {
        None
    };
    Ok(ShowPrincipals::Tokens { user })
}

impl fmt::Display for CreateToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CREATE TOKEN FOR {}", Ident(&self.user))?;
        if let Some(e) = &self.expires_in {
            write!(f, " EXPIRES IN INTERVAL {}", Quoted(e))?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl fmt::Display for DropToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DROP TOKEN {}{}",
            Quoted(&self.id),
            ReasonClause(&self.reason)
        )
    }
}

impl fmt::Display for ShowPrincipals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShowPrincipals::Users => f.write_str("SHOW USERS"),
            ShowPrincipals::Tokens { user: None } => f.write_str("SHOW TOKENS"),
            ShowPrincipals::Tokens { user: Some(u) } => write!(f, "SHOW TOKENS FOR {}", Ident(u)),
        }
    }
}

/// A token's lifetime: a positive interval of at most ten years.
fn token_lifetime(text: &str) -> Result<ChronoDuration> {
    let invalid = |reason: String| Error::InvalidValue {
        what: "token lifetime",
        value: format!("'{text}'"),
        reason,
    };
    let d = parse_interval(text).map_err(invalid)?;
    if d.is_zero() || d.as_secs() > 10 * 366 * 86_400 {
        return Err(invalid(
            "a token lives longer than zero and at most ten years".into(),
        ));
    }
    ChronoDuration::from_std(d).map_err(|e| invalid(e.to_string()))
}

impl CreateToken {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        env.store.state().access.user(&self.user)?;
        let lifetime =
            token_lifetime(self.expires_in.as_deref().unwrap_or(DEFAULT_TOKEN_LIFETIME))?;
        let id = uuid::Uuid::from_bytes(random_bytes()).simple().to_string()[..12].to_string();
        let secret = format!(
            "{}{}",
            uuid::Uuid::from_bytes(random_bytes()).simple(),
            uuid::Uuid::from_bytes(random_bytes()).simple()
        );
        let secret_hash = hash_secret(&secret).await?;
        let created_at = Utc::now();
        let expires_at = created_at + lifetime;
        let done = env
            .commit(|state| {
                state.access.user(&self.user)?;
                Ok(Some(commit(
                    "CREATE TOKEN",
                    self.to_string(),
                    &self.reason,
                    format!("created token {id} for {}", self.user),
                    vec![Action::CreateToken {
                        token: Box::new(ApiToken {
                            id: id.clone(),
                            user: self.user.clone(),
                            secret_hash: secret_hash.clone(),
                            created_at,
                            created_by: env.actor.to_string(),
                            expires_at,
                        }),
                    }],
                )))
            })
            .await?;
        let sequence = match done {
            crate::store::CommitOutcome::Committed(c) => c.entry.sequence,
            crate::store::CommitOutcome::Unchanged => {
                return Err(Error::internal("CREATE TOKEN committed nothing"));
            }
        };
        // The only time the secret is shown.
        let batch = Table::new()
            .text("user", [self.user.as_str()])
            .text("token", [format!("{TOKEN_PREFIX}{id}_{secret}")])
            .text("id", [id.as_str()])
            .text(
                "expires_at",
                [expires_at.format("%Y-%m-%d %H:%M:%S UTC").to_string()],
            )
            .count("sequence", [sequence])
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}

impl DropToken {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let done = env
            .commit(|state| {
                let Some(token) = state.access.tokens.get(&self.id) else {
                    return Err(Error::TokenNotFound {
                        id: self.id.clone(),
                    });
                };
                Ok(Some(commit(
                    "DROP TOKEN",
                    self.to_string(),
                    &self.reason,
                    format!("dropped token {} of {}", self.id, token.user),
                    vec![Action::DropToken {
                        id: self.id.clone(),
                    }],
                )))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, unreachable_unchanged))
    }

    /// The user whose token this is, if it exists (a user may drop their own).
    pub(crate) fn owner(&self, state: &State) -> Option<String> {
        state.access.tokens.get(&self.id).map(|t| t.user.clone())
    }
}

impl ShowPrincipals {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let access = &state.access;
        let time = |t: &chrono::DateTime<Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
        let batch = match self {
            ShowPrincipals::Users => {
                let users: Vec<&User> = access.users.values().collect();
                Table::new()
                    .text("user", users.iter().map(|u| u.name.as_str()))
                    .text(
                        "roles",
                        users
                            .iter()
                            .map(|u| u.roles.iter().cloned().collect::<Vec<_>>().join(", ")),
                    )
                    .text(
                        "login",
                        users.iter().map(|u| {
                            if u.password_hash.is_some() {
                                "password, tokens"
                            } else {
                                "tokens"
                            }
                        }),
                    )
                    .count(
                        "tokens",
                        users.iter().map(|u| {
                            access.tokens.values().filter(|t| t.user == u.name).count() as u64
                        }),
                    )
                    .text("created_at", users.iter().map(|u| time(&u.created_at)))
                    .text("created_by", users.iter().map(|u| u.created_by.as_str()))
                    .build()?
            }
            ShowPrincipals::Tokens { user } => {
                if let Some(u) = user {
                    access.user(u)?;
                }
                let now = Utc::now();
                let tokens: Vec<&ApiToken> = access
                    .tokens
                    .values()
                    .filter(|t| user.as_ref().is_none_or(|u| &t.user == u))
                    .collect();
                Table::new()
                    .text("id", tokens.iter().map(|t| t.id.as_str()))
                    .text("user", tokens.iter().map(|t| t.user.as_str()))
                    .text("created_at", tokens.iter().map(|t| time(&t.created_at)))
                    .text("created_by", tokens.iter().map(|t| t.created_by.as_str()))
                    .text("expires_at", tokens.iter().map(|t| time(&t.expires_at)))
                    .text(
                        "state",
                        tokens.iter().map(|t| {
                            if t.expires_at <= now {
                                "expired"
                            } else {
                                "active"
                            }
                        }),
                    )
                    .build()?
            }
        };
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}
