//! The reads ledger, reported metrics, exposure and a rollback's blast radius, on a real local
//! store with real Parquet versions.

use datafusion_rollout::store::{Arm, Event};
use datafusion_rollout::{ErrorKind, RolloutContext, RolloutOptions};

use crate::common::*;

async fn reads(rc: &RolloutContext) -> Vec<datafusion_rollout::store::ReadEvent> {
    let read = rc.store().events().read().await.unwrap();
    assert!(read.skipped.is_empty(), "{:?}", read.skipped);
    read.events
        .into_iter()
        .filter_map(|e| match e {
            Event::Read(r) => Some(r),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn every_read_through_the_name_is_recorded_with_its_version_arm_rows_and_error() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    run(&rc, "PROMOTE orders TO 'v2' FOR COHORT canary").await;

    rc.set_consumer(Some("alice")).unwrap();
    assert_eq!(
        scalar(&rc, "SELECT count(*) FROM orders WHERE amount > 50").await,
        "549"
    );
    rc.set_consumer(Some("bob")).unwrap();
    assert_eq!(
        scalar(&rc, "SELECT count(*) FROM orders WHERE amount > 50").await,
        "499"
    );
    // A pinned read is recorded on its own arm; EXPLAIN records nothing.
    run(&rc, "SELECT * FROM orders VERSION AS OF 'v1' LIMIT 3").await;
    run(&rc, "EXPLAIN SELECT * FROM orders").await;
    // Switched off: nothing recorded.
    run(&rc, "SET rollout.record_reads = false").await;
    run(&rc, "SELECT * FROM orders").await;
    run(&rc, "RESET rollout.record_reads").await;

    let r = reads(&rc).await;
    assert_eq!(r.len(), 3, "{r:#?}");
    assert_eq!(
        (r[0].version.as_str(), r[0].arm, r[0].consumer.as_deref()),
        ("v2", Arm::Candidate, Some("alice"))
    );
    assert!(
        r[0].reason.contains("member of exposed cohort canary"),
        "{}",
        r[0].reason
    );
    assert_eq!((r[1].version.as_str(), r[1].arm), ("v1", Arm::Stable));
    assert_eq!((r[2].version.as_str(), r[2].arm), ("v1", Arm::Pinned));
    // Rows the scan produced (the filter runs in the scan's parquet reader or above it).
    assert!(r[0].rows.unwrap() >= 549, "{:?}", r[0].rows);
    assert!(r.iter().all(|e| e.error.is_none() && e.elapsed_ms >= 0.0));

    // The candidate's file disappears: the failed query is recorded against v2, with its error.
    std::fs::remove_file(fx.path("orders_v2").join("part-1.parquet")).unwrap();
    rc.set_consumer(Some("alice")).unwrap();
    let err = try_run(&rc, "SELECT sum(amount) FROM orders")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("part-1.parquet"), "{err}");
    // A failed query's read is recorded when the last of its tasks lets go of the plan, which
    // the runtime may do just after the error reached us.
    let mut r = reads(&rc).await;
    for _ in 0..100 {
        if r.len() > 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        r = reads(&rc).await;
    }
    assert_eq!(r.len(), 4, "{r:#?}");
    let failed = r.last().unwrap();
    assert_eq!(
        (failed.version.as_str(), failed.arm),
        ("v2", Arm::Candidate)
    );
    let error = failed.error.as_deref().unwrap_or_default();
    assert!(error.contains("part-1.parquet"), "{error}");

    // The same reads as a table, per dataset or across datasets.
    let table = run(
        &rc,
        "SELECT version, arm, consumer, error IS NOT NULL AS failed FROM rollout_reads('orders') ORDER BY time",
    )
    .await;
    assert!(
        table.contains("| v2      | candidate | alice    | true   |"),
        "{table}"
    );
    assert_eq!(
        scalar(&rc, "SELECT count(*) FROM rollout_reads()").await,
        "4"
    );
    let err = try_run(&rc, "SELECT * FROM rollout_reads('nope')")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// A contract that observes the `conversion` metric (REPORT METRIC accepts only observed ones).
const OBSERVES_CONVERSION: &str =
    "CREATE CONTRACT live FOR orders (EXPECT metric_change('conversion') >= -0.5)";

#[tokio::test]
async fn events_reach_the_store_and_other_processes_read_them() {
    let fx = Fixture::new().await;
    let rc = fx.orders(Some("carol")).await;
    run(&rc, OBSERVES_CONVERSION).await;
    run(&rc, "SELECT count(*) FROM orders WHERE amount > 1").await;
    run(&rc, "REPORT METRIC conversion = 0.031 FOR orders").await;
    assert_eq!(rc.store().events().buffered(), 2);
    assert_eq!(rc.flush_events().await.unwrap(), 2);
    assert_eq!(rc.store().events().buffered(), 0);
    let objects: Vec<_> = walk(&fx.path("store").join("_rollout_events"));
    assert_eq!(objects.len(), 1, "one object per flush: {objects:?}");

    // Another session on the same store (as another process would) reads them from the store.
    let other = fx.open(None).await;
    assert_eq!(
        scalar(&other, "SELECT count(*) FROM rollout_reads('orders')").await,
        "1"
    );
    assert_eq!(
        scalar(
            &other,
            "SELECT value FROM rollout_metrics('orders') WHERE metric = 'conversion'"
        )
        .await,
        "0.031"
    );

    // A corrupt or truncated object is skipped and named; the others still count.
    let dir = objects[0].parent().unwrap().to_path_buf();
    std::fs::write(
        dir.join("0000000000001-bad.jsonl"),
        b"{\"kind\":\"read\",\"data",
    )
    .unwrap();
    let read = other.store().events().read().await.unwrap();
    assert_eq!(read.skipped.len(), 1);
    assert!(
        read.skipped[0]
            .to_string()
            .contains("0000000000001-bad.jsonl"),
        "{}",
        read.skipped[0]
    );
    assert_eq!(read.events.len(), 2);
    assert_eq!(
        scalar(&other, "SELECT count(*) FROM rollout_reads()").await,
        "1"
    );
}

#[tokio::test]
async fn metrics_are_attributed_to_the_arm_the_consumer_resolves_then() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    run(&rc, OBSERVES_CONVERSION).await;
    let before = chrono::Utc::now();
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    run(&rc, "PROMOTE orders TO 'v2' FOR COHORT canary").await;

    let table = run(
        &rc,
        "REPORT METRIC conversion = 0.5 FOR orders CONSUMER 'alice'",
    )
    .await;
    assert!(table.contains("| v2      | candidate |"), "{table}");
    run(
        &rc,
        "REPORT METRIC conversion = -2.5e-1 FOR orders CONSUMER 'bob'",
    )
    .await;
    rc.set_consumer(Some("alice")).unwrap();
    run(&rc, "REPORT METRIC conversion = 0.75 FOR orders").await;
    // Before the PROMOTE, alice read v1: an observation from then belongs to v1.
    let at = before.to_rfc3339();
    run(
        &rc,
        &format!("REPORT METRIC conversion = 0.25 FOR orders AT TIMESTAMP '{at}'"),
    )
    .await;

    let rows = run(
        &rc,
        "SELECT version, arm, consumer, value FROM rollout_metrics('orders') ORDER BY time, value",
    )
    .await;
    let expected = [
        "| v1      | stable    | alice    | 0.25  |",
        "| v2      | candidate | alice    | 0.5   |",
        "| v1      | stable    | bob      | -0.25 |",
        "| v2      | candidate | alice    | 0.75  |",
    ];
    for line in expected {
        assert!(rows.contains(line), "{line} in\n{rows}");
    }

    // Bad input: clear errors, nothing recorded.
    let n = rc.store().events().buffered();
    for (sql, kind, says) in [
        (
            "REPORT METRIC conversion = NaN FOR orders",
            ErrorKind::InvalidInput,
            "finite",
        ),
        (
            "REPORT METRIC conversion = inf FOR orders",
            ErrorKind::InvalidInput,
            "finite",
        ),
        (
            "REPORT METRIC conversion = 1 FOR nope",
            ErrorKind::NotFound,
            "unknown dataset 'nope'",
        ),
        (
            "REPORT METRIC conversoin = 1 FOR orders",
            ErrorKind::NotFound,
            "dataset 'orders' observes no metric 'conversoin' (known metrics: 'conversion')",
        ),
        (
            "REPORT METRIC \"a b\" = 1 FOR orders",
            ErrorKind::InvalidInput,
            "metric name",
        ),
        (
            "REPORT METRIC conversion = 'x' FOR orders",
            ErrorKind::Parse,
            "a number",
        ),
        (
            "REPORT METRIC conversion = 1 FOR orders AT TIMESTAMP 'yesterday'",
            ErrorKind::Parse,
            "invalid timestamp",
        ),
        (
            "REPORT METRIC conversion = 1 FOR orders AT TIMESTAMP '1999-01-01T00:00:00Z'",
            ErrorKind::InvalidInput,
            "no version",
        ),
    ] {
        let err = rc.run(sql).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{sql}: {err}");
        assert!(err.to_string().contains(says), "{sql}: {err}");
    }
    assert_eq!(rc.store().events().buffered(), n);
}

#[tokio::test]
async fn exposure_and_the_blast_radius_of_a_rollback() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(&rc, "PROMOTE orders TO 'v2' AT 50 PERCENT").await;
    let mut on_v2 = 0;
    for i in 0..20 {
        rc.set_consumer(Some(&format!("c{i}"))).unwrap();
        run(&rc, "SELECT sum(amount) FROM orders").await;
        run(&rc, "SELECT max(amount) FROM orders").await;
        if scalar(&rc, "SELECT count(*) FROM orders WHERE channel IS NOT NULL").await != "0" {
            on_v2 += 1;
        }
    }
    assert!((3..=17).contains(&on_v2), "about half on v2: {on_v2}");
    let table = run(&rc, "SHOW EXPOSURE OF orders").await;
    assert!(table.contains("| v1      | stable    |"), "{table}");
    let v2 = run(&rc, "SHOW EXPOSURE OF orders VERSION 'v2'").await;
    assert!(!v2.contains("| v1 "), "{v2}");
    assert!(
        v2.contains(&format!(
            "| v2      | candidate | {on_v2:<9} | {:<7} | 0      |",
            on_v2 * 3
        )),
        "{v2}"
    );
    let err = rc
        .run("SHOW EXPOSURE OF orders VERSION 'v9'")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);

    let outcome = rc.run("ROLLBACK orders REASON 'bad prices'").await.unwrap();
    let datafusion_rollout::Outcome::Committed { message, .. } = outcome else {
        panic!("committed");
    };
    assert!(
        message.contains(&format!(
            "'v2' was read by {on_v2} consumer(s) in {} queries (0 failed)",
            on_v2 * 3
        )),
        "{message}"
    );
    let history = rc.store().history().await.unwrap();
    let entry = history.last().unwrap();
    let radius = entry.blast_radius.as_ref().expect("in the history");
    assert_eq!(radius["version"], "v2");
    assert_eq!(radius["consumers"], on_v2);
    assert_eq!(radius["queries"], on_v2 * 3);
}

#[tokio::test]
async fn a_library_session_can_leave_reads_unrecorded() {
    let fx = Fixture::new().await;
    fx.orders(None).await;
    let rc = RolloutContext::open_with(
        &fx.store(),
        RolloutOptions {
            consumer: Some("dave".into()),
            record_reads: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    run(&rc, "SELECT count(*) FROM orders WHERE amount > 1").await;
    assert_eq!(rc.store().events().buffered(), 0);
    assert!(!rc.settings().record_reads);
    let shown = run(&rc, "SHOW rollout.record_reads").await;
    assert!(shown.contains("| false"), "{shown}");
}

/// A flush takes events out of the buffer before its object is written: a read in this
/// process meanwhile must still see each of them, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_while_events_are_flushed_see_each_event_once() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let log = Arc::clone(rc.store().events());
    let before = log.read().await.unwrap().events.len();
    let recorded = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (log, recorded, done) = (Arc::clone(&log), Arc::clone(&recorded), Arc::clone(&done));
        tokio::spawn(async move {
            let template = datafusion_rollout::store::ReadEvent {
                time: chrono::Utc::now(),
                dataset: "orders".into(),
                version: "v1".into(),
                arm: Arm::Stable,
                consumer: Some("alice".into()),
                reason: "stable".into(),
                rows: Some(1),
                elapsed_ms: 1.0,
                error: None,
                deprecated: vec![],
            };
            for _ in 0..300 {
                log.record(Event::Read(template.clone()));
                recorded.fetch_add(1, Ordering::SeqCst);
                log.flush().await.unwrap();
            }
            done.store(true, Ordering::SeqCst);
        })
    };
    let mut reads = 0;
    while !done.load(Ordering::SeqCst) {
        let at_least = recorded.load(Ordering::SeqCst);
        let got = log.read().await.unwrap().events.len() - before;
        let at_most = recorded.load(Ordering::SeqCst);
        assert!(
            (at_least..=at_most).contains(&got),
            "read {got} events while {at_least}..={at_most} were recorded (read {reads})"
        );
        reads += 1;
    }
    writer.await.unwrap();
    assert_eq!(log.read().await.unwrap().events.len() - before, 300);
    assert!(reads > 10, "only {reads} reads ran beside the flushes");
}

/// Reading events since a time returns exactly those at or after it, whether they were
/// flushed to the store or are still in this process's buffer.
#[tokio::test]
async fn events_read_since_a_time_are_those_from_then_on_flushed_or_buffered() {
    use chrono::{Duration, Utc};

    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let log = rc.store().events();
    let now = Utc::now();
    let read_at = |minutes_ago: i64, consumer: &str| {
        Event::Read(datafusion_rollout::store::ReadEvent {
            time: now - Duration::minutes(minutes_ago),
            dataset: "orders".into(),
            version: "v1".into(),
            arm: Arm::Stable,
            consumer: Some(consumer.into()),
            reason: "stable".into(),
            rows: Some(1),
            elapsed_ms: 1.0,
            error: None,
            deprecated: vec![],
        })
    };
    // Two before the window and one at its start flushed; one before and one inside buffered.
    for (ago, who) in [(30, "early1"), (20, "early2"), (10, "edge")] {
        log.record(read_at(ago, who));
    }
    log.flush().await.unwrap();
    for (ago, who) in [(15, "early3"), (5, "late")] {
        log.record(read_at(ago, who));
    }
    let consumers = |read: datafusion_rollout::store::EventsRead| -> Vec<String> {
        read.events
            .iter()
            .filter_map(|e| match e {
                Event::Read(r) => r.consumer.clone(),
                _ => None,
            })
            .collect()
    };
    let since = log
        .read_since(Some(now - Duration::minutes(10)))
        .await
        .unwrap();
    assert_eq!(consumers(since), ["edge", "late"]);
    let all: Vec<String> = consumers(log.read_since(None).await.unwrap())
        .into_iter()
        .filter(|c| c.starts_with("early") || c == "edge" || c == "late")
        .collect();
    assert_eq!(all, ["early1", "early2", "early3", "edge", "late"]);
}
