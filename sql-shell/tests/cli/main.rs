//! Runs the real `rollout` binary: batch mode, snapshots of every format and meta command,
//! and an interactive session through a pseudo-terminal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod batch;
mod interactive;
mod server;
mod snapshots;

use std::path::Path;

use assert_cmd::Command;
use assert_cmd::cargo::cargo_bin_cmd;

/// `rollout` on a fresh store in `dir`, with a fixed OS user, `HOME` in `dir` (no rc file or
/// history of the person running the tests) and no inherited store.
pub fn rollout(dir: &Path) -> Command {
    let mut cmd = cargo_bin_cmd!("rollout");
    cmd.current_dir(dir)
        .env_remove("ROLLOUT_STORE")
        .env_remove("XDG_DATA_HOME")
        .env_remove("ROLLOUT_USER")
        .env_remove("ROLLOUT_PASSWORD")
        .env_remove("ROLLOUT_TOKEN")
        .env("USER", "tester")
        .env("HOME", dir)
        .arg("--store")
        .arg(dir.join("store"));
    cmd
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn run(cmd: &mut Command) -> Run {
    let output = cmd.output().unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

/// Writes Parquet versions `v1` (ids 1..=3) and `v2` (ids 1..=4, a new column) of a dataset
/// `orders`, promotes v1, and creates a cohort `canary` that sees v2.
pub fn setup_orders(dir: &Path) {
    let data = dir.join("data");
    let setup = format!(
        "COPY (SELECT value AS order_id, value * 1.5 AS amount FROM generate_series(1, 3))
           TO '{v1}/part-0.parquet' STORED AS PARQUET;
         COPY (SELECT value AS order_id, value * 1.5 AS amount,
                      CASE WHEN value % 2 = 0 THEN 'web' END AS channel
               FROM generate_series(1, 4))
           TO '{v2}/part-0.parquet' STORED AS PARQUET;
         CREATE DATASET orders COMMENT 'test orders';
         REGISTER VERSION 'v1' OF orders FROM '{v1}/';
         PROMOTE orders TO 'v1';
         REGISTER VERSION 'v2' OF orders FROM '{v2}/';
         CREATE COHORT canary MEMBERS ('carol');
         PROMOTE orders TO 'v2' FOR COHORT canary;",
        v1 = data.join("v1").display(),
        v2 = data.join("v2").display(),
    );
    let out = run(rollout(dir).args(["-q", "--format", "csv", "-c", &setup]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}
