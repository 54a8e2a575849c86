//! `VACUUM [DRY RUN] [RETAIN '1 hour']`: remove files under the store that no version
//! references (the data of crashed or refused `CREATE VERSION`s).

use std::fmt;

use chrono::{DateTime, TimeDelta, Utc};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::parser::{expect_word, parse_string, parse_word};
use super::table::Table;
use crate::error::Result;
use crate::guard::Env;
use crate::sql::{Quoted, ReasonClause, format_interval, interval_seconds};
use crate::store::{Commit, Orphan};

/// How old an unreferenced file must be before `VACUUM` removes it, unless `RETAIN` says.
pub const DEFAULT_RETAIN_SECONDS: u64 = 3600;

/// `VACUUM [DRY RUN] [RETAIN '<n> <unit>'] [REASON '...']`
///
/// Lists (`DRY RUN`) or removes the files under the store's `data/` folder that no version
/// references and that are older than the retention (default 1 hour, so that a
/// `CREATE VERSION` that has written its files but not yet committed keeps them; it must take
/// less than the retention). Referenced files are never removed, whatever their version's
/// status. One row per file: `path`, `bytes`, `last_modified`, `action`
/// (`removed` | `would remove`). A VACUUM that removed files is recorded in the history (an
/// entry that changes no state); a read-only store is never vacuumed, since entries past the
/// unreadable one may reference files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacuum {
    pub dry_run: bool,
    /// `RETAIN`, in seconds.
    pub retain_seconds: Option<u64>,
    pub reason: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<Vacuum, ParserError> {
    expect_word(p, "VACUUM")?;
    let mut dry_run = false;
    let mut retain_seconds = None;
    let mut reason = None;
    loop {
        if !dry_run && parse_word(p, "DRY") {
            expect_word(p, "RUN")?;
            dry_run = true;
        } else if retain_seconds.is_none() && parse_word(p, "RETAIN") {
            let at = p.peek_token().span.start;
            let text = parse_string(p, "a duration in quotes after RETAIN, like '1 hour'")?;
            retain_seconds = Some(
                interval_seconds(&text)
                    .map_err(|e| ParserError::ParserError(format!("RETAIN {e}{at}")))?,
            );
        } else if reason.is_none() && parse_word(p, "REASON") {
            reason = Some(parse_string(p, "a reason in quotes after REASON")?);
        } else {
            break;
        }
    }
    Ok(Vacuum {
        dry_run,
        retain_seconds,
        reason,
    })
}

impl fmt::Display for Vacuum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VACUUM")?;
        if self.dry_run {
            f.write_str(" DRY RUN")?;
        }
        if let Some(s) = self.retain_seconds {
            write!(f, " RETAIN {}", Quoted(&format_interval(s)))?;
        }
        write!(f, "{}", ReasonClause(&self.reason))
    }
}

impl Vacuum {
    /// Files last modified before this are old enough to remove.
    fn cutoff(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let retain = self.retain_seconds.unwrap_or(DEFAULT_RETAIN_SECONDS);
        i64::try_from(retain)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let cutoff = self.cutoff(Utc::now());
        let orphans = env.store.find_orphans(cutoff).await?;
        if self.dry_run {
            return rows(env, &orphans, "would remove");
        }
        let removed = env.store.remove_orphans(orphans).await?;
        if !removed.is_empty() {
            let bytes: u64 = removed.iter().map(|o| o.size).sum();
            let message = format!(
                "removed {} unreferenced file(s), {bytes} bytes",
                removed.len()
            );
            // Recorded in the history; the entry changes no state.
            env.commit(|_| {
                Ok(Some(Commit {
                    operation: "VACUUM".into(),
                    dataset: None,
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![],
                    message: message.clone(),
                    blast_radius: None,
                }))
            })
            .await?;
        }
        rows(env, &removed, "removed")
    }
}

fn rows(env: &Env<'_>, files: &[Orphan], action: &str) -> Result<Outcome> {
    let batch = Table::new()
        .text("path", files.iter().map(|o| &o.url))
        .count("bytes", files.iter().map(|o| o.size))
        .text(
            "last_modified",
            files.iter().map(|o| {
                o.last_modified
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
            }),
        )
        .text("action", files.iter().map(|_| action))
        .build()?;
    Ok(Outcome::Query(env.session.read_batch(batch)?))
}
