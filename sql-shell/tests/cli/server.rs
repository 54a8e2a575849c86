//! `rollout --server`: the shell against a real `rollout serve` (this same binary) on loopback.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Stdio};

use assert_cmd::cargo::cargo_bin;
use tempfile::TempDir;

use crate::interactive::Session;
use crate::{rollout, run, setup_orders};

/// A `rollout serve` child process; killed when dropped.
struct Served {
    child: Child,
    url: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path) -> Served {
    serve_with(dir, &[])
}

/// The test-only TLS fixtures (`tests/fixtures/tls`, made by its `gen*.sh`).
fn tls_fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/tls")
        .join(name)
        .display()
        .to_string()
}

/// `rollout serve` with more arguments.
fn serve_with(dir: &Path, more: &[&str]) -> Served {
    let mut child = std::process::Command::new(cargo_bin!("rollout"))
        .current_dir(dir)
        .env("HOME", dir)
        .args(["--store"])
        .arg(dir.join("store"))
        .args([
            "serve",
            "--flight",
            "127.0.0.1:0",
            "--controller-interval",
            "0s",
        ])
        .args(more)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("the server ended").unwrap();
        if let Some(at) = line.find("flight=") {
            break line[at + "flight=".len()..]
                .split_whitespace()
                .next()
                .unwrap()
                .to_string();
        }
    };
    // Keep reading its log, so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Served { child, url }
}

/// `rollout --server URL --user USER` with the password in the environment.
fn remote(dir: &Path, served: &Served, user: &str, password: &str) -> assert_cmd::Command {
    let mut cmd = rollout(dir);
    cmd.args(["--server", &served.url, "--user", user, "--format", "csv"])
        .env("ROLLOUT_PASSWORD", password);
    cmd
}

#[test]
fn the_shell_runs_statements_on_a_server_as_the_user_who_logged_in() {
    let dir = TempDir::new().unwrap();
    setup_orders(dir.path());
    let out = run(rollout(dir.path()).args([
        "-c",
        "CREATE CONTRACT c FOR orders (EXPECT row_count() > 3)",
        "-c",
        "CREATE USER admin PASSWORD 'admin-password'",
        "-c",
        "CREATE USER carol PASSWORD 'carol-password'",
        "-c",
        "CREATE USER dave PASSWORD 'dave-password'",
        "-c",
        "GRANT READ ON DATASET orders TO carol",
        "-c",
        "GRANT READ ON DATASET orders TO dave",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let served = serve(dir.path());

    // carol is in the canary cohort (v2, four rows); dave reads v1 (three).
    let count = "SELECT count(*) AS n FROM orders";
    let out = run(remote(dir.path(), &served, "carol", "carol-password").args(["-c", count]));
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "n\n4\n"),
        "{}",
        out.stderr
    );
    let out = run(remote(dir.path(), &served, "dave", "dave-password").args(["-c", count]));
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "n\n3\n"),
        "{}",
        out.stderr
    );

    // A refusal is an error (exit 2) naming the privilege; a wrong password too.
    let out = run(remote(dir.path(), &served, "dave", "dave-password")
        .args(["-c", "ROLLBACK orders REASON 'no'"]));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("dave lacks ROLLBACK"), "{}", out.stderr);
    let out = run(remote(dir.path(), &served, "dave", "wrong-password").args(["-c", count]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("wrong user name or password"),
        "{}",
        out.stderr
    );

    // Data that fails its checks exits 1, as locally: v1 has three rows, the contract wants
    // more. The admin's CHECK of v2 passes.
    let out = run(remote(dir.path(), &served, "admin", "admin-password")
        .args(["-c", "CHECK orders VERSION 'v1'"]));
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("row_count"), "{}", out.stdout);
    let out = run(remote(dir.path(), &served, "admin", "admin-password")
        .args(["-c", "CHECK orders VERSION 'v2'"]));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);

    // `\d name` asks the server: the dataset's columns, its versions and the rollout.
    // `\consumer` changes a local session only.
    let out =
        run(remote(dir.path(), &served, "carol", "carol-password").args(["-c", "\\d orders"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    for expected in ["Dataset orders", "channel,", "Versions", "v2,", "Rollout"] {
        assert!(out.stdout.contains(expected), "{expected}: {}", out.stdout);
    }
    let out = run(remote(dir.path(), &served, "dave", "dave-password").args(["-c", "\\d nothing"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no dataset or table named 'nothing'"),
        "{}",
        out.stderr
    );
    // `\df` lists the server's documented functions, ours first; `\df name` shows one.
    let out = run(remote(dir.path(), &served, "dave", "dave-password").args(["-c", "\\df drift"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(
        lines.len() == 2 && lines[1].starts_with("drift_summary,aggregate,rollout,"),
        "{}",
        out.stdout
    );
    let out = run(remote(dir.path(), &served, "dave", "dave-password").args(["-c", "\\df abs"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("abs (scalar function, datafusion)") && out.stdout.contains("Syntax:"),
        "{}",
        out.stdout
    );
    let out =
        run(remote(dir.path(), &served, "dave", "dave-password")
            .args(["-c", "\\df nothing_like_it"]));
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("no documented function matches"),
        "{}",
        out.stderr
    );
    // `\consumer` and `\cohort` are the server's SET rollout.*: IMPERSONATE or a refusal.
    let out = run(remote(dir.path(), &served, "dave", "dave-password").args([
        "-c",
        "\\consumer carol",
        "-c",
        count,
    ]));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("IMPERSONATE"), "{}", out.stderr);
    let out = run(
        remote(dir.path(), &served, "admin", "admin-password").args([
            "-c",
            "\\consumer carol",
            "-c",
            count,
            "-c",
            "\\consumer -",
            "-c",
            "\\cohort nothing",
        ]),
    );
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("consumer: carol\nn\n4\nconsumer: admin"),
        "{}",
        out.stdout
    );
    assert!(out.stderr.contains("nothing"), "{}", out.stderr);

    // Interactively, Tab completes from what the server tells this user.
    let mut command = std::process::Command::new(cargo_bin!("rollout"));
    command
        .current_dir(dir.path())
        .env("TERM", "xterm")
        .env("HOME", dir.path())
        .env("ROLLOUT_PASSWORD", "carol-password")
        .args(["--server", &served.url, "--user", "carol"]);
    let mut s = Session::spawn(command);
    let prompt = format!("{}> ", served.url.trim_start_matches("grpc://"));
    s.expect(&prompt);
    s.send("SELECT chan\t");
    s.expect("SELECT channel");
    s.send(" FROM ord\t");
    s.expect("FROM orders");
    // Each result is waited for by its footer, which nothing typed or redrawn contains (the
    // prompt holds the port's digits), so the next keys reach the next prompt.
    s.send(" WHERE channel IS NOT NULL;\r");
    s.expect("web");
    s.expect("2 rows");
    s.expect(&prompt);
    s.send("SELECT count(*) AS n_v2 FROM orders VERSION AS OF 'v2\t");
    s.expect("'v2'");
    s.send(";\r");
    s.expect("n_v2");
    s.expect(" 4 ");
    s.expect("1 row");
    s.expect(&prompt);
    let status = s.end();
    assert!(status.ends_with(", 0)"), "{status}");

    // A change made through the server is the admin's in the history.
    let out = run(remote(dir.path(), &served, "admin", "admin-password")
        .args(["-c", "ROLLBACK orders REASON 'from the shell'"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(remote(dir.path(), &served, "admin", "admin-password")
        .args(["-c", "SHOW HISTORY OF orders LIMIT 1"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(",admin,") && out.stdout.contains("from the shell"),
        "{}",
        out.stdout
    );

    // No such server.
    let out = run(rollout(dir.path()).args(["--server", "grpc://127.0.0.1:1", "-c", "SELECT 1"]));
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
    let out = run(rollout(dir.path()).args(["--server", "http://x", "-c", "SELECT 1"]));
    assert!(out.stderr.contains("expected grpc://"), "{}", out.stderr);
}

/// `rollout --server grpc+tls://... --tls-client-cert/--tls-client-key` against a server that
/// requires client certificates (`--tls-client-ca`); without one the shell cannot connect.
#[test]
fn the_shell_presents_its_client_certificate_to_a_server_that_requires_one() {
    let dir = TempDir::new().unwrap();
    setup_orders(dir.path());
    let out = run(rollout(dir.path()).args(["-c", "CREATE USER admin PASSWORD 'admin-password'"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let served = serve_with(
        dir.path(),
        &[
            "--tls-cert",
            &tls_fixture("server.pem"),
            "--tls-key",
            &tls_fixture("server.key"),
            "--tls-client-ca",
            &tls_fixture("client-ca.pem"),
        ],
    );
    // The server listens on 127.0.0.1; its certificate names localhost.
    let url = served.url.replace("127.0.0.1", "localhost");
    assert!(url.starts_with("grpc+tls://"), "{url}");
    let shell = |client: Option<&str>| {
        let mut cmd = rollout(dir.path());
        cmd.args(["--server", &url, "--user", "admin", "--format", "csv"])
            .args(["--tls-ca", &tls_fixture("ca.pem")])
            .env("ROLLOUT_PASSWORD", "admin-password");
        if let Some(name) = client {
            cmd.args(["--tls-client-cert", &tls_fixture(&format!("{name}.pem"))])
                .args(["--tls-client-key", &tls_fixture(&format!("{name}.key"))]);
        }
        cmd.args(["-c", "SELECT count(*) AS n FROM orders"]);
        run(&mut cmd)
    };
    let out = shell(Some("client"));
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (0, "n\n3\n"),
        "{}",
        out.stderr
    );
    for refused in [None, Some("stranger")] {
        let out = shell(refused);
        assert_eq!(out.code, 2, "{refused:?}: {}", out.stdout);
        assert!(out.stderr.contains(&url), "{refused:?}: {}", out.stderr);
    }
    // A key without its certificate is a usage error.
    let out = run(rollout(dir.path()).args([
        "--server",
        &url,
        "--tls-client-key",
        &tls_fixture("client.key"),
        "-c",
        "SELECT 1",
    ]));
    assert_eq!(out.code, 2, "{}", out.stdout);
    assert!(out.stderr.contains("--tls-client-cert"), "{}", out.stderr);
}
