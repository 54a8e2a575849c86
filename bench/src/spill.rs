//! Exact drift beyond memory: two versions of `rows` doubles each, compared through the
//! versions' profiles (DataFusion's spilling sort under a memory limit, then a streaming merge)
//! or through the in-memory drift aggregates; one side per process, so that its peak RSS is
//! that side's.

use std::path::Path;
use std::time::Instant;

use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::datatypes::{DataType, Float64Type};
use datafusion_rollout::RolloutContext;
use serde_json::{Value, json};

use crate::tpch::path_str;

/// How the drift is computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum DriftSide {
    /// `drift('big_N', 'v1', 'v2')`: from the versions' stored profiles.
    Profiles,
    /// The drift aggregates over `v1 UNION ALL v2` (every value in memory).
    Aggregates,
}

const STATS: &str = "ks_statistic, ks_pvalue, wasserstein_normed, psi, js_distance";

async fn exec(rc: &RolloutContext, sql: &str) -> anyhow::Result<Vec<Option<f64>>> {
    let batches = rc.sql(sql).await?.collect().await?;
    let Some(batch) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(Vec::new());
    };
    batch
        .columns()
        .iter()
        .map(|c| {
            let c = datafusion::arrow::compute::cast(c, &DataType::Float64)?;
            let c = c.as_primitive::<Float64Type>();
            Ok((!c.is_null(0)).then(|| c.value(0)))
        })
        .collect()
}

/// Generates (once) dataset `big_<rows>` with versions v1 and v2 of `rows` pseudo-random
/// doubles (nearly all distinct), then computes their drift one way and reports it.
pub async fn spill_drift(
    dir: &Path,
    rows: u64,
    memory_limit: Option<&str>,
    side: DriftSide,
    settings: &[String],
) -> anyhow::Result<Value> {
    std::fs::create_dir_all(dir)?;
    let store = dir.join("store");
    let rc = RolloutContext::open(&path_str(&store)?).await?;
    let dataset = format!("big_{rows}");
    let marker = dir.join(format!("READY-{rows}"));
    let started = Instant::now();
    if !marker.exists() {
        rc.sql(&format!("CREATE DATASET {dataset}"))
            .await?
            .collect()
            .await?;
        // A multiplicative hash of the row number modulo a prime below 2^32: values spread
        // over [0, 1e6) with nearly every one distinct; v2 uses another multiplier and moves
        // a seventh of its values up by 10,000 (a drift to find).
        for (v, m, shift) in [("v1", 2_654_435_761u64, 0), ("v2", 2_246_822_519, 10_000)] {
            rc.sql(&format!(
                "CREATE VERSION '{v}' OF {dataset} AS SELECT \
                 CAST((value * {m}) % 4294967291 AS DOUBLE) / 4294.967291 \
                 + CASE WHEN value % 7 = 0 THEN {shift} ELSE 0 END AS x \
                 FROM generate_series(1, {rows})"
            ))
            .await?
            .collect()
            .await?;
        }
        std::fs::write(&marker, b"")?;
    }
    let generated_s = started.elapsed().as_secs_f64();
    if let Some(limit) = memory_limit {
        rc.sql(&format!("SET datafusion.runtime.memory_limit = '{limit}'"))
            .await?
            .collect()
            .await?;
    }
    for setting in settings {
        let Some((key, value)) = setting.split_once('=') else {
            anyhow::bail!("--set takes key=value, got {setting}");
        };
        rc.sql(&format!("SET {key} = '{value}'"))
            .await?
            .collect()
            .await?;
    }
    let profiles = store.join("_rollout_profiles").join(&dataset);
    let (first_s, second_s, values) = match side {
        DriftSide::Profiles => {
            if profiles.exists() {
                std::fs::remove_dir_all(&profiles)?;
            }
            let sql = format!("SELECT {STATS} FROM drift('{dataset}', 'v1', 'v2')");
            let t = Instant::now();
            let values = exec(&rc, &sql).await?;
            let first = t.elapsed().as_secs_f64();
            let t = Instant::now();
            let again = exec(&rc, &sql).await?;
            let second = t.elapsed().as_secs_f64();
            anyhow::ensure!(
                bits(&again) == bits(&values),
                "a second drift() gave other values"
            );
            (first, Some(second), values)
        }
        DriftSide::Aggregates => {
            let sql = format!(
                "SELECT ks_statistic(x, f), ks_pvalue(x, f), wasserstein_normed(x, f), psi(x, f), \
                 js_distance(x, f) FROM (SELECT x, false AS f FROM \"{dataset}@v1\" \
                 UNION ALL SELECT x, true FROM \"{dataset}@v2\")"
            );
            let t = Instant::now();
            let values = exec(&rc, &sql).await?;
            (t.elapsed().as_secs_f64(), None, values)
        }
    };
    let profile_bytes: u64 = walk_size(&profiles);
    Ok(json!({
        "rows_per_side": rows,
        "side": format!("{side:?}").to_lowercase(),
        "memory_limit": memory_limit,
        "settings": settings,
        "generate_s": generated_s,
        "drift_s": first_s,
        "drift_again_s": second_s,
        "peak_rss_bytes": crate::serve_load::rss().0,
        "profile_bytes": profile_bytes,
        "stats": STATS,
        "values": values,
        "bits": bits(&values),
    }))
}

fn bits(values: &[Option<f64>]) -> Vec<Option<String>> {
    values
        .iter()
        .map(|v| v.map(|x| format!("{:016x}", x.to_bits())))
        .collect()
}

fn walk_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_size(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}
