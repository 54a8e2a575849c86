//! The staged-rollout clauses of `PROMOTE`: `IN STAGES (1, 10, 100)`, `EVERY INTERVAL '1 hour'`
//! and `AUTO [ROLLBACK AFTER n FAILURES]`, their grammar, their checks and their text.

use std::fmt;

use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::parser::{expect_word, parse_percent, parse_string, parse_word};
use crate::catalog::{AutoPolicy, format_percent};
use crate::sql::{Quoted, interval_seconds};

/// `STAGES (1, 10, 50, 100)`, after `IN`: basis points, increasing.
pub(super) fn parse_stages(p: &mut Parser) -> Result<Vec<u32>, ParserError> {
    expect_word(p, "STAGES")?;
    p.expect_token(&Token::LParen)?;
    let stages = p.parse_comma_separated(parse_percent)?;
    p.expect_token(&Token::RParen)?;
    if stages.windows(2).any(|w| w[0] >= w[1]) {
        return Err(ParserError::ParserError(
            "IN STAGES needs increasing percentages, like (1, 10, 50, 100)".into(),
        ));
    }
    Ok(stages)
}

/// `INTERVAL '1 hour'`, after `EVERY`: the soak time of each stage, as written.
pub(super) fn parse_every(p: &mut Parser) -> Result<String, ParserError> {
    p.expect_keyword(Keyword::INTERVAL)?;
    let text = parse_string(p, "an interval in quotes, like '1 hour'")?;
    interval_seconds(&text).map_err(ParserError::ParserError)?;
    Ok(text)
}

/// `[ROLLBACK AFTER n FAILURES]`, after `AUTO`.
pub(super) fn parse_auto(p: &mut Parser) -> Result<AutoPolicy, ParserError> {
    let mut policy = AutoPolicy::default();
    if parse_word(p, "ROLLBACK") {
        expect_word(p, "AFTER")?;
        let token = p.next_token();
        let n = match &token.token {
            Token::Number(n, _) => n.parse::<u32>().ok().filter(|n| *n > 0),
            _ => return p.expected("a number of failures after ROLLBACK AFTER", token),
        };
        let Some(n) = n else {
            return Err(ParserError::ParserError(format!(
                "ROLLBACK AFTER needs a whole number of failures of at least 1{}",
                token.span.start
            )));
        };
        if !parse_word(p, "FAILURES") && !parse_word(p, "FAILURE") {
            return p.expected("FAILURES", p.peek_token());
        }
        policy.rollback_after = n;
    }
    Ok(policy)
}

/// The clauses that only make sense together: stages or a percentage, a soak time only with
/// stages, AUTO only with stages that soak.
pub(super) fn check_combination(
    percent: bool,
    stages: &[u32],
    every: Option<&str>,
    auto: bool,
) -> Result<(), ParserError> {
    if !stages.is_empty() && percent {
        return Err(ParserError::ParserError(
            "use either AT n PERCENT or IN STAGES (...), not both".into(),
        ));
    }
    if every.is_some() && stages.is_empty() {
        return Err(ParserError::ParserError(
            "EVERY INTERVAL '...' sets the soak time of IN STAGES (...)".into(),
        ));
    }
    if auto {
        let soak = every.map(interval_seconds).transpose();
        if stages.is_empty() || !matches!(soak, Ok(Some(s)) if s > 0) {
            return Err(ParserError::ParserError(
                "AUTO drives the stages of IN STAGES (...) EVERY INTERVAL '...' (an interval longer than zero)".into(),
            ));
        }
    }
    Ok(())
}

/// The clauses as `parse_*` read them back.
pub(super) fn write_stages(
    f: &mut fmt::Formatter<'_>,
    stages: &[u32],
    every: Option<&str>,
    auto: Option<&AutoPolicy>,
) -> fmt::Result {
    if !stages.is_empty() {
        let stages: Vec<String> = stages
            .iter()
            .map(|bp| format_percent(*bp).trim_end_matches('%').to_string())
            .collect();
        write!(f, " IN STAGES ({})", stages.join(", "))?;
    }
    if let Some(every) = every {
        write!(f, " EVERY INTERVAL {}", Quoted(every))?;
    }
    if let Some(auto) = auto {
        write!(f, " AUTO")?;
        if auto.rollback_after != 1 {
            write!(f, " ROLLBACK AFTER {} FAILURES", auto.rollback_after)?;
        }
    }
    Ok(())
}
