//! Hostile and broken input: property tests over the statement parser and over log-entry
//! decoding (no panic, only errors), broken log files, checkpoints that disagree with their
//! log, and names that try to become paths outside the store.
//!
//! Proptest runs 256 cases per property (2,000 for the parser's); `ROLLOUT_SOAK=1` runs 20x
//! more, and `PROPTEST_CASES` overrides both.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use datafusion::object_store::ObjectStoreExt;
use datafusion::object_store::path::Path as ObjectPath;
use datafusion_rollout::statement::{Statement, parse_sql, parse_statement};
use datafusion_rollout::store::{Store, StoreOptions, object_store_for, resolve_location};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

use crate::common::*;
use crate::reliability::{open, replayed_state, soak};

fn cases(ci: u32) -> u32 {
    match std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
    {
        Some(n) => n,
        None if soak() => ci * 20,
        None => ci,
    }
}

fn runner(ci: u32) -> TestRunner {
    TestRunner::new(Config {
        cases: cases(ci),
        failure_persistence: None,
        ..Config::default()
    })
}

const VALID: &[&str] = &[
    "CREATE DATASET IF NOT EXISTS orders COMMENT 'it''s' REASON 'r'",
    "REGISTER VERSION 'v1' OF orders FROM 'data/orders/v1/' FORMAT CSV COMMENT 'c' REASON 'r'",
    "CREATE VERSION 'v2' OF orders COMMENT 'x' AS SELECT a, count(*) FROM t GROUP BY a",
    "CREATE COHORT canary MEMBERS ('alice', 'job-42') REASON 'beta'",
    "PROMOTE orders TO 'v2' FOR COHORT canary, beta AT 12.5 PERCENT FORCE REASON 'why'",
    "PROMOTE orders TO 'v2'",
    "ROLLBACK orders TO 'v1' REASON 'bad'",
    "ROLLBACK orders",
    "SHOW ROLLOUT orders",
    "SHOW HISTORY OF orders LIMIT 5",
    "SHOW VERSIONS OF orders",
    "SHOW DATASETS",
    "SET rollout.consumer = 'alice'",
    "VACUUM DRY RUN RETAIN '2 hours' REASON 'x'",
    "VERIFY VERSION 'v1' OF orders",
    "VERIFY orders",
    "SELECT * FROM orders VERSION AS OF 'v1' WHERE amount > 1",
    "ASSERT (SELECT count(*) FROM orders) > 0 AS 'non-empty'",
];

const VOCAB: &[&str] = &[
    "CREATE",
    "DATASET",
    "VERSION",
    "OF",
    "AS",
    "FROM",
    "REGISTER",
    "PROMOTE",
    "ROLLBACK",
    "TO",
    "FOR",
    "COHORT",
    "AT",
    "PERCENT",
    "FORCE",
    "REASON",
    "SHOW",
    "HISTORY",
    "ROLLOUT",
    "VERSIONS",
    "DATASETS",
    "VACUUM",
    "DRY",
    "RUN",
    "RETAIN",
    "VERIFY",
    "MEMBERS",
    "FORMAT",
    "PARQUET",
    "COMMENT",
    "SET",
    "RESET",
    "ASSERT",
    "SELECT",
    "WHERE",
    "LIMIT",
    "IF",
    "NOT",
    "EXISTS",
    "orders",
    "\"Or ders\"",
    "v1",
    "'v1'",
    "''",
    "'it''s'",
    "'1 hour'",
    "'\u{0}'",
    "'é'",
    "12.5",
    "100",
    "101",
    "-1",
    "1e400",
    "99999999999999999999",
    "(",
    ")",
    ",",
    ";",
    ".",
    "*",
    "=",
    "%",
    "'",
    "\"",
    "`",
    "[",
    "]",
    "--",
    "/*",
    "$1",
    "?",
    "@",
    "\\",
    "\u{0}",
    "rollout.consumer",
];

/// A valid statement with mutations: cut, bytes removed, tokens inserted.
fn mutated() -> impl Strategy<Value = String> {
    (
        prop::sample::select(VALID),
        prop::collection::vec((0u8..4, any::<u16>(), prop::sample::select(VOCAB)), 1..4),
    )
        .prop_map(|(sql, edits)| {
            let mut chars: Vec<char> = sql.chars().collect();
            for (kind, at, word) in edits {
                let at = at as usize % (chars.len() + 1);
                match kind {
                    0 => chars.truncate(at),
                    1 => {
                        let end = (at + 1 + at % 7).min(chars.len());
                        chars.drain(at.min(end)..end);
                    }
                    2 => {
                        let insert: Vec<char> = format!(" {word} ").chars().collect();
                        chars.splice(at..at, insert);
                    }
                    _ => chars.insert(at, ['\'', '"', '(', ';', '\u{0}', 'é'][at % 6]),
                }
            }
            chars.into_iter().collect()
        })
}

/// Words from our statements and punctuation, in any order.
fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(VOCAB), 0..24).prop_map(|w| w.join(" "))
}

fn literal() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'Z', '0', ' ', '\'', '"', '-', '.', '/', 'é', '\\', '%',
        ]),
        0..8,
    )
    .prop_map(|c| c.into_iter().collect())
}

fn ident() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "orders",
        "o_1",
        "Orders",
        "\"Mixed Case\"",
        "\"with space\"",
        "\"q\"\"uote\"",
        "_x",
    ])
    .prop_map(str::to_string)
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Valid statements of every form of ours, with arbitrary names and literals.
fn valid() -> impl Strategy<Value = String> {
    (
        0u8..12,
        ident(),
        literal(),
        literal(),
        prop::collection::vec(ident(), 1..3),
        0u32..=10_000,
        any::<bool>(),
        any::<u16>(),
    )
        .prop_map(|(form, name, a, b, cohorts, bp, flag, n)| {
            let reason = if flag {
                format!(" REASON {}", quote(&b))
            } else {
                String::new()
            };
            let pct = format!("{}.{:02}", bp / 100, bp % 100);
            match form {
                0 => format!("CREATE DATASET {name} COMMENT {}{reason}", quote(&a)),
                1 => format!(
                    "REGISTER VERSION {} OF {name} FROM {} FORMAT JSON{reason}",
                    quote(&a),
                    quote(&b)
                ),
                2 => format!(
                    "CREATE COHORT {name} MEMBERS ({}, {}){reason}",
                    quote(&a),
                    quote(&b)
                ),
                3 => format!(
                    "PROMOTE {name} TO {} FOR COHORT {} AT {pct} PERCENT{reason}",
                    quote(&a),
                    cohorts.join(", ")
                ),
                4 if flag => format!("PROMOTE {name} TO {} FORCE{reason}", quote(&a)),
                4 => format!("PROMOTE {name} TO {}", quote(&a)),
                5 => format!("ROLLBACK {name} TO {}{reason}", quote(&a)),
                6 => format!("ROLLBACK {name}{reason}"),
                7 => format!("SHOW HISTORY OF {name} LIMIT {n}"),
                8 => format!(
                    "VACUUM{} RETAIN '{n} minutes'{reason}",
                    if flag { " DRY RUN" } else { "" }
                ),
                9 => format!("VERIFY VERSION {} OF {name}", quote(&a)),
                10 => format!("VERIFY {name}"),
                _ => format!(
                    "CREATE VERSION {} OF {name}{reason} AS SELECT {} AS x",
                    quote(&a),
                    // sqlparser prints a backslash or a run of quotes in a query's literal
                    // back so that it reads differently (its Display, not ours).
                    quote(&b.replace(['\\', '\''], ""))
                ),
            }
        })
}

#[test]
fn the_parser_never_panics_and_canonical_sql_round_trips() {
    let errors = Cell::new(0usize);
    let parsed = Cell::new(0usize);
    let hostile = prop_oneof![mutated(), soup()];
    runner(2000)
        .run(&hostile, |sql| {
            // Only errors, and they say something.
            match parse_sql(&sql) {
                Ok(statements) => {
                    parsed.set(parsed.get() + 1);
                    // Whatever of ours parsed prints as SQL that parses again (DataFusion's
                    // own statements print as sqlparser prints them: `RESET ''` as `RESET `).
                    for s in statements
                        .iter()
                        .filter(|s| !matches!(s, Statement::DataFusion(_)))
                    {
                        let text = s.to_string();
                        prop_assert!(parse_sql(&text).is_ok(), "{sql:?} printed as {text:?}");
                    }
                }
                Err(e) => {
                    errors.set(errors.get() + 1);
                    prop_assert!(!e.to_string().is_empty());
                }
            }
            Ok(())
        })
        .unwrap();
    let round_trips = Cell::new(0usize);
    runner(1000)
        .run(&valid(), |sql: String| {
            let first =
                parse_statement(&sql).map_err(|e| TestCaseError::fail(format!("{sql}: {e}")))?;
            let text = first.to_string();
            let second = parse_statement(&text)
                .map_err(|e| TestCaseError::fail(format!("{sql} -> {text}: {e}")))?;
            // A query's AST carries source positions, which a reprint moves: compare those
            // statements by their canonical text only.
            if !matches!(first, Statement::CreateVersion(_)) {
                prop_assert_eq!(&first, &second, "{} -> {}", sql, text);
            }
            prop_assert_eq!(second.to_string(), text);
            round_trips.set(round_trips.get() + 1);
            Ok(())
        })
        .unwrap();
    println!(
        "hostile: parser ran on {} hostile inputs ({} parsed, {} refused), {} canonical round trips",
        parsed.get() + errors.get(),
        parsed.get(),
        errors.get(),
        round_trips.get()
    );
}

static STORES: AtomicUsize = AtomicUsize::new(0);

/// The entries of a small real history (bytes as written), from a `memory://` store.
async fn real_entries() -> Vec<Vec<u8>> {
    let name = format!("memory://fuzz-seed-{}", std::process::id());
    let rc = open(&name, 0, "seed").await;
    for sql in [
        "CREATE DATASET orders",
        "CREATE COHORT canary MEMBERS ('alice')",
        "CREATE VERSION 'v1' OF orders AS SELECT 1 AS id",
        "PROMOTE orders TO 'v1' REASON 'first'",
    ] {
        run(&rc, sql).await;
    }
    let store = rc.store().object_store();
    let mut out = Vec::new();
    for seq in 1..=4u64 {
        let path = ObjectPath::from(format!("_rollout_log/{seq:020}.json"));
        out.push(
            store
                .get(&path)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .to_vec(),
        );
    }
    out
}

/// Bytes derived from a valid entry: flipped, cut, spliced, or random.
fn mutated_bytes(valid: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        (prop::collection::vec((0u8..4, any::<u32>(), any::<u8>()), 1..6)).prop_map(move |edits| {
            let mut b = valid.clone();
            for (kind, at, byte) in edits {
                let at = at as usize % (b.len() + 1);
                match kind {
                    0 => b.truncate(at),
                    1 if at < b.len() => b[at] ^= byte | 1,
                    2 => b.insert(at, byte),
                    _ => {
                        let end = (at + 1 + byte as usize).min(b.len());
                        b.drain(at.min(end)..end);
                    }
                }
            }
            b
        }),
    ]
}

#[test]
fn a_mutated_log_entry_never_panics_and_stops_the_store_before_it() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let entries = rt.block_on(real_entries());
    let outcomes: RefCell<BTreeMap<&str, usize>> = RefCell::new(BTreeMap::new());
    let last = entries[3].clone();
    runner(256)
        .run(&mutated_bytes(last), |bytes| {
            let name = format!(
                "memory://fuzz-{}-{}",
                std::process::id(),
                STORES.fetch_add(1, Ordering::Relaxed)
            );
            let url = resolve_location(&name, false).unwrap();
            let os = object_store_for(&url).unwrap();
            let outcome = rt.block_on(async {
                for (i, e) in entries[..3].iter().enumerate() {
                    let path = ObjectPath::from(format!("_rollout_log/{:020}.json", i + 1));
                    os.put(&path, e.clone().into()).await.unwrap();
                }
                let path = ObjectPath::from(format!("_rollout_log/{:020}.json", 4));
                os.put(&path, bytes.clone().into()).await.unwrap();
                Store::open(&name, StoreOptions::default()).await
            });
            let store = outcome.map_err(|e| TestCaseError::fail(format!("open failed: {e}")))?;
            match store.read_only_reason() {
                Some(reason) => {
                    prop_assert_eq!(store.state().sequence, 3);
                    prop_assert!(reason.contains("00000000000000000004.json"), "{}", reason);
                    *outcomes
                        .borrow_mut()
                        .entry("refused, read-only at 3")
                        .or_default() += 1;
                }
                None => {
                    // Still a valid entry (a mutation inside a string, say): it applied.
                    prop_assert_eq!(store.state().sequence, 4);
                    *outcomes
                        .borrow_mut()
                        .entry("still valid, applied")
                        .or_default() += 1;
                }
            }
            Ok(())
        })
        .unwrap();
    let outcomes = outcomes.into_inner();
    println!(
        "hostile: log decoding ran on {} mutated entries: {outcomes:?}",
        outcomes.values().sum::<usize>()
    );
}

/// A store with `n` commits and checkpoints every 2, its folder.
async fn store_with_commits(fx: &Fixture, n: usize, prefix: &str) -> RolloutContextAndDir {
    let rc = open(&fx.store(), 2, "test").await;
    run(&rc, "CREATE DATASET orders").await;
    for i in 1..n {
        run(
            &rc,
            &format!("CREATE COHORT {prefix}{i} MEMBERS ('{prefix}-member-{i}')"),
        )
        .await;
    }
    RolloutContextAndDir(fx.path("store"))
}

struct RolloutContextAndDir(std::path::PathBuf);

fn entry(dir: &Path, seq: u64) -> std::path::PathBuf {
    dir.join(format!("_rollout_log/{seq:020}.json"))
}

async fn reopen(dir: &Path) -> datafusion_rollout::RolloutContext {
    open(&dir.display().to_string(), 2, "test").await
}

#[tokio::test]
async fn broken_log_files_are_named_and_the_store_stops_before_them() {
    let fx = Fixture::new().await;
    let RolloutContextAndDir(dir) = store_with_commits(&fx, 5, "c").await;
    let good = std::fs::read(entry(&dir, 5)).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated",
            good[..good.len() / 2].to_vec(),
            "does not parse",
        ),
        ("empty", vec![], "is empty"),
        ("not JSON", b"\xff\xfe garbage".to_vec(), "does not parse"),
        (
            "out of order",
            text.replace("\"sequence\": 5", "\"sequence\": 6")
                .into_bytes(),
            "file name says sequence 5 but the entry says 6",
        ),
        (
            "newer format",
            text.replace("\"format\": 1", "\"format\": 99").into_bytes(),
            "newer datafusion-rollout",
        ),
        (
            "does not apply",
            text.replace("\"c4\"", "\"c1\"").into_bytes(),
            "does not apply: cohort 'c1' created twice",
        ),
    ];
    for (what, bytes, expected) in cases {
        std::fs::write(entry(&dir, 5), &bytes).unwrap();
        // Without checkpoints, and with the checkpoint at 4 (read after it).
        for hint in [false, true] {
            let hint_file = dir.join("_rollout_log/_last_checkpoint");
            let saved = std::fs::read(&hint_file).ok();
            if !hint {
                let _ = std::fs::remove_file(&hint_file);
            }
            let rc = reopen(&dir).await;
            let reason = rc
                .store()
                .read_only_reason()
                .unwrap_or_else(|| panic!("{what}: not read-only"));
            assert!(
                reason.contains("00000000000000000005.json"),
                "{what}: {reason}"
            );
            assert!(reason.contains(expected), "{what}: {reason}");
            assert_eq!(rc.store().state().sequence, 4, "{what}");
            let err = try_run(&rc, "CREATE COHORT z MEMBERS ()")
                .await
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("read-only") && err.contains(expected),
                "{what}: {err}"
            );
            assert!(!entry(&dir, 6).exists(), "{what}: nothing written past it");
            if let Some(saved) = saved {
                std::fs::write(&hint_file, saved).unwrap();
            }
        }
    }
    std::fs::write(entry(&dir, 5), &good).unwrap();

    // Files that are not entries are ignored.
    for name in [
        "foo.json",
        "5.json",
        "00000000000000000005.json.tmp",
        "0000000000000000000x.json",
    ] {
        std::fs::write(dir.join("_rollout_log").join(name), b"junk").unwrap();
    }
    let rc = reopen(&dir).await;
    assert_eq!(rc.store().read_only_reason(), None);
    assert_eq!(rc.store().state().sequence, 5);

    // A gap: entry 3 missing, 4 and 5 there. Stops at 2, names the gap.
    let third = std::fs::read(entry(&dir, 3)).unwrap();
    std::fs::remove_file(entry(&dir, 3)).unwrap();
    for e in std::fs::read_dir(dir.join("_rollout_log")).unwrap() {
        let p = e.unwrap().path();
        if p.display().to_string().contains("checkpoint") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let rc = reopen(&dir).await;
    let reason = rc.store().read_only_reason().unwrap();
    assert!(reason.contains("entry 3 is missing before it"), "{reason}");
    assert_eq!(rc.store().state().sequence, 2);
    std::fs::write(entry(&dir, 3), third).unwrap();
    assert_eq!(reopen(&dir).await.store().state().sequence, 5);
}

fn checkpoint_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("_rollout_log"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.display().to_string().ends_with(".checkpoint.json"))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_checkpoint_that_disagrees_with_its_log_is_ignored() {
    // Two stores with the same number of commits but different cohorts.
    let (fa, fb) = (Fixture::new().await, Fixture::new().await);
    let RolloutContextAndDir(a) = store_with_commits(&fa, 5, "a").await;
    let RolloutContextAndDir(b) = store_with_commits(&fb, 5, "b").await;
    let truth = replayed_state(&a).await;
    let cp = checkpoint_files(&a).pop().unwrap();
    assert!(
        cp.display()
            .to_string()
            .ends_with("00000000000000000004.checkpoint.json")
    );
    let original = std::fs::read(&cp).unwrap();
    let check = |what: &'static str| {
        let a = a.clone();
        let truth = truth.clone();
        async move {
            let rc = reopen(&a).await;
            assert_eq!(rc.store().read_only_reason(), None, "{what}");
            let state = serde_json::to_string(rc.store().state().as_ref()).unwrap();
            assert_eq!(state, truth, "{what}: the log is the truth");
        }
    };
    check("untouched").await;

    // Its content edited (a member renamed): the hash no longer matches.
    let edited = String::from_utf8(original.clone())
        .unwrap()
        .replace("a-member-3", "intruder");
    assert_ne!(edited.as_bytes(), original.as_slice());
    std::fs::write(&cp, edited).unwrap();
    check("edited").await;

    // Another store's checkpoint at the same sequence (consistent in itself): its entry 4 has
    // another transaction id.
    std::fs::copy(checkpoint_files(&b).pop().unwrap(), &cp).unwrap();
    check("from another log").await;

    // The pre-hash format (a bare state): ignored, replayed.
    let state: serde_json::Value = serde_json::from_str(&truth).unwrap();
    let mut at4 = state.clone();
    at4["sequence"] = 4.into();
    std::fs::write(&cp, serde_json::to_vec(&at4).unwrap()).unwrap();
    check("old format").await;

    // The log cut short under its checkpoint (entries 3 to 5 gone): the checkpoint's entry is
    // missing, so the store is what the log says (2 commits), not what the checkpoint says.
    std::fs::write(&cp, &original).unwrap();
    for seq in 3..=5 {
        std::fs::remove_file(entry(&a, seq)).unwrap();
    }
    let rc = reopen(&a).await;
    assert_eq!(rc.store().state().sequence, 2);
    assert_eq!(
        serde_json::to_string(rc.store().state().as_ref()).unwrap(),
        replayed_state(&a).await
    );
}

/// Every file and folder under `dir`, with sizes.
fn tree(dir: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = e.metadata().unwrap();
            out.insert(
                e.path().display().to_string(),
                if meta.is_dir() { 0 } else { meta.len() },
            );
            if meta.is_dir() {
                stack.push(e.path());
            }
        }
    }
    out
}

#[tokio::test]
async fn hostile_names_get_clear_errors_and_nothing_is_written_outside_the_store() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let v2 = fx.path("orders_v2").display().to_string();
    let root = fx.dir.path().to_path_buf();
    let parent = root.parent().unwrap().to_path_buf();
    let before = tree(&root);
    let seq = rc.store().state().sequence;
    let long = "x".repeat(10_000);
    let statements = vec![
        (
            "CREATE DATASET \"../evil\"".to_string(),
            "invalid dataset name",
        ),
        ("CREATE DATASET \"a/b\"".into(), "invalid dataset name"),
        ("CREATE DATASET \"a\u{0}b\"".into(), "invalid dataset name"),
        (
            format!("CREATE DATASET \"{long}\""),
            "longer than 128 bytes",
        ),
        ("CREATE DATASET \"évil\"".into(), "invalid dataset name"),
        (
            "CREATE VERSION '../../evil' OF orders AS SELECT 1 AS order_id".into(),
            "invalid version id",
        ),
        (
            "CREATE VERSION '..' OF orders AS SELECT 1 AS order_id".into(),
            "invalid version id",
        ),
        (
            "CREATE VERSION 'a/b' OF orders AS SELECT 1 AS order_id".into(),
            "invalid version id",
        ),
        (
            "CREATE VERSION 'a\u{0}b' OF orders AS SELECT 1 AS order_id".into(),
            "invalid version id",
        ),
        (
            "CREATE VERSION 'a\\b' OF orders AS SELECT 1 AS order_id".into(),
            "invalid version id",
        ),
        (
            format!("CREATE VERSION '{long}' OF orders AS SELECT 1 AS order_id"),
            "longer than 128 bytes",
        ),
        (
            "CREATE VERSION 'ok' OF \"../evil\" AS SELECT 1 AS order_id".into(),
            "invalid dataset name",
        ),
        (
            format!("REGISTER VERSION '../evil' OF orders FROM '{v2}/'"),
            "invalid version id",
        ),
        (
            format!("REGISTER VERSION 'ok' OF \"../../evil\" FROM '{v2}/'"),
            "invalid dataset name",
        ),
        (
            "REGISTER VERSION 'ok' OF orders FROM '/tmp/a\u{0}b/'".into(),
            "NUL",
        ),
        (
            "REGISTER VERSION 'ok' OF orders FROM ''".into(),
            "it is empty",
        ),
        (
            "CREATE COHORT \"../evil\" MEMBERS ('a')".into(),
            "invalid cohort name",
        ),
        (
            "CREATE COHORT ok MEMBERS ('')".into(),
            "invalid consumer id",
        ),
        (
            "PROMOTE \"../evil\" TO 'v1'".into(),
            "unknown dataset '../evil'",
        ),
        (
            "PROMOTE orders TO '../../v1'".into(),
            "has no version '../../v1'",
        ),
        (
            "ROLLBACK orders TO '/etc/passwd'".into(),
            "has no version '/etc/passwd'",
        ),
        (
            "VERIFY VERSION '../../etc' OF orders".into(),
            "has no version",
        ),
        (
            "SELECT * FROM orders VERSION AS OF '../v1'".into(),
            "has no version '../v1'",
        ),
    ];
    for (sql, expected) in &statements {
        let err = try_run(&rc, sql).await.map(|_| ()).unwrap_err().to_string();
        assert!(err.contains(expected), "{sql:.80}: {err:.300}");
        assert!(
            err.len() < 2_000 || err.contains(&long),
            "short message: {sql:.80}"
        );
    }
    assert_eq!(rc.store().state().sequence, seq, "nothing committed");
    assert_eq!(tree(&root), before, "nothing written anywhere");
    assert!(!parent.join("evil").exists() && !root.join("evil").exists());

    // A data folder with a file whose name is not UTF-8: a clear outcome, no panic.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let weird = fx.path("weird");
        std::fs::create_dir_all(&weird).unwrap();
        std::fs::copy(
            fx.path("orders_v2/part-0.parquet"),
            weird.join("part-0.parquet"),
        )
        .unwrap();
        let name = std::ffi::OsStr::from_bytes(b"part-\xff\xfe.parquet");
        std::fs::copy(fx.path("orders_v2/part-1.parquet"), weird.join(name)).unwrap();
        let result = try_run(
            &rc,
            &format!(
                "REGISTER VERSION 'weird' OF orders FROM '{}/'",
                weird.display()
            ),
        )
        .await;
        match result {
            Ok(out) => assert!(out.contains("registered version 'weird'"), "{out}"),
            Err(e) => {
                let e = e.to_string();
                println!("hostile: non-UTF-8 file name: {e}");
                assert!(
                    e.contains("weird") || e.contains("UTF-8") || e.contains("utf"),
                    "{e}"
                );
            }
        }
        println!(
            "hostile: non-UTF-8 file name in a registered folder: {:?}",
            rc.store().state().datasets["orders"]
                .version("weird")
                .map(|v| v.files.len())
        );
    }
}
