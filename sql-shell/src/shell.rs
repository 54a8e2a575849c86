//! Running statements on a [`RolloutContext`] (or, with `--server`, on `rollout serve`) and
//! printing their results.
//!
//! Batch mode (`-c`, `-f`, a piped script), the rc file, `\i` and the REPL share this code;
//! they differ in what they print around results. Scripts, meta commands and what a failure
//! does are the business of the modules above this one (`runner`, `meta`): the shell knows
//! statements only.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::{Array, AsArray, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::joins::{CrossJoinExec, NestedLoopJoinExec};
use datafusion::physical_plan::{ExecutionPlan, collect};
use datafusion_rollout::contract::{CheckCounts, CheckReport};
use datafusion_rollout::{Error, RolloutContext};

use crate::remote::Remote;
use tokio::sync::watch;

use crate::outcome::Failure;
use crate::print::{OutputFormat, PrintOptions, write_batches};
use crate::progress::Progress;

/// The result of one statement, collected.
pub struct StatementOutput {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub elapsed: Duration,
    /// How the checks the statement ran ended (`CHECK`, or those that gated a registration
    /// or a promotion): what its exit code is decided from.
    pub checks: Option<CheckCounts>,
}

/// Where statements run.
pub enum Backend {
    /// A store opened in this process.
    Local(RolloutContext),
    /// `rollout serve`, over Flight SQL.
    Remote(Remote),
}

/// Where results go: standard output, or the file of `\o`.
enum Sink {
    Stdout,
    File(PathBuf, BufWriter<File>),
}

/// An open store (or a server) plus the user's preferences.
pub struct Shell {
    backend: Backend,
    pub print: PrintOptions,
    pub quiet: bool,
    pub timing: bool,
    /// The REPL: footers, `OK`, Ctrl-C cancels the statement instead of the process.
    pub interactive: bool,
    pub continue_on_error: bool,
    pub fail_on_warn: bool,
    sink: Sink,
    /// On a server: `rollout.consumer` and `rollout.cohort` as it last said (for the prompt).
    remote_who: Who,
}

/// Whom reads resolve for: `rollout.consumer` and `rollout.cohort`.
#[derive(Debug, Default, Clone)]
pub struct Who {
    pub consumer: Option<String>,
    pub cohort: Option<String>,
}

impl Shell {
    pub fn new(backend: Backend, print: PrintOptions, quiet: bool) -> Self {
        Shell {
            backend,
            print,
            quiet,
            timing: false,
            interactive: false,
            continue_on_error: false,
            fail_on_warn: false,
            sink: Sink::Stdout,
            remote_who: Who::default(),
        }
    }

    /// Whom reads resolve for in this session (on a server: as it last said).
    pub fn who(&self) -> Who {
        match &self.backend {
            Backend::Local(ctx) => {
                let settings = ctx.settings();
                Who {
                    consumer: settings.consumer,
                    cohort: settings.cohort,
                }
            }
            Backend::Remote(_) => self.remote_who.clone(),
        }
    }

    /// Sets (`Some(value)`), resets (`Some(None)`) or shows (`None`) `rollout.<key>`
    /// (`consumer` or `cohort`); its value after that. On a server this is its `SET`, `RESET` and
    /// `SHOW` (which it refuses without `IMPERSONATE`).
    pub async fn rollout_setting(
        &mut self,
        key: &str,
        change: Option<Option<&str>>,
    ) -> Result<Option<String>, Failure> {
        if let Backend::Local(ctx) = &self.backend {
            match (key, change) {
                ("consumer", Some(value)) => ctx.set_consumer(value)?,
                ("cohort", Some(value)) => ctx.set_cohort(value)?,
                _ => {}
            }
            let who = self.who();
            return Ok(if key == "cohort" {
                who.cohort
            } else {
                who.consumer
            });
        }
        match change {
            Some(Some(value)) => {
                let sql = format!("SET rollout.{key} = '{}'", value.replace('\'', "''"));
                self.execute(&sql, 1).await?;
            }
            Some(None) => {
                self.execute(&format!("RESET rollout.{key}"), 1).await?;
            }
            None => {}
        }
        let shown = self.execute(&format!("SHOW rollout.{key}"), 1).await?;
        let value = shown
            .batches
            .iter()
            .filter(|b| b.num_rows() > 0)
            .find_map(|b| b.column_by_name("value"))
            .and_then(|c| {
                let text = cast(c, &DataType::Utf8).ok()?;
                let text = text.as_string::<i32>();
                text.is_valid(0).then(|| text.value(0).to_string())
            });
        if key == "cohort" {
            self.remote_who.cohort = value.clone();
        } else {
            self.remote_who.consumer = value.clone();
        }
        Ok(value)
    }

    /// The local session; meta commands that read the store need one.
    pub fn context(&self) -> Result<&RolloutContext, Failure> {
        match &self.backend {
            Backend::Local(ctx) => Ok(ctx),
            Backend::Remote(remote) => Err(Failure::error(format!(
                "this needs a local store (--store); against the server {} use SQL: SHOW \
                 DATASETS, SHOW ROLLOUT d, SET rollout.consumer = '...'",
                remote.url()
            ))),
        }
    }

    /// The server, when the shell runs statements on one.
    pub fn remote(&self) -> Option<&Remote> {
        match &self.backend {
            Backend::Local(_) => None,
            Backend::Remote(remote) => Some(remote),
        }
    }

    /// The store's URL, or the server's.
    pub fn location(&self) -> String {
        match &self.backend {
            Backend::Local(ctx) => ctx.store_url(),
            Backend::Remote(remote) => remote.url().to_string(),
        }
    }

    /// Sends results to `path` (`\o file`), or back to standard output (`None`).
    pub fn set_output(&mut self, path: Option<PathBuf>) -> anyhow::Result<()> {
        self.flush_output()?;
        self.sink = match path {
            None => Sink::Stdout,
            Some(path) => {
                let file = File::create(&path)
                    .map_err(|e| anyhow::anyhow!("cannot write to {}: {e}", path.display()))?;
                Sink::File(path, BufWriter::new(file))
            }
        };
        Ok(())
    }

    /// The file results go to, if not standard output.
    pub fn output_file(&self) -> Option<&PathBuf> {
        match &self.sink {
            Sink::Stdout => None,
            Sink::File(path, _) => Some(path),
        }
    }

    pub fn flush_output(&mut self) -> std::io::Result<()> {
        match &mut self.sink {
            Sink::Stdout => std::io::stdout().flush(),
            Sink::File(_, file) => file.flush(),
        }
    }

    /// Writes a line of text where results go (titles of `\d name`, documentation).
    pub fn write_text(&mut self, text: &str) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        let out: &mut dyn Write = match &mut self.sink {
            Sink::Stdout => &mut stdout,
            Sink::File(_, file) => file,
        };
        writeln!(out, "{text}")?;
        out.flush()?;
        Ok(())
    }

    /// Runs exactly one statement and collects its result. `line` is where the statement
    /// starts in its script, so that a syntax error's position is the script's, not the
    /// statement's. In the REPL, Ctrl-C cancels the statement; a statement that runs longer
    /// than a moment draws its progress on standard error when that is a terminal.
    pub async fn execute(&self, sql: &str, line: usize) -> Result<StatementOutput, Failure> {
        let ctx = match &self.backend {
            Backend::Local(ctx) => ctx,
            Backend::Remote(remote) => return self.execute_remote(remote, sql).await,
        };
        let result = self.execute_unflushed(ctx, sql, line).await;
        // The statement's reads (and metrics) reach the store now, not only on the timer. A
        // failed flush keeps them buffered for the next one.
        let _ = ctx.flush_events().await;
        result
    }

    /// On the server: Ctrl-C in the REPL drops the call (the server cancels it).
    async fn execute_remote(&self, remote: &Remote, sql: &str) -> Result<StatementOutput, Failure> {
        let start = Instant::now();
        let cancel = async {
            if self.interactive {
                let _ = tokio::signal::ctrl_c().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let (schema, batches, checks) = tokio::select! {
            result = remote.execute(sql) => result?,
            () = cancel => return Err(Failure::error("cancelled")),
        };
        Ok(StatementOutput {
            schema,
            batches,
            elapsed: start.elapsed(),
            checks,
        })
    }

    async fn execute_unflushed(
        &self,
        ctx: &RolloutContext,
        sql: &str,
        line: usize,
    ) -> Result<StatementOutput, Failure> {
        let start = Instant::now();
        let (plan_tx, plan_rx) = watch::channel(None);
        let task = tokio::spawn(run_statement(ctx.clone(), sql.to_string(), plan_tx));
        let abort = task.abort_handle();
        let mut progress = Progress::new(std::io::stderr().is_terminal(), start);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        let cancel = async {
            if self.interactive {
                // Only the REPL traps Ctrl-C: in batch mode it ends the process as usual.
                let _ = tokio::signal::ctrl_c().await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::pin!(task, cancel);
        let result = loop {
            tokio::select! {
                joined = &mut task => break joined,
                () = &mut cancel => {
                    abort.abort();
                    progress.clear();
                    return Err(Failure::error("cancelled"));
                }
                _ = tick.tick() => progress.draw(plan_rx.borrow().as_ref()),
            }
        };
        progress.clear();
        let (schema, batches, checks) = match result {
            Ok(Ok(output)) => output,
            Ok(Err(Error::Parse { message })) if line > 1 => {
                // Parsing is side-effect free: parse again, shifted down to where the
                // statement sits in the script, for an error that points into the file.
                let shifted = format!("{}{sql}", "\n".repeat(line - 1));
                let error = ctx
                    .parse(&shifted)
                    .err()
                    .unwrap_or(Error::Parse { message });
                return Err(Failure::from_rollout(&error));
            }
            Ok(Err(error)) => return Err(Failure::from_rollout(&error)),
            Err(join) => return Err(Failure::error(format!("the statement stopped: {join}"))),
        };
        Ok(StatementOutput {
            schema,
            batches,
            elapsed: start.elapsed(),
            checks,
        })
    }

    /// Prints a statement's result. Statements without columns (DDL) print nothing in batch
    /// mode and `OK` in the REPL; the REPL adds the row count and, with `\timing`, the time.
    /// A result cut by `--maxrows` always says so.
    pub fn print(&mut self, output: &StatementOutput) -> anyhow::Result<()> {
        let mut stdout = std::io::stdout().lock();
        let out: &mut dyn Write = match &mut self.sink {
            Sink::Stdout => &mut stdout,
            Sink::File(_, file) => file,
        };
        let chatty = self.interactive && !self.quiet;
        if output.schema.fields().is_empty() {
            if chatty {
                writeln!(out, "OK")?;
            }
        } else {
            let printed = write_batches(out, &self.print, &output.schema, &output.batches)?;
            let rows = |n: usize| format!("{n} row{}", if n == 1 { "" } else { "s" });
            if printed.shown < printed.total {
                writeln!(out, "{} of {} shown", printed.shown, rows(printed.total))?;
            } else if chatty && self.print.format == OutputFormat::Table {
                writeln!(out, "{}", rows(printed.total))?;
            }
        }
        if self.timing {
            writeln!(out, "Time: {:.3} ms", output.elapsed.as_secs_f64() * 1000.0)?;
        }
        out.flush()?;
        Ok(())
    }

    /// Runs one statement (starting at `line` of its script) and prints its result. A
    /// statement whose checks failed (`CHECK`, a registration its contract rejected) fails,
    /// after its result is printed.
    pub async fn run_one(&mut self, sql: &str, line: usize) -> Result<(), Failure> {
        let output = self.execute(sql, line).await?;
        self.print(&output)?;
        if let Some(counts) = output.checks {
            if self.interactive && !self.quiet && counts != CheckCounts::default() {
                println!(
                    "checks: {} pass, {} warn, {} fail, {} error",
                    counts.pass, counts.warn, counts.fail, counts.error
                );
            }
            let statement = sql.lines().next().unwrap_or_default().trim();
            let checks = |n: usize, what: &str| {
                let s = if n == 1 { "" } else { "s" };
                format!("{statement}: {n} check{s} {what}")
            };
            if counts.error > 0 {
                return Err(Failure::error(checks(counts.error, "could not run")));
            }
            if counts.fail > 0 {
                return Err(Failure::data_check(checks(counts.fail, "failed")));
            }
            if counts.warn > 0 && self.fail_on_warn {
                return Err(Failure::data_check(format!(
                    "{} (--fail-on-warn)",
                    checks(counts.warn, "warned")
                )));
            }
        }
        Ok(())
    }
}

/// Plans and runs `sql` on the runtime, publishing the physical plan for the progress line.
async fn run_statement(
    ctx: RolloutContext,
    sql: String,
    plan_tx: watch::Sender<Option<Arc<dyn ExecutionPlan>>>,
) -> Result<(SchemaRef, Vec<RecordBatch>, Option<CheckCounts>), Error> {
    let outcome = ctx.run(&sql).await?;
    let report = outcome.verdict().map(CheckReport::counts);
    let df = outcome.into_frame(ctx.session())?;
    let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
    let task_ctx = Arc::new(df.task_ctx());
    let plan = cooperative(df.create_physical_plan().await?)?;
    plan_tx.send_replace(Some(Arc::clone(&plan)));
    let batches = collect(plan, task_ctx).await?;
    Ok((schema, batches, report))
}

/// `plan` with the joins that emit many batches per input batch (cross and nested loop joins)
/// made to yield to the runtime now and then. DataFusion 55 does not do this for them, and a
/// task that never yields can be neither cancelled (Ctrl-C drops it at its next yield) nor
/// interrupted by the timer that draws progress.
fn cooperative(plan: Arc<dyn ExecutionPlan>) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
    plan.transform_up(|node| {
        if node.is::<CrossJoinExec>() || node.is::<NestedLoopJoinExec>() {
            Ok(Transformed::yes(
                Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>
            ))
        } else {
            Ok(Transformed::no(node))
        }
    })
    .map(|t| t.data)
}
