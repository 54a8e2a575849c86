//! Splitting scripts into statements, for the shell and batch runs.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{
    Token, TokenWithSpan, Tokenizer, TokenizerError, Whitespace,
};

use crate::error::{Error, Result};

/// One statement of a script and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementText {
    /// The statement's text, without the terminating `;`.
    pub text: String,
    /// 1-based line of the statement's first token.
    pub line: usize,
}

/// Splits a script on top-level `;` (strings and comments respected). A last statement
/// without `;` is kept; empty statements are dropped.
pub fn split_statements(sql: &str) -> Result<Vec<StatementText>> {
    let tokens = tokenize(sql).map_err(|e| Error::Parse {
        message: ParserError::from(e)
            .to_string()
            .replace("sql parser error: ", "")
            .replace(" at Line: ", " at line ")
            .replace(", Column: ", ", column "),
    })?;
    Ok(split(&tokens))
}

/// Whether `sql` ends a statement: its last significant token is `;`. Input that does not
/// tokenize (an open string or comment) is incomplete.
pub fn is_complete(sql: &str) -> bool {
    tokenize(sql).is_ok_and(|tokens| ends_statement(&tokens))
}

/// The statements of `sql` when it ends a statement (see [`is_complete`]), from one pass of
/// the tokenizer; `None` while it is incomplete. A script reader calls this as lines arrive.
pub fn complete_statements(sql: &str) -> Option<Vec<StatementText>> {
    let tokens = tokenize(sql).ok()?;
    ends_statement(&tokens).then(|| split(&tokens))
}

fn tokenize(sql: &str) -> std::result::Result<Vec<TokenWithSpan>, TokenizerError> {
    Tokenizer::new(&GenericDialect {}, sql).tokenize_with_location()
}

fn split(tokens: &[TokenWithSpan]) -> Vec<StatementText> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut line = None;
    for t in tokens {
        match &t.token {
            Token::SemiColon => {
                if let Some(l) = line.take() {
                    out.push(StatementText {
                        text: current.trim().to_string(),
                        line: l,
                    });
                }
                current.clear();
            }
            Token::Whitespace(_) => current.push_str(&t.token.to_string()),
            other => {
                if line.is_none() {
                    line = Some(t.span.start.line as usize);
                    current.clear();
                }
                current.push_str(&other.to_string());
            }
        }
    }
    if let Some(l) = line {
        out.push(StatementText {
            text: current.trim().to_string(),
            line: l,
        });
    }
    out
}

fn ends_statement(tokens: &[TokenWithSpan]) -> bool {
    tokens
        .iter()
        .rev()
        .find(|t| {
            !matches!(
                t.token,
                Token::Whitespace(
                    Whitespace::Space
                        | Whitespace::Newline
                        | Whitespace::Tab
                        | Whitespace::SingleLineComment { .. }
                        | Whitespace::MultiLineComment(_)
                )
            )
        })
        .is_some_and(|t| t.token == Token::SemiColon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_top_level_semicolons_with_lines() {
        let script =
            "-- a comment; not a split\nSELECT 'a;b';\n\nPROMOTE orders\n  TO 'v2';\nSELECT 1";
        let parts = split_statements(script).unwrap();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0].text, "SELECT 'a;b'");
        assert_eq!(parts[0].line, 2);
        assert_eq!(parts[1].line, 4);
        assert_eq!(parts[1].text, "PROMOTE orders\n  TO 'v2'");
        assert_eq!(parts[2].line, 6);
    }

    #[test]
    fn completeness() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("SELECT 1; -- done\n"));
        assert!(!is_complete("SELECT 1"));
        assert!(!is_complete("SELECT ';"));
        assert!(!is_complete("SELECT 1 /* ; "));
        assert_eq!(complete_statements("SELECT 1; SELECT"), None);
        assert_eq!(complete_statements("SELECT ';"), None);
        let both = complete_statements("SELECT 1;\n  SELECT 2; -- done").unwrap();
        assert_eq!(
            both,
            split_statements("SELECT 1;\n  SELECT 2; -- done").unwrap()
        );
        assert_eq!((both[1].text.as_str(), both[1].line), ("SELECT 2", 2));
    }
}
