//! Measures PROMOTE and ROLLBACK latency on a local store.
//!
//! ```sh
//! cargo run --release -p rollout-examples --example promote_latency -- [rounds] [rows]
//! ```
//!
//! Registers two versions of `rows` rows each in a fresh store under the temp folder, then runs
//! `rounds` × (PROMOTE to a cohort, ROLLBACK) and prints the median and p90 of each. Both are
//! metadata-only commits, so `rows` should not change the figures.

use std::time::{Duration, Instant};

use datafusion::prelude::SessionContext;
use datafusion_rollout::RolloutContext;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(200);
    let rows: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = std::env::temp_dir().join(format!("rollout-latency-{}", std::process::id()));
    let ctx = SessionContext::new();
    for v in ["v1", "v2"] {
        let sql = format!(
            "COPY (SELECT value AS id, random() AS amount FROM generate_series(1, {rows})) TO '{}' STORED AS PARQUET",
            dir.join(v).join("part-0.parquet").display()
        );
        ctx.sql(&sql).await?.collect().await?;
    }
    let rollout = RolloutContext::open(&dir.join("store").display().to_string()).await?;
    rollout.sql("CREATE DATASET orders").await?;
    for v in ["v1", "v2"] {
        let from = dir.join(v).display().to_string();
        rollout
            .sql(&format!("REGISTER VERSION '{v}' OF orders FROM '{from}/'"))
            .await?;
    }
    rollout.sql("PROMOTE orders TO 'v1'").await?;
    rollout
        .sql("CREATE COHORT canary MEMBERS ('alice')")
        .await?;

    let mut promote = Vec::with_capacity(rounds);
    let mut rollback = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        rollout
            .sql("PROMOTE orders TO 'v2' FOR COHORT canary")
            .await?;
        promote.push(t.elapsed());
        let t = Instant::now();
        rollout.sql("ROLLBACK orders").await?;
        rollback.push(t.elapsed());
    }
    let history = rollout.store().state().sequence;
    println!("{rounds} rounds, {rows} rows per version, history of {history} entries");
    for (name, mut times) in [("PROMOTE", promote), ("ROLLBACK", rollback)] {
        times.sort();
        let at = |q: f64| times[((times.len() - 1) as f64 * q) as usize];
        println!(
            "{name:9} median {:>8.3} ms   p90 {:>8.3} ms",
            ms(at(0.5)),
            ms(at(0.9))
        );
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
