//! The table of meta commands: what the parser recognises, what `\?` lists and what Tab
//! completes, written once.

use std::path::PathBuf;

use super::{MetaCommand, PsetChange, SessionValue};
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
        ["format", value] => PsetChange::Format(clap::ValueEnum::from_str(value, true).map_err(
            |_| {
                Failure::error(format!(
                    "unknown format '{value}'; one of table, csv, tsv, json, ndjson, markdown"
                ))
            },
        )?),
        ["null", value] => PsetChange::Null((*value).to_string()),
        ["maxrows", value] => PsetChange::MaxRows(parse_maxrows(value).map_err(Failure::error)?),
        ["expanded"] => PsetChange::Expanded(None),
        ["expanded", value] => {
            PsetChange::Expanded(switch("\\pset expanded", Some(value))?)
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_all_in_the_help() {
        let names: Vec<&str> = COMMANDS.iter().flat_map(|c| c.names.iter().copied()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        let help = help();
        for name in names {
            assert!(help.contains(&format!("  {name}")) || help.contains(&format!(", {name}")));
        }
    }
}
