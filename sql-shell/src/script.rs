//! Reading a script into items: SQL statements and backslash meta commands.
//!
//! A line that starts with `\` where a statement would start is a meta command (`\timing on`,
//! `\i other.sql`), so scripts, the rc file and the prompt accept the same input. Everything
//! else is SQL, split on top-level `;` by the library's tokenizer.

use datafusion_rollout::{StatementText, complete_statements, split_statements};

/// One thing to run, with the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Meta {
        line: usize,
        text: String,
    },
    Sql {
        line: usize,
        text: String,
        /// Byte offset in the script just past the statement, when it can be found there.
        end: Option<usize>,
    },
}

impl Item {
    pub fn line(&self) -> usize {
        match self {
            Item::Meta { line, .. } | Item::Sql { line, .. } => *line,
        }
    }
}

/// Splits `script` into items.
pub fn read_items(script: &str) -> datafusion_rollout::Result<Vec<Item>> {
    let mut items = Vec::new();
    // The pending SQL: byte offset and 1-based line of its first line.
    let mut pending: Option<(usize, usize)> = None;
    let mut offset = 0;
    for (index, raw) in script.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        let line_end = offset + raw.len();
        let blank_so_far = pending.is_none_or(|(start, _)| is_blank(&script[start..offset]));
        if blank_so_far && raw.trim_start().starts_with('\\') {
            items.push(Item::Meta {
                line: line_no,
                text: raw.trim().to_string(),
            });
            pending = None;
        } else {
            let (start, first) = *pending.get_or_insert((offset, line_no));
            let text = &script[start..line_end];
            // One pass of the tokenizer decides completeness and splits; the statement is
            // then parsed once, when it runs.
            if let Some(statements) = complete_statements(text) {
                push_sql(&mut items, script, start, first, text, statements);
                pending = None;
            }
        }
        offset = line_end;
    }
    if let Some((start, first)) = pending {
        let text = &script[start..];
        if !is_blank(text) {
            push_sql(
                &mut items,
                script,
                start,
                first,
                text,
                split_statements(text)?,
            );
        }
    }
    Ok(items)
}

fn push_sql(
    items: &mut Vec<Item>,
    script: &str,
    start: usize,
    first_line: usize,
    text: &str,
    statements: Vec<StatementText>,
) {
    for statement in statements {
        let line_start: usize = text
            .split_inclusive('\n')
            .take(statement.line - 1)
            .map(str::len)
            .sum();
        let end = text
            .get(line_start..)
            .and_then(|rest| rest.find(&statement.text))
            .map(|at| start + line_start + at + statement.text.len())
            .filter(|&end| end <= script.len());
        items.push(Item::Sql {
            line: first_line + statement.line - 1,
            text: statement.text,
            end,
        });
    }
}

/// Only whitespace and `--` comments.
fn is_blank(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with("--")
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn meta_commands_between_statements() {
        let script = "\\timing on\nSELECT 1;\n-- note\n\\x\nSELECT\n  2; SELECT 3;\nSELECT 4";
        let items = read_items(script).unwrap();
        let lines: Vec<(usize, &str)> = items
            .iter()
            .map(|i| match i {
                Item::Meta { line, text } | Item::Sql { line, text, .. } => (*line, text.as_str()),
            })
            .collect();
        assert_eq!(
            lines,
            vec![
                (1, "\\timing on"),
                (2, "SELECT 1"),
                (4, "\\x"),
                (5, "SELECT\n  2"),
                (6, "SELECT 3"),
                (7, "SELECT 4"),
            ]
        );
        let Some(Item::Sql { end: Some(end), .. }) = items.last() else {
            panic!("{items:?}");
        };
        assert_eq!(*end, script.len());
    }

    #[test]
    fn a_backslash_inside_a_statement_is_sql() {
        let items = read_items("SELECT\n\\x\n;").unwrap();
        assert_eq!(items.len(), 1);
    }
}
