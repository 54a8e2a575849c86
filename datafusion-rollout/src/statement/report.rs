//! `REPORT METRIC conversion = 0.031 FOR orders [CONSUMER 'alice'] [AT TIMESTAMP '...']`.

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::Outcome;
use super::parser::{expect_word, parse_name, parse_string, parse_word};
use super::table::Table;
use crate::error::Result;
use crate::guard::Env;
use crate::resolve::RolloutConfig;
use crate::signals::{MetricReport, report_metric};
use crate::sql::{Ident, Quoted};

/// `REPORT METRIC name = value FOR dataset [CONSUMER '..'] [AT TIMESTAMP '..']`: one
/// observation of an outcome metric, attributed to the version and arm the consumer (by
/// default the session's `rollout.consumer`) resolves at that time.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportMetric {
    /// The metric's name.
    pub name: String,
    /// The observed value.
    pub value: f64,
    /// The dataset whose rollout it measures.
    pub dataset: String,
    /// Who it is about, when not the session's consumer.
    pub consumer: Option<String>,
    /// When it was observed, when not now.
    pub at: Option<DateTime<Utc>>,
}

pub(super) fn parse(p: &mut Parser) -> Result<ReportMetric, ParserError> {
    expect_word(p, "REPORT")?;
    expect_word(p, "METRIC")?;
    let name = parse_name(p, "a metric name after REPORT METRIC")?;
    p.expect_token(&Token::Eq)?;
    let value = parse_value(p)?;
    p.expect_keyword(Keyword::FOR)?;
    let dataset = parse_name(p, "a dataset name after FOR")?;
    let mut consumer = None;
    let mut at = None;
    loop {
        if consumer.is_none() && parse_word(p, "CONSUMER") {
            consumer = Some(parse_string(p, "a consumer in quotes after CONSUMER")?);
        } else if at.is_none() && p.parse_keyword(Keyword::AT) {
            p.expect_keyword(Keyword::TIMESTAMP)?;
            let start = p.peek_token().span.start;
            let text = parse_string(p, "a timestamp in quotes after AT TIMESTAMP")?;
            at = Some(
                parse_timestamp(&text)
                    .map_err(|e| ParserError::ParserError(format!("{e}{start}")))?,
            );
        } else {
            break;
        }
    }
    Ok(ReportMetric {
        name,
        value,
        dataset,
        consumer,
        at,
    })
}

/// A number with an optional sign; `NaN` and `inf` parse (and are refused when the statement
/// runs, with the reason).
fn parse_value(p: &mut Parser) -> Result<f64, ParserError> {
    let negative = p.consume_token(&Token::Minus);
    if !negative {
        let _ = p.consume_token(&Token::Plus);
    }
    let token = p.next_token();
    let text = match &token.token {
        Token::Number(n, _) => n.clone(),
        Token::Word(w) if w.quote_style.is_none() => w.value.clone(),
        _ => return p.expected("a number after =", token),
    };
    let value: f64 = text.parse().map_err(|_| {
        ParserError::ParserError(format!(
            "expected a number after =, found {text}{}",
            token.span.start
        ))
    })?;
    Ok(if negative { -value } else { value })
}

/// RFC 3339 (`2026-12-03T10:00:00Z`, any offset), or `YYYY-MM-DD HH:MM:SS[.fff]` in UTC.
fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t.and_utc());
        }
    }
    Err(format!(
        "invalid timestamp '{text}': use RFC 3339 ('2026-12-03T10:00:00Z') or 'YYYY-MM-DD HH:MM:SS' (UTC)"
    ))
}

impl fmt::Display for ReportMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "REPORT METRIC {} = {} FOR {}",
            Ident(&self.name),
            self.value,
            Ident(&self.dataset)
        )?;
        if let Some(c) = &self.consumer {
            write!(f, " CONSUMER {}", Quoted(c))?;
        }
        if let Some(t) = &self.at {
            let text = t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
            write!(f, " AT TIMESTAMP {}", Quoted(&text))?;
        }
        Ok(())
    }
}

impl ReportMetric {
    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let settings = RolloutConfig::of(env.session);
        let report = MetricReport {
            dataset: self.dataset.clone(),
            name: self.name.clone(),
            value: self.value,
            consumer: self.consumer.clone().or(settings.consumer),
            cohort: settings.cohort,
            at: self.at,
        };
        let event = report_metric(env.store, &report, env.actor).await?;
        let batch = Table::new()
            .text("metric", [&event.name])
            .float("value", [event.value])
            .text("dataset", [&event.dataset])
            .text("version", [&event.version])
            .text("arm", [event.arm.as_str()])
            .text_opt("consumer", [event.consumer.as_ref()])
            .text(
                "time",
                [event
                    .time
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)],
            )
            .build()?;
        Ok(Outcome::Query(env.session.read_batch(batch)?))
    }
}
