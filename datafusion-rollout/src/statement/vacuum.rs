//! `VACUUM [DRY RUN] [RETAIN '1 hour'] [RETAIN EVENTS '90 days']`: remove files under the
//! store that no version references (the data of crashed or refused `CREATE VERSION`s),
//! compact the event objects of the days that have ended, and remove expired days of events.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::drop_version::drop_actions;
use super::parser::{expect_word, parse_string, parse_word, peek_words};
use super::table::Table;
use crate::catalog::State;
use crate::error::Result;
use crate::guard::Env;
use crate::sql::{Quoted, ReasonClause, format_interval, interval_seconds};
use crate::store::{Commit, CommitOutcome, CompactedDay, ExpiredDay, Orphan};

/// How old an unreferenced file must be before `VACUUM` removes it, unless `RETAIN` says.
pub const DEFAULT_RETAIN_SECONDS: u64 = 3600;

/// How long events (reads, metrics, evaluations, deliveries) are kept, unless
/// `RETAIN EVENTS` says: 90 days.
pub const DEFAULT_EVENTS_RETAIN_SECONDS: u64 = 90 * 86_400;

/// `VACUUM [DRY RUN] [RETAIN '<n> <unit>'] [RETAIN EVENTS '<n> <unit>'] [REASON '...']`
///
/// Lists (`DRY RUN`) or removes the files under the store's `data/` folder that no version
/// references and that are older than the retention (default 1 hour, so that a
/// `CREATE VERSION` that has written its files but not yet committed keeps them; it must take
/// less than the retention). Referenced files are never removed, whatever their version's
/// status. One row per file: `path`, `bytes`, `last_modified`, `action`
/// (`removed` | `would remove`). A VACUUM that removed files is recorded in the history (an
/// entry that changes no state); a read-only store is never vacuumed, since entries past the
/// unreadable one may reference files.
///
/// Retention: first, each dataset with `SET RETENTION` drops the versions it no longer keeps
/// (one `DROP VERSION` entry per dataset in the history; a row `dataset@version` each,
/// `dropped version (retention)`), so that the same VACUUM reclaims their managed data.
///
/// Events: the objects of each day (UTC) that has ended are compacted into one Parquet object
/// (`compacted <n> event objects (<m> events)`), and days older than `RETAIN EVENTS` (default
/// 90 days) are removed (`removed <n> event objects`), except from the day a live rollout
/// began: its guards read them. One row per day folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vacuum {
    /// `DRY RUN`: list, change nothing.
    pub dry_run: bool,
    /// `RETAIN`, in seconds.
    pub retain_seconds: Option<u64>,
    /// `RETAIN EVENTS`, in seconds.
    pub retain_events_seconds: Option<u64>,
    /// `REASON`, kept in the history.
    pub reason: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<Vacuum, ParserError> {
    expect_word(p, "VACUUM")?;
    let mut dry_run = false;
    let mut retain_seconds = None;
    let mut retain_events_seconds = None;
    let mut reason = None;
    loop {
        if !dry_run && parse_word(p, "DRY") {
            expect_word(p, "RUN")?;
            dry_run = true;
        } else if retain_events_seconds.is_none() && peek_words(p, "RETAIN", "EVENTS") {
            expect_word(p, "RETAIN")?;
            expect_word(p, "EVENTS")?;
            let at = p.peek_token().span.start;
            let text = parse_string(
                p,
                "a duration in quotes after RETAIN EVENTS, like '90 days'",
            )?;
            retain_events_seconds = Some(
                interval_seconds(&text)
                    .map_err(|e| ParserError::ParserError(format!("RETAIN EVENTS {e}{at}")))?,
            );
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
        retain_events_seconds,
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
        if let Some(s) = self.retain_events_seconds {
            write!(f, " RETAIN EVENTS {}", Quoted(&format_interval(s)))?;
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

    /// Days of events before this one are removed: `RETAIN EVENTS` before `now`, but never
    /// from the day a live rollout began.
    fn events_cutoff(&self, now: DateTime<Utc>, state: &State) -> NaiveDate {
        let retain = self
            .retain_events_seconds
            .unwrap_or(DEFAULT_EVENTS_RETAIN_SECONDS);
        let by_age = i64::try_from(retain)
            .ok()
            .and_then(TimeDelta::try_seconds)
            .and_then(|d| now.checked_sub_signed(d))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let live = state
            .datasets
            .values()
            .filter_map(|ds| ds.rollout.candidate.as_ref().map(|c| c.started_at))
            .min();
        live.map_or(by_age, |t| t.min(by_age)).date_naive()
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let now = Utc::now();
        let cutoff = self.cutoff(now);
        // Retention first, so the data of the versions it drops is reclaimed by this VACUUM.
        let dropped = self.apply_retention(env, now).await?;
        let orphans = env.store.find_orphans(cutoff).await?;
        let events = env.store.events();
        let expire_before = self.events_cutoff(now, &env.store.state());
        let expired = events.expire(expire_before, self.dry_run).await?;
        // Days that have ended receive no more objects (but a late flush, which a later
        // VACUUM folds in).
        let compacted = events.compact(now.date_naive(), self.dry_run).await?;
        if self.dry_run {
            return rows(env, &dropped, &orphans, &expired, &compacted, true);
        }
        let removed = env.store.remove_orphans(orphans).await?;
        if !removed.is_empty() || !expired.is_empty() || !compacted.is_empty() {
            let bytes: u64 = removed.iter().map(|o| o.size).sum();
            let mut message = format!(
                "removed {} unreferenced file(s), {bytes} bytes",
                removed.len()
            );
            if !compacted.is_empty() {
                let objects: usize = compacted.iter().map(|c| c.objects).sum();
                message.push_str(&format!(
                    "; compacted {objects} event object(s) of {} day(s)",
                    compacted.len()
                ));
            }
            if !expired.is_empty() {
                let objects: usize = expired.iter().map(|e| e.objects).sum();
                message.push_str(&format!(
                    "; removed {objects} event object(s) of {} day(s) before {expire_before}",
                    expired.len()
                ));
            }
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
        rows(env, &dropped, &removed, &expired, &compacted, false)
    }

    /// The versions each dataset's retention lets go: dropped (one commit per dataset, in its
    /// history), or only listed in a dry run. One row each: `dataset@version`, its bytes, when
    /// it was registered.
    async fn apply_retention(
        &self,
        env: &Env<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, u64, DateTime<Utc>)>> {
        let state = env.store.state();
        let mut out = Vec::new();
        for ds in state.datasets.values() {
            let expired = ds.expired_versions(now);
            if expired.is_empty() {
                continue;
            }
            if !self.dry_run {
                let done = env
                    .commit(|s| {
                        let ds = s.dataset(&ds.name)?;
                        let ids: Vec<&str> = ds
                            .expired_versions(now)
                            .iter()
                            .map(|v| v.id.as_str())
                            .collect();
                        if ids.is_empty() {
                            return Ok(None);
                        }
                        let quoted: Vec<String> =
                            ids.iter().map(|v| Quoted(v).to_string()).collect();
                        Ok(Some(Commit {
                            operation: "DROP VERSION".into(),
                            dataset: Some(ds.name.clone()),
                            statement: self.to_string(),
                            reason: self.reason.clone(),
                            checks: vec![],
                            actions: drop_actions(ds, &ids),
                            message: format!(
                                "dropped version(s) {} of {} by its retention",
                                quoted.join(", "),
                                ds.name
                            ),
                            blast_radius: None,
                        }))
                    })
                    .await?;
                if matches!(done, CommitOutcome::Unchanged) {
                    continue;
                }
            }
            for v in expired {
                out.push((
                    format!("{}@{}", ds.name, v.id),
                    v.total_bytes(),
                    v.created_at,
                ));
            }
        }
        Ok(out)
    }
}

fn rows(
    env: &Env<'_>,
    dropped: &[(String, u64, DateTime<Utc>)],
    files: &[Orphan],
    expired: &[ExpiredDay],
    compacted: &[CompactedDay],
    dry_run: bool,
) -> Result<Outcome> {
    let stamp = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    // (path, bytes, last_modified, action)
    let mut out: Vec<(String, u64, String, String)> = dropped
        .iter()
        .map(|(name, bytes, created)| {
            let verb = if dry_run { "would drop" } else { "dropped" };
            (
                name.clone(),
                *bytes,
                stamp(*created),
                format!("{verb} version (retention)"),
            )
        })
        .collect();
    out.extend(files.iter().map(|o| {
        let action = if dry_run { "would remove" } else { "removed" };
        (
            o.url.clone(),
            o.size,
            stamp(o.last_modified),
            action.to_string(),
        )
    }));
    let day_end = |d: NaiveDate| {
        d.succ_opt()
            .and_then(|n| n.and_hms_opt(0, 0, 0))
            .map(|t| stamp(t.and_utc()))
            .unwrap_or_default()
    };
    for e in expired {
        let verb = if dry_run { "would remove" } else { "removed" };
        out.push((
            env.store.object_url(&e.folder),
            e.bytes,
            day_end(e.day),
            format!("{verb} {} expired event object(s)", e.objects),
        ));
    }
    for c in compacted {
        let verb = if dry_run {
            "would compact"
        } else {
            "compacted"
        };
        out.push((
            env.store.object_url(&c.path),
            c.bytes,
            day_end(c.day),
            format!("{verb} {} event object(s) ({} events)", c.objects, c.events),
        ));
    }
    let batch = Table::new()
        .text("path", out.iter().map(|r| &r.0))
        .count("bytes", out.iter().map(|r| r.1))
        .text("last_modified", out.iter().map(|r| &r.2))
        .text("action", out.iter().map(|r| &r.3))
        .build()?;
    Ok(Outcome::Query(env.session.read_batch(batch)?))
}
