//! TPC-H Q1/Q6 through the alias and over the Parquet files directly, in one process,
//! alternating query by query.
//!
//! The ≤ 1.02 target of the alias is smaller than how much a whole process's median moves from
//! the next on a shared machine (the CPU's frequency, the page cache, the other tenants): two
//! sides in separate processes differ by several percent with nothing changed. Here each
//! repetition runs both sides back to back (which one first alternates), so both see the same
//! moment of the machine, and planning and execution are timed apart: the alias can only cost
//! something in planning (resolution, the pinned file list, statistics), since the physical
//! plans are compared and must be identical.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::bail;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{ExecutionPlan, collect, displayable};
use datafusion::prelude::DataFrame;
use serde_json::{Value, json};

use crate::Side;
use crate::queries::{Bench, Ctx, Q1, Q6, rows_of};

/// One side's timings: planning (SQL to physical plan) and execution, per repetition.
#[derive(Default)]
struct Times {
    plan: Vec<f64>,
    exec: Vec<f64>,
}

impl Times {
    fn json(&self) -> Value {
        let total: Vec<f64> = self
            .plan
            .iter()
            .zip(&self.exec)
            .map(|(p, e)| p + e)
            .collect();
        json!({ "plan": self.plan, "exec": self.exec, "times": total })
    }
}

async fn plan(df: DataFrame) -> anyhow::Result<(Arc<dyn ExecutionPlan>, Arc<TaskContext>)> {
    let task = Arc::new(df.task_ctx());
    Ok((df.create_physical_plan().await?, task))
}

async fn timed(times: &mut Times, ctx: &Ctx, sql: &str) -> anyhow::Result<Vec<RecordBatch>> {
    let t = Instant::now();
    let (physical, task) = plan(ctx.frame(sql).await?).await?;
    times.plan.push(t.elapsed().as_secs_f64());
    let t = Instant::now();
    let batches = collect(physical, task).await?;
    times.exec.push(t.elapsed().as_secs_f64());
    Ok(batches)
}

/// What the alias (reads recorded, the default) is paired with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Versus {
    /// DataFusion reading the same Parquet files directly.
    Datafusion,
    /// The alias with `rollout.record_reads = false`.
    Unrecorded,
}

/// `plan` without the reads ledger's pass-through `RecordReadsExec` lines (their subtrees
/// moved up a level): what must equal the direct scan's plan.
fn without_recording(plan: &str) -> String {
    let mut out = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for line in plan.lines() {
        let indent = line.len() - line.trim_start().len();
        open.retain(|&d| indent > d);
        if line.trim_start().starts_with("RecordReadsExec") {
            open.push(indent);
            continue;
        }
        let shift = 2 * open.len();
        out.push(format!(
            "{}{}",
            " ".repeat(indent.saturating_sub(shift)),
            line.trim_start()
        ));
    }
    out.join("\n")
}

/// Plans `bench` `reps` times on `side` (after one untimed plan); the median time.
pub async fn plan_only(bench: Bench, dir: &Path, side: Side, reps: usize) -> anyhow::Result<Value> {
    let sql = tpch_sql(bench)?;
    if reps == 0 {
        bail!("--reps must be at least 1");
    }
    let ctx = Ctx::open(side, dir).await?;
    plan(ctx.frame(sql).await?).await?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps {
        let t = Instant::now();
        plan(ctx.frame(sql).await?).await?;
        times.push(t.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    Ok(
        json!({ "bench": format!("{bench:?}").to_lowercase(), "reps": reps, "median": times[reps / 2] }),
    )
}

fn tpch_sql(bench: Bench) -> anyhow::Result<&'static str> {
    match bench {
        Bench::Q1 => Ok(Q1),
        Bench::Q6 => Ok(Q6),
        other => bail!("{other:?} is not a TPC-H query: paired runs take q1 or q6"),
    }
}

pub async fn run(
    bench: Bench,
    dir: &Path,
    reps: usize,
    warmup: usize,
    versus: Versus,
) -> anyhow::Result<Value> {
    let sql = tpch_sql(bench)?;
    if reps == 0 {
        bail!("--reps must be at least 1");
    }
    let ours = Ctx::open(Side::Ours, dir).await?;
    // What resolving and recording cost, with the scan split as DataFusion splits it (the
    // split by rows is a speed-up of its own, measured apart).
    ours.frame("SET rollout.balance_scans = false").await?;
    let plain = match versus {
        Versus::Datafusion => Ctx::open(Side::Datafusion, dir).await?,
        Versus::Unrecorded => {
            let other = Ctx::open(Side::Ours, dir).await?;
            other.frame("SET rollout.record_reads = false").await?;
            other.frame("SET rollout.balance_scans = false").await?;
            other
        }
    };

    // The claim under test: through the alias the physical plan is that of the direct scan.
    let (mine, _) = plan(ours.frame(sql).await?).await?;
    let (theirs, _) = plan(plain.frame(sql).await?).await?;
    let mine = without_recording(&displayable(mine.as_ref()).indent(true).to_string());
    let theirs = without_recording(&displayable(theirs.as_ref()).indent(true).to_string());
    if mine != theirs {
        bail!("the physical plans differ:\n-- through the alias\n{mine}\n-- direct\n{theirs}");
    }

    let mut times = [Times::default(), Times::default()];
    let mut scratch = Times::default();
    for _ in 0..warmup {
        timed(&mut scratch, &ours, sql).await?;
        timed(&mut scratch, &plain, sql).await?;
    }
    let mut rows: [Vec<RecordBatch>; 2] = Default::default();
    let sides = [&ours, &plain];
    for rep in 0..reps {
        // Alternate which side runs first, so neither always follows the other.
        let order = if rep % 2 == 0 { [0, 1] } else { [1, 0] };
        for i in order {
            rows[i] = timed(&mut times[i], sides[i], sql).await?;
        }
    }
    Ok(json!({
        "bench": format!("{bench:?}").to_lowercase(),
        "ours": times[0].json(),
        "datafusion": times[1].json(),
        "same_rows": rows_of(&rows[0])? == rows_of(&rows[1])?,
    }))
}
