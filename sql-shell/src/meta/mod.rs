//! Backslash meta commands, in the REPL and in scripts alike.
//!
//! A line such as `\pset null '-'` is parsed once into a [`MetaCommand`]. Which commands exist,
//! their aliases, arguments and one-line descriptions are one table, [`COMMANDS`]: the parser
//! looks names up in it, `\?` is rendered from it and Tab completes from it. Running a command
//! ([`run`]) uses only the [`Shell`](crate::shell::Shell)'s public methods; `\q` and `\i`, which
//! decide what runs next, are handed back to the caller as [`Next`].

mod commands;
mod describe;
mod run;
mod statements;

use std::path::PathBuf;

use crate::outcome::Failure;
use crate::print::OutputFormat;

pub use commands::{COMMANDS, parse_maxrows};
pub use run::{Next, run};

/// One meta command with its arguments, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetaCommand {
    /// `\q`
    Quit,
    /// `\?`
    Help,
    /// `\h [STATEMENT]`: the syntax of statements; an empty topic lists them.
    StatementHelp(String),
    /// `\d` lists datasets and tables; `\d NAME` describes one.
    Describe(Option<String>),
    /// `\df [PATTERN]`
    Functions(Option<String>),
    /// `\timing [on|off]`; `None` toggles.
    Timing(Option<bool>),
    /// `\x [on|off]`; `None` toggles.
    Expanded(Option<bool>),
    /// `\pset` alone shows the print settings; `\pset NAME VALUE` changes one.
    Pset(Option<PsetChange>),
    /// `\o [FILE]`: results to a file, or back to standard output.
    Output(Option<PathBuf>),
    /// `\i FILE`
    Include(String),
    /// `\consumer [ID|-]`
    Consumer(SessionValue),
    /// `\cohort [NAME|-]`
    Cohort(SessionValue),
}

/// A change of one print setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PsetChange {
    Format(OutputFormat),
    Null(String),
    /// `None` shows every row.
    MaxRows(Option<usize>),
    /// `None` toggles.
    Expanded(Option<bool>),
}

/// What `\consumer` and `\cohort` do with the session's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionValue {
    Show,
    Set(String),
    /// `-`
    Clear,
}

impl MetaCommand {
    /// Parses a meta command line (`\pset null '-'`). Words are separated by spaces; single
    /// quotes group them. Words past those a command takes are ignored.
    pub fn parse(line: &str) -> Result<Self, Failure> {
        let words = split_words(line);
        let (name, args) = words.split_first().map_or(("", &[][..]), |(name, args)| {
            (name.as_str(), args)
        });
        match COMMANDS.iter().find(|c| c.names.contains(&name)) {
            Some(command) => command.parse(args),
            None => Err(Failure::error(format!(
                "unknown command '{name}'; \\? lists the commands"
            ))),
        }
    }
}

/// Words separated by spaces; single quotes group (`''` inside is a quote).
fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut word = String::new();
        if c == '\'' {
            chars.next();
            while let Some(c) = chars.next() {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                        word.push('\'');
                    } else {
                        break;
                    }
                } else {
                    word.push(c);
                }
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                word.push(c);
                chars.next();
            }
        }
        words.push(word);
    }
    words
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn words_with_quotes() {
        assert_eq!(
            split_words("\\pset null '(it''s null)'  x"),
            vec!["\\pset", "null", "(it's null)", "x"]
        );
        assert_eq!(split_words("\\pset null ''"), vec!["\\pset", "null", ""]);
    }

    #[test]
    fn parses_commands_and_aliases() {
        let parse = |line: &str| MetaCommand::parse(line).unwrap();
        assert_eq!(parse("\\q"), MetaCommand::Quit);
        assert_eq!(parse("\\quit"), MetaCommand::Quit);
        assert_eq!(parse("\\help"), MetaCommand::Help);
        assert_eq!(
            parse("\\h create  contract"),
            MetaCommand::StatementHelp("create contract".into())
        );
        assert_eq!(parse("\\d"), MetaCommand::Describe(None));
        assert_eq!(
            parse("\\d orders"),
            MetaCommand::Describe(Some("orders".into()))
        );
        assert_eq!(parse("\\timing OFF"), MetaCommand::Timing(Some(false)));
        assert_eq!(parse("\\x"), MetaCommand::Expanded(None));
        assert_eq!(
            parse("\\pset null '-'"),
            MetaCommand::Pset(Some(PsetChange::Null("-".into())))
        );
        assert_eq!(
            parse("\\pset maxrows inf"),
            MetaCommand::Pset(Some(PsetChange::MaxRows(None)))
        );
        assert_eq!(parse("\\pset"), MetaCommand::Pset(None));
        assert_eq!(parse("\\consumer -"), MetaCommand::Consumer(SessionValue::Clear));
        assert_eq!(
            parse("\\cohort canary"),
            MetaCommand::Cohort(SessionValue::Set("canary".into()))
        );
        assert_eq!(parse("\\o"), MetaCommand::Output(None));
    }

    #[test]
    fn errors_name_the_command() {
        let error = |line: &str| MetaCommand::parse(line).unwrap_err().to_string();
        assert_eq!(error("\\nope x"), "unknown command '\\nope'; \\? lists the commands");
        assert_eq!(error("\\timing maybe"), "\\timing takes 'on' or 'off', not 'maybe'");
        assert_eq!(error("\\i"), "\\i needs a file: \\i script.sql");
        assert_eq!(
            error("\\pset format"),
            "\\pset format: expected \\pset format|null|maxrows|expanded <value>"
        );
    }
}
