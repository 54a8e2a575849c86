//! The interactive shell: rustyline editing, multi-line statements, history, meta commands.

use std::borrow::Cow;
use std::path::PathBuf;

use anyhow::Result;
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Config, Editor, Helper};

use crate::shell::Shell;

const PROMPT: &str = "rollout> ";

const HELP: &str = "\
Statements end with ';' and may span several lines.

Meta commands:
  \\?              this help
  \\q              quit (Ctrl-D works too)
  \\d              list datasets and tables
  \\timing [on|off] show how long each statement takes

Rollout statements (plus any DataFusion SQL):
  CREATE DATASET [IF NOT EXISTS] name [COMMENT '...'];
  REGISTER VERSION 'v1' OF name FROM 'path/' [FORMAT PARQUET|CSV|JSON];
  CREATE VERSION 'v2' OF name AS SELECT ...;
  SHOW DATASETS;  SHOW VERSIONS OF name;
  CREATE COHORT canary MEMBERS ('alice', 'job-42');
  SET rollout.consumer = 'alice';  SET rollout.cohort = 'canary';
  SELECT * FROM name [VERSION AS OF 'v1'];
  PROMOTE name TO 'v2' [FOR COHORT canary | AT 10 PERCENT] [FORCE] [REASON '...'];
  ROLLBACK name [TO 'v1'] [REASON '...'];
  SHOW ROLLOUT name;  SHOW HISTORY [OF name];
  ASSERT <condition> [AS 'message'];

Ctrl-C clears the line at the prompt and cancels a running statement.";

/// `SHOW TABLES` without the information_schema views, which would bury the user's tables.
const LIST_TABLES: &str = "SELECT table_catalog, table_schema, table_name, table_type \
    FROM information_schema.tables WHERE table_schema <> 'information_schema' \
    ORDER BY table_catalog, table_schema, table_name";

/// Decides when Enter submits: a meta command at once, SQL once it ends with `;`.
struct SqlHelper;

impl Validator for SqlHelper {
    fn validate(&self, ctx: &mut ValidationContext) -> rustyline::Result<ValidationResult> {
        let input = ctx.input().trim();
        if input.is_empty() || input.starts_with('\\') || datafusion_rollout::is_complete(input) {
            Ok(ValidationResult::Valid(None))
        } else {
            Ok(ValidationResult::Incomplete)
        }
    }
}

impl Completer for SqlHelper {
    type Candidate = String;
}

impl Hinter for SqlHelper {
    type Hint = String;
}

impl Highlighter for SqlHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }
}

impl Helper for SqlHelper {}

/// What the loop does after a meta command.
enum Next {
    Continue,
    Quit,
}

/// Runs the REPL until `\q` or Ctrl-D. Statement errors are printed and the session goes on.
pub async fn run(shell: &mut Shell) -> Result<()> {
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_dups(true)?
        .max_history_size(10_000)?
        .build();
    let mut editor: Editor<SqlHelper, DefaultHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(SqlHelper));

    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the normal first run.
        let _ = editor.load_history(path);
    }

    if !shell.quiet {
        println!(
            "rollout {}: store {}, consumer {}. Type \\? for help, \\q to quit.",
            env!("CARGO_PKG_VERSION"),
            shell.context().store_url(),
            shell
                .context()
                .consumer()
                .unwrap_or_else(|| "(none)".to_string()),
        );
    }

    loop {
        match editor.readline(PROMPT) {
            Ok(input) => {
                let trimmed = input.trim();
                if trimmed.is_empty() {
                    continue;
                }
                // History is a convenience: failing to record an entry must not end the session.
                let _ = editor.add_history_entry(trimmed);
                if trimmed.starts_with('\\') {
                    match meta_command(shell, trimmed).await {
                        Next::Continue => continue,
                        Next::Quit => break,
                    }
                }
                run_cancellable(shell, trimmed).await;
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }

    if let Some(path) = &history
        && let Err(e) = editor.save_history(path)
    {
        eprintln!("warning: could not save history to {}: {e}", path.display());
    }
    Ok(())
}

/// Runs the statements of one input; Ctrl-C drops (and so cancels) the running statement.
async fn run_cancellable(shell: &Shell, input: &str) {
    tokio::select! {
        () = run_input(shell, input) => {}
        _ = tokio::signal::ctrl_c() => eprintln!("cancelled"),
    }
}

/// Runs each statement of `input`, stopping at the first error (later statements may depend on
/// the failed one).
async fn run_input(shell: &Shell, input: &str) {
    let statements = match datafusion_rollout::split_statements(input) {
        Ok(statements) => statements,
        Err(e) => {
            eprintln!("error: {e}");
            return;
        }
    };
    for statement in &statements {
        if let Err(failure) = shell.run_one(&statement.text, statement.line, true).await {
            eprintln!("error: {failure}");
            return;
        }
    }
}

async fn meta_command(shell: &mut Shell, input: &str) -> Next {
    let mut words = input.split_whitespace();
    let command = words.next().unwrap_or_default();
    let argument = words.next();
    match command {
        "\\q" | "\\quit" => return Next::Quit,
        "\\?" | "\\h" | "\\help" => println!("{HELP}"),
        "\\d" => {
            for sql in ["SHOW DATASETS", LIST_TABLES] {
                if let Err(failure) = shell.run_one(sql, 1, true).await {
                    eprintln!("error: {failure}");
                }
            }
        }
        "\\timing" => {
            shell.timing = match argument {
                Some("on") => true,
                Some("off") => false,
                None => !shell.timing,
                Some(other) => {
                    eprintln!("error: \\timing takes 'on' or 'off', not '{other}'");
                    return Next::Continue;
                }
            };
            println!("Timing is {}.", if shell.timing { "on" } else { "off" });
        }
        other => eprintln!("error: unknown command '{other}'; \\? lists the commands"),
    }
    Next::Continue
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
