//! The path a user walks first: register, expose to a cohort, read, promote, roll back.

use crate::common::*;

#[tokio::test]
async fn cohort_rollout_and_rollback_end_to_end() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice', 'job-42')").await;
    run(
        &rc,
        "PROMOTE orders TO 'v2' FOR COHORT canary REASON 'try new prices'",
    )
    .await;

    rc.set_consumer(Some("alice")).unwrap();
    let alice = scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await;
    rc.set_consumer(Some("bob")).unwrap();
    let bob = scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await;
    assert_eq!(bob, "49.95");
    assert_eq!(alice, "54.95");

    // v1 lacks `channel`: a pinned read of v1 sees NULLs there.
    let nulls = scalar(
        &rc,
        "SELECT count(*) FROM orders VERSION AS OF 'v1' WHERE channel IS NULL",
    )
    .await;
    assert_eq!(nulls, "1000");
    let qualified = scalar(
        &rc,
        "SELECT count(orders.channel) FROM orders VERSION AS OF 'v2'",
    )
    .await;
    assert_eq!(qualified, "1000");

    // The session may join the cohort explicitly.
    run(&rc, "SET rollout.cohort = 'canary'").await;
    assert_eq!(
        scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await,
        "54.95"
    );
    run(&rc, "RESET rollout.cohort").await;
    assert_eq!(
        scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await,
        "49.95"
    );

    let rollout = run(&rc, "SHOW ROLLOUT orders").await;
    assert!(rollout.contains("cohort canary"), "{rollout}");
    assert!(rollout.contains("murmur3_x86_32"), "{rollout}");

    run(&rc, "ROLLBACK orders REASON 'prices look wrong'").await;
    rc.set_consumer(Some("alice")).unwrap();
    assert_eq!(
        scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await,
        "49.95"
    );

    let versions = run(&rc, "SHOW VERSIONS OF orders").await;
    assert!(versions.contains("rolled_back"), "{versions}");
    let history = run(&rc, "SHOW HISTORY OF orders").await;
    assert!(history.contains("prices look wrong"), "{history}");
    assert!(
        history.contains("ROLLBACK orders REASON 'prices look wrong'"),
        "{history}"
    );
}

#[tokio::test]
async fn full_promote_then_rollback_restores_previous_stable() {
    let fx = Fixture::new().await;
    let rc = fx.orders(Some("carol")).await;
    run(&rc, "PROMOTE orders TO 'v2'").await;
    assert_eq!(
        scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await,
        "54.95"
    );
    run(&rc, "ROLLBACK orders").await;
    assert_eq!(
        scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await,
        "49.95"
    );
    let err = try_run(&rc, "ROLLBACK orders")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("nothing to roll back"), "{err}");
    run(&rc, "ROLLBACK orders TO 'v2'").await;
    assert_eq!(
        scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await,
        "54.95"
    );
}

#[tokio::test]
async fn create_version_as_select_writes_managed_parquet() {
    let fx = Fixture::new().await;
    let rc = fx.orders(Some("dave")).await;
    run(
        &rc,
        "CREATE VERSION 'v3' OF orders AS SELECT order_id, customer_id, amount * 2 AS amount, channel FROM orders VERSION AS OF 'v2'",
    )
    .await;
    let count = scalar(&rc, "SELECT count(*) FROM orders VERSION AS OF 'v3'").await;
    assert_eq!(count, "1000");
    let versions = run(&rc, "SHOW VERSIONS OF orders").await;
    assert!(versions.contains("/data/orders/v3/"), "{versions}");
}

#[tokio::test]
async fn bad_input_is_refused_with_clear_errors_and_changes_nothing() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let seq = rc.store().state().sequence;
    let v1 = fx.path("orders_v1").display().to_string();
    let cases: Vec<(String, &str)> = vec![
        ("SELECT * FROM nope".into(), "nope"),
        ("PROMOTE nope TO 'v1'".into(), "unknown dataset 'nope'"),
        ("PROMOTE orders TO 'v9'".into(), "has no version 'v9'"),
        (
            "PROMOTE orders TO 'v2' FOR COHORT ghosts".into(),
            "unknown cohort 'ghosts'",
        ),
        (
            "PROMOTE orders TO 'v2' AT 101 PERCENT".into(),
            "not between 0 and 100",
        ),
        (
            "PROMOTE orders TO 'v2' AT 1.005 PERCENT".into(),
            "at most two decimals",
        ),
        (
            format!("REGISTER VERSION 'v1' OF orders FROM '{v1}/'"),
            "already has a version 'v1'",
        ),
        (
            format!("REGISTER VERSION '../x' OF orders FROM '{v1}/'"),
            "invalid version id",
        ),
        (
            format!("REGISTER VERSION 'a/b' OF orders FROM '{v1}/'"),
            "invalid version id",
        ),
        (
            format!("REGISTER VERSION '' OF orders FROM '{v1}/'"),
            "it is empty",
        ),
        (
            "REGISTER VERSION 'v9' OF orders FROM '/definitely/not/here/'".into(),
            "nothing is there",
        ),
        (
            format!("REGISTER VERSION 'v9' OF orders FROM '{v1}/' FORMAT CSV"),
            "holds no CSV files",
        ),
        ("CREATE DATASET \"../evil\"".into(), "invalid dataset name"),
        ("CREATE DATASET orders".into(), "already exists"),
        ("PROMOTE orders TO".into(), "Expected: a version id"),
        ("PROMOTE orders TO 'v2' FORCE".into(), "needs a REASON"),
        (
            "SET rollout.cohort = 'ghosts'".into(),
            "unknown cohort 'ghosts'",
        ),
        (
            "SET rollout.nope = 'x'".into(),
            "unknown setting 'rollout.nope'",
        ),
        (
            "SELECT * FROM orders VERSION AS OF 'v7'".into(),
            "has no version 'v7'",
        ),
    ];
    for (sql, expected) in cases {
        let err = try_run(&rc, &sql).await.expect_err(&sql).to_string();
        assert!(
            err.contains(expected),
            "{sql}: expected {expected:?} in {err:?}"
        );
    }
    assert_eq!(
        rc.store().refresh().await.unwrap().sequence,
        seq,
        "nothing was committed"
    );
}

#[tokio::test]
async fn breaking_schema_changes_are_listed_and_refused() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let dir = fx.path("breaking");
    std::fs::create_dir_all(&dir).unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.sql(&format!(
        "COPY (SELECT CAST(value AS INT) AS order_id, value AS amount_eur FROM generate_series(1, 10)) TO '{}' STORED AS PARQUET",
        dir.join("p.parquet").display()
    ))
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();
    let err = try_run(
        &rc,
        &format!("REGISTER VERSION 'v3' OF orders FROM '{}/'", dir.display()),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("column 'order_id' changed type from Int64 to Int32"),
        "{err}"
    );
    assert!(err.contains("column 'customer_id' was dropped"), "{err}");
    assert!(err.contains("column 'amount' was dropped"), "{err}");
}
