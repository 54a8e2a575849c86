//! Running a parsed meta command on a shell.

use super::command::{MetaCommand, PsetChange, SessionValue};
use super::describe;
use super::statements::statement_help;
use super::table::help;
use crate::outcome::Failure;
use crate::shell::Shell;

/// What the caller does after a meta command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    Continue,
    /// `\q`: end the script and the session.
    Quit,
    /// `\i FILE`: run that file here, then go on.
    Include(String),
}

/// Runs `command`. Settings are confirmed on standard output unless the shell is quiet.
pub async fn run(shell: &mut Shell, command: MetaCommand) -> Result<Next, Failure> {
    match command {
        MetaCommand::Quit => return Ok(Next::Quit),
        MetaCommand::Include(path) => return Ok(Next::Include(path)),
        MetaCommand::Help => println!("{}", help()),
        MetaCommand::StatementHelp(topic) => println!("{}", statement_help(&topic)),
        MetaCommand::Describe(None) => describe::list(shell).await?,
        MetaCommand::Describe(Some(name)) => describe::describe(shell, &name).await?,
        MetaCommand::Functions(pattern) => describe::functions(shell, pattern.as_deref()).await?,
        MetaCommand::Timing(value) => {
            shell.timing = value.unwrap_or(!shell.timing);
            say(shell, &format!("Timing is {}.", on(shell.timing)));
        }
        MetaCommand::Expanded(value) => {
            shell.print.expanded = value.unwrap_or(!shell.print.expanded);
            say(
                shell,
                &format!("Expanded display is {}.", on(shell.print.expanded)),
            );
        }
        MetaCommand::Pset(None) => show_pset(shell),
        MetaCommand::Pset(Some(change)) => pset(shell, change),
        MetaCommand::Output(path) => {
            shell.set_output(path)?;
            match shell.output_file() {
                Some(path) => say(shell, &format!("Results go to {}.", path.display())),
                None => say(shell, "Results go to standard output."),
            }
        }
        MetaCommand::Consumer(value) => {
            let consumer = shell.rollout_setting("consumer", change(&value)).await?;
            say(
                shell,
                &format!("consumer: {}", consumer.as_deref().unwrap_or("(none)")),
            );
        }
        MetaCommand::Cohort(value) => {
            if let SessionValue::Set(name) = &value
                && shell.remote().is_none()
            {
                known_cohort(shell, name)?;
            }
            let cohort = shell.rollout_setting("cohort", change(&value)).await?;
            say(
                shell,
                &format!("cohort: {}", cohort.as_deref().unwrap_or("(none)")),
            );
        }
    }
    Ok(Next::Continue)
}

/// What `\consumer` / `\cohort` asks of the setting: set, reset, or nothing (show).
fn change(value: &SessionValue) -> Option<Option<&str>> {
    match value {
        SessionValue::Show => None,
        SessionValue::Set(v) => Some(Some(v.as_str())),
        SessionValue::Clear => Some(None),
    }
}

/// An error naming the cohorts there are, unless `name` is one of them.
fn known_cohort(shell: &Shell, name: &str) -> Result<(), Failure> {
    let state = shell.context()?.store().state();
    if state.cohorts.contains_key(name) {
        return Ok(());
    }
    let known: Vec<&str> = state.cohorts.keys().map(String::as_str).collect();
    Err(Failure::error(format!(
        "unknown cohort '{name}' (known cohorts: {})",
        if known.is_empty() {
            "none yet".to_string()
        } else {
            known.join(", ")
        }
    )))
}

/// `\pset` alone: the print settings.
fn show_pset(shell: &Shell) {
    let options = &shell.print;
    let maxrows = options.maxrows.map_or("inf".to_string(), |n| n.to_string());
    println!("format    {}", options.format.name());
    println!("null      {}", options.null);
    println!("maxrows   {maxrows}");
    println!("expanded  {}", on(options.expanded));
}

/// `\pset name value`.
fn pset(shell: &mut Shell, change: PsetChange) {
    let options = &mut shell.print;
    match change {
        PsetChange::Format(format) => options.format = format,
        PsetChange::Null(null) => options.null = null,
        PsetChange::MaxRows(maxrows) => options.maxrows = maxrows,
        PsetChange::Expanded(value) => options.expanded = value.unwrap_or(!options.expanded),
    }
    let (format, null) = (options.format.name(), options.null.clone());
    say(
        shell,
        &format!("Output format is {format}, NULL shows as '{null}'."),
    );
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
