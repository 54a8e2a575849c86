//! Running scripts: `-c` and `-f`, a piped script, the rc file, `\i` and each line typed at the
//! prompt, one statement or meta command after another on a [`Shell`].
//!
//! A failure stops a run or, with `--continue-on-error`, is reported and the run goes on, ending
//! with the most severe failure. [`run_each`] is that rule, for the items of a script as for the
//! scripts of one command line.

use anyhow::Context;

use crate::meta::{self, MetaCommand, Next};
use crate::outcome::Failure;
use crate::script::{Item, read_items};
use crate::shell::Shell;

/// Where a script came from, for error messages.
#[derive(Clone, Copy)]
pub enum ScriptSource<'a> {
    /// A `-c` argument or a line typed at the prompt: errors are `error: <message>`.
    Command,
    /// A file (or `<stdin>`): errors are `error: <file>:<line>: <message>`.
    File(&'a str),
}

/// Whether the session goes on after a script (`\q` in a script ends it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// Runs `units` in order with `run`, until one returns [`Flow::Quit`]. A failure ends the run,
/// unless `keep_going`: then it is reported at once, the next unit runs, and the run ends with
/// the most severe of its failures.
pub async fn run_each<T>(
    units: impl IntoIterator<Item = T>,
    keep_going: bool,
    mut run: impl AsyncFnMut(T) -> Result<Flow, Failure>,
) -> Result<Flow, Failure> {
    let mut worst: Option<Failure> = None;
    let mut flow = Flow::Continue;
    for unit in units {
        match run(unit).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Quit) => {
                flow = Flow::Quit;
                break;
            }
            Err(failure) if keep_going => {
                failure.print_report();
                let failure = failure.reported();
                worst = Some(match worst {
                    Some(w) => w.worst(failure),
                    None => failure,
                });
            }
            Err(failure) => return Err(failure),
        }
    }
    match worst {
        Some(failure) => Err(failure),
        None => Ok(flow),
    }
}

/// Runs the statements and meta commands of `script` in order, printing results. A failure
/// stops the script (or, with `--continue-on-error`, is printed and the script goes on, ending
/// with the most severe failure); it names the file and the line.
pub async fn run_script(
    shell: &mut Shell,
    source: ScriptSource<'_>,
    script: &str,
) -> Result<Flow, Failure> {
    let items = read_items(script).map_err(|e| {
        let failure = Failure::from_rollout(&e).locate(script, None);
        match source {
            ScriptSource::Command => failure,
            ScriptSource::File(name) => failure.with_location(name),
        }
    })?;
    let keep_going = shell.continue_on_error;
    run_each(&items, keep_going, async |item| {
        let result = match item {
            Item::Meta { text, .. } => run_meta(shell, text).await,
            Item::Sql { text, line, end } => shell
                .run_one(text, *line)
                .await
                .map(|()| Flow::Continue)
                .map_err(|f| f.locate(script, *end)),
        };
        result.map_err(|failure| match source {
            ScriptSource::Command => failure,
            ScriptSource::File(name) => failure.with_location(&format!("{name}:{}", item.line())),
        })
    })
    .await
}

/// Runs one meta command line; `\i` runs its file here.
async fn run_meta(shell: &mut Shell, line: &str) -> Result<Flow, Failure> {
    let command = MetaCommand::parse(line)?;
    match meta::run(shell, command).await? {
        Next::Continue => Ok(Flow::Continue),
        Next::Quit => Ok(Flow::Quit),
        Next::Include(path) => {
            let sql =
                std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
            Box::pin(run_script(shell, ScriptSource::File(&path), &sql)).await
        }
    }
}
