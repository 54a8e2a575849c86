//! `SHOW ROLLOUT orders` and `SHOW HISTORY [OF orders]`.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray, UInt32Array, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::dataframe::DataFrame;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Ident;
use super::parser::{expect_word, parse_name};
use crate::error::Result;
use crate::session::RolloutContext;
use crate::store::LogEntry;

/// `SHOW ROLLOUT orders`: stable, candidate, exposure, salt and hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowRollout {
    pub dataset: String,
}

/// `SHOW HISTORY [OF orders] [LIMIT n]`: the audit trail, oldest first (the last n entries).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowHistory {
    pub dataset: Option<String>,
    pub limit: Option<u64>,
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
    let limit = if p.parse_keyword(Keyword::LIMIT) {
        Some(p.parse_literal_uint()?)
    } else {
        None
    };
    Ok(ShowHistory { dataset, limit })
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
        Ok(())
    }
}

impl ShowRollout {
    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        let state = rc.store().state();
        let ds = state.dataset(&self.dataset)?;
        let r = &ds.rollout;
        let c = r.candidate.as_ref();
        let s = |v: Option<String>| -> ArrayRef { Arc::new(StringArray::from(vec![v])) };
        let schema = Arc::new(Schema::new(vec![
            Field::new("dataset", DataType::Utf8, false),
            Field::new("stable", DataType::Utf8, true),
            Field::new("candidate", DataType::Utf8, true),
            Field::new("exposure", DataType::Utf8, true),
            Field::new("cohorts", DataType::Utf8, true),
            Field::new("percent_bp", DataType::UInt32, true),
            Field::new("salt", DataType::Utf8, true),
            Field::new("hash", DataType::Utf8, true),
            Field::new("started_at", DataType::Utf8, true),
            Field::new("previous_stable", DataType::Utf8, true),
            Field::new("stage", DataType::Utf8, true),
            Field::new("next_stage", DataType::Utf8, true),
            Field::new("may_advance_at", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                s(Some(ds.name.clone())),
                s(r.stable.clone()),
                s(c.map(|c| c.version.clone())),
                s(c.map(|c| c.exposure())),
                s(c.map(|c| c.cohorts.iter().cloned().collect::<Vec<_>>().join(", "))),
                Arc::new(UInt32Array::from(vec![c.map(|c| c.percent_bp)])),
                s(c.map(|c| c.salt.clone())),
                s(c.map(|c| c.hash.clone())),
                s(c.map(|c| {
                    c.started_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                })),
                s((!r.previous_stable.is_empty()).then(|| r.previous_stable.join(", "))),
                s(c.filter(|c| !c.stages.is_empty())
                    .map(|c| format!("{} of {}", c.stage + 1, c.stages.len()))),
                s(c.and_then(|c| c.next_stage())
                    .map(crate::catalog::format_percent)),
                s(c.filter(|c| c.next_stage().is_some()).map(|c| {
                    c.may_advance_at()
                        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_else(|| "now (no soak time)".into())
                })),
            ],
        )?;
        rc.frame(batch)
    }
}

impl ShowHistory {
    pub(crate) async fn execute(&self, rc: &RolloutContext) -> Result<DataFrame> {
        if let Some(d) = &self.dataset {
            rc.store().state().dataset(d)?;
        }
        let history = rc.store().history().await?;
        let mut entries: Vec<&LogEntry> = history
            .iter()
            .filter(|e| self.dataset.is_none() || e.dataset == self.dataset)
            .collect();
        if let Some(n) = self.limit {
            let skip = entries.len().saturating_sub(n as usize);
            entries.drain(..skip);
        }
        let text = |f: &dyn Fn(&LogEntry) -> Option<String>| -> ArrayRef {
            Arc::new(entries.iter().map(|e| f(e)).collect::<StringArray>())
        };
        let schema = Arc::new(Schema::new(vec![
            Field::new("sequence", DataType::UInt64, false),
            Field::new("timestamp", DataType::Utf8, false),
            Field::new("actor", DataType::Utf8, false),
            Field::new("operation", DataType::Utf8, false),
            Field::new("dataset", DataType::Utf8, true),
            Field::new("statement", DataType::Utf8, false),
            Field::new("reason", DataType::Utf8, true),
            Field::new("transaction_id", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(entries.iter().map(|e| e.sequence).collect::<UInt64Array>()),
                text(&|e| {
                    Some(
                        e.timestamp
                            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                    )
                }),
                text(&|e| Some(e.actor.clone())),
                text(&|e| Some(e.operation.clone())),
                text(&|e| e.dataset.clone()),
                text(&|e| Some(e.statement.clone())),
                text(&|e| e.reason.clone()),
                text(&|e| Some(e.transaction_id.clone())),
            ],
        )?;
        rc.frame(batch)
    }
}
