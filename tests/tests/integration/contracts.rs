//! Contracts, CHECK, guarded PROMOTE, stages and automatic rollback, on real Parquet.

use crate::common::*;

const CONTRACT: &str = "CREATE CONTRACT orders_contract FOR orders (
    order_id BIGINT NOT NULL UNIQUE,
    amount DOUBLE CHECK (amount >= 0),
    EXPECT row_count() BETWEEN 500 AND 100000000,
    EXPECT null_fraction(customer_id) <= 0.01,
    EXPECT drift_psi(amount) < 1 WARN WHEN > 0.01
)";

/// orders (v1 stable, v2 registered) with a contract, and a bad version v3 (negative amounts).
async fn setup(fx: &Fixture) -> datafusion_rollout::RolloutContext {
    let rc = fx.orders(Some("alice")).await;
    run(&rc, CONTRACT).await;
    write_orders(&fx.path("orders_v3"), 1000, 1, -200.0, true).await;
    rc
}

fn status_of(table: &str, check: &str) -> String {
    let line = table
        .lines()
        .find(|l| l.contains(check))
        .unwrap_or_else(|| panic!("no row for {check} in\n{table}"));
    ["pass", "warn", "fail", "error"]
        .into_iter()
        .find(|s| line.contains(&format!("| {s} ")))
        .unwrap_or("?")
        .to_string()
}

#[tokio::test]
async fn check_runs_every_rule_and_expectation() {
    let fx = Fixture::new().await;
    let rc = setup(&fx).await;
    let out = run(&rc, "CHECK orders VERSION 'v2'").await;
    assert_eq!(status_of(&out, "| type "), "pass", "{out}");
    assert_eq!(status_of(&out, "not_null"), "pass");
    assert_eq!(status_of(&out, "unique"), "pass");
    assert_eq!(status_of(&out, "check (amount >= 0)"), "pass");
    assert_eq!(status_of(&out, "row_count()"), "pass");
    assert_eq!(status_of(&out, "drift_psi(amount)"), "warn", "{out}");
    assert!(out.contains("against 'v1'"), "{out}");
    let contract = run(&rc, "SHOW CONTRACT orders").await;
    assert!(
        contract.contains("EXPECT drift_psi(amount) < 1 WARN WHEN > 0.01"),
        "{contract}"
    );
    // One scan for the metrics over v2; the drift from the two versions' stored profiles.
    let plan = run(&rc, "EXPLAIN CHECK orders VERSION 'v2'").await;
    assert!(
        plan.contains("8 check(s) over orders@v2 in 1 scan(s)"),
        "{plan}"
    );
    assert!(
        plan.contains("psi(amount) from the stored profiles of orders@v1 and orders@v2"),
        "{plan}"
    );
}

#[tokio::test]
async fn a_bad_version_is_rejected_refused_then_forced() {
    let fx = Fixture::new().await;
    let rc = setup(&fx).await;
    let out = run(
        &rc,
        &format!(
            "REGISTER VERSION 'v3' OF orders FROM '{}/'",
            fx.path("orders_v3").display()
        ),
    )
    .await;
    assert!(out.contains("REJECTED"), "{out}");
    let versions = run(&rc, "SHOW VERSIONS OF orders").await;
    assert!(versions.contains("rejected"), "{versions}");

    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    let err = try_run(&rc, "PROMOTE orders TO 'v3' FOR COHORT canary")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("rejected"), "{err}");

    // A version that passed registration but fails against a stricter contract now.
    run(
        &rc,
        "CREATE OR REPLACE CONTRACT strict FOR orders (EXPECT drift_psi(amount) < 0.001)",
    )
    .await;
    let err = try_run(&rc, "PROMOTE orders TO 'v2' FOR COHORT canary")
        .await
        .unwrap_err();
    assert!(err.is_data_check(), "guard failures exit 1: {err}");
    let msg = err.to_string();
    assert!(
        msg.contains("refused") && msg.contains("drift_psi(amount)"),
        "{msg}"
    );
    assert!(
        rc.store().state().datasets["orders"]
            .rollout
            .candidate
            .is_none(),
        "nothing exposed"
    );

    run(
        &rc,
        "PROMOTE orders TO 'v2' FOR COHORT canary FORCE REASON 'accepted drift'",
    )
    .await;
    let history = rc.store().history().await.unwrap();
    let last = history.last().unwrap();
    assert!(last.statement.contains("FORCE REASON 'accepted drift'"));
    assert!(
        !last.checks.is_empty(),
        "the gating checks are in the history entry"
    );
}

#[tokio::test]
async fn check_rollout_rolls_back_a_failing_candidate_as_guard() {
    let fx = Fixture::new().await;
    let rc = setup(&fx).await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    run(&rc, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
    // Healthy: nothing happens.
    let out = run(&rc, "CHECK ROLLOUT orders").await;
    assert!(!out.contains("rolled back"), "{out}");
    // The contract tightens; the live rollout now fails its guards and is rolled back.
    run(
        &rc,
        "CREATE OR REPLACE CONTRACT strict FOR orders (EXPECT drift_psi(amount) < 0.001)",
    )
    .await;
    let out = run(&rc, "CHECK ROLLOUTS").await;
    assert!(out.contains("rolled back the rollout of 'v2'"), "{out}");
    let history = rc.store().history().await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(last.actor, "guard");
    assert_eq!(last.operation, "ROLLBACK");
    assert!(
        last.reason
            .as_deref()
            .unwrap_or("")
            .contains("drift_psi(amount)")
    );
    assert!(!last.checks.is_empty());
    assert_eq!(
        scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await,
        "49.95"
    );
}

#[tokio::test]
async fn stages_advance_only_after_soak_and_end_stable() {
    let fx = Fixture::new().await;
    let rc = setup(&fx).await;
    run(
        &rc,
        "PROMOTE orders TO 'v2' IN STAGES (10, 50, 100) EVERY INTERVAL '1 hour'",
    )
    .await;
    let rollout = run(&rc, "SHOW ROLLOUT orders").await;
    assert!(
        rollout.contains("1 of 3") && rollout.contains("50%"),
        "{rollout}"
    );
    let err = try_run(&rc, "ADVANCE orders")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("soaks until"), "{err}");
    run(&rc, "ROLLBACK orders").await;

    run(
        &rc,
        "PROMOTE orders TO 'v2' IN STAGES (10, 50, 100) EVERY INTERVAL '0 seconds'",
    )
    .await;
    let out = run(&rc, "ADVANCE orders").await;
    assert!(out.contains("stage 2 of 3: 50%"), "{out}");
    let out = run(&rc, "ADVANCE orders").await;
    assert!(
        out.contains("last stage") && out.contains("stable"),
        "{out}"
    );
    assert_eq!(
        rc.store().state().datasets["orders"]
            .rollout
            .stable
            .as_deref(),
        Some("v2")
    );
    let err = try_run(&rc, "ADVANCE orders")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no staged rollout"), "{err}");
}

#[tokio::test]
async fn bad_contracts_are_refused_naming_the_item() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    for (sql, expected) in [
        (
            "CREATE CONTRACT c FOR orders (nope BIGINT NOT NULL)",
            "'nope' is not a column",
        ),
        (
            "CREATE CONTRACT c FOR orders (EXPECT null_fraction(nope) < 1)",
            "null_fraction(nope)",
        ),
        (
            "CREATE CONTRACT c FOR orders (EXPECT no_such_fn(amount) < 1)",
            "no_such_fn",
        ),
        (
            "CREATE CONTRACT c FOR orders (EXPECT drift_nope(amount) < 1)",
            "unknown drift function",
        ),
        (
            "CREATE CONTRACT c FOR orders (EXPECT row_count() < 'ten')",
            "must be a number",
        ),
        (
            "CREATE CONTRACT c FOR ghosts (EXPECT row_count() > 0)",
            "unknown dataset 'ghosts'",
        ),
        ("CHECK orders", "has no contract"),
        ("ADVANCE orders", "no staged rollout"),
    ] {
        let err = try_run(&rc, sql).await.expect_err(sql).to_string();
        assert!(
            err.contains(expected),
            "{sql}: expected {expected:?} in {err}"
        );
    }
}

#[tokio::test]
async fn drift_table_function_compares_two_versions_column_by_column() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    write_orders(&fx.path("orders_v3"), 1000, 1, 60.0, true).await;
    run(
        &rc,
        &format!(
            "REGISTER VERSION 'v3' OF orders FROM '{}/'",
            fx.path("orders_v3").display()
        ),
    )
    .await;
    let out = run(
        &rc,
        "SELECT \"column\", verdict FROM drift('orders', 'v1', 'v2') ORDER BY \"column\"",
    )
    .await;
    // v2 shifts amounts by 5 (of a 0..100 range): moderate at most; ids are identical.
    assert!(out.contains("| order_id    | stable"), "{out}");
    assert!(
        !out.contains("channel"),
        "only columns both versions have: {out}"
    );
    let out = run(
        &rc,
        "SELECT verdict, round(psi, 3) > 0.25 FROM drift('orders', 'v1', 'v3') WHERE \"column\" = 'amount'",
    )
    .await;
    assert!(out.contains("drift") && out.contains("true"), "{out}");
    let err = try_run(&rc, "SELECT * FROM drift('orders', 'v1', 'v9')")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no version 'v9'"), "{err}");
}

#[tokio::test]
async fn an_odcs_contract_is_imported_and_enforced() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let yaml = fx.path("orders.odcs.yaml");
    std::fs::write(
        &yaml,
        r#"apiVersion: v3.0.2
kind: DataContract
id: orders
schema:
  - name: orders
    properties:
      - name: order_id
        physicalType: BIGINT
        primaryKey: true
      - name: amount
        quality:
          - metric: nullValues
            mustBe: 0
          - type: sql
            query: SELECT count(*) FROM orders
            mustBeGreaterThan: 0
    quality:
      - metric: rowCount
        mustBeGreaterThan: 5000
"#,
    )
    .unwrap();
    let out = run(
        &rc,
        &format!(
            "CREATE CONTRACT imported FOR orders FROM '{}'",
            yaml.display()
        ),
    )
    .await;
    assert!(
        out.contains("not imported") && out.contains("type 'sql'"),
        "{out}"
    );
    let check = run(&rc, "CHECK orders VERSION 'v2'").await;
    assert_eq!(status_of(&check, "row_count()"), "fail", "{check}");
    assert_eq!(status_of(&check, "null_count(amount)"), "pass", "{check}");
    assert_eq!(status_of(&check, "unique"), "pass", "{check}");

    std::fs::write(&yaml, "schema:\n  - name: [unclosed\n").unwrap();
    let err = try_run(
        &rc,
        &format!(
            "CREATE OR REPLACE CONTRACT c FOR orders FROM '{}'",
            yaml.display()
        ),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("orders.odcs.yaml") && err.contains("line"),
        "{err}"
    );
}
