//! The interactive shell: rustyline editing with our helper, history in the user's data
//! folder, `~/.rolloutrc`, a prompt that shows the store, consumer and cohort.

mod complete;
mod helper;

use std::path::PathBuf;

use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::{CompletionType, Config, Editor};

use crate::outcome::Failure;
use crate::runner::{Flow, ScriptSource, run_script};
use crate::shell::Shell;
use complete::Names;
use helper::SqlHelper;

/// Runs the REPL until `\q` or Ctrl-D. Failures are printed and the session goes on.
pub async fn run(shell: &mut Shell) -> Result<(), Failure> {
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_dups(true)
        .map_err(anyhow::Error::from)?
        .max_history_size(10_000)
        .map_err(anyhow::Error::from)?
        .completion_type(CompletionType::List)
        .build();
    let mut editor: Editor<SqlHelper, DefaultHistory> =
        Editor::with_config(config).map_err(anyhow::Error::from)?;
    editor.set_helper(Some(SqlHelper::default()));

    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }

    if !shell.quiet {
        println!(
            "rollout {}: store {}. Type \\? for help, \\q to quit.",
            env!("CARGO_PKG_VERSION"),
            shell.location(),
        );
    }
    if let Some(rc) = home_dir().map(|home| home.join(".rolloutrc"))
        && rc.is_file()
    {
        match std::fs::read_to_string(&rc) {
            Ok(script) => {
                let name = rc.display().to_string();
                match run_script(shell, ScriptSource::File(&name), &script).await {
                    Ok(Flow::Quit) => return Ok(()),
                    Ok(Flow::Continue) => {}
                    Err(failure) => failure.print_report(),
                }
            }
            Err(e) => eprintln!("warning: cannot read {}: {e}", rc.display()),
        }
    }

    loop {
        let names = match (shell.context(), shell.remote()) {
            (Ok(ctx), _) => Names::gather(ctx).await,
            (_, Some(remote)) => Names::gather_remote(remote).await,
            _ => Names::default(),
        };
        if let Some(helper) = editor.helper_mut() {
            helper.names = names;
        }
        let prompt = prompt(shell);
        // readline blocks on the terminal; let the runtime move other tasks off this thread.
        let line = tokio::task::block_in_place(|| editor.readline(&prompt));
        match line {
            Ok(input) => {
                let trimmed = input.trim();
                if trimmed.is_empty() {
                    continue;
                }
                // History is a convenience: failing to record an entry must not end the session.
                let _ = editor.add_history_entry(trimmed);
                match run_script(shell, ScriptSource::Command, trimmed).await {
                    Ok(Flow::Quit) => break,
                    Ok(Flow::Continue) => {}
                    Err(failure) => failure.print_report(),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(anyhow::Error::from(e).into()),
        }
    }

    shell.flush_output()?;
    if let Some(path) = &history
        && let Err(e) = editor.save_history(path)
    {
        eprintln!("warning: could not save history to {}: {e}", path.display());
    }
    Ok(())
}

/// `store (consumer alice, cohort canary)> `: the store's last path segment (or host), and
/// who reads resolve for.
fn prompt(shell: &Shell) -> String {
    let url = shell.location();
    let trimmed = url.trim_end_matches('/');
    let label = match trimmed.split_once("://") {
        Some(("file", path)) => path.rsplit('/').next().unwrap_or(path),
        Some((_, rest)) => rest,
        None => trimmed,
    };
    let settings = shell.who();
    let mut who = Vec::new();
    if let Some(consumer) = settings.consumer.filter(|c| !c.is_empty()) {
        who.push(format!("consumer {consumer}"));
    }
    if let Some(cohort) = settings.cohort.filter(|c| !c.is_empty()) {
        who.push(format!("cohort {cohort}"));
    }
    if who.is_empty() {
        format!("{label}> ")
    } else {
        format!("{label} ({})> ", who.join(", "))
    }
}

/// `<data dir>/rollout/history` when the platform has a data dir we can create, else
/// `~/.rollout_history`.
fn history_path() -> Option<PathBuf> {
    if let Some(dir) = data_dir().map(|d| d.join("rollout"))
        && std::fs::create_dir_all(&dir).is_ok()
    {
        return Some(dir.join("history"));
    }
    home_dir().map(|home| home.join(".rollout_history"))
}

fn data_dir() -> Option<PathBuf> {
    if cfg!(windows) {
        return env_path("APPDATA");
    }
    if cfg!(target_os = "macos") {
        return home_dir().map(|h| h.join("Library").join("Application Support"));
    }
    env_path("XDG_DATA_HOME")
        .filter(|p| p.is_absolute())
        .or_else(|| home_dir().map(|h| h.join(".local").join("share")))
}

fn home_dir() -> Option<PathBuf> {
    env_path("HOME").or_else(|| env_path("USERPROFILE"))
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}
