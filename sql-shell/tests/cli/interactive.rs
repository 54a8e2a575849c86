//! The REPL in a pseudo-terminal (rexpect: a pure-Rust pty, so CI needs nothing installed):
//! the rc file, completion of a partial dataset name, a multi-line statement, a long query
//! cancelled with Ctrl-C, and Ctrl-D.

use std::process::Command;
use std::time::{Duration, Instant};

use rexpect::reader::Options;
use rexpect::session::{PtySession, spawn_with_options};
use tempfile::TempDir;

use crate::setup_orders;

/// Everything the terminal showed, kept for the failure message and for `--nocapture`.
pub struct Session {
    pub pty: PtySession,
    transcript: String,
}

impl Session {
    /// `command` in a pseudo-terminal, waiting at most 20 s for each expected text.
    pub fn spawn(command: Command) -> Session {
        let options = Options::new()
            .timeout_ms(Some(20_000))
            .strip_ansi_escape_codes(true);
        Session {
            pty: spawn_with_options(command, options).unwrap(),
            transcript: String::new(),
        }
    }

    pub fn expect(&mut self, needle: &str) {
        match self.pty.exp_string(needle) {
            Ok(before) => {
                self.transcript.push_str(&before);
                self.transcript.push_str(needle);
            }
            Err(e) => panic!(
                "waiting for {needle:?}: {e}\n--- transcript ---\n{}",
                self.transcript
            ),
        }
    }

    /// Ctrl-D, then the shell's exit status as text (`Exited(pid, 0)`); a shell still running
    /// after 20 s fails the test instead of hanging it.
    pub fn end(&mut self) -> String {
        self.pty.send_control('d').unwrap();
        let start = Instant::now();
        loop {
            match self.pty.process_mut().status() {
                Some(status) if format!("{status:?}") != "StillAlive" => {
                    return format!("{status:?}");
                }
                _ if start.elapsed() > Duration::from_secs(20) => {
                    let _ = self.pty.process_mut().exit();
                    panic!(
                        "the shell did not end on Ctrl-D\n--- transcript ---\n{}",
                        self.transcript
                    );
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    pub fn send(&mut self, text: &str) {
        self.pty.send(text).unwrap();
        self.pty.flush().unwrap();
    }
}

#[test]
fn completes_cancels_and_exits() {
    let dir = TempDir::new().unwrap();
    setup_orders(dir.path());
    std::fs::write(dir.path().join(".rolloutrc"), "\\pset null '(null)'\n").unwrap();

    let mut command = Command::new(env!("CARGO_BIN_EXE_rollout"));
    command
        .current_dir(dir.path())
        .env_remove("ROLLOUT_STORE")
        .env_remove("XDG_DATA_HOME")
        .env("TERM", "xterm")
        .env("HOME", dir.path())
        .env("USER", "tester")
        .arg("--store")
        .arg(dir.path().join("store"));
    let mut s = Session::spawn(command);
    let prompt = "store (consumer tester)> ";
    s.expect("Type \\? for help");
    s.expect("NULL shows as '(null)'");
    s.expect(prompt);

    // "ord" + Tab completes to the dataset; the query then reads it (v1 has 3 rows).
    s.send("SELECT count(*) AS n, NULL AS nothing FROM ord\t");
    s.expect("FROM orders");
    s.send(";\r");
    s.expect("(null)");
    s.expect("1 row");
    s.expect(prompt);

    // Enter before the ';' continues the statement on the next line.
    s.send("SELECT 40 +\r");
    s.send("2 AS answer;\r");
    s.expect("42");
    s.expect(prompt);

    // A query that would run for minutes: progress shows, Ctrl-C cancels it.
    s.send(
        "SELECT count(*), sum(a.value * b.value) FROM generate_series(1, 1000000) a \
         CROSS JOIN generate_series(1, 1000000) b;\r",
    );
    s.expect("rows scanned");
    let cancel = Instant::now();
    s.pty.send_control('c').unwrap();
    s.expect("cancelled");
    s.expect(prompt);
    assert!(
        cancel.elapsed().as_secs() < 5,
        "cancelling took {:?}",
        cancel.elapsed()
    );

    // The session goes on after the cancel; Ctrl-D ends it.
    s.send("\\consumer carol\r");
    s.expect("store (consumer carol)> ");
    s.send("SELECT count(*) AS n FROM orders;\r");
    s.expect("4");
    s.expect("store (consumer carol)> ");
    // `WaitStatus` is nix's, which rexpect does not re-export: compare its Debug text.
    let status = s.end();
    assert!(
        status.starts_with("Exited(") && status.ends_with(", 0)"),
        "{status}\n{}",
        s.transcript
    );
    let history = dir.path().join(".local/share/rollout/history");
    let history = std::fs::read_to_string(history).unwrap();
    assert!(history.contains("FROM orders"), "{history}");
    println!("{}", s.transcript);
}
