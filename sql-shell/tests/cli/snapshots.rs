//! Snapshots (insta) of every output format and meta command, run through the real binary.
//! Temporary paths, timestamps and timings are filtered out before comparing.

use std::path::Path;

use insta::assert_snapshot;
use tempfile::TempDir;

use crate::{rollout, run, setup_orders};

/// Two rows with a comma, a tab, a quote, a pipe and NULLs: what each format must escape.
const ROWS: &str = "SELECT * FROM (VALUES (1, 'a,b \"q\"', NULL, 2.5), (2, 'tab\there|pipe', 'x', NULL)) \
                    AS t(id, name, missing, amount) ORDER BY id";

/// Runs `rollout` with `args` and returns stdout, then stderr and the exit code if not empty.
fn shell(dir: &Path, args: &[&str]) -> String {
    let out = run(rollout(dir).args(args));
    let mut text = out.stdout;
    if !out.stderr.is_empty() {
        text.push_str("--- stderr ---\n");
        text.push_str(&out.stderr);
    }
    if out.code != 0 {
        text.push_str(&format!("--- exit code {} ---\n", out.code));
    }
    filter(&text, dir)
}

/// Replaces what changes from run to run: the temporary folder, timestamps, timings.
fn filter(text: &str, dir: &Path) -> String {
    let dir = dir.display().to_string();
    let mut text = text.replace(&dir, "[DIR]");
    // Timestamps: 2026-01-02T03:04:05Z (with optional fractions).
    let mut out = String::new();
    while let Some(at) = find_timestamp(&text) {
        out.push_str(&text[..at.0]);
        out.push_str("[TIME]");
        text = text[at.1..].to_string();
    }
    out.push_str(&text);
    out.lines()
        .map(|line| match line.strip_prefix("Time: ") {
            Some(_) => "Time: [ms]\n".to_string(),
            None => {
                // A rollout's salt is random: 16 hex digits between commas.
                let fields: Vec<&str> = line.split(',').collect();
                let fields: Vec<&str> = fields
                    .iter()
                    .map(|f| {
                        let salt = f.len() == 16 && f.chars().all(|c| c.is_ascii_hexdigit());
                        if salt { "[SALT]" } else { f }
                    })
                    .collect();
                format!("{}\n", fields.join(","))
            }
        })
        .collect()
}

fn find_timestamp(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let shape = b"dddd-dd-ddTdd:dd:dd";
    (0..bytes.len().saturating_sub(shape.len() - 1)).find_map(|start| {
        let fits = shape.iter().enumerate().all(|(i, s)| {
            let b = bytes[start + i];
            if *s == b'd' {
                b.is_ascii_digit()
            } else {
                b == *s
            }
        });
        if !fits {
            return None;
        }
        let mut end = start + shape.len();
        while end < bytes.len() && (bytes[end].is_ascii_digit() || bytes[end] == b'.') {
            end += 1;
        }
        if end < bytes.len() && bytes[end] == b'Z' {
            end += 1;
        }
        Some((start, end))
    })
}

#[test]
fn every_format() {
    let dir = TempDir::new().unwrap();
    let mut all = String::new();
    for format in ["table", "csv", "tsv", "json", "ndjson", "markdown"] {
        all.push_str(&format!("=== --format {format}\n"));
        all.push_str(&shell(dir.path(), &["--format", format, "-c", ROWS]));
    }
    all.push_str("=== \\x (expanded), --null '∅'\n");
    all.push_str(&shell(
        dir.path(),
        &["--null", "∅", "-c", "\\x", "-c", ROWS],
    ));
    all.push_str("=== --maxrows 1\n");
    all.push_str(&shell(dir.path(), &["--maxrows", "1", "-c", ROWS]));
    all.push_str("=== --maxrows 1 --format csv (programs get every row)\n");
    all.push_str(&shell(
        dir.path(),
        &["--maxrows", "1", "--format", "csv", "-c", ROWS],
    ));
    assert_snapshot!(all);
}

#[test]
fn meta_commands() {
    let dir = TempDir::new().unwrap();
    setup_orders(dir.path());
    let included = dir.path().join("included.sql");
    std::fs::write(&included, "SELECT 'from the included file' AS said;\n").unwrap();
    let results = dir.path().join("results.txt");
    let script = format!(
        "\\d\n\
         \\d orders\n\
         CREATE TABLE scratch AS SELECT 1 AS x;\n\
         \\d scratch\n\
         \\df psi\n\
         \\df ks_*\n\
         \\timing on\n\
         SELECT 1 AS timed;\n\
         \\timing off\n\
         \\pset null '-'\n\
         \\pset maxrows 2\n\
         \\pset format markdown\n\
         \\pset\n\
         SELECT NULL AS n;\n\
         \\pset format csv\n\
         \\consumer carol\n\
         SELECT count(*) AS carol_reads FROM orders;\n\
         \\consumer -\n\
         \\cohort canary\n\
         SELECT count(*) AS canary_reads FROM orders;\n\
         \\cohort\n\
         \\o {results}\n\
         SELECT 'to the file' AS where_to;\n\
         \\o\n\
         \\i {included}\n\
         \\q\n\
         SELECT 'never' AS after_quit;\n",
        results = results.display(),
        included = included.display(),
    );
    let script_path = dir.path().join("meta.sql");
    std::fs::write(&script_path, script).unwrap();
    let mut text = shell(
        dir.path(),
        &["--format", "csv", "-f", script_path.to_str().unwrap()],
    );
    text.push_str("\n=== results.txt\n");
    text.push_str(&std::fs::read_to_string(&results).unwrap());
    assert_snapshot!(text);
}

#[test]
fn help() {
    let dir = TempDir::new().unwrap();
    let mut text = shell(dir.path(), &["-c", "\\?", "-c", "\\h"]);
    for topic in [
        "PROMOTE",
        "CHECK",
        "CREATE CONTRACT",
        "CREATE",
        "SELECT",
        "nope",
    ] {
        text.push_str(&format!("=== \\h {topic}\n"));
        text.push_str(&shell(dir.path(), &["-c", &format!("\\h {topic}")]));
    }
    assert_snapshot!(text);
}

#[test]
fn errors() {
    let dir = TempDir::new().unwrap();
    let script = dir.path().join("bad.sql");
    std::fs::write(&script, "SELECT 1 AS ok;\n\nSELECT a,\n  b c d\nFROM t;\n").unwrap();
    let mut text = String::new();
    for args in [
        vec!["-c", "SELEC 1"],
        vec!["-c", "SELECT 1 AS ok;\nPROMOTE orders TO"],
        vec!["-c", "SELECT * FROM nowhere"],
        vec!["-c", "\\nope"],
        vec!["-c", "\\cohort nope"],
        vec!["-f", script.to_str().unwrap()],
        vec!["-c", "ASSERT 1 = 2 AS 'one is not two'"],
    ] {
        text.push_str(&filter(&format!("=== {}\n", args.join(" ")), dir.path()));
        text.push_str(&shell(dir.path(), &args));
    }
    assert_snapshot!(text);
}
