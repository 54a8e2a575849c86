//! Backslash meta commands, in the REPL and in scripts alike.

use std::path::PathBuf;

use anyhow::Context;

use crate::describe;
use crate::help;
use crate::outcome::Failure;
use crate::shell::{Flow, ScriptSource, Shell};

/// Runs one meta command line (`\pset null '-'`).
pub async fn run(shell: &mut Shell, line: &str) -> Result<Flow, Failure> {
    let words = split_words(line);
    let command = words.first().map(String::as_str).unwrap_or_default();
    let args: Vec<&str> = words.iter().skip(1).map(String::as_str).collect();
    match command {
        "\\q" | "\\quit" => return Ok(Flow::Quit),
        "\\?" | "\\help" => println!("{}", help::META_HELP),
        "\\h" => println!("{}", help::statement_help(&args.join(" "))),
        "\\d" => match args.first() {
            None => describe::list(shell).await?,
            Some(name) => describe::describe(shell, name).await?,
        },
        "\\df" => describe::functions(shell, args.first().copied()).await?,
        "\\timing" => {
            shell.timing = on_off("\\timing", args.first().copied(), shell.timing)?;
            say(shell, &format!("Timing is {}.", on(shell.timing)));
        }
        "\\x" => {
            shell.print.expanded = on_off("\\x", args.first().copied(), shell.print.expanded)?;
            say(
                shell,
                &format!("Expanded display is {}.", on(shell.print.expanded)),
            );
        }
        "\\pset" => pset(shell, &args)?,
        "\\o" => {
            shell.set_output(args.first().map(PathBuf::from))?;
            match shell.output_file() {
                Some(path) => say(shell, &format!("Results go to {}.", path.display())),
                None => say(shell, "Results go to standard output."),
            }
        }
        "\\i" => {
            let Some(path) = args.first() else {
                return Err(Failure::error("\\i needs a file: \\i script.sql"));
            };
            let sql =
                std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
            return Box::pin(shell.run_script(ScriptSource::File(path), &sql)).await;
        }
        "\\consumer" => {
            if let Some(id) = args.first() {
                let id = (*id != "-").then_some(*id);
                shell.context().set_consumer(id)?;
            }
            let consumer = shell.context().settings().consumer;
            say(
                shell,
                &format!("consumer: {}", consumer.as_deref().unwrap_or("(none)")),
            );
        }
        "\\cohort" => {
            if let Some(name) = args.first() {
                let name = (*name != "-").then_some(*name);
                if let Some(name) = name {
                    let state = shell.context().store().state();
                    if !state.cohorts.contains_key(name) {
                        let known: Vec<&str> = state.cohorts.keys().map(String::as_str).collect();
                        return Err(Failure::error(format!(
                            "unknown cohort '{name}' (known cohorts: {})",
                            if known.is_empty() {
                                "none yet".to_string()
                            } else {
                                known.join(", ")
                            }
                        )));
                    }
                }
                shell.context().set_cohort(name)?;
            }
            let cohort = shell.context().settings().cohort;
            say(
                shell,
                &format!("cohort: {}", cohort.as_deref().unwrap_or("(none)")),
            );
        }
        other => {
            return Err(Failure::error(format!(
                "unknown command '{other}'; \\? lists the commands"
            )));
        }
    }
    Ok(Flow::Continue)
}

/// `\pset` alone shows the settings; `\pset name value` changes one.
fn pset(shell: &mut Shell, args: &[&str]) -> Result<(), Failure> {
    let options = &mut shell.print;
    match args {
        [] => {
            let maxrows = options.maxrows.map_or("inf".to_string(), |n| n.to_string());
            println!("format    {}", options.format.name());
            println!("null      {}", options.null);
            println!("maxrows   {maxrows}");
            println!("expanded  {}", on(options.expanded));
            return Ok(());
        }
        ["format", value] => {
            options.format = clap::ValueEnum::from_str(value, true).map_err(|_| {
                Failure::error(format!(
                    "unknown format '{value}'; one of table, csv, tsv, json, ndjson, markdown"
                ))
            })?;
        }
        ["null", value] => options.null = (*value).to_string(),
        ["maxrows", value] => options.maxrows = parse_maxrows(value).map_err(Failure::error)?,
        ["expanded"] => options.expanded = !options.expanded,
        ["expanded", value] => options.expanded = on_off("\\pset expanded", Some(value), false)?,
        [name, ..] => {
            return Err(Failure::error(format!(
                "\\pset {name}: expected \\pset format|null|maxrows|expanded <value>"
            )));
        }
    }
    let (format, null) = (options.format.name(), options.null.clone());
    say(
        shell,
        &format!("Output format is {format}, NULL shows as '{null}'."),
    );
    Ok(())
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

fn on_off(command: &str, value: Option<&str>, current: bool) -> Result<bool, Failure> {
    match value.map(str::to_ascii_lowercase).as_deref() {
        None => Ok(!current),
        Some("on" | "true") => Ok(true),
        Some("off" | "false") => Ok(false),
        Some(other) => Err(Failure::error(format!(
            "{command} takes 'on' or 'off', not '{other}'"
        ))),
    }
}

fn on(value: bool) -> &'static str {
    if value { "on" } else { "off" }
}

/// Confirmation of a setting, which `-q` silences.
fn say(shell: &Shell, text: &str) {
    if !shell.quiet {
        println!("{text}");
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
}
