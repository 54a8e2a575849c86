//! Timing driver for `udfs/bench/compare.py`: runs drift and quality queries over the Parquet
//! files `<dir>/base.parquet` and `<dir>/cand.parquet` (column `v DOUBLE`, `s VARCHAR`) and
//! prints one JSON object per query: `{"query", "seconds", "value"}` (best of `runs`).
//!
//! `cargo run --release -p datafusion-rollout-udfs --example compare -- <dir> [runs]`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Instant;

use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};

/// (name, sql, scan): `scan = true` runs on a context that does not collect Parquet
/// statistics, so built-ins like `count` / `min` must read the data as ours do.
const QUERIES: &[(&str, &str, bool)] = &[
    (
        "drift_summary",
        "SELECT drift_summary(v, c) FROM pooled",
        false,
    ),
    (
        "ks+wasserstein+psi (3 aggregates)",
        "SELECT ks_pvalue(v, c), wasserstein_distance(v, c), psi(v, c) FROM pooled",
        false,
    ),
    ("ks_pvalue", "SELECT ks_pvalue(v, c) FROM pooled", false),
    (
        "null_count(v) [stats]",
        "SELECT null_count(v) FROM base",
        false,
    ),
    ("builtin count(v)", "SELECT count(v) FROM base", true),
    ("null_count(v)", "SELECT null_count(v) FROM base", true),
    ("builtin min(v)", "SELECT min(v) FROM base", true),
    ("nan_count(v)", "SELECT nan_count(v) FROM base", true),
    (
        "invalid_count_range(v,-3,3)",
        "SELECT invalid_count_range(v, -3, 3) FROM base",
        true,
    ),
    (
        "builtin max(length(s))",
        "SELECT max(character_length(s)) FROM base",
        true,
    ),
    ("max_length(s)", "SELECT max_length(s) FROM base", true),
    ("builtin count(s)", "SELECT count(s) FROM base", true),
    (
        "missing_count(s)",
        "SELECT missing_count(s) FROM base",
        true,
    ),
];

async fn context(dir: &str, collect_statistics: bool) -> SessionContext {
    let mut cfg = SessionConfig::new();
    cfg.options_mut().execution.collect_statistics = collect_statistics;
    let ctx = SessionContext::new_with_config(cfg);
    datafusion_rollout_udfs::register_all(&ctx).unwrap();
    for side in ["base", "cand"] {
        ctx.register_parquet(
            side,
            format!("{dir}/{side}.parquet"),
            ParquetReadOptions::default(),
        )
        .await
        .unwrap();
    }
    ctx.sql("CREATE VIEW pooled AS SELECT v, false AS c FROM base UNION ALL SELECT v, true AS c FROM cand")
        .await
        .unwrap();
    ctx
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = args.get(1).expect("usage: compare <dir> [runs]");
    let runs: usize = args.get(2).map(|r| r.parse().unwrap()).unwrap_or(3);
    let only: Option<&str> = args.get(3).map(String::as_str);
    let ctx_stats = context(dir, true).await;
    let ctx_scan = context(dir, false).await;
    for (name, sql, scan) in QUERIES {
        let ctx = if *scan { &ctx_scan } else { &ctx_stats };
        if only.is_some_and(|o| !name.contains(o)) {
            continue;
        }
        let mut best = f64::INFINITY;
        let mut value = String::new();
        for _ in 0..runs {
            let t = Instant::now();
            let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
            best = best.min(t.elapsed().as_secs_f64());
            let b = &batches[0];
            let fmt = FormatOptions::default();
            value = (0..b.num_columns())
                .map(|i| {
                    ArrayFormatter::try_new(b.column(i).as_ref(), &fmt)
                        .unwrap()
                        .value(0)
                        .to_string()
                })
                .collect::<Vec<_>>()
                .join(" | ");
        }
        println!(
            "{}",
            serde_json::json!({"query": name, "seconds": best, "value": value})
        );
    }
}
