//! Batch mode: output formats, exit codes, batch errors, the demo.

use assert_cmd::cargo::cargo_bin_cmd;
use tempfile::TempDir;

use crate::{rollout, run};

#[test]
fn select_one_as_table() {
    let dir = TempDir::new().unwrap();
    let out = run(rollout(dir.path()).args(["-c", "SELECT 1 AS one, NULL AS nothing"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "┌─────┬─────────┐\n\
         │ one ┆ nothing │\n\
         ╞═════╪═════════╡\n\
         │   1 ┆ NULL    │\n\
         └─────┴─────────┘\n"
    );
    assert_eq!(out.stderr, "");
}

#[test]
fn select_one_as_csv() {
    let dir = TempDir::new().unwrap();
    let out = run(rollout(dir.path()).args([
        "--format",
        "csv",
        "-c",
        "SELECT 1 AS one, 'a,b' AS text, NULL AS nothing",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "one,text,nothing\n1,\"a,b\",\n");
}

#[test]
fn select_one_as_json() {
    let dir = TempDir::new().unwrap();
    let out = run(rollout(dir.path()).args([
        "--format",
        "json",
        "-c",
        "SELECT 1 AS one, NULL AS nothing",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "[{\"one\":1,\"nothing\":null}]\n");
}

#[test]
fn empty_result_keeps_the_header() {
    let dir = TempDir::new().unwrap();
    let out =
        run(rollout(dir.path()).args(["--format", "csv", "-c", "SELECT 1 AS one WHERE false"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "one\n");
}

#[test]
fn several_commands_run_in_order() {
    let dir = TempDir::new().unwrap();
    let out = run(rollout(dir.path()).args([
        "--format",
        "csv",
        "-c",
        "SELECT 1 AS a; SELECT 2 AS b",
        "-c",
        "SELECT 3 AS c",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "a\n1\nb\n2\nc\n3\n");
}

#[test]
fn parse_error_exits_2_with_the_message() {
    let dir = TempDir::new().unwrap();
    let out = run(rollout(dir.path()).args(["-c", "SELEC 1"]));
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "");
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    // The message, the offending line and a caret under the column.
    assert_eq!(
        out.stderr,
        "error: Expected: an SQL statement, found: SELEC at line 1, column 1\n  SELEC 1\n  ^\n"
    );
    // Display, never Debug formatting.
    assert!(!out.stderr.contains("Error {"), "{}", out.stderr);
    assert!(!out.stderr.contains("ParserError("), "{}", out.stderr);
}

#[test]
fn script_stops_at_the_first_failure_naming_file_and_line() {
    let dir = TempDir::new().unwrap();
    let script = dir.path().join("script.sql");
    std::fs::write(
        &script,
        "-- a script\nSELECT 1 AS first;\n\nSELECT *\n  FROM no_such_table;\nSELECT 3 AS never;\n",
    )
    .unwrap();
    let out = run(rollout(dir.path())
        .args(["--format", "csv", "-f"])
        .arg(&script));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stdout, "first\n1\n");
    let prefix = format!("error: {}:4: ", script.display());
    assert!(out.stderr.starts_with(&prefix), "{}", out.stderr);
    assert!(out.stderr.contains("no_such_table"), "{}", out.stderr);
}

#[test]
fn syntax_error_positions_are_in_the_file() {
    let dir = TempDir::new().unwrap();
    let script = dir.path().join("script.sql");
    std::fs::write(&script, "SELECT 1 AS a;\n\nSELECT a,\n  b c d\nFROM t;\n").unwrap();
    let out = run(rollout(dir.path())
        .args(["--format", "csv", "-f"])
        .arg(&script));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let prefix = format!("error: {}:3: ", script.display());
    assert!(out.stderr.starts_with(&prefix), "{}", out.stderr);
    assert!(out.stderr.contains("line 4, column 7"), "{}", out.stderr);
}

#[test]
fn script_from_stdin() {
    let dir = TempDir::new().unwrap();
    let out = run(rollout(dir.path())
        .args(["--format", "csv"])
        .write_stdin("SELECT 1 AS a;\nSELECT oops FROM;\n"));
    assert_eq!(out.code, 2);
    assert_eq!(out.stdout, "a\n1\n");
    assert!(
        out.stderr.starts_with("error: <stdin>:2: "),
        "{}",
        out.stderr
    );
}

#[test]
fn failed_assert_exits_1() {
    let dir = TempDir::new().unwrap();
    let out =
        run(rollout(dir.path()).args(["-c", "ASSERT 1 + 1 = 2", "-c", "ASSERT false AS 'boom'"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.starts_with("error: "), "{}", out.stderr);
    assert!(out.stderr.contains("boom"), "{}", out.stderr);
}

#[test]
fn rollout_statements_persist_across_runs() {
    let dir = TempDir::new().unwrap();
    let out = run(rollout(dir.path()).args(["-c", "CREATE DATASET orders"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(rollout(dir.path()).args(["--format", "csv", "-c", "SHOW DATASETS"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("orders"), "{}", out.stdout);
    let out = run(rollout(dir.path()).args(["-c", "PROMOTE nope TO 'v1'"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("nope"), "{}", out.stderr);
}

/// The values row printed (as CSV) after each echo of `select` in a demo transcript.
fn results_after<'a>(transcript: &'a str, select: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = transcript.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter(|(_, line)| line.contains(select))
        .filter_map(|(i, _)| lines.get(i + 2).copied())
        .collect()
}

#[test]
fn demo_shows_alice_and_bob_reading_different_versions() {
    let dir = TempDir::new().unwrap();
    let demo = dir.path().join("demo");
    let out = run(rollout(dir.path())
        .args(["demo", "--format", "csv", "--dir"])
        .arg(&demo));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(demo.join(".rollout-demo").is_file());

    let averages = results_after(&out.stdout, "FROM orders;");
    assert_eq!(averages.len(), 3, "{}", out.stdout);
    let (alice, bob, alice_after_rollback) = (averages[0], averages[1], averages[2]);
    assert_ne!(alice, bob, "{}", out.stdout);
    assert_eq!(bob, alice_after_rollback, "{}", out.stdout);
    assert!(bob.starts_with("10000,"), "{}", out.stdout);
    assert!(alice.starts_with("10500,"), "{}", out.stdout);
    assert!(out.stdout.contains("rollout> SHOW HISTORY OF orders;"));

    // A second run replaces the first (the folder carries the marker).
    let again = run(rollout(dir.path())
        .args(["demo", "--format", "csv", "--dir"])
        .arg(&demo));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(results_after(&again.stdout, "FROM orders;"), averages);
}

#[test]
fn demo_refuses_a_folder_it_did_not_create() {
    let dir = TempDir::new().unwrap();
    let precious = dir.path().join("precious");
    std::fs::create_dir(&precious).unwrap();
    std::fs::write(precious.join("keep.txt"), "mine").unwrap();
    let out = run(rollout(dir.path()).args(["demo", "--dir"]).arg(&precious));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("refusing"), "{}", out.stderr);
    assert_eq!(
        std::fs::read_to_string(precious.join("keep.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn consumer_cohort_and_store_env_choose_what_is_read() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    let setup = format!(
        "COPY (SELECT 1 AS id) TO '{v1}/part-0.parquet' STORED AS PARQUET;
         COPY (SELECT 2 AS id) TO '{v2}/part-0.parquet' STORED AS PARQUET;
         CREATE DATASET things;
         REGISTER VERSION 'v1' OF things FROM '{v1}/';
         PROMOTE things TO 'v1';
         REGISTER VERSION 'v2' OF things FROM '{v2}/';
         CREATE COHORT canary MEMBERS ('carol');
         PROMOTE things TO 'v2' FOR COHORT canary;",
        v1 = data.join("v1").display(),
        v2 = data.join("v2").display(),
    );
    let script = dir.path().join("setup.sql");
    std::fs::write(&script, setup).unwrap();
    let out = run(rollout(dir.path()).arg("-f").arg(&script));
    assert_eq!(out.code, 0, "{}", out.stderr);

    let read = |extra: &[&str]| {
        let mut cmd = cargo_bin_cmd!("rollout");
        cmd.current_dir(dir.path())
            .env("ROLLOUT_STORE", dir.path().join("store"))
            .env("USER", "tester")
            .args(["--format", "csv", "-q"])
            .args(extra)
            .args(["-c", "SELECT id FROM things"]);
        let out = run(&mut cmd);
        assert_eq!(out.code, 0, "{}", out.stderr);
        out.stdout
    };
    assert_eq!(read(&[]), "id\n1\n", "the OS user is not in the cohort");
    assert_eq!(read(&["--consumer", "carol"]), "id\n2\n");
    assert_eq!(read(&["--consumer", "dave"]), "id\n1\n");
    assert_eq!(read(&["--cohort", "canary"]), "id\n2\n");
}

#[test]
fn check_exit_codes_and_fail_on_warn() {
    let dir = TempDir::new().unwrap();
    crate::setup_orders(dir.path());
    let warn_only = "CREATE CONTRACT c FOR orders (EXPECT row_count() >= 1 WARN WHEN < 10)";
    let out = run(rollout(dir.path()).args(["-q", "-c", warn_only]));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Warnings print and pass, unless --fail-on-warn.
    let check = [
        "--format",
        "csv",
        "-c",
        "CHECK orders",
        "-c",
        "SELECT 'after' AS next",
    ];
    let out = run(rollout(dir.path()).args(check));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains(",warn,"), "{}", out.stdout);
    assert!(out.stdout.contains("after"), "{}", out.stdout);
    let out = run(rollout(dir.path()).arg("--fail-on-warn").args(check));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert_eq!(
        out.stderr,
        "error: CHECK orders: 1 check warned (--fail-on-warn)\n"
    );
    assert!(
        !out.stdout.contains("after"),
        "the batch stops: {}",
        out.stdout
    );

    // A fail exits 1 after the result is printed; --continue-on-error runs on, same code.
    let failing =
        "CREATE OR REPLACE CONTRACT c FOR orders (EXPECT row_count() BETWEEN 1000 AND 2000)";
    let out = run(rollout(dir.path()).args(["-q", "-c", failing]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(rollout(dir.path()).args(check));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains(",fail,"), "{}", out.stdout);
    assert_eq!(out.stderr, "error: CHECK orders: 1 check failed\n");
    let out = run(rollout(dir.path()).arg("--continue-on-error").args(check));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stdout.contains("after"), "{}", out.stdout);
}

#[test]
fn continue_on_error_runs_everything_and_exits_with_the_worst() {
    let dir = TempDir::new().unwrap();
    let out = run(rollout(dir.path())
        .args(["--continue-on-error", "--format", "csv"])
        .write_stdin("ASSERT false AS 'first';\nSELECT oops FROM;\nSELECT 3 AS last;\n"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert_eq!(out.stdout, "last\n3\n");
    assert!(
        out.stderr
            .starts_with("error: <stdin>:1: assertion failed: first\n"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("error: <stdin>:2: "), "{}", out.stderr);
}

#[test]
fn dash_reads_the_script_from_stdin() {
    let dir = TempDir::new().unwrap();
    let out = run(rollout(dir.path())
        .args(["--format", "ndjson", "-f", "-"])
        .write_stdin("\\pset null '-'\nSELECT 1 AS a;\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout,
        "Output format is ndjson, NULL shows as '-'.\n{\"a\":1}\n"
    );
}

#[test]
fn watch_runs_the_controller_until_its_rounds_are_done() {
    let dir = TempDir::new().unwrap();
    crate::setup_orders(dir.path());
    // Nothing self-running yet: rounds say so, and the watch keeps going.
    let out = run(rollout(dir.path()).args(["watch", "--interval", "50ms", "--rounds", "2"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.matches("no AUTO rollout is live").count(),
        2,
        "{}",
        out.stdout
    );

    let start = "ROLLBACK orders; PROMOTE orders TO 'v2' IN STAGES (50, 100) EVERY INTERVAL '1 second' AUTO";
    let out = run(rollout(dir.path()).args(["-q", "-c", start]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // No contract: the stage advances on its soak alone, and 100% makes v2 stable.
    let out = run(rollout(dir.path()).args(["watch", "--interval", "250ms", "--rounds", "10"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("orders 'v2': wait"), "{}", out.stdout);
    assert_eq!(
        out.stdout.matches(": advance (#").count(),
        1,
        "{}",
        out.stdout
    );
    let out = run(rollout(dir.path()).args(["--format", "csv", "-c", "SHOW ROLLOUT orders"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("\norders,v2,,"), "{}", out.stdout);
}

#[test]
fn data_that_fails_its_contract_exits_1_and_a_typo_exits_2() {
    let dir = TempDir::new().unwrap();
    crate::setup_orders(dir.path());
    let v2 = dir.path().join("data").join("v2");
    let prepare =
        "ROLLBACK orders; CREATE CONTRACT c FOR orders (EXPECT row_count() BETWEEN 1000 AND 2000)";
    let out = run(rollout(dir.path()).args(["-q", "-c", prepare]));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // The registration lands (the version is kept, rejected) and the script fails as data.
    let register = format!("REGISTER VERSION 'v3' OF orders FROM '{}/'", v2.display());
    let out =
        run(rollout(dir.path()).args(["--format", "csv", "-c", &register, "-c", "SELECT 'after'"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stdout.contains("REJECTED by its contract"),
        "{}",
        out.stdout
    );
    assert!(
        !out.stdout.contains("after"),
        "the batch stops: {}",
        out.stdout
    );
    assert_eq!(out.stderr, format!("error: {register}: 1 check failed\n"));

    // Promoting the rejected version is refused as data (1); a typo is an error (2).
    let out = run(rollout(dir.path()).args(["-c", "PROMOTE orders TO 'v3' FOR COHORT canary"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("was rejected by its contract"),
        "{}",
        out.stderr
    );
    let out = run(rollout(dir.path()).args(["-c", "PROMOTE orders TO 'v33' FOR COHORT canary"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("has no version 'v33'"),
        "{}",
        out.stderr
    );

    // FORCE exposes it although its guards fail: that is what was asked, so it succeeds.
    let forced = "PROMOTE orders TO 'v3' FOR COHORT canary FORCE REASON 'accepted risk'";
    let out = run(rollout(dir.path()).args(["--format", "csv", "-c", forced]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("rollout started"), "{}", out.stdout);
}

#[test]
fn a_store_with_users_asks_for_a_login_and_records_the_user() {
    let dir = TempDir::new().unwrap();
    let out = run(rollout(dir.path()).args([
        "-c",
        "CREATE DATASET orders",
        "-c",
        "CREATE USER admin PASSWORD 'admin-password'",
        "-c",
        "CREATE USER alice PASSWORD 'alice-password'",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // No credentials (and no terminal to prompt on): refused, exit code 2.
    let out = run(rollout(dir.path()).args(["-c", "SELECT 1"]));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("not logged in"), "{}", out.stderr);
    let out = run(rollout(dir.path())
        .args(["--user", "alice", "-c", "SELECT 1"])
        .env("ROLLOUT_PASSWORD", "wrong-password"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("wrong user name or password"),
        "{}",
        out.stderr
    );

    // alice has no privilege yet; the refusal names it.
    let out = run(rollout(dir.path())
        .args(["--user", "alice", "-c", "CREATE DATASET items"])
        .env("ROLLOUT_PASSWORD", "alice-password"));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("alice lacks REGISTER ON DATASET items"),
        "{}",
        out.stderr
    );

    let admin = |sql: &str| {
        run(rollout(dir.path())
            .args(["--user", "admin", "--format", "csv", "-c", sql])
            .env("ROLLOUT_PASSWORD", "admin-password"))
    };
    assert_eq!(admin("GRANT REGISTER ON ALL DATASETS TO alice").code, 0);
    let out = run(rollout(dir.path())
        .args(["--user", "alice", "-c", "CREATE DATASET items"])
        .env("ROLLOUT_PASSWORD", "alice-password"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = admin("SHOW HISTORY OF items");
    assert!(
        out.stdout.contains(",alice,CREATE DATASET,"),
        "{}",
        out.stdout
    );
}
