//! `VACUUM [DRY RUN] [RETAIN '1 hour']`: remove files under the store that no version
//! references (the data of crashed or refused `CREATE VERSION`s).

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use datafusion::arrow::array::{ArrayRef, StringArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::parser::{expect_word, parse_string, parse_word};
use super::{Quoted, ReasonClause};
use crate::error::Result;
use crate::session::RolloutContext;
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
                parse_duration(&text)
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

const UNITS: [(&str, &str, u64); 4] = [
    ("week", "weeks", 7 * 86_400),
    ("day", "days", 86_400),
    ("hour", "hours", 3_600),
    ("minute", "minutes", 60),
];

/// `'90 minutes'` → 5400. Units: second(s), minute(s), hour(s), day(s), week(s) (and `s`,
/// `sec`, `min`, `h`, `d`, `w`).
fn parse_duration(text: &str) -> std::result::Result<u64, String> {
    let bad = || {
        format!(
            "{}: expected a whole number and a unit, like '1 hour', '30 minutes' or '0 seconds'",
            Quoted(text)
        )
    };
    let mut parts = text.split_whitespace();
    let (Some(number), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let number: u64 = number.parse().map_err(|_| bad())?;
    let unit = unit.to_ascii_lowercase();
    let seconds = match unit.as_str() {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 7 * 86_400,
        _ => return Err(bad()),
    };
    number
        .checked_mul(seconds)
        .ok_or_else(|| format!("{} is too long", Quoted(text)))
}

/// 5400 → `90 minutes`: the largest unit that divides exactly.
fn format_duration(seconds: u64) -> String {
    for (one, many, size) in UNITS {
        if seconds > 0 && seconds.is_multiple_of(size) {
            let n = seconds / size;
            return format!("{n} {}", if n == 1 { one } else { many });
        }
    }
    format!(
        "{seconds} {}",
        if seconds == 1 { "second" } else { "seconds" }
    )
}

impl fmt::Display for Vacuum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("VACUUM")?;
        if self.dry_run {
            f.write_str(" DRY RUN")?;
        }
        if let Some(s) = self.retain_seconds {
            write!(f, " RETAIN {}", Quoted(&format_duration(s)))?;
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

    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        let cutoff = self.cutoff(Utc::now());
        let orphans = rc.store().find_orphans(cutoff).await?;
        if self.dry_run {
            return rows(rc, &orphans, "would remove");
        }
        let removed = rc.store().remove_orphans(orphans).await?;
        if !removed.is_empty() {
            let bytes: u64 = removed.iter().map(|o| o.size).sum();
            let message = format!(
                "removed {} unreferenced file(s), {bytes} bytes",
                removed.len()
            );
            // Recorded in the history; the entry changes no state.
            rc.commit(|_| {
                Ok(Some(Commit {
                    operation: "VACUUM".into(),
                    dataset: None,
                    statement: self.to_string(),
                    reason: self.reason.clone(),
                    checks: vec![],
                    actions: vec![],
                    message: message.clone(),
                }))
            })
            .await?;
        }
        rows(rc, &removed, "removed")
    }
}

fn rows(rc: &RolloutContext, files: &[Orphan], action: &str) -> Result<DataFrame> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("path", DataType::Utf8, false),
        Field::new("bytes", DataType::UInt64, false),
        Field::new("last_modified", DataType::Utf8, false),
        Field::new("action", DataType::Utf8, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            files.iter().map(|o| o.url.as_str()),
        )),
        Arc::new(UInt64Array::from_iter_values(files.iter().map(|o| o.size))),
        Arc::new(StringArray::from_iter_values(files.iter().map(|o| {
            o.last_modified
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        }))),
        Arc::new(StringArray::from_iter_values(files.iter().map(|_| action))),
    ];
    rc.frame(RecordBatch::try_new(schema, columns)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_and_print_canonically() {
        for (text, seconds, canonical) in [
            ("0 seconds", 0, "0 seconds"),
            ("1 hour", 3600, "1 hour"),
            ("90 MINUTES", 5400, "90 minutes"),
            ("2 d", 172_800, "2 days"),
            ("1 s", 1, "1 second"),
            ("3 weeks", 1_814_400, "3 weeks"),
        ] {
            assert_eq!(parse_duration(text), Ok(seconds), "{text}");
            assert_eq!(format_duration(seconds), canonical);
            assert_eq!(parse_duration(canonical), Ok(seconds));
        }
        for bad in [
            "",
            "1",
            "hour",
            "-1 hour",
            "1.5 hours",
            "1 fortnight",
            "1 hour 2",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
        assert!(parse_duration("99999999999999999 weeks").is_err());
    }
}
