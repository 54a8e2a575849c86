//! The events folder over time: VACUUM compacts the days that have ended into one Parquet
//! object each (reads see the same events, with one request per day), leftovers of an
//! interrupted compaction are never read twice, two compactors at once make one object, and
//! retention removes old days.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{NaiveDate, TimeDelta, Utc};
use datafusion::prelude::SessionContext;
use datafusion_rollout::RolloutContext;
use datafusion_rollout::store::{
    Arm, CountingStore, Event, ReadEvent, object_store_for, register_object_store, resolve_location,
};

use crate::common::{Fixture, run, try_run};

fn day(days_ago: i64) -> NaiveDate {
    Utc::now().date_naive() - TimeDelta::days(days_ago)
}

fn folder(fx: &Fixture, d: NaiveDate) -> PathBuf {
    fx.path("store")
        .join("_rollout_events")
        .join(d.format("%Y-%m-%d").to_string())
}

/// Writes an event object into day `d`'s folder, as a process flushing then would have.
fn write_object(fx: &Fixture, d: NaiveDate, name: &str, consumers: &[String], extra: &str) {
    let dir = folder(fx, d);
    std::fs::create_dir_all(&dir).unwrap();
    let mut body = String::new();
    for (i, consumer) in consumers.iter().enumerate() {
        let time = d.and_hms_opt(1, 0, 0).unwrap().and_utc() + TimeDelta::seconds(i as i64);
        let event = Event::Read(ReadEvent {
            time,
            dataset: "orders".into(),
            version: "v1".into(),
            arm: Arm::Stable,
            consumer: Some(consumer.clone()),
            reason: "stable".into(),
            rows: Some(10),
            elapsed_ms: 1.25,
            error: None,
            deprecated: vec![],
        });
        body.push_str(&serde_json::to_string(&event).unwrap());
        body.push('\n');
    }
    body.push_str(extra);
    std::fs::write(dir.join(name), body).unwrap();
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Every read event a fresh process sees, in a stable order.
async fn snapshot(store: &str) -> String {
    let rc = RolloutContext::open(store).await.unwrap();
    run(
        &rc,
        "SELECT time, consumer, version, rows, elapsed_ms FROM rollout_reads() ORDER BY time, consumer",
    )
    .await
}

#[tokio::test]
async fn vacuum_compacts_ended_days_and_reads_stay_the_same_with_fewer_requests() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let (d3, d2) = (day(3), day(2));
    for i in 0..40 {
        let consumers: Vec<String> = (0..5).map(|c| format!("c{i}-{c}")).collect();
        write_object(&fx, d3, &format!("{i:013}-a.jsonl"), &consumers, "");
    }
    std::fs::write(
        folder(&fx, d3).join("9999999999999-torn.jsonl"),
        "{\"kind\":\"re",
    )
    .unwrap();
    for i in 0..3 {
        let consumers: Vec<String> = (0..5).map(|c| format!("d{i}-{c}")).collect();
        write_object(&fx, d2, &format!("{i:013}-b.jsonl"), &consumers, "");
    }
    let future =
        "{\"kind\":\"from_the_future\",\"time\":\"2026-01-01T00:00:00Z\",\"dataset\":\"orders\"}\n";
    write_object(&fx, d2, "0000000000009-b.jsonl", &["late".into()], future);
    let original = std::fs::read(folder(&fx, d2).join("0000000000000-b.jsonl")).unwrap();
    // Today's events stay as they are.
    run(&rc, "SELECT count(*) FROM orders").await;
    rc.flush_events().await.unwrap();

    let prefix = resolve_location(&format!("{}/", fx.store()), true).unwrap();
    let counting = Arc::new(CountingStore::new(object_store_for(&prefix).unwrap()));
    register_object_store(&prefix, counting.clone());
    let gets = || async {
        let before = counting.requests().get;
        let all = snapshot(&fx.store()).await;
        (all, counting.requests().get - before)
    };
    let (before, gets_before) = gets().await;
    assert!(
        before.contains("c39-4") && before.contains("late"),
        "{before}"
    );

    // A dry run says what it would do and changes nothing.
    let dry = run(&rc, "VACUUM DRY RUN").await;
    assert!(
        dry.contains("would compact 40 event object(s) (200 events)"),
        "{dry}"
    );
    assert!(
        dry.contains("would compact 4 event object(s) (17 events)"),
        "{dry}"
    );
    assert_eq!(files(&folder(&fx, d2)).len(), 4);

    let done = run(&rc, "VACUUM").await;
    assert!(
        done.contains("compacted 40 event object(s) (200 events)"),
        "{done}"
    );
    assert_eq!(
        files(&folder(&fx, d3)),
        ["9999999999999-torn.jsonl", "compacted-000001.parquet"],
        "the torn object stays, to be named"
    );
    assert_eq!(files(&folder(&fx, d2)), ["compacted-000001.parquet"]);
    assert_eq!(
        files(&folder(&fx, day(0))).len(),
        1,
        "today is not compacted"
    );

    let (after, gets_after) = gets().await;
    assert_eq!(after, before);
    // A state read, then one GET per object: 44 objects became 2.
    assert_eq!(
        gets_before - gets_after,
        44 - 2,
        "{gets_before} → {gets_after}"
    );

    // A kind this version does not know is kept as written.
    let parquet = folder(&fx, d2).join("compacted-000001.parquet");
    let ctx = SessionContext::new();
    ctx.register_parquet(
        "compacted",
        parquet.display().to_string(),
        Default::default(),
    )
    .await
    .unwrap();
    let kinds = ctx
        .sql("SELECT kind, count(*) AS n FROM compacted GROUP BY kind ORDER BY kind")
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
    let kinds = datafusion::arrow::util::pretty::pretty_format_batches(&kinds)
        .unwrap()
        .to_string();
    assert!(kinds.contains("| from_the_future | 1  |"), "{kinds}");
    assert!(kinds.contains("| read            | 16 |"), "{kinds}");

    // An interrupted compaction's leftover (an object it holds, not yet deleted) is not read
    // twice; a late flush into an ended day is read, and the next VACUUM folds both in.
    std::fs::write(folder(&fx, d2).join("0000000000000-b.jsonl"), &original).unwrap();
    write_object(&fx, d2, "0000000000099-b.jsonl", &["later".into()], "");
    let with_late = snapshot(&fx.store()).await;
    assert_eq!(
        with_late.lines().count(),
        before.lines().count() + 1,
        "{with_late}"
    );
    run(&rc, "VACUUM").await;
    assert_eq!(files(&folder(&fx, d2)), ["compacted-000002.parquet"]);
    assert_eq!(snapshot(&fx.store()).await, with_late);

    // Retention removes whole days.
    let expired = run(&rc, "VACUUM RETAIN EVENTS '1 day'").await;
    assert!(
        expired.contains("removed 2 expired event object(s)"),
        "{expired}"
    );
    assert!(files(&folder(&fx, d3)).is_empty());
    assert!(files(&folder(&fx, d2)).is_empty());
    let left = snapshot(&fx.store()).await;
    assert!(!left.contains("c39-4") && !left.contains("later"), "{left}");
    let history = run(&rc, "SHOW HISTORY LIMIT 5").await;
    assert_eq!(
        history.matches("| VACUUM           |").count(),
        3,
        "{history}"
    );
    assert!(history.contains("RETAIN EVENTS '1 day'"), "{history}");
}

#[tokio::test]
async fn two_vacuums_at_once_compact_a_day_once() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let d = day(1);
    for i in 0..30 {
        let consumers: Vec<String> = (0..3).map(|c| format!("c{i}-{c}")).collect();
        write_object(&fx, d, &format!("{i:013}-a.jsonl"), &consumers, "");
    }
    let before = snapshot(&fx.store()).await;
    let other = RolloutContext::open(&fx.store()).await.unwrap();
    let (a, b) = tokio::join!(rc.sql("VACUUM"), other.sql("VACUUM"));
    for r in [a, b] {
        r.unwrap().collect().await.unwrap();
    }
    let left = files(&folder(&fx, d));
    assert_eq!(left, ["compacted-000001.parquet"], "{left:?}");
    assert_eq!(snapshot(&fx.store()).await, before);
}

/// A ROLLBACK refused for having nothing to undo (no candidate, no earlier stable version)
/// answers without reading the events: with no candidate, the reads it would report are every
/// read ever recorded. One that undoes a candidate still reads them and reports who read it.
#[tokio::test]
async fn a_rollback_with_nothing_to_undo_reads_no_events() {
    let fx = Fixture::new().await;
    let setup = fx.orders(None).await;
    run(&setup, "CREATE COHORT canary MEMBERS ('alice')").await;
    write_object(&fx, day(1), "0000000000001-a.jsonl", &["old".into()], "");
    let prefix = resolve_location(&format!("{}/", fx.store()), true).unwrap();
    let counting = Arc::new(CountingStore::new(object_store_for(&prefix).unwrap()));
    register_object_store(&prefix, counting.clone());
    let rc = RolloutContext::open(&fx.store()).await.unwrap();
    let nothing = "nothing to roll back: orders has no candidate and no earlier stable version";

    counting.start_trace();
    let refused = try_run(&rc, "ROLLBACK orders").await.unwrap_err();
    let trace = counting.take_trace();
    assert!(refused.to_string().contains(nothing), "{refused}");
    assert!(
        !trace.iter().any(|r| r.contains("_rollout_events")),
        "{trace:?}"
    );
    assert!(!trace.is_empty(), "the log was read: {trace:?}");

    run(&setup, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
    let alice = fx.open(Some("alice")).await;
    run(&alice, "SELECT count(*) FROM orders").await;
    alice.flush_events().await.unwrap();
    counting.start_trace();
    let out = run(&rc, "ROLLBACK orders").await;
    let trace = counting.take_trace();
    assert!(
        out.contains("'v2' was read by 1 consumer(s) in 1 query"),
        "the blast radius is still reported: {out}"
    );
    assert!(
        trace.iter().any(|r| r.contains("_rollout_events")),
        "{trace:?}"
    );
    let refused = try_run(&rc, "ROLLBACK orders").await.unwrap_err();
    assert!(refused.to_string().contains(nothing), "{refused}");
}
