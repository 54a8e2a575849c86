//! `CREATE NOTIFICATION`, `SHOW NOTIFICATIONS`, `DROP NOTIFICATION`: webhooks after commits.

use std::collections::BTreeSet;
use std::fmt;

use chrono::Utc;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_reason, parse_string, parse_word};
use super::table::Table;
use crate::catalog::{Action, Notification, NotifyOn, validate_identifier};
use crate::error::{Error, Result, hint_known};
use crate::guard::Env;
use crate::sql::{Ident, Quoted, ReasonClause};
use crate::store::Commit;

/// `CREATE NOTIFICATION ops URL 'https://...' [FOR orders] [ON (PROMOTE, ADVANCE, ROLLBACK,
/// GUARD_FAILED)] [REASON '...']`: a JSON POST after each matching commit (all four kinds and
/// every dataset unless narrowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateNotification {
    /// Its name.
    pub name: String,
    /// Where to POST.
    pub url: String,
    /// Only this dataset's commits.
    pub dataset: Option<String>,
    /// Only these kinds (empty: all).
    pub on: Vec<NotifyOn>,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// `DROP NOTIFICATION [IF EXISTS] ops [REASON '...']`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DropNotification {
    /// Its name.
    pub name: String,
    /// No error when there is none.
    pub if_exists: bool,
    /// Why, for the history.
    pub reason: Option<String>,
}

/// `SHOW NOTIFICATIONS`: name, URL (secrets hidden), dataset, kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowNotifications;

pub(super) fn parse_create(p: &mut Parser) -> Result<CreateNotification, ParserError> {
    p.expect_keyword(Keyword::CREATE)?;
    expect_word(p, "NOTIFICATION")?;
    let name = parse_name(p, "a notification name after CREATE NOTIFICATION")?;
    expect_word(p, "URL")?;
    let url = parse_string(
        p,
        "a URL in quotes after URL, like 'https://hooks.example.com/x'",
    )?;
    let mut dataset = None;
    let mut on = Vec::new();
    loop {
        if dataset.is_none() && p.parse_keyword(Keyword::FOR) {
            dataset = Some(parse_name(p, "a dataset name after FOR")?);
        } else if on.is_empty() && p.parse_keyword(Keyword::ON) {
            p.expect_token(&Token::LParen)?;
            on = p.parse_comma_separated(|p| {
                let token = p.next_token();
                match &token.token {
                    Token::Word(w) => match NotifyOn::parse(&w.value) {
                        Some(kind) => Ok(kind),
                        None => p.expected("PROMOTE, ADVANCE, ROLLBACK or GUARD_FAILED", token),
                    },
                    _ => p.expected("PROMOTE, ADVANCE, ROLLBACK or GUARD_FAILED", token),
                }
            })?;
            p.expect_token(&Token::RParen)?;
        } else {
            break;
        }
    }
    let reason = parse_reason(p)?;
    Ok(CreateNotification {
        name,
        url,
        dataset,
        on,
        reason,
    })
}

pub(super) fn parse_drop(p: &mut Parser) -> Result<DropNotification, ParserError> {
    p.expect_keyword(Keyword::DROP)?;
    expect_word(p, "NOTIFICATION")?;
    let if_exists = p.parse_keywords(&[Keyword::IF, Keyword::EXISTS]);
    let name = parse_name(p, "a notification name after DROP NOTIFICATION")?;
    let reason = parse_reason(p)?;
    Ok(DropNotification {
        name,
        if_exists,
        reason,
    })
}

pub(super) fn parse_show(p: &mut Parser) -> Result<ShowNotifications, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    if !parse_word(p, "NOTIFICATIONS") {
        return p.expected("NOTIFICATIONS", p.peek_token());
    }
    Ok(ShowNotifications)
}

impl fmt::Display for CreateNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CREATE NOTIFICATION {} URL {}",
            Ident(&self.name),
            Quoted(&self.url)
        )?;
        if let Some(d) = &self.dataset {
            write!(f, " FOR {}", Ident(d))?;
        }
        if !self.on.is_empty() {
            let kinds: Vec<&str> = self.on.iter().map(|k| k.as_str()).collect();
            write!(f, " ON ({})", kinds.join(", "))?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl fmt::Display for DropNotification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DROP NOTIFICATION ")?;
        if self.if_exists {
            write!(f, "IF EXISTS ")?;
        }
        write!(f, "{}{}", Ident(&self.name), ReasonClause(&self.reason))
    }
}

impl fmt::Display for ShowNotifications {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW NOTIFICATIONS")
    }
}

/// Checks a webhook URL: http or https, with a host.
fn check_url(url: &str) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidValue {
        what: "notification URL",
        value: crate::catalog::redact_url(url),
        reason: reason.to_string(),
    };
    let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(
            "notifications are sent to http:// or https:// URLs",
        ));
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the URL has no host"));
    }
    Ok(())
}

impl CreateNotification {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        validate_identifier("notification name", &self.name)?;
        check_url(&self.url)?;
        let on: BTreeSet<NotifyOn> = if self.on.is_empty() {
            NotifyOn::ALL.into_iter().collect()
        } else {
            self.on.iter().copied().collect()
        };
        let done = env
            .commit(|state| {
                if let Some(d) = &self.dataset {
                    state.dataset(d)?;
                }
                if state.notifications.contains_key(&self.name) {
                    return Err(Error::NotificationExists {
                        name: self.name.clone(),
                    });
                }
                let notification = Notification {
                    name: self.name.clone(),
                    url: self.url.clone(),
                    dataset: self.dataset.clone(),
                    on: on.clone(),
                    created_at: Utc::now(),
                };
                let message = format!(
                    "created notification {} to {}",
                    self.name,
                    notification.redacted_url()
                );
                Ok(Some(Commit {
                    operation: "CREATE NOTIFICATION".into(),
                    dataset: self.dataset.clone(),
                    // The history keeps the statement without the URL's secrets.
                    statement: CreateNotification {
                        url: notification.redacted_url(),
                        ..self.clone()
                    }
                    .to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![Action::CreateNotification {
                        notification: Box::new(notification),
                    }],
                    message,
                    blast_radius: None,
                }))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || "nothing to do".into()))
    }
}

impl DropNotification {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let done = env
            .commit(|state| {
                if !state.notifications.contains_key(&self.name) {
                    if self.if_exists {
                        return Ok(None);
                    }
                    return Err(Error::NotificationNotFound {
                        name: self.name.clone(),
                        hint: hint_known("notifications", state.notifications.keys()),
                    });
                }
                Ok(Some(Commit {
                    operation: "DROP NOTIFICATION".into(),
                    dataset: None,
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![Action::DropNotification {
                        name: self.name.clone(),
                    }],
                    message: format!("dropped notification {}", self.name),
                    blast_radius: None,
                }))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || {
            format!("nothing to do: there is no notification {}", self.name)
        }))
    }
}

impl ShowNotifications {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let all: Vec<&Notification> = state.notifications.values().collect();
        let kinds = |n: &Notification| {
            n.on.iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let batch = Table::new()
            .text("name", all.iter().map(|n| &n.name))
            .text("url", all.iter().map(|n| n.redacted_url()))
            .text_opt("dataset", all.iter().map(|n| n.dataset.as_ref()))
            .text("on", all.iter().map(|n| kinds(n)))
            .text(
                "created_at",
                all.iter().map(|n| {
                    n.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                }),
            )
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}
