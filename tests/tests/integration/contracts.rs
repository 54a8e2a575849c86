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

/// Writes `items` as two Parquet files under `dir`: statistics as DataFusion writes them, or
/// none at all.
async fn write_items(dir: &std::path::Path, statistics: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    let options = if statistics {
        ""
    } else {
        " OPTIONS ('format.statistics_enabled' 'none')"
    };
    for (f, (start, end)) in [(1, 500), (501, 1000)].into_iter().enumerate() {
        let sql = format!(
            "COPY (SELECT value AS id, \
             CAST(value % 100 + 1 AS DECIMAL(10, 2)) AS price, \
             make_date(2021, 1, CAST(value % 28 + 1 AS INT)) AS day, \
             CASE WHEN value % 10 = 0 THEN NULL ELSE 'n' END AS note, \
             CASE WHEN value = 7 THEN CAST('NaN' AS DOUBLE) ELSE CAST(value % 5 AS DOUBLE) END AS x, \
             value % 60 AS qty, \
             CASE WHEN value % 2 = 0 THEN 'a' ELSE 'b' END AS code \
             FROM generate_series({start}, {end})) TO '{}' STORED AS PARQUET{options}",
            dir.join(format!("part-{f}.parquet")).display()
        );
        ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    }
}

const ITEMS_CONTRACT: &str = "CREATE CONTRACT items_contract FOR items (
    id BIGINT NOT NULL,
    price CHECK (price BETWEEN 1 AND 100),
    day NOT NULL CHECK (day >= DATE '2021-01-01'),
    note NOT NULL,
    x CHECK (x <= 5),
    qty CHECK (qty < 50),
    code CHECK (code BETWEEN 'a' AND 'b'),
    EXPECT row_count() = 1000,
    EXPECT null_fraction(note) <= 0.2,
    EXPECT count(note) >= 900,
    EXPECT max(qty) <= 59,
    EXPECT max(x) <= 5,
    EXPECT count(*) FILTER (WHERE qty > 0) > 0
)";

/// Each check's (check, column, value, status), without the detail.
async fn check_values(rc: &datafusion_rollout::RolloutContext, version: &str) -> Vec<String> {
    rows_of(
        rc,
        &format!("CHECK items VERSION '{version}'"),
        &["check", "column", "value", "status"],
    )
    .await
}

#[tokio::test]
async fn column_rules_that_file_statistics_prove_are_not_scanned() {
    let fx = Fixture::new().await;
    write_items(&fx.path("items_v1"), true).await;
    write_items(&fx.path("items_v2"), false).await;
    let rc = fx.open(None).await;
    run(&rc, "CREATE DATASET items").await;
    for v in ["v1", "v2"] {
        let dir = fx.path(&format!("items_{v}"));
        let sql = format!("REGISTER VERSION '{v}' OF items FROM '{}/'", dir.display());
        run(&rc, &sql).await;
    }
    run(&rc, ITEMS_CONTRACT).await;

    // v1's footers prove the rules on id, price, day and code, and give note's null count, the
    // row count, note's null fraction and count, qty's maximum; the float x (whose statistics
    // leave NaN out: x's maximum is NaN), qty (some rows fail) and a filtered count are scanned.
    let plan = rows_of(
        &rc,
        "EXPLAIN CHECK items VERSION 'v1'",
        &["plan_type", "plan"],
    )
    .await;
    let row = |kind: &str| {
        plan.iter()
            .find(|r| r.starts_with(&format!("{kind} ")))
            .cloned()
            .unwrap_or_default()
    };
    let statistics = row("statistics");
    for settled in [
        "not_null on id",
        "check (price BETWEEN 1 AND 100) on price",
        "not_null on day",
        "check (day >= DATE '2021-01-01') on day",
        "not_null on note",
        "check (code BETWEEN 'a' AND 'b') on code",
        "row_count()",
        "null_fraction(note) on note",
        "count(note) on note",
        "max(qty) on qty",
    ] {
        assert!(statistics.contains(settled), "{settled}: {plan:?}");
    }
    let scan = row("metric_scan");
    assert!(
        !statistics.contains("on x")
            && !statistics.contains("qty <")
            && !statistics.contains("FILTER"),
        "{plan:?}"
    );
    for scanned in ["x <= 5", "qty < 50", "max(x)", "FILTER (WHERE qty > 0)"] {
        assert!(scan.contains(scanned), "{scanned} is not scanned: {scan}");
    }
    for column in ["price", "day", "note", "code", "id"] {
        assert!(!scan.contains(column), "{column} is scanned: {scan}");
    }

    // The values are those a scan gives: NaN fails `x <= 5`, 160 rows fail `qty < 50`.
    let settled = check_values(&rc, "v1").await;
    let row_of = |rows: &[String], check: &str| {
        rows.iter()
            .find(|r| r.starts_with(check))
            .cloned()
            .unwrap_or_else(|| panic!("no {check} in {rows:?}"))
    };
    assert_eq!(
        row_of(&settled, "not_null note"),
        "not_null note 100.0 fail"
    );
    assert_eq!(
        row_of(&settled, "check (x <= 5)"),
        "check (x <= 5) x 1.0 fail"
    );
    let failing = (1..=1000).filter(|v| v % 60 >= 50).count();
    assert_eq!(
        row_of(&settled, "check (qty < 50)"),
        format!("check (qty < 50) qty {failing}.0 fail")
    );
    for (check, want) in [
        ("row_count()", "row_count() NULL 1000.0 pass"),
        ("null_fraction(note)", "null_fraction(note) note 0.1 pass"),
        ("count(note)", "count(note) note 900.0 pass"),
        ("max(qty)", "max(qty) qty 59.0 pass"),
        ("max(x)", "max(x) x NaN fail"),
    ] {
        assert_eq!(row_of(&settled, check), want);
    }
    run(&rc, "SET rollout.check_statistics = false").await;
    assert_eq!(check_values(&rc, "v1").await, settled);
    let plan = run(&rc, "EXPLAIN CHECK items VERSION 'v1'").await;
    assert!(
        !plan.contains("statistics") && plan.contains("price BETWEEN 1 AND 100"),
        "{plan}"
    );
    run(&rc, "RESET rollout.check_statistics").await;

    // v2's files have no column statistics, only their footers' row counts: everything else is
    // scanned, with the same values.
    let plan = rows_of(
        &rc,
        "EXPLAIN CHECK items VERSION 'v2'",
        &["plan_type", "plan"],
    )
    .await;
    let statistics: Vec<&String> = plan
        .iter()
        .filter(|r| r.starts_with("statistics "))
        .collect();
    assert!(
        statistics.len() == 1 && statistics[0].starts_with("statistics row_count() from"),
        "{plan:?}"
    );
    assert!(
        plan.iter()
            .any(|r| r.contains("price BETWEEN 1 AND 100") && r.contains("null_count(note)")),
        "{plan:?}"
    );
    assert_eq!(check_values(&rc, "v2").await, settled);

    // A contract's checks are the engine's reads, not a consumer's: settled from the statistics
    // or scanned, none enters the reads ledger. A query of the version does.
    run(
        &rc,
        "CREATE OR REPLACE CONTRACT items_contract FOR items (id NOT NULL, EXPECT row_count() = 1000)",
    )
    .await;
    let reads = || {
        rows_of(
            &rc,
            "SELECT count(*) AS n FROM rollout_reads('items')",
            &["n"],
        )
    };
    let before = reads().await;
    let plan = run(&rc, "EXPLAIN CHECK items VERSION 'v1'").await;
    assert!(plan.contains("in 0 scan(s)"), "{plan}");
    run(&rc, "CHECK items VERSION 'v1'").await;
    assert_eq!(reads().await, before);
    run(&rc, "SET rollout.check_statistics = false").await;
    let plan = run(&rc, "EXPLAIN CHECK items VERSION 'v1'").await;
    assert!(plan.contains("in 1 scan(s)"), "{plan}");
    run(&rc, "CHECK items VERSION 'v1'").await;
    assert_eq!(reads().await, before);
    run(&rc, "SELECT count(id) FROM items VERSION AS OF 'v1'").await;
    assert_ne!(reads().await, before);
}
