//! `SHOW ROLLOUT orders` and `SHOW HISTORY [OF orders] [LIMIT n] [WITH CHECKS]`.

use std::fmt;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::parser::{expect_word, parse_name};
use super::table::Table;
use crate::contract::{CheckResult, CheckStatus};
use crate::error::Result;
use crate::guard::Env;
use crate::sql::{Ident, format_percent};
use crate::store::{Event, LogEntry};

/// `SHOW ROLLOUT orders`: stable, candidate, exposure, salt and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowRollout {
    /// The dataset.
    pub dataset: String,
}

/// `SHOW HISTORY [OF orders] [LIMIT n] [WITH CHECKS]`: the audit trail, oldest first (the
/// last n entries). `WITH CHECKS` adds the evidence: one row per check that gated an entry
/// (`check`, `column`, `value`, `threshold`, `status`, `detail`), and one row with NULLs there
/// for an entry without checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowHistory {
    /// `OF orders`: only this dataset's entries.
    pub dataset: Option<String>,
    /// `LIMIT n`: only the last `n` entries.
    pub limit: Option<u64>,
    /// `WITH CHECKS`: the checks of each entry, one row each.
    pub with_checks: bool,
}

pub(super) fn parse_show_rollout(p: &mut Parser) -> Result<ShowRollout, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    expect_word(p, "ROLLOUT")?;
    Ok(ShowRollout {
        dataset: parse_name(p, "a dataset name after SHOW ROLLOUT")?,
    })
}

pub(super) fn parse_show_history(p: &mut Parser) -> Result<ShowHistory, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    expect_word(p, "HISTORY")?;
    let dataset = if p.parse_keyword(Keyword::OF) {
        Some(parse_name(p, "a dataset name after OF")?)
    } else {
        None
    };
    // LIMIT and WITH CHECKS, in either order.
    let (mut limit, mut with_checks) = (None, false);
    loop {
        if limit.is_none() && p.parse_keyword(Keyword::LIMIT) {
            limit = Some(p.parse_literal_uint()?);
        } else if !with_checks && p.parse_keyword(Keyword::WITH) {
            expect_word(p, "CHECKS")?;
            with_checks = true;
        } else {
            break;
        }
    }
    Ok(ShowHistory {
        dataset,
        limit,
        with_checks,
    })
}

impl fmt::Display for ShowRollout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW ROLLOUT {}", Ident(&self.dataset))
    }
}

impl fmt::Display for ShowHistory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW HISTORY")?;
        if let Some(d) = &self.dataset {
            write!(f, " OF {}", Ident(d))?;
        }
        if let Some(n) = self.limit {
            write!(f, " LIMIT {n}")?;
        }
        if self.with_checks {
            write!(f, " WITH CHECKS")?;
        }
        Ok(())
    }
}

impl ShowRollout {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let ds = state.dataset(&self.dataset)?;
        let r = &ds.rollout;
        let c = r.candidate.as_ref();
        let time =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let staged = c.filter(|c| !c.stages.is_empty());
        // The last controller evaluation of this rollout, if a controller drives it.
        let evaluation = match c.filter(|c| c.auto.is_some()) {
            Some(c) => {
                let since = Some(c.stage_started_at.unwrap_or(c.started_at));
                let read = env.store.events().read_since(since).await?;
                read.events.iter().rev().find_map(|e| match e {
                    Event::Evaluation(v)
                        if v.dataset == ds.name
                            && v.version == c.version
                            && v.rollout_started_at == c.started_at =>
                    {
                        Some(v.clone())
                    }
                    _ => None,
                })
            }
            None => None,
        };
        let batch = Table::new()
            .text("dataset", [&ds.name])
            .text_opt("stable", [r.stable.as_ref()])
            .text_opt("candidate", [c.map(|c| &c.version)])
            .text_opt("exposure", [c.map(|c| c.exposure())])
            .text_opt(
                "cohorts",
                [c.map(|c| c.cohorts.iter().cloned().collect::<Vec<_>>().join(", "))],
            )
            .basis_points_opt("percent_bp", [c.map(|c| c.percent_bp)])
            .text_opt("salt", [c.map(|c| &c.salt)])
            .text_opt("hash", [c.map(|c| c.hash.to_string())])
            .text_opt("started_at", [c.map(|c| time(c.started_at))])
            .text_opt(
                "previous_stable",
                [(!r.previous_stable.is_empty()).then(|| r.previous_stable.join(", "))],
            )
            .text_opt(
                "stage",
                [staged.map(|c| format!("{} of {}", c.stage + 1, c.stages.len()))],
            )
            .text_opt(
                "next_stage",
                [c.and_then(|c| c.next_stage()).map(format_percent)],
            )
            .text_opt(
                "may_advance_at",
                [c.filter(|c| c.next_stage().is_some()).map(|c| {
                    c.may_advance_at()
                        .map(time)
                        .unwrap_or_else(|| "now (no soak time)".into())
                })],
            )
            .text_opt(
                "auto",
                [c.and_then(|c| c.auto).map(|a| match a.rollback_after {
                    1 => "AUTO".to_string(),
                    n => format!("AUTO ROLLBACK AFTER {n} FAILURES"),
                })],
            )
            .text_opt(
                "last_evaluation",
                [evaluation
                    .as_ref()
                    .map(|v| format!("{} at {} by {}", v.decision, time(v.time), v.controller))],
            )
            .count_opt(
                "consecutive_failures",
                [evaluation
                    .as_ref()
                    .map(|v| u64::from(v.consecutive_failures))],
            )
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}

/// A check as the log stored it; one the log holds in a form this release does not know is
/// shown whole, as its JSON, with status `error`.
/// A check of an entry that changed several datasets names its dataset (`items: unique`).
fn stored_check(value: &serde_json::Value) -> CheckResult {
    let named = |mut c: CheckResult| {
        if let Some(d) = value.get("dataset").and_then(|d| d.as_str()) {
            c.check = format!("{d}: {}", c.check);
        }
        c
    };
    serde_json::from_value(value.clone())
        .map(named)
        .unwrap_or_else(|_| CheckResult {
            check: value.to_string(),
            column: None,
            value: None,
            threshold: String::new(),
            status: CheckStatus::Error,
            detail: "not a check this release can read".into(),
        })
}

impl ShowHistory {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        if let Some(d) = &self.dataset {
            env.store.state().dataset(d)?;
        }
        let history = env.store.history().await?;
        let mut entries: Vec<&LogEntry> = history
            .iter()
            .filter(|e| match &self.dataset {
                None => true,
                // An entry of another statement that changed it too (ROLLBACK a, b; CASCADE).
                Some(d) => {
                    e.dataset.as_ref() == Some(d)
                        || e.actions.iter().any(|a| a.dataset() == Some(d.as_str()))
                }
            })
            .collect();
        if let Some(n) = self.limit {
            let skip = entries.len().saturating_sub(n as usize);
            entries.drain(..skip);
        }
        // With the checks: each entry once per check (once when it has none).
        let mut checks: Vec<Option<CheckResult>> = Vec::new();
        if self.with_checks {
            let mut rows = Vec::new();
            for e in entries {
                if e.checks.is_empty() {
                    rows.push(e);
                    checks.push(None);
                }
                for c in &e.checks {
                    rows.push(e);
                    checks.push(Some(stored_check(c)));
                }
            }
            entries = rows;
        }
        let time = |e: &&LogEntry| {
            e.timestamp
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let table = Table::new()
            .count("sequence", entries.iter().map(|e| e.sequence))
            .text("timestamp", entries.iter().map(time))
            .text("actor", entries.iter().map(|e| &e.actor))
            .text("operation", entries.iter().map(|e| &e.operation))
            .text_opt("dataset", entries.iter().map(|e| e.dataset.as_ref()))
            .text("statement", entries.iter().map(|e| &e.statement))
            .text_opt("reason", entries.iter().map(|e| e.reason.as_ref()))
            .text("transaction_id", entries.iter().map(|e| &e.transaction_id));
        let table = if self.with_checks {
            let field = |f: fn(&CheckResult) -> Option<String>| {
                checks.iter().map(move |c| c.as_ref().and_then(f))
            };
            table
                .text_opt("check", field(|c| Some(c.check.clone())))
                .text_opt("column", field(|c| c.column.clone()))
                .float_opt(
                    "value",
                    checks.iter().map(|c| c.as_ref().and_then(|c| c.value)),
                )
                .text_opt("threshold", field(|c| Some(c.threshold.clone())))
                .text_opt("status", field(|c| Some(c.status.to_string())))
                .text_opt("detail", field(|c| Some(c.detail.clone())))
        } else {
            table
        };
        Ok(Outcome::Query(env.session.read_batch(table.build()?)?))
    }
}
