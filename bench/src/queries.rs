//! The timed queries: TPC-H Q1/Q6, the contract CHECK, a bare scan, exact drift.

use std::path::Path;
use std::time::Instant;

use anyhow::bail;
use clap::ValueEnum;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{DataFrame, ParquetReadOptions, SessionContext};
use datafusion_rollout::{RolloutContext, RolloutOptions};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::Side;
use crate::tpch::{lineitem_dir, path_str, store_dir};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Bench {
    /// TPC-H Q1 (pricing summary report).
    Q1,
    /// TPC-H Q6 (forecasting revenue change).
    Q6,
    /// `CHECK lineitem VERSION 'v1'`: the 11-check contract (ours only).
    Check,
    /// The same CHECK with `rollout.check_statistics` off: every rule reads its rows, none is
    /// settled by the files' statistics (ours only).
    CheckScanned,
    /// The contract's columns read and dropped: the floor of any CHECK (ours: through the
    /// alias, its partitions split by rows; DataFusion: a direct read, split by bytes).
    Scan,
    /// drift_summary (KS, Wasserstein, PSI, ...) of l_extendedprice, v1 vs v2 (ours only).
    Drift,
    /// The lines of one order: a small query whose time is mostly per-query overhead
    /// (planning, and on a cluster the scheduler's job).
    Point,
}

/// TPC-H Q1 with the usual substitution (DELTA = 90 days), the date folded to a literal so
/// DataFusion and DuckDB read the same text.
pub const Q1: &str = "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, \
    sum(l_extendedprice) AS sum_base_price, \
    sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price, \
    sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge, \
    avg(l_quantity) AS avg_qty, avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc, \
    count(*) AS count_order \
    FROM lineitem WHERE l_shipdate <= DATE '1998-09-02' \
    GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus";

/// TPC-H Q6 with the validation substitutions.
pub const Q6: &str = "SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem \
    WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01' \
    AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24";

const CHECK: &str = "CHECK lineitem VERSION 'v1'";

/// One order's lines (row groups pruned by their statistics).
const POINT: &str = "SELECT l_linenumber, l_quantity FROM lineitem WHERE l_orderkey = 7 \
    ORDER BY l_linenumber";

/// The columns the contract reads.
const SCAN: &str = "SELECT l_orderkey, l_linenumber, l_quantity, l_extendedprice, l_discount, l_tax, \
    l_shipdate, l_shipmode, l_comment FROM lineitem";

const DRIFT: &str = "SELECT drift_summary(p, c) AS s FROM ( \
    SELECT l_extendedprice AS p, false AS c FROM lineitem VERSION AS OF 'v1' \
    UNION ALL SELECT l_extendedprice AS p, true AS c FROM lineitem VERSION AS OF 'v2')";

/// One side's session: ours over the store, or plain DataFusion over the same files.
pub(crate) enum Ctx {
    Ours(RolloutContext),
    Plain(SessionContext),
}

impl Ctx {
    /// Opens `side` on the data `rollout-bench gen` made under `dir`; refuses a folder without
    /// it rather than creating an empty store there.
    pub(crate) async fn open(side: Side, dir: &Path) -> anyhow::Result<Ctx> {
        Self::open_on(side, dir, None).await
    }

    /// [`Self::open`], our side planning for the Ballista cluster at `cluster` when given.
    pub(crate) async fn open_on(
        side: Side,
        dir: &Path,
        cluster: Option<&str>,
    ) -> anyhow::Result<Ctx> {
        let ready = store_dir(dir).join("READY");
        if !lineitem_dir(dir).join("_SUCCESS").exists() || !ready.exists() {
            bail!(
                "no benchmark data under {} (run `rollout-bench gen --dir {}` first)",
                dir.display(),
                dir.display()
            );
        }
        Ok(match side {
            Side::Ours => {
                let options = RolloutOptions {
                    state_hook: cluster.map(rollout_cluster::cluster_hook).transpose()?,
                    ..RolloutOptions::default()
                };
                Ctx::Ours(RolloutContext::open_with(&path_str(&store_dir(dir))?, options).await?)
            }
            Side::Datafusion if cluster.is_some() => bail!("--cluster is for --side ours"),
            Side::Datafusion => {
                let ctx = SessionContext::new();
                ctx.register_parquet(
                    "lineitem",
                    format!("{}/", path_str(&lineitem_dir(dir))?),
                    ParquetReadOptions::default(),
                )
                .await?;
                Ctx::Plain(ctx)
            }
        })
    }

    /// The planned query, not yet run.
    pub(crate) async fn frame(&self, sql: &str) -> anyhow::Result<DataFrame> {
        Ok(match self {
            Ctx::Ours(rc) => rc.sql(sql).await?,
            Ctx::Plain(ctx) => ctx.sql(sql).await?,
        })
    }

    async fn run(&self, sql: &str, stream: bool) -> anyhow::Result<Vec<RecordBatch>> {
        let df = self.frame(sql).await?;
        if stream {
            // Bare scan: decode every batch, keep none.
            let mut s = df.execute_stream().await?;
            let mut rows = 0;
            while let Some(b) = s.next().await {
                rows += b?.num_rows();
            }
            let count = datafusion::arrow::array::UInt64Array::from(vec![rows as u64]);
            return Ok(vec![RecordBatch::try_from_iter([(
                "rows",
                std::sync::Arc::new(count) as _,
            )])?]);
        }
        Ok(df.collect().await?)
    }
}

pub async fn run(
    bench: Bench,
    dir: &Path,
    side: Side,
    reps: usize,
    warmup: usize,
    cluster: Option<&str>,
) -> anyhow::Result<Value> {
    let t = Instant::now();
    let ctx = Ctx::open_on(side, dir, cluster).await?;
    let open_seconds = t.elapsed().as_secs_f64();
    let (sql, stream) = match (bench, side) {
        (Bench::Q1, _) => (Q1, false),
        (Bench::Q6, _) => (Q6, false),
        (Bench::Point, _) => (POINT, false),
        (Bench::Check | Bench::CheckScanned, Side::Ours) => (CHECK, false),
        (Bench::Scan, _) => (SCAN, true),
        (Bench::Drift, Side::Ours) => (DRIFT, false),
        (b, s) => bail!("{b:?} has no {s:?} side"),
    };
    if bench == Bench::CheckScanned {
        ctx.run("SET rollout.check_statistics = false", false)
            .await?;
    }
    for _ in 0..warmup {
        ctx.run(sql, stream).await?;
    }
    let mut times = Vec::with_capacity(reps);
    let mut batches = Vec::new();
    for _ in 0..reps {
        let t = Instant::now();
        batches = ctx.run(sql, stream).await?;
        times.push(t.elapsed().as_secs_f64());
    }
    Ok(json!({
        "bench": format!("{bench:?}").to_lowercase(),
        "side": format!("{side:?}").to_lowercase(),
        "cluster": cluster,
        "open_seconds": open_seconds,
        "times": times,
        "rows": rows_of(&batches)?,
    }))
}

/// Every row as a list of displayed values (small results only).
pub(crate) fn rows_of(batches: &[RecordBatch]) -> anyhow::Result<Vec<Vec<String>>> {
    let fmt = FormatOptions::default();
    let mut rows = Vec::new();
    for b in batches {
        let formatters = b
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &fmt))
            .collect::<Result<Vec<_>, _>>()?;
        for r in 0..b.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(r).to_string()).collect());
        }
    }
    Ok(rows)
}

/// `rollout-bench sql`: each statement timed `reps` times (after one warm-up), alternating.
pub async fn alternate_sql(dir: &Path, sql: &[String], reps: usize) -> anyhow::Result<Value> {
    if reps == 0 {
        bail!("--reps must be at least 1");
    }
    let ctx = Ctx::open(Side::Ours, dir).await?;
    let mut times = vec![Vec::with_capacity(reps); sql.len()];
    let mut answers = vec![String::new(); sql.len()];
    for round in 0..=reps {
        for (i, q) in sql.iter().enumerate() {
            let started = Instant::now();
            let batches = ctx.frame(q).await?.collect().await?;
            let elapsed = started.elapsed().as_secs_f64();
            answers[i] =
                datafusion::arrow::util::pretty::pretty_format_batches(&batches)?.to_string();
            if round > 0 {
                times[i].push(elapsed);
            }
        }
    }
    Ok(json!(
        sql.iter()
            .zip(&times)
            .zip(&answers)
            .map(|((q, t), a)| json!({"sql": q, "median_s": median(t), "times": t, "answer": a}))
            .collect::<Vec<_>>()
    ))
}

/// The median of `times` (the upper one of an even count); `times` must not be empty.
pub(crate) fn median(times: &[f64]) -> f64 {
    let mut t = times.to_vec();
    t.sort_by(f64::total_cmp);
    t[t.len() / 2]
}
