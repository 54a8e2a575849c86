//! The table of meta commands: what the parser recognises, what `\?` lists and what Tab
//! completes, written once.

use std::path::PathBuf;

use super::command::{MetaCommand, PsetChange, SessionValue};
use crate::outcome::Failure;

/// One meta command.
pub struct Command {
    /// Its name, then its aliases. `\?` shows them all; Tab completes the name.
    pub names: &'static [&'static str],
    /// The arguments, as `\?` shows them: `[on|off]`, `FILE`.
    pub arguments: &'static str,
    /// One line for `\?`.
    pub about: &'static str,
    /// Checks the arguments (the words after the name).
    parse: fn(&[String]) -> Result<MetaCommand, Failure>,
}

impl Command {
    /// The name Tab completes and `\?` lists first.
    pub fn name(&self) -> &'static str {
        self.names.first().copied().unwrap_or_default()
    }

    pub fn parse(&self, args: &[String]) -> Result<MetaCommand, Failure> {
        (self.parse)(args)
    }
}

/// Every meta command, in the order `\?` lists them.
pub const COMMANDS: &[Command] = &[
    Command {
        names: &["\\?", "\\help"],
        arguments: "",
        about: "this help",
        parse: |_| Ok(MetaCommand::Help),
    },
    Command {
        names: &["\\h"],
        arguments: "[STATEMENT]",
        about: "syntax of a statement (\\h alone lists them)",
        parse: |args| Ok(MetaCommand::StatementHelp(args.join(" "))),
    },
    Command {
        names: &["\\q", "\\quit"],
        arguments: "",
        about: "quit (Ctrl-D works too)",
        parse: |_| Ok(MetaCommand::Quit),
    },
    Command {
        names: &["\\d"],
        arguments: "[NAME]",
        about: "datasets and tables; \\d NAME: columns, plus a dataset's versions and rollout",
        parse: |args| Ok(MetaCommand::Describe(args.first().cloned())),
    },
    Command {
        names: &["\\df"],
        arguments: "[PATTERN]",
        about: "documented functions (ours first); \\df NAME shows one in full",
        parse: |args| Ok(MetaCommand::Functions(args.first().cloned())),
    },
    Command {
        names: &["\\timing"],
        arguments: "[on|off]",
        about: "show how long each statement takes",
        parse: |args| Ok(MetaCommand::Timing(switch("\\timing", first(args))?)),
    },
    Command {
        names: &["\\x"],
        arguments: "[on|off]",
        about: "expanded display: one block per record",
        parse: |args| Ok(MetaCommand::Expanded(switch("\\x", first(args))?)),
    },
    Command {
        names: &["\\pset"],
        arguments: "[NAME VALUE]",
        about: "format (table|csv|tsv|json|ndjson|markdown), null, maxrows, expanded",
        parse: |args| Ok(MetaCommand::Pset(pset(args)?)),
    },
    Command {
        names: &["\\o"],
        arguments: "[FILE]",
        about: "send results to FILE (\\o alone: back to standard output)",
        parse: |args| Ok(MetaCommand::Output(args.first().map(PathBuf::from))),
    },
    Command {
        names: &["\\i"],
        arguments: "FILE",
        about: "run the statements and commands of FILE",
        parse: |args| match args.first() {
            Some(path) => Ok(MetaCommand::Include(path.clone())),
            None => Err(Failure::error("\\i needs a file: \\i script.sql")),
        },
    },
    Command {
        names: &["\\consumer"],
        arguments: "[ID|-]",
        about: "show or set (or with '-' clear) the consumer reads resolve for",
        parse: |args| Ok(MetaCommand::Consumer(session_value(args))),
    },
    Command {
        names: &["\\cohort"],
        arguments: "[NAME|-]",
        about: "show or set (or with '-' clear) the session's cohort",
        parse: |args| Ok(MetaCommand::Cohort(session_value(args))),
    },
];

impl MetaCommand {
    /// Parses a meta command line (`\pset null '-'`). Words are separated by spaces; single
    /// quotes group them. Words past those a command takes are ignored.
    pub fn parse(line: &str) -> Result<Self, Failure> {
        let words = split_words(line);
        let (name, args) = words
            .split_first()
            .map_or(("", &[][..]), |(name, args)| (name.as_str(), args));
        match COMMANDS.iter().find(|c| c.names.contains(&name)) {
            Some(command) => command.parse(args),
            None => Err(Failure::error(format!(
                "unknown command '{name}'; \\? lists the commands"
            ))),
        }
    }
}

const HELP_INTRO: &str = "\
Statements end with ';' and may span several lines. Tab completes keywords, datasets,
versions, cohorts, tables, columns and functions; Ctrl-R searches the history.";

const HELP_END: &str = "\
Ctrl-C clears the line at the prompt and cancels a running statement. ~/.rolloutrc runs at start.";

/// `\?`: every command of [`COMMANDS`] with its aliases, arguments and description.
pub fn help() -> String {
    let usage = |c: &Command| {
        let names = c.names.join(", ");
        if c.arguments.is_empty() {
            names
        } else {
            format!("{names} {}", c.arguments)
        }
    };
    let usages: Vec<String> = COMMANDS.iter().map(usage).collect();
    let width = usages
        .iter()
        .map(|u| u.chars().count() + 2)
        .max()
        .unwrap_or_default()
        .max(24);
    let lines: Vec<String> = COMMANDS
        .iter()
        .zip(&usages)
        .map(|(c, usage)| format!("  {usage:width$}{}", c.about))
        .collect();
    format!(
        "{HELP_INTRO}\n\nMeta commands:\n{}\n\n{HELP_END}",
        lines.join("\n")
    )
}

/// `on`/`true`, `off`/`false`; nothing toggles (`None`).
fn switch(command: &str, value: Option<&str>) -> Result<Option<bool>, Failure> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(None),
        Some("on" | "true") => Ok(Some(true)),
        Some("off" | "false") => Ok(Some(false)),
        Some(other) => Err(Failure::error(format!(
            "{command} takes 'on' or 'off', not '{other}'"
        ))),
    }
}

fn pset(args: &[String]) -> Result<Option<PsetChange>, Failure> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let change = match args.as_slice() {
        [] => return Ok(None),
        ["format", value] => {
            PsetChange::Format(clap::ValueEnum::from_str(value, true).map_err(|_| {
                Failure::error(format!(
                    "unknown format '{value}'; one of table, csv, tsv, json, ndjson, markdown"
                ))
            })?)
        }
        ["null", value] => PsetChange::Null((*value).to_string()),
        ["maxrows", value] => PsetChange::MaxRows(parse_maxrows(value).map_err(Failure::error)?),
        ["expanded"] => PsetChange::Expanded(None),
        ["expanded", value] => PsetChange::Expanded(switch("\\pset expanded", Some(value))?),
        [name, ..] => {
            return Err(Failure::error(format!(
                "\\pset {name}: expected \\pset format|null|maxrows|expanded <value>"
            )));
        }
    };
    Ok(Some(change))
}

/// `inf` (or 0) for all rows, else a count.
pub fn parse_maxrows(value: &str) -> Result<Option<usize>, String> {
    if value.eq_ignore_ascii_case("inf") {
        return Ok(None);
    }
    match value.parse::<usize>() {
        Ok(0) => Ok(None),
        Ok(n) => Ok(Some(n)),
        Err(_) => Err(format!(
            "maxrows is a number of rows or 'inf', not '{value}'"
        )),
    }
}

fn first(args: &[String]) -> Option<&str> {
    args.first().map(String::as_str)
}

fn session_value(args: &[String]) -> SessionValue {
    match first(args) {
        None => SessionValue::Show,
        Some("-") => SessionValue::Clear,
        Some(value) => SessionValue::Set(value.to_string()),
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
    fn names_are_unique_and_all_in_the_help() {
        let names: Vec<&str> = COMMANDS
            .iter()
            .flat_map(|c| c.names.iter().copied())
            .collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let help = help();
        for name in names {
            assert!(help.contains(&format!("  {name}")) || help.contains(&format!(", {name}")));
        }
    }

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
        assert_eq!(
            parse("\\consumer -"),
            MetaCommand::Consumer(SessionValue::Clear)
        );
        assert_eq!(
            parse("\\cohort canary"),
            MetaCommand::Cohort(SessionValue::Set("canary".into()))
        );
        assert_eq!(parse("\\o"), MetaCommand::Output(None));
    }

    #[test]
    fn errors_name_the_command() {
        let error = |line: &str| MetaCommand::parse(line).unwrap_err().to_string();
        assert_eq!(
            error("\\nope x"),
            "unknown command '\\nope'; \\? lists the commands"
        );
        assert_eq!(
            error("\\timing maybe"),
            "\\timing takes 'on' or 'off', not 'maybe'"
        );
        assert_eq!(error("\\i"), "\\i needs a file: \\i script.sql");
        assert_eq!(
            error("\\pset format"),
            "\\pset format: expected \\pset format|null|maxrows|expanded <value>"
        );
    }
}
