//! The rustyline helper: when Enter submits, how the line is coloured, what Tab offers.

use std::borrow::Cow;

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Context, Helper};

use super::complete::{Names, ROLLOUT_KEYWORDS};

const KEYWORD: &str = "\x1b[1;34m";
const STRING: &str = "\x1b[32m";
const NUMBER: &str = "\x1b[33m";
const COMMENT: &str = "\x1b[90m";
const RESET: &str = "\x1b[0m";

#[derive(Default)]
pub struct SqlHelper {
    /// What Tab completes, refreshed before each prompt.
    pub names: Names,
}

impl Validator for SqlHelper {
    /// A meta command runs at once; SQL once its last token is a top-level `;` (our
    /// statements and DataFusion's alike: the library's tokenizer decides).
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input().trim();
        if input.is_empty() || input.starts_with('\\') || datafusion_rollout::is_complete(input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Completer for SqlHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(self.names.complete(line, pos))
    }
}

impl Hinter for SqlHelper {
    type Hint = String;
}

impl Highlighter for SqlHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        highlight_sql(line).map_or(Cow::Borrowed(line), Cow::Owned)
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        true
    }
}

impl Helper for SqlHelper {}

/// `line` with ANSI colours from the SQL tokenizer; `None` when it does not tokenize (an
/// open string while typing) or is a meta command.
pub fn highlight_sql(line: &str) -> Option<String> {
    if line.trim_start().starts_with('\\') {
        return None;
    }
    let tokens = Tokenizer::new(&GenericDialect {}, line)
        .tokenize_with_location()
        .ok()?;
    // Token spans are 1-based (line, column in characters): map them to byte offsets.
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(line.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let offset = |l: u64, c: u64| -> Option<usize> {
        let start = *line_starts.get(usize::try_from(l).ok()?.checked_sub(1)?)?;
        let column = usize::try_from(c).ok()?.checked_sub(1)?;
        let rest = line.get(start..)?;
        Some(
            start
                + rest
                    .char_indices()
                    .nth(column)
                    .map_or(rest.len(), |(i, _)| i),
        )
    };
    let mut out = String::with_capacity(line.len() * 2);
    let mut copied = 0;
    for token in &tokens {
        let colour = match &token.token {
            Token::Word(w)
                if w.quote_style.is_none()
                    && (w.keyword != Keyword::NoKeyword
                        || ROLLOUT_KEYWORDS.contains(&w.value.to_ascii_uppercase().as_str())) =>
            {
                KEYWORD
            }
            Token::SingleQuotedString(_) | Token::EscapedStringLiteral(_) => STRING,
            Token::Number(..) => NUMBER,
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            ) => COMMENT,
            _ => continue,
        };
        let (Some(start), Some(end)) = (
            offset(token.span.start.line, token.span.start.column),
            offset(token.span.end.line, token.span.end.column),
        ) else {
            continue;
        };
        if start < copied || end < start {
            continue;
        }
        out.push_str(line.get(copied..start)?);
        out.push_str(colour);
        out.push_str(line.get(start..end)?);
        out.push_str(RESET);
        copied = end;
    }
    out.push_str(line.get(copied..)?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_keywords_strings_and_numbers() {
        let text = highlight_sql("promote orders TO 'v2' -- now\nSELECT 1").unwrap();
        assert_eq!(
            text,
            "\x1b[1;34mpromote\x1b[0m orders \x1b[1;34mTO\x1b[0m \x1b[32m'v2'\x1b[0m \
             \x1b[90m-- now\n\x1b[0m\x1b[1;34mSELECT\x1b[0m \x1b[33m1\x1b[0m"
        );
        let plain: String = text
            .split('\x1b')
            .map(|part| part.split_once('m').map_or(part, |(_, rest)| rest))
            .collect();
        assert_eq!(plain, "promote orders TO 'v2' -- now\nSELECT 1");
    }

    #[test]
    fn open_strings_stay_plain() {
        assert_eq!(highlight_sql("SELECT 'abc"), None);
    }
}
