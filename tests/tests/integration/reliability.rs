//! Many writers across processes, deterministic replay, and a ROLLBACK issued twice at once.
//!
//! Child processes are this test binary re-executed on the ignored helper test [`child`] with
//! `ROLLOUT_CHILD_ROLE` set (see [`spawn_child`]); they report on stdout with `ROLLOUT-` markers. Sizes are bounded
//! for CI; `ROLLOUT_SOAK=1` runs the long version (more processes, hundreds of statements per
//! writer, more trials; also more crashes in `crash.rs` and more proptest cases in
//! `hostile.rs`):
//!
//! ```text
//! ROLLOUT_SOAK=1 cargo test -p rollout-tests --test integration -- reliability:: crash:: hostile:: --nocapture
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use datafusion_rollout::statement::parse_statement;
use datafusion_rollout::{RolloutContext, RolloutOptions, StoreOptions};

use crate::common::*;

const ROLE: &str = "ROLLOUT_CHILD_ROLE";
const STORE: &str = "ROLLOUT_CHILD_STORE_PATH";
const NAME: &str = "ROLLOUT_CHILD_WRITER";

/// Whether the long soak mode was asked for.
pub fn soak() -> bool {
    std::env::var("ROLLOUT_SOAK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// Starts this test binary as a child running `role` on `store`, stdout piped.
pub fn spawn_child(role: &str, store: &str, env: &[(&str, String)]) -> Child {
    let mut cmd = child_test("reliability::child");
    cmd.env(ROLE, role)
        .env(STORE, store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.spawn().unwrap()
}

/// The `ROLLOUT-<tag> ...` lines of a child's output (the harness may print on the same line).
pub fn marked<'a>(stdout: &'a str, tag: &str) -> Vec<&'a str> {
    let marker = format!("ROLLOUT-{tag} ");
    stdout
        .lines()
        .filter_map(|l| l.split_once(marker.as_str()).map(|(_, rest)| rest))
        .collect()
}

/// A small deterministic generator (xorshift64*), seeded per test and printed on failure.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Rng {
        let seed = std::env::var("ROLLOUT_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            });
        eprintln!("ROLLOUT_SEED={seed}");
        Rng(seed | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A folder with v2's rows in the dataset's reader schema (`channel` nullable), so that it can
/// be registered again and again as new versions. (v2's own files have `channel` NOT NULL, and
/// the dataset's schema made it nullable because v1 lacks it: registering v2's folder again is
/// refused as "nullable to NOT NULL".)
pub async fn registrable_folder(fx: &Fixture, rc: &RolloutContext) -> String {
    let dir = fx.path("orders_v2_nullable");
    run(
        rc,
        &format!(
            "COPY (SELECT * FROM orders VERSION AS OF 'v2') TO '{}/part-0.parquet'",
            dir.display()
        ),
    )
    .await;
    dir.display().to_string()
}

/// Opens `store` with a checkpoint interval and an actor.
pub async fn open(store: &str, interval: u64, actor: &str) -> RolloutContext {
    RolloutContext::open_with(
        store,
        RolloutOptions {
            store: StoreOptions {
                checkpoint_interval: interval,
                ..Default::default()
            },
            actor: Some(actor.to_string()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// The state a fresh process gets by replaying the log alone (checkpoints left out), as JSON.
pub async fn replayed_state(store_dir: &Path) -> String {
    let copy = tempfile::tempdir().unwrap();
    let log = copy.path().join("_rollout_log");
    std::fs::create_dir_all(&log).unwrap();
    for e in std::fs::read_dir(store_dir.join("_rollout_log")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.ends_with(".json") && !name.contains("checkpoint") {
            std::fs::copy(e.path(), log.join(&name)).unwrap();
        }
    }
    let rc = open(&copy.path().display().to_string(), 0, "replay").await;
    assert_eq!(rc.store().read_only_reason(), None);
    serde_json::to_string(rc.store().state().as_ref()).unwrap()
}

/// Runs as a child process: what it does depends on `ROLLOUT_CHILD_ROLE`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of the reliability:: and crash:: tests; run by them"]
async fn child() {
    let parent = "the reliability:: and crash:: tests";
    let role = child_env(ROLE, parent);
    let store = child_env(STORE, parent);
    match role.as_str() {
        "writer" => {
            let name = std::env::var(NAME).unwrap();
            let ops: usize = std::env::var("ROLLOUT_CHILD_OPS").unwrap().parse().unwrap();
            let v2 = std::env::var("ROLLOUT_CHILD_V2").unwrap();
            writer(&store, &name, ops, &v2, true).await;
        }
        "replay" => {
            let rc = open(&store, 0, "replay").await;
            let state = serde_json::to_string(rc.store().state().as_ref()).unwrap();
            println!("\nROLLOUT-STATE {state}");
        }
        "rollback" => {
            let rc = open(&store, 0, &std::env::var(NAME).unwrap()).await;
            // Warm up (first-use costs vary between processes), then start together.
            run(&rc, "SHOW ROLLOUT orders").await;
            let start: u128 = std::env::var("ROLLOUT_CHILD_START")
                .unwrap()
                .parse()
                .unwrap();
            while SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos()
                < start
            {
                std::hint::spin_loop();
            }
            match commit(&rc, "ROLLBACK orders").await {
                Ok(seq) => println!("\nROLLOUT-OK {}", seq.unwrap()),
                Err(e) => println!("\nROLLOUT-ERR {}", e.to_string().replace('\n', " ")),
            }
        }
        other => crate::crash::child_role(other, &store).await,
    }
}

/// The statement writer `name` issues as its `i`th.
fn writer_sql(name: &str, i: usize, v2: &str) -> String {
    match i % 6 {
        0 => format!("CREATE COHORT {name}_{i} MEMBERS ('{name}', 'c{i}')"),
        1 => format!("REGISTER VERSION '{name}_{i}' OF orders FROM '{v2}/' REASON 'w {i}'"),
        2 => format!(
            "PROMOTE orders TO '{name}_{}' AT {} PERCENT",
            i - 1,
            5 + i % 50
        ),
        3 => "ROLLBACK orders".to_string(),
        4 => format!(
            "PROMOTE orders TO '{name}_{}' FOR COHORT {name}_{}",
            i - 3,
            i - 4
        ),
        _ => format!("PROMOTE orders TO '{name}_{}'", i - 4),
    }
}

/// A statement's index and the sequence it committed at, or its error.
type Outcome = (usize, Result<u64, String>);

/// One writer's statements. Prints (child) or returns `(i, Ok(seq) | Err(message))` per statement.
async fn writer(store: &str, name: &str, ops: usize, v2: &str, print: bool) -> Vec<Outcome> {
    let rc = open(store, 10, name).await;
    let mut out = Vec::new();
    for i in 0..ops {
        let sql = writer_sql(name, i, v2);
        let result = match commit(&rc, &sql).await {
            Ok(seq) => Ok(seq.unwrap_or_else(|| panic!("{sql}: committed nothing"))),
            Err(e) => Err(e.to_string().replace('\n', " ")),
        };
        if print {
            match &result {
                Ok(seq) => println!("\nROLLOUT-OK {i} {seq}"),
                Err(e) => println!("\nROLLOUT-ERR {i} {e}"),
            }
        }
        out.push((i, result));
    }
    out
}

/// What a failed statement may say: a precondition that another writer's commit broke, or the
/// bounded retry giving up. Never corruption, an internal error or a panic.
fn classify(message: &str) -> &'static str {
    for (needle, kind) in [
        ("concurrent modification", "concurrent modification"),
        ("changed while ROLLBACK", "rollout changed under ROLLBACK"),
        ("nothing to roll back", "nothing to roll back"),
        ("has no version", "version not registered"),
        ("unknown cohort", "cohort not created"),
        ("rolled_back", "version rolled back"),
        ("rejected", "version rejected"),
        ("is the stable", "already stable"),
        ("already", "already"),
    ] {
        if message.contains(needle) {
            return kind;
        }
    }
    "other"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_processes_and_tasks_commit_without_losing_anything() {
    let (procs, tasks, ops) = if soak() { (16, 8, 300) } else { (8, 4, 40) };
    let started = Instant::now();
    let fx = Fixture::new().await;
    let setup = fx.orders(None).await;
    let setup_seq = setup.store().state().sequence;
    let store = fx.store();
    let v2 = registrable_folder(&fx, &setup).await;

    let children: Vec<_> = (0..procs)
        .map(|p| {
            spawn_child(
                "writer",
                &store,
                &[
                    (NAME, format!("proc{p}")),
                    ("ROLLOUT_CHILD_OPS", ops.to_string()),
                    ("ROLLOUT_CHILD_V2", v2.clone()),
                ],
            )
        })
        .collect();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let (store, v2) = (store.clone(), v2.clone());
            tokio::spawn(async move {
                let name = format!("task{t}");
                let results = writer(&store, &name, ops, &v2, false).await;
                (name, results)
            })
        })
        .collect();

    let mut results: BTreeMap<String, Vec<Outcome>> = BTreeMap::new();
    for h in handles {
        let (name, r) = h.await.unwrap();
        results.insert(name, r);
    }
    for (p, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_child_passed(&format!("child {p}"), &out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut r = Vec::new();
        for line in marked(&stdout, "OK") {
            let (i, seq) = line.trim().split_once(' ').unwrap();
            r.push((i.parse().unwrap(), Ok(seq.parse().unwrap())));
        }
        for line in marked(&stdout, "ERR") {
            let (i, msg) = line.split_once(' ').unwrap();
            r.push((i.parse().unwrap(), Err(msg.to_string())));
        }
        r.sort_by_key(|(i, _)| *i);
        assert_eq!(r.len(), ops, "child {p} reported every statement: {stdout}");
        results.insert(format!("proc{p}"), r);
    }

    // Gapless log.
    let reopened = fx.open(None).await;
    assert_eq!(reopened.store().read_only_reason(), None);
    let history = reopened.store().history().await.unwrap();
    let total = reopened.store().state().sequence;
    assert_eq!(history.len() as u64, total);
    for (i, e) in history.iter().enumerate() {
        assert_eq!(e.sequence, i as u64 + 1, "gapless");
    }
    // Every success is in the log exactly once, as the statement it was, by its writer; every
    // entry is somebody's success; every failure says why in words we expect.
    let mut claimed = Vec::new();
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    for (name, rs) in &results {
        for (i, r) in rs {
            let sql = writer_sql(name, *i, &v2);
            match r {
                Ok(seq) => {
                    let entry = &history[*seq as usize - 1];
                    assert_eq!(&entry.actor, name, "entry {seq}");
                    let canonical = parse_statement(&sql).unwrap().to_string();
                    assert_eq!(entry.statement, canonical, "entry {seq} is {name}'s #{i}");
                    claimed.push(*seq);
                }
                Err(msg) => {
                    let kind = classify(msg);
                    assert!(
                        kind != "other"
                            && !msg.contains("internal")
                            && !msg.contains("corrupt")
                            && !msg.contains("read-only"),
                        "{name}: {sql}: unclear error: {msg}"
                    );
                    *errors.entry(kind).or_default() += 1;
                }
            }
        }
    }
    claimed.sort();
    let expected: Vec<u64> = (setup_seq + 1..=total).collect();
    assert_eq!(
        claimed, expected,
        "each success owns one entry, and every entry is a success"
    );
    // The final state equals a fresh replay, and what the writers' own context sees.
    setup.store().refresh().await.unwrap();
    let live = serde_json::to_string(setup.store().state().as_ref()).unwrap();
    assert_eq!(
        live,
        serde_json::to_string(reopened.store().state().as_ref()).unwrap()
    );
    assert_eq!(live, replayed_state(&fx.path("store")).await);

    let statements = (procs + tasks) * ops;
    println!(
        "reliability: {procs} processes + {tasks} tasks x {ops} statements = {statements}: \
         {} committed, {} refused {errors:?}, in {:.1?}",
        claimed.len(),
        statements - claimed.len(),
        started.elapsed()
    );
    assert!(claimed.len() > statements / 4, "most statements commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaying_the_same_log_in_two_processes_gives_byte_identical_state() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let rc = {
        drop(rc);
        open(&fx.store(), 4, "test").await
    };
    for i in 0..9 {
        run(&rc, &format!("CREATE COHORT c{i} MEMBERS ('m{i}', 'n{i}')")).await;
        run(
            &rc,
            &format!(
                "PROMOTE orders TO 'v2' FOR COHORT c{i} AT {} PERCENT",
                3 * i + 1
            ),
        )
        .await;
        run(&rc, "ROLLBACK orders REASON 'again'").await;
    }
    run(&rc, "PROMOTE orders TO 'v2'").await;
    run(&rc, "ROLLBACK orders").await;
    run(
        &rc,
        "CREATE VERSION 'v3' OF orders AS SELECT * FROM orders WHERE amount > 10",
    )
    .await;
    run(&rc, "ROLLBACK orders TO 'v2'").await;
    let live = serde_json::to_string(rc.store().state().as_ref()).unwrap();

    // A copy of the log without checkpoints, replayed by two fresh processes; and the
    // original store (with its checkpoints) opened by a third.
    let copy = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(copy.path().join("_rollout_log")).unwrap();
    let mut checkpoints = 0;
    for e in std::fs::read_dir(fx.path("store/_rollout_log")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.contains("checkpoint") {
            checkpoints += 1;
        } else {
            std::fs::copy(e.path(), copy.path().join("_rollout_log").join(&name)).unwrap();
        }
    }
    assert!(checkpoints > 3);
    let copy_path = copy.path().display().to_string();
    let children = [
        spawn_child("replay", &copy_path, &[]),
        spawn_child("replay", &copy_path, &[]),
        spawn_child("replay", &fx.store(), &[]),
    ];
    let states: Vec<String> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            assert_child_passed("replay child", &out);
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            marked(&stdout, "STATE")[0].to_string()
        })
        .collect();
    assert_eq!(states[0], states[1], "two fresh replays, byte for byte");
    assert_eq!(states[0], states[2], "a replay and a checkpointed open");
    assert_eq!(states[0], live, "and the writer's own state");
    let state: serde_json::Value = serde_json::from_str(&states[0]).unwrap();
    assert_eq!(state["sequence"], 35);
    assert_eq!(state["datasets"]["orders"]["rollout"]["stable"], "v2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_issued_twice_at_once_by_two_processes_rolls_back_once() {
    let trials = if soak() { 60 } else { 6 };
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let store = fx.store();
    let folder = registrable_folder(&fx, &rc).await;
    let mut concurrent = 0;
    for t in 0..trials {
        run(
            &rc,
            &format!("REGISTER VERSION 't{t}' OF orders FROM '{folder}/'"),
        )
        .await;
        run(&rc, &format!("PROMOTE orders TO 't{t}' AT 20 PERCENT")).await;
        let before = rc.store().state().sequence;
        // Both processes open the store, then start their ROLLBACK at the same instant.
        let start =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_millis(700);
        let children: Vec<_> = (0..2)
            .map(|p| {
                spawn_child(
                    "rollback",
                    &store,
                    &[
                        (NAME, format!("op{p}")),
                        ("ROLLOUT_CHILD_START", start.as_nanos().to_string()),
                    ],
                )
            })
            .collect();
        let mut oks = Vec::new();
        let mut errs = Vec::new();
        for c in children {
            let out = c.wait_with_output().unwrap();
            assert_child_passed("rollback child", &out);
            let stdout = String::from_utf8_lossy(&out.stdout).to_string();
            oks.extend(
                marked(&stdout, "OK")
                    .iter()
                    .map(|s| s.trim().parse::<u64>().unwrap()),
            );
            errs.extend(marked(&stdout, "ERR").iter().map(|s| s.to_string()));
        }
        assert_eq!(
            (oks.len(), errs.len()),
            (1, 1),
            "trial {t}: one rollback: {oks:?} {errs:?}"
        );
        assert_eq!(oks[0], before + 1);
        let err = &errs[0];
        if err.contains("changed while ROLLBACK was being committed") {
            concurrent += 1;
        } else {
            // The second one started after the first had committed: nothing left to undo.
            assert!(err.contains("nothing to roll back"), "trial {t}: {err}");
        }
        let state = rc.store().refresh().await.unwrap();
        assert_eq!(state.sequence, before + 1, "trial {t}: exactly one entry");
        let orders = &state.datasets["orders"];
        assert_eq!(orders.rollout.stable.as_deref(), Some("v1"));
        assert!(orders.rollout.candidate.is_none());
        assert_eq!(
            orders.version(&format!("t{t}")).unwrap().status.to_string(),
            "rolled_back"
        );
    }
    println!(
        "reliability: {trials} double ROLLBACKs across two processes, {concurrent} truly \
         concurrent (refused as changed under it), {} sequential (nothing left to roll back)",
        trials - concurrent
    );
}
