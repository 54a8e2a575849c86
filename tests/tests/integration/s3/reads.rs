//! What a read through an alias costs on S3, in requests, beside DataFusion reading the same
//! files directly: verifying the pinned files rides on the reads (a GET conditional on the
//! recorded e-tag), so a version of 1,000 files costs no request per file per query.

use std::sync::Arc;

use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_rollout::store::{
    CountingStore, Requests, deregister_object_store, register_object_store, resolve_location,
};
use datafusion_rollout::{RolloutContext, RolloutOptions};

use super::S3;
use crate::common::*;

const FILES: u64 = 1000;
/// Rows per file: file `part-N` holds orders `10N+1..=10N+10`.
const ROWS: u64 = 10;
/// Reads 600 of the files: the others' statistics rule them out (customers 50..99 only).
const QUERY: &str = "SELECT count(*), sum(amount) FROM orders WHERE customer_id < 50";

/// Both sides read 16 files at a time (a GET on the loopback gateway takes ~15 ms).
fn config() -> SessionConfig {
    SessionConfig::new().with_target_partitions(16)
}

/// The requests of running `sql` on `ctx`, and its printed result.
async fn counted(counting: &CountingStore, sql: &str, ctx: &SessionContext) -> (Requests, String) {
    let before = counting.requests();
    let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
    let shown = datafusion::arrow::util::pretty::pretty_format_batches(&batches)
        .unwrap()
        .to_string();
    (counting.requests() - before, shown)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_alias_reads_make_the_requests_of_direct_reads() {
    let Some(s3) = S3::get("alias_reads") else {
        return;
    };
    let data = s3
        .upload_orders_in("orders_v1", ROWS * FILES, FILES, 0.0, false)
        .await;
    let store = s3.url("store");
    let bucket = resolve_location(&format!("s3://{}/", s3.bucket), false).unwrap();
    // Counted for this test's prefix only: other tests share the bucket.
    let ours = resolve_location(&s3.url(""), false).unwrap();
    let counting = Arc::new(CountingStore::new(s3.bucket_store()));
    register_object_store(&ours, counting.clone());
    let open = || {
        RolloutContext::open_with(
            &store,
            RolloutOptions {
                actor: Some("alice".into()),
                config: Some(config()),
                ..Default::default()
            },
        )
    };

    let rc = open().await.unwrap();
    run(&rc, "CREATE DATASET orders").await;
    run(
        &rc,
        &format!("REGISTER VERSION 'v1' OF orders FROM '{data}'"),
    )
    .await;
    run(&rc, "PROMOTE orders TO 'v1'").await;
    let state = rc.store().state();
    let files = &state.version("orders", "v1").unwrap().files;
    assert_eq!(files.len() as u64, FILES);

    // A fresh process's first query (it reads the footers for the statistics), then the next.
    let rc = open().await.unwrap();
    let (ours_first, ours_result) = counted(&counting, QUERY, rc.session()).await;
    let (ours_next, again) = counted(&counting, QUERY, rc.session()).await;
    assert_eq!(again, ours_result);
    assert!(ours_result.contains("| 5000 "), "{ours_result}");

    // DataFusion over the same folder, in a context of its own (its CREATE EXTERNAL TABLE
    // reads the footers, and lists the folder once for the queries after it).
    let direct = SessionContext::new_with_config(config());
    direct.register_object_store(&bucket, counting.clone());
    direct
        .sql(&format!(
            "CREATE EXTERNAL TABLE orders STORED AS PARQUET LOCATION '{data}'"
        ))
        .await
        .unwrap();
    let (direct_query, direct_result) = counted(&counting, QUERY, &direct).await;
    assert_eq!(direct_result, ours_result);

    eprintln!("\nrequests of `{QUERY}` over {FILES} files on S3 (Ceph RGW on loopback):");
    eprintln!("| query | GET | HEAD | LIST | PUT | total |");
    eprintln!("|---|---|---|---|---|---|");
    for (label, r) in [
        ("alias, first in the process", ours_first),
        ("alias, next", ours_next),
        ("DataFusion direct (folder)", direct_query),
    ] {
        eprintln!(
            "| {label} | {} | {} | {} | {} | {} |",
            r.get,
            r.head,
            r.list,
            r.put,
            r.total()
        );
    }
    // No request per pinned file: the reads a direct scan makes, nothing else. (Beside them
    // the reads ledger writes its events, a PUT now and then, which is not a read.)
    for ours in [ours_first, ours_next] {
        assert_eq!(ours.head, 0, "no HEAD per pinned file: {ours:?}");
        assert_eq!(ours.list, 0, "pinned files are not listed: {ours:?}");
    }
    let reads = |r: Requests| r.get + r.head + r.list;
    assert_eq!(
        reads(ours_next),
        reads(direct_query),
        "the same reads as DataFusion: {ours_next:?} vs {direct_query:?}"
    );
    assert_eq!(ours_first.get, FILES + ours_next.get, "one footer per file");

    // A replaced file among the thousand fails the query that reads it, naming it.
    let pinned = files
        .iter()
        .find(|f| f.url.ends_with("/part-500.parquet"))
        .unwrap();
    s3.replace_keeping_size(&pinned.url).await;
    let before = counting.requests();
    let query = "SELECT sum(amount) FROM orders WHERE order_id = 5005";
    let failed = match rc.session().sql(query).await {
        Ok(df) => df.collect().await.err(),
        Err(e) => Some(e),
    };
    let err = failed.expect("a replaced pinned file was read").to_string();
    assert!(
        err.contains(&pinned.url) && err.contains("was replaced"),
        "names the file and why: {err}"
    );
    // The statistics left one file to read: its conditional GET was the check.
    let spent = counting.requests() - before;
    assert_eq!(reads(spent), 1, "{spent:?}");
    // Files the query does not read are not its concern.
    assert_eq!(
        scalar(&rc, "SELECT count(*) FROM orders WHERE order_id <= 10").await,
        "10"
    );
    deregister_object_store(&ours);
}
