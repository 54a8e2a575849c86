//! `SHOW EXPOSURE OF orders [VERSION 'v2']`: consumers, queries, errors and latency per version.

use std::fmt;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_string, parse_word};
use super::table::Table;
use crate::error::Result;
use crate::guard::Env;
use crate::signals::exposure;
use crate::sql::{Ident, Quoted};

/// `SHOW EXPOSURE OF orders [VERSION 'v2']`: the reads ledger summarised per version and arm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShowExposure {
    /// The dataset.
    pub dataset: String,
    /// Only this version, if given.
    pub version: Option<String>,
}

pub(super) fn parse(p: &mut Parser) -> Result<ShowExposure, ParserError> {
    p.expect_keyword(Keyword::SHOW)?;
    expect_word(p, "EXPOSURE")?;
    p.expect_keyword(Keyword::OF)?;
    let dataset = parse_name(p, "a dataset name after SHOW EXPOSURE OF")?;
    let version = if parse_word(p, "VERSION") {
        Some(parse_string(p, "a version id in quotes after VERSION")?)
    } else {
        None
    };
    Ok(ShowExposure { dataset, version })
}

impl fmt::Display for ShowExposure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SHOW EXPOSURE OF {}", Ident(&self.dataset))?;
        if let Some(v) = &self.version {
            write!(f, " VERSION {}", Quoted(v))?;
        }
        Ok(())
    }
}

impl ShowExposure {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        state.dataset(&self.dataset)?;
        if let Some(v) = &self.version {
            state.version(&self.dataset, v)?;
        }
        let read = env.store.events().read().await?;
        let rows = exposure(&read.events, &self.dataset, self.version.as_deref(), None);
        let time = |t: chrono::DateTime<chrono::Utc>| {
            t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        };
        let batch = Table::new()
            .text("version", rows.iter().map(|r| &r.version))
            .text("arm", rows.iter().map(|r| r.arm.as_str()))
            .count("consumers", rows.iter().map(|r| r.consumers))
            .count("queries", rows.iter().map(|r| r.queries))
            .count("errors", rows.iter().map(|r| r.errors))
            .float("error_rate", rows.iter().map(|r| r.error_rate()))
            .count("rows", rows.iter().map(|r| r.rows))
            .float("p50_ms", rows.iter().map(|r| r.p50_ms))
            .float("p95_ms", rows.iter().map(|r| r.p95_ms))
            .text("first_read", rows.iter().map(|r| time(r.first_read)))
            .text("last_read", rows.iter().map(|r| time(r.last_read)))
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}
