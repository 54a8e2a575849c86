//! `rollout`: the SQL shell for datafusion-rollout.
//!
//! ```text
//! rollout                               # REPL on ./rollout_store (or $ROLLOUT_STORE)
//! rollout -c "SHOW DATASETS"            # run, print, exit
//! rollout -f checks.sql --format csv    # a script; stops at the first failure
//! rollout demo                          # a guided rollout on generated data
//! ```
//!
//! Exit codes: 0 success, 1 a failed `ASSERT`, 2 any other error.

mod demo;
mod outcome;
mod print;
mod repl;
mod shell;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use datafusion_rollout::{RolloutContext, RolloutOptions};

use crate::outcome::Failure;
use crate::print::OutputFormat;
use crate::shell::{ScriptSource, Shell};

/// SQL shell for incremental dataset rollouts on Apache DataFusion.
///
/// Without -c or -f, opens an interactive shell (or runs the script piped on standard input).
/// Exit codes: 0 success, 1 a failed ASSERT, 2 any other error.
#[derive(Debug, Parser)]
#[command(name = "rollout", version, about)]
struct Args {
    /// Run this SQL (one or more statements) and exit; may be given several times.
    #[arg(short = 'c', long = "command", value_name = "SQL")]
    commands: Vec<String>,

    /// Run the statements of this file and exit ('-' reads standard input); may be repeated.
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    files: Vec<PathBuf>,

    /// The store: a local folder or an object store URL (s3://, gs://, az://, memory://).
    #[arg(long, env = "ROLLOUT_STORE", default_value = "./rollout_store")]
    store: String,

    /// Who is querying, for cohort and percentage resolution [default: the OS user].
    #[arg(long, value_name = "ID")]
    consumer: Option<String>,

    /// Join this cohort for the session.
    #[arg(long, value_name = "NAME")]
    cohort: Option<String>,

    /// Output format of results.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    format: OutputFormat,

    /// No banner, row counts or timing; only results and errors.
    #[arg(short, long, global = true)]
    quiet: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate demo data and walk through a canary rollout and a rollback.
    Demo {
        /// Folder for the demo's data and store; recreated if an earlier demo made it.
        #[arg(long, default_value = "./rollout_demo")]
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if failure.is_reported() {
                eprintln!("error: {failure}");
            }
            failure.exit_code()
        }
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    if let Some(Command::Demo { dir }) = &args.command {
        let actor = os_user().unwrap_or_else(|| "demo".to_string());
        return demo::run(dir, args.format, Some(actor)).await;
    }

    let options = RolloutOptions {
        actor: os_user(),
        consumer: args.consumer.clone().or_else(os_user),
        cohort: args.cohort.clone(),
        ..RolloutOptions::default()
    };
    let ctx = RolloutContext::open_with(&args.store, options).await?;
    let mut shell = Shell::new(ctx, args.format, args.quiet);

    if !args.commands.is_empty() || !args.files.is_empty() {
        for command in &args.commands {
            shell.run_script(ScriptSource::Command, command).await?;
        }
        for file in &args.files {
            let (name, sql) = read_script(file)?;
            shell.run_script(ScriptSource::File(&name), &sql).await?;
        }
        return Ok(());
    }

    if std::io::stdin().is_terminal() {
        repl::run(&mut shell).await?;
    } else {
        let (name, sql) = read_script(&PathBuf::from("-"))?;
        shell.run_script(ScriptSource::File(&name), &sql).await?;
    }
    Ok(())
}

/// A script's name for error messages, and its text.
fn read_script(path: &PathBuf) -> anyhow::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut sql = String::new();
        std::io::stdin()
            .read_to_string(&mut sql)
            .context("cannot read standard input")?;
        return Ok(("<stdin>".to_string(), sql));
    }
    let sql =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((path.display().to_string(), sql))
}

/// The OS user, the default consumer and the actor recorded in the history.
fn os_user() -> Option<String> {
    ["USER", "USERNAME"]
        .into_iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|user| !user.is_empty())
}
