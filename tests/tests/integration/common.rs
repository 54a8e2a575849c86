//! Helpers: real Parquet data written by DataFusion, and fresh stores.

use std::path::{Path, PathBuf};

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::prelude::SessionContext;
use datafusion_rollout::{RolloutContext, RolloutOptions};

/// Writes `rows` rows of orders as Parquet files (`files` files) under `dir`.
/// `shift` is added to every amount; `with_channel` adds a nullable column.
pub async fn write_orders(dir: &Path, rows: u64, files: u64, shift: f64, with_channel: bool) {
    std::fs::create_dir_all(dir).unwrap();
    let ctx = SessionContext::new();
    let per_file = rows.div_ceil(files);
    for f in 0..files {
        let start = f * per_file + 1;
        let end = ((f + 1) * per_file).min(rows);
        let channel = if with_channel {
            ", CASE WHEN value % 3 = 0 THEN 'web' ELSE 'store' END AS channel"
        } else {
            ""
        };
        let sql = format!(
            "COPY (SELECT value AS order_id, value % 100 AS customer_id, \
             CAST(value % 1000 AS DOUBLE) / 10.0 + {shift} AS amount{channel} \
             FROM generate_series({start}, {end})) TO '{}' STORED AS PARQUET",
            dir.join(format!("part-{f}.parquet")).display()
        );
        ctx.sql(&sql).await.unwrap().collect().await.unwrap();
    }
}

/// A temp folder with v1 (1000 rows) and v2 (1000 rows, amounts + 5, a `channel` column).
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub async fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        write_orders(&dir.path().join("orders_v1"), 1000, 2, 0.0, false).await;
        write_orders(&dir.path().join("orders_v2"), 1000, 2, 5.0, true).await;
        Fixture { dir }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn store(&self) -> String {
        self.path("store").display().to_string()
    }

    pub async fn open(&self, consumer: Option<&str>) -> RolloutContext {
        RolloutContext::open_with(
            &self.store(),
            RolloutOptions {
                consumer: consumer.map(str::to_string),
                actor: Some("test".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
    }

    /// orders with v1 stable and v2 registered.
    pub async fn orders(&self, consumer: Option<&str>) -> RolloutContext {
        let rc = self.open(consumer).await;
        run(&rc, "CREATE DATASET orders COMMENT 'test orders'").await;
        run(
            &rc,
            &format!(
                "REGISTER VERSION 'v1' OF orders FROM '{}/'",
                self.path("orders_v1").display()
            ),
        )
        .await;
        run(&rc, "PROMOTE orders TO 'v1'").await;
        run(
            &rc,
            &format!(
                "REGISTER VERSION 'v2' OF orders FROM '{}/'",
                self.path("orders_v2").display()
            ),
        )
        .await;
        rc
    }
}

/// Runs a statement and returns its output as a pretty table.
pub async fn run(rc: &RolloutContext, sql: &str) -> String {
    match try_run(rc, sql).await {
        Ok(s) => s,
        Err(e) => panic!("{sql}: {e}"),
    }
}

pub async fn try_run(rc: &RolloutContext, sql: &str) -> datafusion_rollout::Result<String> {
    let df = rc.sql(sql).await?;
    let batches = df
        .collect()
        .await
        .map_err(datafusion_rollout::Error::from)?;
    Ok(pretty_format_batches(&batches)?.to_string())
}

/// Runs `sql` and returns the sequence its commit landed at (`None`: nothing was committed),
/// read from the statement's outcome.
pub async fn commit(rc: &RolloutContext, sql: &str) -> datafusion_rollout::Result<Option<u64>> {
    Ok(rc.run(sql).await?.sequence())
}

/// The single value of a one-row, one-column query, as text.
pub async fn scalar(rc: &RolloutContext, sql: &str) -> String {
    let df = rc.sql(sql).await.unwrap();
    let batches = df.collect().await.unwrap();
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("a row");
    datafusion::arrow::util::display::array_value_to_string(batch.column(0), 0).unwrap()
}

/// The values of `columns` in each row of `sql`'s result, as text (`NULL` for a NULL), joined by
/// a space.
pub async fn rows_of(rc: &RolloutContext, sql: &str, columns: &[&str]) -> Vec<String> {
    use datafusion::arrow::array::Array;
    use datafusion::arrow::util::display::array_value_to_string;
    let batches = rc.sql(sql).await.unwrap().collect().await.unwrap();
    let mut out = Vec::new();
    for b in &batches {
        let arrays: Vec<_> = columns
            .iter()
            .map(|c| {
                b.column_by_name(c)
                    .unwrap_or_else(|| panic!("{sql}: no column {c}"))
            })
            .collect();
        for row in 0..b.num_rows() {
            let values: Vec<String> = arrays
                .iter()
                .map(|a| match a.is_null(row) {
                    true => "NULL".to_string(),
                    false => array_value_to_string(a, row).unwrap(),
                })
                .collect();
            out.push(values.join(" "));
        }
    }
    out
}

// ---- child processes ----
//
// A test that needs other OS processes runs this test binary again on one helper test. The
// helpers are `#[ignore = "child process of ...; run by it"]`, so that a normal run does not
// count them as passing tests, and the parent starts them with `--ignored --exact <name>`.

/// This test binary, set to run only the ignored helper test `name` (e.g.
/// `"concurrency::child_writer"`), its output not captured.
pub fn child_test(name: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--ignored",
        "--exact",
        name,
        "--nocapture",
        "--test-threads=1",
    ]);
    cmd
}

/// Panics unless a child started by [`child_test`] exited successfully and ran its test (a
/// filter that matches nothing also exits successfully, having run nothing).
pub fn assert_child_passed(what: &str, out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("test result: ok. 1 passed"),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The environment variable `var` a parent sets for its child helper test; a helper run on
/// its own (`cargo test -- --ignored`) has none and says so.
pub fn child_env(var: &str, parent: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: this helper is a child process of {parent}, run by it")
    })
}

/// Every file under `dir`, recursively.
pub fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
