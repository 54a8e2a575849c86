//! `ALTER DATASET orders SET RETENTION (KEEP 10 VERSIONS, INTERVAL '30 days')` /
//! `... SET RETENTION NONE`: which versions `VACUUM` drops.

use std::fmt;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_reason, parse_string, parse_word};
use crate::catalog::{Action, Retention};
use crate::error::Result;
use crate::guard::Env;
use crate::sql::{Ident, Quoted, ReasonClause, format_interval, interval_seconds};
use crate::store::Commit;

/// `ALTER DATASET d SET RETENTION (KEEP n VERSIONS[, INTERVAL '30 days']) [REASON '...']`,
/// `ALTER DATASET d SET RETENTION NONE`: `VACUUM` then drops the versions beyond the newest
/// `n` and older than the interval (either alone when only one is given), never the stable
/// version, the candidate or the rollback target, and reclaims their managed data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetRetention {
    /// The dataset.
    pub dataset: String,
    /// The retention; `None` keeps every version.
    pub retention: Option<Retention>,
    /// Why, for the history.
    pub reason: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<SetRetention, ParserError> {
    p.expect_keyword(Keyword::ALTER)?;
    expect_word(p, "DATASET")?;
    let dataset = parse_name(p, "a dataset name after ALTER DATASET")?;
    p.expect_keyword(Keyword::SET)?;
    expect_word(p, "RETENTION")?;
    let retention = if p.parse_keyword(Keyword::NONE) {
        None
    } else {
        p.expect_token(&Token::LParen)?;
        let mut keep_versions = None;
        let mut max_age_seconds = None;
        loop {
            if keep_versions.is_none() && parse_word(p, "KEEP") {
                let token = p.next_token();
                let n = match &token.token {
                    Token::Number(n, _) => n.parse::<u32>().ok().filter(|n| *n >= 1),
                    _ => None,
                };
                let Some(n) = n else {
                    return p.expected("a number of versions (at least 1) after KEEP", token);
                };
                expect_word(p, "VERSIONS")?;
                keep_versions = Some(n);
            } else if max_age_seconds.is_none() && p.parse_keyword(Keyword::INTERVAL) {
                let at = p.peek_token().span.start;
                let text = parse_string(p, "a duration in quotes after INTERVAL, like '30 days'")?;
                let seconds = interval_seconds(&text)
                    .map_err(|e| ParserError::ParserError(format!("INTERVAL {e}{at}")))?;
                max_age_seconds = Some(seconds);
            } else {
                return p.expected(
                    "KEEP n VERSIONS or INTERVAL '...' in RETENTION (...)",
                    p.peek_token(),
                );
            }
            if !p.consume_token(&Token::Comma) {
                break;
            }
        }
        p.expect_token(&Token::RParen)?;
        Some(Retention {
            keep_versions,
            max_age_seconds,
        })
    };
    let reason = parse_reason(p)?;
    Ok(SetRetention {
        dataset,
        retention,
        reason,
    })
}

impl fmt::Display for SetRetention {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ALTER DATASET {} SET RETENTION ", Ident(&self.dataset))?;
        match &self.retention {
            None => f.write_str("NONE")?,
            Some(r) => write!(f, "({})", describe(r, true))?,
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

/// `KEEP 3 VERSIONS, INTERVAL '30 days'` (as SQL), or in words.
fn describe(r: &Retention, sql: bool) -> String {
    let mut parts = Vec::new();
    if let Some(n) = r.keep_versions {
        parts.push(if sql {
            format!("KEEP {n} VERSIONS")
        } else {
            format!("the newest {n} version(s)")
        });
    }
    if let Some(s) = r.max_age_seconds {
        let interval = format_interval(s);
        parts.push(if sql {
            format!("INTERVAL {}", Quoted(&interval))
        } else {
            format!("versions younger than {interval}")
        });
    }
    parts.join(if sql { ", " } else { " and " })
}

impl SetRetention {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let done = env
            .commit(|state| {
                let ds = state.dataset(&self.dataset)?;
                if ds.retention == self.retention {
                    return Ok(None);
                }
                let message = match &self.retention {
                    None => format!("{} keeps every version", self.dataset),
                    Some(r) => format!(
                        "{} keeps {} (and always its stable version, candidate and rollback target); VACUUM drops the others",
                        self.dataset,
                        describe(r, false)
                    ),
                };
                Ok(Some(Commit {
                    operation: "ALTER DATASET".into(),
                    dataset: Some(self.dataset.clone()),
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![Action::SetRetention {
                        dataset: self.dataset.clone(),
                        retention: self.retention,
                    }],
                    message,
                    blast_radius: None,
                }))
            })
            .await?;
        Ok(Outcome::of_commit(done, None, || {
            "nothing to do: the retention is already so".into()
        }))
    }
}
