//! Crash at any point: a writer process killed with SIGKILL at random moments, during commits
//! and checkpoints (interval 2, so every other commit writes one) and during
//! `CREATE VERSION ... AS SELECT` writing Parquet. After each kill the store must open (not
//! read-only), hold exactly the complete commits (every commit the writer reported is there,
//! and at most the one it had no time to report besides), equal a replay of its log, show no
//! half-written version, and `VACUUM` must remove the orphaned files (including object_store's
//! staging files) without touching referenced ones. Every other round kills the writer only
//! after its first commit, so commits do land in every run, and the test says how many.

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use datafusion_rollout::RolloutContext;

use crate::common::*;
use crate::reliability::{Rng, marked, open, replayed_state, soak, spawn_child};

/// The child side: commit or create versions until killed, reporting each commit.
pub async fn child_role(role: &str, store: &str) {
    let pid = std::process::id();
    let rc = open(store, 2, &format!("crash{pid}")).await;
    // Small row groups and a small upload buffer: the Parquet files grow on disk while the
    // query runs (object_store staging files, renamed at the end), instead of being put in
    // one go at the end, so that kills land mid-write.
    run(
        &rc,
        "SET datafusion.execution.parquet.max_row_group_size = 2048",
    )
    .await;
    run(
        &rc,
        "SET datafusion.execution.objectstore_writer_buffer_size = 16384",
    )
    .await;
    println!("\nROLLOUT-READY");
    for i in 0.. {
        let sql = match role {
            "crash-commits" => match i % 4 {
                0 => format!("CREATE COHORT k{pid}_{i} MEMBERS ('m{i}')"),
                1 => format!(
                    "PROMOTE orders TO 'v2' FOR COHORT k{pid}_{} AT {} PERCENT",
                    i - 1,
                    i % 90
                ),
                2 => "ROLLBACK orders".to_string(),
                _ => format!("PROMOTE orders TO 'v2' AT {} PERCENT", 1 + i % 90),
            },
            "crash-create" => format!(
                "CREATE VERSION 'p{pid}_{i}' OF orders AS \
                 SELECT o.* FROM orders VERSION AS OF 'v2' o, generate_series(1, 500) g"
            ),
            other => panic!("unknown role {other}"),
        };
        if let Ok(Some(seq)) = commit(&rc, &sql).await {
            println!("\nROLLOUT-OK {seq}");
        }
    }
}

/// The `status` and `path` of each row of a `VERIFY`.
async fn verify_statuses(rc: &RolloutContext) -> Vec<String> {
    rows_of(rc, "VERIFY orders", &["status", "path"]).await
}

/// The canonical local path of a `file:` URL or a path.
fn local_path(url_or_path: &str) -> String {
    let path = format!(
        "/{}",
        url_or_path
            .trim_start_matches("file:")
            .trim_start_matches('/')
    );
    std::fs::canonicalize(&path)
        .map(|p| p.display().to_string())
        .unwrap_or(path)
}

/// Every file under `dir`, recursively (staging files included).
fn files_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}

#[derive(Default)]
struct Stats {
    crashes: usize,
    commits_reported: usize,
    /// Commits the writers made (reported or not), per role.
    commits_landed: BTreeMap<String, u64>,
    orphans_removed: usize,
    staging_removed: usize,
}

/// Everything that must hold after a crash; `before` is the store's sequence when the writer
/// started, `reported` the sequences it said it committed, `actor` its name. Returns the
/// sequence after the check (whose `VACUUM` commits too).
async fn check_after_crash(
    store_dir: &Path,
    before: u64,
    reported: &[u64],
    actor: &str,
    role: &str,
    stats: &mut Stats,
) -> u64 {
    let store = store_dir.display().to_string();
    let rc = open(&store, 2, "check").await;
    assert_eq!(rc.store().read_only_reason(), None, "opens writable");
    let state = rc.store().state();
    // The writer was alone: it reported its commits in order, one after the other, and at
    // most one more landed (committed, then killed before it could say so).
    let expected: Vec<u64> = (before + 1..=before + reported.len() as u64).collect();
    assert_eq!(reported, expected, "{actor} reported consecutive commits");
    let last_reported = before + reported.len() as u64;
    assert!(
        state.sequence == last_reported || state.sequence == last_reported + 1,
        "reopened at #{} after {actor} reported up to #{last_reported}",
        state.sequence
    );
    *stats.commits_landed.entry(role.to_string()).or_default() += state.sequence - before;
    let entries = std::fs::read_dir(store_dir.join("_rollout_log"))
        .unwrap()
        .filter(|e| {
            let n = e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .to_string();
            n.len() == 25 && n.ends_with(".json")
        })
        .count() as u64;
    assert_eq!(
        state.sequence, entries,
        "the state is the last complete commit"
    );
    let history = rc.store().history().await.unwrap();
    assert_eq!(
        history.last().map(|e| e.sequence),
        Some(state.sequence),
        "the history ends at the state's commit"
    );
    if state.sequence > last_reported {
        assert_eq!(
            history[last_reported as usize].actor, actor,
            "the unreported commit is the writer's"
        );
    }
    for seq in reported {
        assert_eq!(
            history[*seq as usize - 1].actor,
            actor,
            "reported commit {seq} is there"
        );
    }
    assert_eq!(
        serde_json::to_string(state.as_ref()).unwrap(),
        replayed_state(store_dir).await,
        "equals a replay of the log"
    );
    // No half-written version: every pinned file is there, as registered, and the newest
    // version reads its recorded row count.
    let statuses = verify_statuses(&rc).await;
    assert!(
        statuses.iter().all(|s| s.starts_with("ok ")),
        "{statuses:?}"
    );
    let newest = state.datasets["orders"].versions.last().unwrap();
    assert_eq!(
        scalar(
            &rc,
            &format!("SELECT count(*) FROM orders VERSION AS OF '{}'", newest.id)
        )
        .await,
        newest.row_count.to_string()
    );

    // VACUUM removes what the crash left, nothing referenced.
    let out = try_run(&rc, "VACUUM RETAIN '0 seconds'").await.unwrap();
    let removed = out.lines().filter(|l| l.contains("| removed")).count();
    stats.orphans_removed += removed;
    stats.staging_removed += out.lines().filter(|l| l.contains("%23")).count();
    let state = rc.store().refresh().await.unwrap();
    let referenced: HashSet<String> = state
        .datasets
        .values()
        .flat_map(|d| d.versions.iter())
        .flat_map(|v| v.files.iter())
        .map(|f| local_path(&f.url))
        .collect();
    for f in files_under(&store_dir.join("data")) {
        assert!(
            referenced.contains(&local_path(&f.display().to_string())),
            "VACUUM left an unreferenced file: {}",
            f.display()
        );
    }
    for f in files_under(&store_dir.join("_rollout_log")) {
        assert!(
            !f.display().to_string().contains('#'),
            "staging file left: {}",
            f.display()
        );
    }
    let after = verify_statuses(&rc).await;
    assert!(after.iter().all(|s| s.starts_with("ok ")), "{after:?}");
    assert_eq!(after.len(), statuses.len());
    state.sequence
}

/// Starts a writer, kills it with SIGKILL a random delay after it is ready (or, with
/// `after_first_commit`, after it reported its first commit); returns what it reported.
fn crash_writer(
    role: &str,
    store: &str,
    rng: &mut Rng,
    max_delay_ms: u64,
    after_first_commit: bool,
) -> (Vec<u64>, String) {
    let mut child = spawn_child(role, store, &[]);
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    let go = if after_first_commit {
        "ROLLOUT-OK"
    } else {
        "ROLLOUT-READY"
    };
    let reader = std::thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.contains(go) {
                let _ = tx.send(());
            }
            lines.push(line);
        }
        lines.join("\n")
    });
    if rx.recv_timeout(Duration::from_secs(60)).is_err() {
        let _ = child.kill();
        let _ = child.wait();
        let out = reader.join().unwrap();
        panic!("{role} child never printed {go}:\n{out}");
    }
    std::thread::sleep(Duration::from_millis(rng.below(max_delay_ms)));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let out = reader.join().unwrap();
    let seqs = marked(&out, "OK")
        .iter()
        .map(|s| s.trim().parse().unwrap())
        .collect();
    // The child's actor is crash<pid>.
    (seqs, format!("crash{}", child.id()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_killed_at_any_moment_leaves_the_last_complete_commit() {
    let rounds: usize = if soak() { 100 } else { 6 };
    let started = Instant::now();
    let fx = Fixture::new().await;
    let setup = fx.orders(None).await;
    let mut sequence = setup.store().state().sequence;
    drop(setup);
    let store = fx.store();
    let mut rng = Rng::new();
    let mut stats = Stats::default();
    for round in 0..rounds {
        for (role, max_delay) in [("crash-commits", 400), ("crash-create", 3000)] {
            let (reported, actor) = crash_writer(role, &store, &mut rng, max_delay, round % 2 == 1);
            if round % 2 == 1 {
                assert!(!reported.is_empty(), "{role}: waited for a commit");
            }
            stats.crashes += 1;
            stats.commits_reported += reported.len();
            sequence = check_after_crash(
                &fx.path("store"),
                sequence,
                &reported,
                &actor,
                role,
                &mut stats,
            )
            .await;
        }
    }
    println!(
        "crash: {} SIGKILLs survived ({} commits reported before them, landed per role: {:?}), \
         VACUUM removed {} orphaned files ({} staging files), in {:.1?}",
        stats.crashes,
        stats.commits_reported,
        stats.commits_landed,
        stats.orphans_removed,
        stats.staging_removed,
        started.elapsed()
    );
    // Commits did land, of both kinds, and the store ends where the last one left it.
    for role in ["crash-commits", "crash-create"] {
        let landed = stats.commits_landed.get(role).copied().unwrap_or(0);
        assert!(
            landed >= rounds as u64 / 2,
            "{role}: only {landed} commits landed"
        );
    }
    let reopened = open(&store, 2, "final").await;
    assert_eq!(reopened.store().state().sequence, sequence);
    let created = reopened.store().state().datasets["orders"]
        .versions
        .iter()
        .filter(|v| v.id.starts_with('p'))
        .count();
    assert!(
        created >= rounds / 2,
        "{created} versions created by the writers"
    );
}

/// What a crashed `CREATE VERSION` leaves, made by hand: a complete but unreferenced Parquet
/// file and a staging file under `data/`, a staging file in the log folder; plus what a
/// refused one leaves. VACUUM keeps them within the retention, then removes exactly them.
#[tokio::test]
async fn vacuum_removes_what_crashes_leave_and_nothing_else() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(&rc, "CREATE VERSION 'v3' OF orders AS SELECT * FROM orders VERSION AS OF 'v2' WHERE amount > 50").await;
    let err = try_run(
        &rc,
        "CREATE VERSION 'v4' OF orders AS SELECT 'x' AS order_id",
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("breaks the dataset's schema"),
        "{err}"
    );
    let store = fx.path("store");
    let crashed = store.join("data/orders/v5/0000-crashed");
    std::fs::create_dir_all(&crashed).unwrap();
    std::fs::copy(
        fx.path("orders_v1/part-0.parquet"),
        crashed.join("part-0.parquet"),
    )
    .unwrap();
    std::fs::write(crashed.join("part-1.parquet#1"), b"half a file").unwrap();
    std::fs::write(store.join("_rollout_log/00000000000000000099.json#2"), b"{").unwrap();
    // Outside data/ and not a staging file: never VACUUM's business.
    std::fs::write(store.join("README.txt"), b"mine").unwrap();
    std::fs::write(store.join("_rollout_log/notes#x"), b"mine").unwrap();
    let before = verify_statuses(&rc).await;

    let listed = try_run(&rc, "VACUUM DRY RUN").await.unwrap();
    assert_eq!(
        listed
            .lines()
            .filter(|l| l.contains("would remove"))
            .count(),
        0,
        "{listed}"
    );
    let listed = try_run(&rc, "VACUUM DRY RUN RETAIN '0 seconds'")
        .await
        .unwrap();
    let n = listed
        .lines()
        .filter(|l| l.contains("would remove"))
        .count();
    assert_eq!(
        n, 4,
        "refused v4's file, crashed file, two staging files:\n{listed}"
    );
    assert!(listed.contains("/data/orders/v4/"), "{listed}");
    assert!(listed.contains("part-1.parquet%231"), "{listed}");
    assert!(listed.contains("00000000000000000099.json%232"), "{listed}");
    let seq = rc.store().state().sequence;
    let removed = try_run(&rc, "VACUUM RETAIN '0 seconds' REASON 'crash leftovers'")
        .await
        .unwrap();
    assert_eq!(
        removed.lines().filter(|l| l.contains("| removed")).count(),
        4,
        "{removed}"
    );
    assert_eq!(
        rc.store().state().sequence,
        seq + 1,
        "recorded in the history"
    );
    let entry = rc.store().history().await.unwrap().pop().unwrap();
    assert_eq!(
        (entry.operation.as_str(), entry.actions.len()),
        ("VACUUM", 0)
    );
    assert!(!crashed.exists(), "emptied folders go too");
    assert!(!store.join("data/orders/v4").exists());
    assert!(store.join("README.txt").exists());
    assert!(store.join("_rollout_log/notes#x").exists());
    assert_eq!(
        verify_statuses(&rc).await,
        before,
        "referenced files untouched"
    );
    assert_eq!(
        scalar(&rc, "SELECT count(*) FROM orders VERSION AS OF 'v3'").await,
        "549"
    );
    // A second VACUUM finds nothing and records nothing.
    let again = try_run(&rc, "VACUUM RETAIN '0 seconds'").await.unwrap();
    assert!(!again.contains("removed"), "{again}");
    assert_eq!(rc.store().state().sequence, seq + 1);
    // Reopened, the store is the same.
    let reopened = fx.open(None).await;
    assert_eq!(reopened.store().state().sequence, seq + 1);
    assert_eq!(
        replayed_state(&store).await,
        serde_json::to_string(reopened.store().state().as_ref()).unwrap()
    );

    // A read-only store (a corrupt entry) is never vacuumed: later entries may reference files.
    std::fs::write(
        store.join(format!("_rollout_log/{:020}.json", seq + 2)),
        b"garbage",
    )
    .unwrap();
    let ro = fx.open(None).await;
    let err = try_run(&ro, "VACUUM DRY RUN RETAIN '0 seconds'")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("read-only"), "{err}");
}
