//! `rollout`: the SQL shell for datafusion-rollout.
//!
//! ```text
//! rollout                               # REPL on ./rollout_store (or $ROLLOUT_STORE)
//! rollout -c "SHOW DATASETS"            # run, print, exit
//! rollout -f checks.sql --format csv    # a script; stops at the first failure
//! rollout -f - < checks.sql             # the same, from standard input
//! rollout watch --interval 5m           # CHECK ROLLOUTS every five minutes
//! rollout demo                          # a guided rollout on generated data
//! ```
//!
//! Exit codes: 0 success, 1 a failed `ASSERT` or a `CHECK` with a fail, 2 any other error.

mod demo;
mod meta;
mod outcome;
mod print;
mod progress;
mod remote;
mod repl;
mod report;
mod runner;
mod script;
mod serve;
mod shell;
mod watch;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use datafusion_rollout::{Consistency, ErrorKind, RolloutContext, RolloutOptions, Secret};

use crate::outcome::Failure;
use crate::print::{OutputFormat, PrintOptions};
use crate::remote::{Login, Remote, TlsFiles};
use crate::runner::{ScriptSource, run_each, run_script};
use crate::shell::{Backend, Shell};

/// SQL shell for incremental dataset rollouts on Apache DataFusion.
///
/// Without -c or -f, opens an interactive shell (or runs the script piped on standard input).
/// Exit codes: 0 success, 1 a failed ASSERT or a CHECK with a fail, 2 any other error.
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

    /// Log in as this user on a store with users; the password comes from ROLLOUT_PASSWORD,
    /// else a prompt. A token in ROLLOUT_TOKEN logs in without a password.
    #[arg(long, env = "ROLLOUT_USER", value_name = "NAME")]
    user: Option<String>,

    /// Run statements on `rollout serve` instead of a local store: grpc://host:port, or
    /// grpc+tls://host:port. Log in with --user (or ROLLOUT_TOKEN).
    #[arg(long, env = "ROLLOUT_SERVER", value_name = "URL")]
    server: Option<String>,

    /// Run queries on an Apache DataFusion Ballista cluster (df://host:port, its scheduler)
    /// started with `rollout-scheduler` and `rollout-executor` on the same store. Aliases
    /// still resolve here, per consumer.
    #[arg(
        long,
        env = "ROLLOUT_CLUSTER",
        value_name = "URL",
        conflicts_with = "server"
    )]
    cluster: Option<String>,

    /// A PEM CA certificate to trust for a grpc+tls:// server (besides the system's roots).
    #[arg(long, env = "ROLLOUT_TLS_CA", value_name = "FILE", requires = "server")]
    tls_ca: Option<PathBuf>,

    /// A PEM client certificate to present to a grpc+tls:// server that requires one
    /// (`rollout serve --tls-client-ca`).
    #[arg(
        long,
        env = "ROLLOUT_TLS_CLIENT_CERT",
        value_name = "FILE",
        requires_all = ["server", "tls_client_key"]
    )]
    tls_client_cert: Option<PathBuf>,

    /// The PEM private key of --tls-client-cert.
    #[arg(
        long,
        env = "ROLLOUT_TLS_CLIENT_KEY",
        value_name = "FILE",
        requires = "tls_client_cert"
    )]
    tls_client_key: Option<PathBuf>,

    /// Output format of results.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table, global = true)]
    format: OutputFormat,

    /// No banner, row counts or confirmations; only results and errors.
    #[arg(short, long, global = true)]
    quiet: bool,

    /// Rows shown at most in the table and markdown formats ('inf' for all)
    /// [default: 40 in the shell, all in -c/-f].
    #[arg(long, value_name = "N|inf", value_parser = |s: &str| meta::parse_maxrows(s).map(MaxRows))]
    maxrows: Option<MaxRows>,

    /// How NULL appears in the table, expanded and markdown formats.
    #[arg(long, value_name = "TEXT", default_value = "NULL")]
    null: String,

    /// Keep running a -c/-f script after a failing statement; the exit code is that of the
    /// most severe failure.
    #[arg(long)]
    continue_on_error: bool,

    /// A CHECK with a warn fails too (exit code 1) in -c/-f mode.
    #[arg(long, global = true)]
    fail_on_warn: bool,

    #[command(subcommand)]
    command: Option<Command>,
}

/// `--maxrows`: a count, or `None` for all rows.
#[derive(Debug, Clone, Copy)]
struct MaxRows(Option<usize>);

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate demo data and walk through a canary rollout and a rollback.
    Demo {
        /// Folder for the demo's data and store; recreated if an earlier demo made it.
        #[arg(long, default_value = "./rollout_demo")]
        dir: PathBuf,
    },
    /// Serve the store over Arrow Flight SQL: every query and statement runs as the user who
    /// logged in (handshake with user and password, or an API token as the bearer), and the
    /// controller runs every --controller-interval. With --http, /metrics (Prometheus) and
    /// /healthz too. Stops on Ctrl-C or SIGTERM.
    Serve(serve::ServeArgs),
    /// Write a dataset's dashboard page as one self-contained HTML file (styles inlined,
    /// charts as SVG, no script, nothing fetched): its rollout, live guards, reads, drift,
    /// history with the checks that decided each change, and versions.
    Report {
        /// The dataset.
        dataset: String,
        /// The file to write (`-` for standard output).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
    },
    /// Run the controller every interval: evaluate each AUTO rollout's live guards, advance
    /// or roll back, and print what each round decided, until Ctrl-C.
    Watch {
        /// Time between rounds: 30s, 5m, 1h, ...
        #[arg(long, default_value = "60s", value_parser = watch::parse_interval)]
        interval: Duration,
        /// Stop after this many rounds.
        #[arg(long, value_name = "N")]
        rounds: Option<usize>,
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
            failure.print_report();
            failure.exit_code()
        }
    }
}

async fn run(args: Args) -> Result<(), Failure> {
    if let Some(Command::Demo { dir }) = &args.command {
        let actor = os_user().unwrap_or_else(|| "demo".to_string());
        return demo::run(dir, args.format, Some(actor)).await;
    }

    if let Some(Command::Serve(serve)) = &args.command {
        return serve::run(&args.store, serve).await;
    }

    let backend = match &args.server {
        Some(url) => Backend::Remote(connect_to_server(url, &args).await?),
        None => Backend::Local(open_store(&args).await?),
    };
    let batch = !args.commands.is_empty() || !args.files.is_empty();
    let interactive = !batch && args.command.is_none() && std::io::stdin().is_terminal();
    let print = PrintOptions {
        format: args.format,
        expanded: false,
        maxrows: match args.maxrows {
            Some(MaxRows(maxrows)) => maxrows,
            None if interactive => Some(40),
            None => None,
        },
        null: args.null.clone(),
    };
    let mut shell = Shell::new(backend, print, args.quiet);
    shell.continue_on_error = args.continue_on_error;
    shell.fail_on_warn = args.fail_on_warn;

    if let Some(Command::Watch { interval, rounds }) = args.command {
        return watch::run(shell.context()?.clone(), interval, rounds).await;
    }

    if let Some(Command::Report { dataset, output }) = &args.command {
        return report::write(shell.context()?, dataset, output).await;
    }

    if batch {
        // With --continue-on-error every script runs; the exit code is the worst failure's.
        let scripts = args
            .commands
            .iter()
            .map(|c| Ok(("".to_string(), c.clone())))
            .chain(args.files.iter().map(read_script));
        let keep_going = shell.continue_on_error;
        let result = run_each(scripts, keep_going, async |script| match script {
            Ok((name, sql)) if name.is_empty() => {
                run_script(&mut shell, ScriptSource::Command, &sql).await
            }
            Ok((name, sql)) => run_script(&mut shell, ScriptSource::File(&name), &sql).await,
            Err(e) => Err(Failure::from_anyhow(&e)),
        })
        .await;
        // Stopped at a failure: it is the exit code, whatever flushing would say.
        if result.is_ok() || keep_going {
            shell.flush_output()?;
        }
        return result.map(|_| ());
    }

    if interactive {
        shell.interactive = true;
        repl::run(&mut shell).await?;
    } else {
        let (name, sql) = read_script(&PathBuf::from("-"))?;
        run_script(&mut shell, ScriptSource::File(&name), &sql).await?;
        shell.flush_output()?;
    }
    Ok(())
}

/// The local store of `--store`, logged in as `--user` (or with ROLLOUT_TOKEN) if given.
async fn open_store(args: &Args) -> Result<RolloutContext, Failure> {
    let token = secret_from_env("ROLLOUT_TOKEN");
    let logging_in = args.user.is_some() || token.is_some();
    let mut options = RolloutOptions {
        actor: os_user(),
        // A login reads as its user; otherwise as the OS user.
        consumer: args
            .consumer
            .clone()
            .or_else(|| if logging_in { None } else { os_user() }),
        cohort: args.cohort.clone(),
        user: args.user.clone(),
        password: secret_from_env("ROLLOUT_PASSWORD"),
        token,
        // A script reads one version of each dataset from start to end, even while a
        // controller advances a stage under it (SET rollout.consistency = 'statement' opts out).
        consistency: if args.files.is_empty() {
            Consistency::Statement
        } else {
            Consistency::Session
        },
        state_hook: match &args.cluster {
            Some(cluster) => Some(
                rollout_cluster::cluster_hook(cluster)
                    .map_err(|e| Failure::error(format!("--cluster: {e}")))?,
            ),
            None => None,
        },
        ..RolloutOptions::default()
    };
    let ctx = match RolloutContext::open_with(&args.store, options.clone()).await {
        // The store wants a password that the environment did not give: ask for it.
        Err(e)
            if e.kind() == ErrorKind::Unauthenticated
                && options.user.is_some()
                && options.password.is_none()
                && options.token.is_none()
                && std::io::stdin().is_terminal() =>
        {
            let user = options.user.clone().unwrap_or_default();
            options.password = Some(prompt_password(&user)?);
            RolloutContext::open_with(&args.store, options).await?
        }
        other => other?,
    };
    Ok(ctx)
}

/// `--server`: logs in with `--user` and its password (ROLLOUT_PASSWORD, else a prompt), or
/// with ROLLOUT_TOKEN, or not at all (a server of an open store).
async fn connect_to_server(url: &str, args: &Args) -> Result<Remote, Failure> {
    if args.consumer.is_some() || args.cohort.is_some() {
        return Err(Failure::error(
            "--consumer and --cohort are local: on a server you read as who you log in as \
             (SET rollout.consumer needs IMPERSONATE)",
        ));
    }
    let login = match (&args.user, secret_from_env("ROLLOUT_TOKEN")) {
        (Some(user), _) => {
            let password = match secret_from_env("ROLLOUT_PASSWORD") {
                Some(password) => password.expose().to_string(),
                None if std::io::stdin().is_terminal() => {
                    prompt_password(user)?.expose().to_string()
                }
                None => {
                    return Err(Failure::error(format!(
                        "no password for {user}: set ROLLOUT_PASSWORD or run in a terminal"
                    )));
                }
            };
            Login::Password {
                user: user.clone(),
                password,
            }
        }
        (None, Some(token)) => Login::Token(token.expose().to_string()),
        (None, None) => Login::Anonymous,
    };
    let tls = TlsFiles {
        ca: args.tls_ca.clone(),
        client: args
            .tls_client_cert
            .clone()
            .zip(args.tls_client_key.clone()),
    };
    Remote::connect(url, login, &tls).await
}

/// `user`'s password, asked for on the terminal without echo.
fn prompt_password(user: &str) -> Result<Secret, Failure> {
    rpassword::prompt_password(format!("password for {user}: "))
        .map(Secret::new)
        .map_err(|e| Failure::from_anyhow(&anyhow::anyhow!("reading the password: {e}")))
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

/// A secret from the environment (empty counts as unset).
fn secret_from_env(name: &str) -> Option<Secret> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}
