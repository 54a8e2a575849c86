//! Object-store requests and latency per operation on S3 (or any store URL).
//!
//! ```sh
//! # a local Ceph gateway: ../shared/tools/start-rgw.sh, then a bucket (see .ci/run)
//! export AWS_ENDPOINT_URL=http://127.0.0.1:7480 AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
//!        AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=testtest
//! cargo run --release -p rollout-examples --example s3_requests -- s3://rollout-test/bench [rounds] [history]
//! ```
//!
//! Under a fresh prefix of the given URL it uploads two Parquet versions (10 000 rows each),
//! opens a store with a [`CountingStore`] in front of the bucket, and runs `rounds` (default 20)
//! × (PROMOTE to a cohort, an alias read, ROLLBACK), then grows the log to `history` (default
//! 250) entries and reopens it. For each operation it prints the requests it made (counted by
//! the wrapper, per kind) and the median and p90 latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::object_store::{ObjectStoreExt, PutPayload};
use datafusion::prelude::SessionContext;
use datafusion_rollout::store::{
    CountingStore, Requests, object_store_for, register_object_store, resolve_location,
};
use datafusion_rollout::{RolloutContext, RolloutOptions};

#[derive(Default)]
struct Op {
    requests: Vec<Requests>,
    times: Vec<Duration>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let base = args
        .next()
        .ok_or("usage: s3_requests <store URL, e.g. s3://bucket/prefix> [rounds] [history]")?;
    let rounds: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(20);
    let history: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(250);
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis();
    let root = format!("{}/run-{run_id}", base.trim_end_matches('/'));
    let root_url = resolve_location(&format!("{root}/"), false)?;
    let bucket = object_store_for(&root_url)?;

    // Two versions, written locally by DataFusion and uploaded.
    let local = std::env::temp_dir().join(format!("rollout-s3-requests-{run_id}"));
    let ctx = SessionContext::new();
    for (v, shift) in [("v1", 0), ("v2", 5)] {
        let file = local.join(format!("{v}.parquet"));
        let sql = format!(
            "COPY (SELECT value AS id, CAST(value % 1000 AS DOUBLE) + {shift} AS amount \
             FROM generate_series(1, 10000)) TO '{}' STORED AS PARQUET",
            file.display()
        );
        ctx.sql(&sql).await?.collect().await?;
        let key = datafusion::object_store::path::Path::from_url_path(format!(
            "{}data/{v}/part-0.parquet",
            root_url.path()
        ))?;
        bucket
            .put(&key, PutPayload::from(std::fs::read(&file)?))
            .await?;
    }
    std::fs::remove_dir_all(&local).ok();

    let store_url = resolve_location(&format!("{root}/store/"), false)?;
    let counting = Arc::new(CountingStore::new(Arc::clone(&bucket)));
    register_object_store(&store_url, counting.clone());

    let mut ops: Vec<(String, Op)> = Vec::new();
    let mut record = |name: &str, requests: Requests, took: Duration| {
        let i = match ops.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                ops.push((name.to_string(), Op::default()));
                ops.len() - 1
            }
        };
        ops[i].1.requests.push(requests);
        ops[i].1.times.push(took);
    };
    macro_rules! timed {
        ($name:expr, $body:expr) => {{
            let before = counting.requests();
            let started = Instant::now();
            let out = $body;
            record($name, counting.requests() - before, started.elapsed());
            out
        }};
    }
    async fn exec(rc: &RolloutContext, sql: &str) -> Result<(), Box<dyn std::error::Error>> {
        rc.sql(sql).await?.collect().await?;
        Ok(())
    }

    let rc = timed!(
        "open a new (empty) store",
        RolloutContext::open_with(
            store_url.as_str(),
            RolloutOptions {
                consumer: Some("alice".into()),
                ..Default::default()
            }
        )
        .await?
    );
    exec(&rc, "CREATE DATASET orders").await?;
    for v in ["v1", "v2"] {
        let from = format!("{root}/data/{v}/");
        timed!(
            "REGISTER VERSION (1 file)",
            exec(
                &rc,
                &format!("REGISTER VERSION '{v}' OF orders FROM '{from}'")
            )
            .await?
        );
    }
    timed!(
        "PROMOTE to stable",
        exec(&rc, "PROMOTE orders TO 'v1'").await?
    );
    exec(&rc, "CREATE COHORT canary MEMBERS ('alice')").await?;
    for _ in 0..rounds {
        timed!(
            "PROMOTE for a cohort",
            exec(&rc, "PROMOTE orders TO 'v2' FOR COHORT canary").await?
        );
        timed!(
            "alias read (SELECT sum(amount))",
            exec(&rc, "SELECT sum(amount) FROM orders").await?
        );
        timed!("ROLLBACK", exec(&rc, "ROLLBACK orders").await?);
        timed!(
            "refresh (nothing new)",
            rc.store().refresh().await.map(|_| ())?
        );
    }
    while rc.store().state().sequence < history {
        let i = rc.store().state().sequence;
        exec(&rc, &format!("CREATE COHORT c{i} MEMBERS ('x')")).await?;
    }
    let sequence = rc.store().state().sequence;
    for _ in 0..5 {
        timed!(
            &format!("open a store of {sequence} entries (checkpoint every 100)"),
            RolloutContext::open(store_url.as_str()).await?
        );
    }

    println!("store: {store_url}");
    println!(
        "| operation | runs | requests | GET | HEAD | PUT | LIST | median ms | p90 ms |\n|---|---|---|---|---|---|---|---|---|"
    );
    for (name, op) in &ops {
        let mut times = op.times.clone();
        times.sort();
        let ms = |q: f64| {
            let i = ((times.len() - 1) as f64 * q).round() as usize;
            times[i].as_secs_f64() * 1000.0
        };
        // Requests per run: the median run's (they are the same on every run here).
        let mut reqs = op.requests.clone();
        reqs.sort_by_key(|r| r.total());
        let r = reqs[reqs.len() / 2];
        println!(
            "| {name} | {} | {} | {} | {} | {} | {} | {:.1} | {:.1} |",
            times.len(),
            r.total(),
            r.get,
            r.head,
            r.put,
            r.list,
            ms(0.5),
            ms(0.9)
        );
    }
    Ok(())
}
