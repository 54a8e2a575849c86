//! Running statements on a [`RolloutContext`] and printing their results.
//!
//! Batch mode (`-c`, `-f`, a piped script) and the REPL share this code; they differ only in
//! what they print around results and in what a failure does (stop with an exit code, or
//! report it and keep the session).

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion_rollout::{Error, RolloutContext, split_statements};

use crate::outcome::Failure;
use crate::print::{OutputFormat, write_batches};

/// The result of one statement, collected.
pub struct StatementOutput {
    pub schema: SchemaRef,
    pub batches: Vec<RecordBatch>,
    pub elapsed: Duration,
}

impl StatementOutput {
    pub fn row_count(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// An open store plus the user's output preferences.
pub struct Shell {
    ctx: RolloutContext,
    pub format: OutputFormat,
    pub quiet: bool,
    pub timing: bool,
}

/// Where a script came from, for error messages.
pub enum ScriptSource<'a> {
    /// A `-c` argument: errors are `error: <message>`.
    Command,
    /// A file (or `<stdin>`): errors are `error: <file>:<line>: <message>`.
    File(&'a str),
}

impl Shell {
    pub fn new(ctx: RolloutContext, format: OutputFormat, quiet: bool) -> Self {
        Shell {
            ctx,
            format,
            quiet,
            timing: false,
        }
    }

    pub fn context(&self) -> &RolloutContext {
        &self.ctx
    }

    /// Runs exactly one statement and collects its result. `line` is where the statement
    /// starts in its script, so that a syntax error's position is the script's, not the
    /// statement's.
    pub async fn execute(
        &self,
        sql: &str,
        line: usize,
    ) -> Result<StatementOutput, datafusion_rollout::Error> {
        let start = Instant::now();
        let df = match self.ctx.sql(sql).await {
            Ok(df) => df,
            Err(error @ Error::Parse { .. }) if line > 1 => {
                // Parsing is side-effect free: parse again, shifted down to where the
                // statement sits in the script, for an error that points into the file.
                let shifted = format!("{}{sql}", "\n".repeat(line - 1));
                return Err(self.ctx.parse(&shifted).err().unwrap_or(error));
            }
            Err(error) => return Err(error),
        };
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = df.collect().await?;
        Ok(StatementOutput {
            schema,
            batches,
            elapsed: start.elapsed(),
        })
    }

    /// Prints a statement's result. Statements without columns (DDL) print nothing in batch
    /// mode and `OK` in the REPL; the REPL adds the row count and, with `\timing`, the time.
    pub fn print(
        &self,
        out: &mut dyn Write,
        output: &StatementOutput,
        interactive: bool,
    ) -> anyhow::Result<()> {
        if output.schema.fields().is_empty() {
            if interactive && !self.quiet {
                writeln!(out, "OK")?;
            }
        } else {
            write_batches(out, self.format, &output.schema, &output.batches)?;
            if interactive && !self.quiet && self.format == OutputFormat::Table {
                let rows = output.row_count();
                writeln!(out, "{rows} row{}", if rows == 1 { "" } else { "s" })?;
            }
        }
        if interactive && self.timing {
            writeln!(out, "Time: {:.3} ms", output.elapsed.as_secs_f64() * 1000.0)?;
        }
        out.flush()?;
        Ok(())
    }

    /// Runs every statement of `sql` in order, printing results to stdout, and stops at the
    /// first failure, which names the file and the line where the failing statement starts.
    pub async fn run_script(&self, source: ScriptSource<'_>, sql: &str) -> Result<(), Failure> {
        let statements = split_statements(sql).map_err(|e| {
            let failure = Failure::from_rollout(&e);
            match source {
                ScriptSource::Command => failure,
                ScriptSource::File(name) => failure.with_location(name),
            }
        })?;
        for statement in &statements {
            if let Err(failure) = self.run_one(&statement.text, statement.line, false).await {
                return Err(match source {
                    ScriptSource::Command => failure,
                    ScriptSource::File(name) => {
                        failure.with_location(&format!("{name}:{}", statement.line))
                    }
                });
            }
        }
        Ok(())
    }

    /// Runs one statement (starting at `line` of its script) and prints its result to stdout.
    pub async fn run_one(&self, sql: &str, line: usize, interactive: bool) -> Result<(), Failure> {
        let output = self.execute(sql, line).await?;
        let mut stdout = std::io::stdout().lock();
        self.print(&mut stdout, &output, interactive)?;
        Ok(())
    }
}
