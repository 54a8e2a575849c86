//! Splitting scripts into statements, for the shell and batch runs.

use datafusion::sql::sqlparser::dialect::GenericDialect;
use datafusion::sql::sqlparser::parser::ParserError;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer, Whitespace};

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
    let tokens = Tokenizer::new(&GenericDialect {}, sql)
        .tokenize_with_location()
        .map_err(|e| Error::Parse {
            message: ParserError::from(e)
                .to_string()
                .replace("sql parser error: ", "")
                .replace(" at Line: ", " at line ")
                .replace(", Column: ", ", column "),
        })?;
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
    Ok(out)
}

/// Whether `sql` ends a statement: its last significant token is `;`. Input that does not
/// tokenize (an open string or comment) is incomplete.
pub fn is_complete(sql: &str) -> bool {
    let Ok(tokens) = Tokenizer::new(&GenericDialect {}, sql).tokenize() else {
        return false;
    };
    tokens
        .iter()
        .rev()
        .find(|t| {
            !matches!(
                t,
                Token::Whitespace(
                    Whitespace::Space
                        | Whitespace::Newline
                        | Whitespace::Tab
                        | Whitespace::SingleLineComment { .. }
                        | Whitespace::MultiLineComment(_)
                )
            )
        })
        .is_some_and(|t| *t == Token::SemiColon)
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
    }
}
