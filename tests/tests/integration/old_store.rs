//! A store written by the release before per-version reader schemas, migrations, lineage and
//! retention (commit a303a4c, by `tests/fixtures/old-store/make.sh`) opens, reads and takes
//! new commits. Its log holds absolute file URLs under the folder it was written in: the copy
//! read here has that prefix rewritten, and its data files get back the modification times the
//! log pinned (local files are verified by size and mtime).

use std::path::Path;

use crate::common::*;

/// Where `make.sh` wrote the fixture.
const WRITTEN_AT: &str = "/tmp/rollout-old-store";

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/old-store/store")
}

/// Copies the fixture into `to`, as if it had been written there.
fn copy_fixture(to: &Path) {
    let from = fixture();
    let target = to.display().to_string();
    for file in walk(&from) {
        let relative = file.strip_prefix(&from).unwrap();
        let dest = to.join(relative);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        if relative.starts_with("_rollout_log") {
            let text = std::fs::read_to_string(&file).unwrap();
            std::fs::write(&dest, text.replace(WRITTEN_AT, &target)).unwrap();
        } else {
            std::fs::copy(&file, &dest).unwrap();
        }
    }
    // Every pinned file gets the modification time its version recorded.
    for entry in walk(&to.join("_rollout_log")) {
        let log: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(entry).unwrap()).unwrap();
        let mut pinned = Vec::new();
        collect_pins(&log, &mut pinned);
        for (url, modified) in pinned {
            let path = url
                .trim_start_matches("file://")
                .trim_start_matches("file:");
            let at: chrono::DateTime<chrono::Utc> = modified.parse().unwrap();
            let file = std::fs::File::options().write(true).open(path).unwrap();
            file.set_modified(at.into()).unwrap();
        }
    }
}

fn collect_pins(value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) => {
            if let (Some(url), Some(modified)) = (
                map.get("url").and_then(|u| u.as_str()),
                map.get("last_modified").and_then(|m| m.as_str()),
            ) {
                out.push((url.to_string(), modified.to_string()));
            }
            map.values().for_each(|v| collect_pins(v, out));
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_pins(v, out)),
        _ => {}
    }
}

async fn open(store: &Path, consumer: Option<&str>) -> datafusion_rollout::RolloutContext {
    datafusion_rollout::RolloutContext::open_with(
        &store.display().to_string(),
        datafusion_rollout::RolloutOptions {
            consumer: consumer.map(str::to_string),
            actor: Some("test".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_store_written_by_the_previous_release_reads_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    copy_fixture(&store);

    let bob = open(&store, Some("bob")).await;
    let versions = run(&bob, "SHOW VERSIONS OF orders").await;
    for (v, status) in [("v1", "stable"), ("v2", "candidate"), ("v3", "registered")] {
        assert!(
            versions
                .lines()
                .any(|l| l.contains(&format!("| {v} ")) && l.contains(status)),
            "{v} {status}:\n{versions}"
        );
    }
    // The stable version's readers: v1's rows, the candidate's column as NULL.
    assert_eq!(scalar(&bob, "SELECT count(*) FROM orders").await, "5");
    assert_eq!(scalar(&bob, "SELECT sum(amount) FROM orders").await, "22.5");
    assert_eq!(scalar(&bob, "SELECT count(channel) FROM orders").await, "0");
    // The one change, as designed: the column only the never-exposed v3 has is no longer
    // part of the alias (the old release showed it to everyone as NULL).
    let err = try_run(&bob, "SELECT extra FROM orders").await.unwrap_err();
    assert!(err.to_string().contains("No field named extra"), "{err}");
    assert_eq!(
        scalar(&bob, "SELECT sum(extra) FROM orders VERSION AS OF 'v3'").await,
        "28"
    );
    // The cohort's member reads the candidate, as before.
    let alice = open(&store, Some("alice")).await;
    assert_eq!(scalar(&alice, "SELECT count(*) FROM orders").await, "6");
    assert_eq!(
        scalar(&alice, "SELECT min(channel) FROM orders").await,
        "web"
    );
    // A managed version written by the old release, and the old history.
    assert_eq!(scalar(&bob, "SELECT n FROM summary").await, "5");
    let history = run(&bob, "SHOW HISTORY OF orders").await;
    assert!(history.contains("try channel"), "{history}");
    // It recorded no lineage: none is invented.
    let lineage = run(&bob, "SHOW LINEAGE OF summary").await;
    assert_eq!(lineage.lines().count(), 4, "{lineage}");

    // New commits land on it, with today's rules.
    run(&bob, "PROMOTE orders TO 'v2'").await;
    assert_eq!(scalar(&bob, "SELECT count(*) FROM orders").await, "6");
    let err = try_run(&bob, "ALTER DATASET orders FINISH MIGRATION")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("no migration in progress"),
        "{err}"
    );
    run(&bob, "DROP VERSION 'v3' OF orders").await;
    let reopened = open(&store, None).await;
    let versions = run(&reopened, "SHOW VERSIONS OF orders").await;
    assert!(versions.contains("dropped"), "{versions}");
}
