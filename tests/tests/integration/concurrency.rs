//! Concurrent writers: tasks in this process and other OS processes committing to one store.
//!
//! Each writer opens its own context on the store folder and issues PROMOTE / ROLLBACK /
//! CREATE COHORT. Afterwards the log must be gapless, hold every successful commit exactly
//! once (and nothing else), and replay to the state the writers see.

use std::collections::BTreeMap;

use datafusion_rollout::{RolloutContext, RolloutOptions};

use crate::common::*;

const CHILD_ENV: &str = "ROLLOUT_TEST_CHILD_STORE";
const OPS: usize = 24;

/// One writer's statements; returns the sequence numbers of its successful commits.
async fn writer(store: &str, name: &str) -> Vec<u64> {
    let rc = RolloutContext::open_with(
        store,
        RolloutOptions {
            actor: Some(name.to_string()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let mut committed = Vec::new();
    for i in 0..OPS {
        let sql = match i % 4 {
            0 => format!("CREATE COHORT {name}_{i} MEMBERS ('{name}')"),
            1 => format!("PROMOTE orders TO 'v2' AT {} PERCENT", 10 + i),
            2 => "ROLLBACK orders".to_string(),
            _ => "PROMOTE orders TO 'v2'".to_string(),
        };
        match commit(&rc, &sql).await {
            Ok(seq) => committed.extend(seq),
            Err(e) => {
                let msg = e.to_string();
                assert!(!msg.is_empty());
                assert!(
                    !msg.contains("internal") && !msg.contains("corrupt"),
                    "{name}: {sql}: {msg}"
                );
            }
        }
    }
    committed
}

/// Runs as a writer when started by [`many_writers_across_tasks_and_processes_lose_nothing`].
#[tokio::test]
#[ignore = "child process of concurrency::many_writers_across_tasks_and_processes_lose_nothing; run by it"]
async fn child_writer() {
    let parent = "concurrency::many_writers_across_tasks_and_processes_lose_nothing";
    let store = child_env(CHILD_ENV, parent);
    let name = child_env("ROLLOUT_TEST_CHILD_NAME", parent);
    for seq in writer(&store, &name).await {
        println!("ROLLOUT-SEQ {seq}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_writers_across_tasks_and_processes_lose_nothing() {
    let fx = Fixture::new().await;
    let setup = fx.orders(None).await;
    let setup_seq = setup.store().state().sequence;
    let store = fx.store();

    let children: Vec<_> = (0..2)
        .map(|p| {
            child_test("concurrency::child_writer")
                .env(CHILD_ENV, &store)
                .env("ROLLOUT_TEST_CHILD_NAME", format!("proc{p}"))
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                (
                    format!("task{t}"),
                    writer(&store, &format!("task{t}")).await,
                )
            })
        })
        .collect();

    let mut successes: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for t in tasks {
        let (name, seqs) = t.await.unwrap();
        successes.insert(name, seqs);
    }
    for (p, child) in children.into_iter().enumerate() {
        let out = child.wait_with_output().unwrap();
        assert_child_passed(&format!("child {p}"), &out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let seqs: Vec<u64> = stdout
            .lines()
            // The harness may print on the same line as the first of ours.
            .filter_map(|l| l.split("ROLLOUT-SEQ ").nth(1))
            .map(|s| s.trim().parse().unwrap())
            .collect();
        assert!(!seqs.is_empty(), "child {p} committed nothing: {stdout}");
        successes.insert(format!("proc{p}"), seqs);
    }

    // Gapless, and every successful commit is in the log exactly once.
    let reopened = fx.open(None).await;
    let history = reopened.store().history().await.unwrap();
    let total = reopened.store().state().sequence;
    assert_eq!(history.len() as u64, total);
    for (i, e) in history.iter().enumerate() {
        assert_eq!(e.sequence, i as u64 + 1, "gapless");
    }
    let mut claimed: Vec<u64> = successes.values().flatten().copied().collect();
    claimed.sort();
    let expected: Vec<u64> = (setup_seq + 1..=total).collect();
    assert_eq!(
        claimed, expected,
        "each success owns one entry, and every entry is a success"
    );
    for (name, seqs) in &successes {
        for s in seqs {
            assert_eq!(
                &history[*s as usize - 1].actor,
                name,
                "entry {s} belongs to {name}"
            );
        }
    }
    let processes = successes.keys().filter(|k| k.starts_with("proc")).count();
    assert_eq!(processes, 2);
    // The final state equals a fresh replay.
    setup.store().refresh().await.unwrap();
    assert_eq!(
        serde_json::to_string(setup.store().state().as_ref()).unwrap(),
        serde_json::to_string(reopened.store().state().as_ref()).unwrap()
    );
}
