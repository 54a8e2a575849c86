//! Restart, checkpoints, corrupt logs, tampered files.

use datafusion_rollout::{RolloutContext, RolloutOptions, StoreOptions};

use crate::common::*;

async fn open_with_interval(fx: &Fixture, interval: u64) -> RolloutContext {
    RolloutContext::open_with(
        &fx.store(),
        RolloutOptions {
            store: StoreOptions {
                checkpoint_interval: interval,
                ..Default::default()
            },
            consumer: Some("zoe".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn reopening_gives_exactly_the_state_the_log_describes() {
    let fx = Fixture::new().await;
    {
        let rc = open_with_interval(&fx, 3).await;
        run(&rc, "CREATE DATASET orders").await;
        run(
            &rc,
            &format!(
                "REGISTER VERSION 'v1' OF orders FROM '{}/'",
                fx.path("orders_v1").display()
            ),
        )
        .await;
        run(
            &rc,
            &format!(
                "REGISTER VERSION 'v2' OF orders FROM '{}/'",
                fx.path("orders_v2").display()
            ),
        )
        .await;
        run(&rc, "PROMOTE orders TO 'v1'").await;
        for i in 0..7 {
            run(&rc, &format!("CREATE COHORT c{i} MEMBERS ('m{i}')")).await;
            run(&rc, &format!("PROMOTE orders TO 'v2' FOR COHORT c{i}")).await;
            run(&rc, "ROLLBACK orders").await;
        }
    }
    let checkpointed = open_with_interval(&fx, 3).await;
    let state = checkpointed.store().state();
    assert_eq!(state.sequence, 25);
    let checkpoints = std::fs::read_dir(fx.path("store/_rollout_log"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("checkpoint")
        })
        .count();
    assert!(checkpoints >= 8, "checkpoints written: {checkpoints}");
    // A full replay (checkpoints removed) gives the same state, byte for byte.
    for e in std::fs::read_dir(fx.path("store/_rollout_log")).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().to_string();
        if name.contains("checkpoint") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let replayed = open_with_interval(&fx, 0).await;
    assert_eq!(
        serde_json::to_string(replayed.store().state().as_ref()).unwrap(),
        serde_json::to_string(state.as_ref()).unwrap()
    );
    assert_eq!(
        scalar(&replayed, "SELECT round(avg(amount), 2) FROM orders").await,
        "49.95"
    );
}

#[tokio::test]
async fn a_corrupt_entry_is_named_and_the_store_opens_read_only_before_it() {
    let fx = Fixture::new().await;
    let seq = {
        let rc = fx.orders(Some("zoe")).await;
        rc.store().state().sequence
    };
    let bad = fx.path(&format!("store/_rollout_log/{:020}.json", seq + 1));
    std::fs::write(&bad, b"{ this is not json").unwrap();
    let rc = fx.open(Some("zoe")).await;
    assert_eq!(
        rc.store().state().sequence,
        seq,
        "state stops before the bad entry"
    );
    // Reading still works.
    assert_eq!(
        scalar(&rc, "SELECT round(avg(amount), 2) FROM orders").await,
        "49.95"
    );
    let err = try_run(&rc, "PROMOTE orders TO 'v2'")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("read-only"), "{err}");
    assert!(
        err.contains(&format!("{:020}.json", seq + 1)),
        "names the file: {err}"
    );
    assert!(err.contains("does not parse"), "{err}");
    // Nothing was written past it.
    assert!(
        !fx.path(&format!("store/_rollout_log/{:020}.json", seq + 2))
            .exists()
    );

    // An empty entry is reported the same way.
    std::fs::write(&bad, b"").unwrap();
    let rc = fx.open(Some("zoe")).await;
    let err = try_run(&rc, "ROLLBACK orders")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is empty"), "{err}");
}

#[tokio::test]
async fn a_tampered_pinned_file_fails_the_query_naming_the_file() {
    let fx = Fixture::new().await;
    let rc = fx.orders(Some("zoe")).await;
    run(&rc, "PROMOTE orders TO 'v2'").await;
    let file = fx.path("orders_v2/part-1.parquet");
    // Files added to the folder later never leak in.
    std::fs::copy(&file, fx.path("orders_v2/part-9.parquet")).unwrap();
    assert_eq!(scalar(&rc, "SELECT count(*) FROM orders").await, "1000");
    // The files' statistics are kept by the store for the next query's table.
    let v2_files = rc
        .store()
        .state()
        .version("orders", "v2")
        .unwrap()
        .files
        .len();
    assert_eq!(rc.store().file_statistics().len(), v2_files);

    // Same size, new content: detected by the modification time when the query reads the
    // file. Verification rides on the reads (no request of its own), so a count(*) that the
    // statistics recorded from the verified footers answer reads nothing: it gives the
    // version's count as registered, never other data.
    std::thread::sleep(std::time::Duration::from_millis(20));
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes).unwrap();
    assert_eq!(scalar(&rc, "SELECT count(*) FROM orders").await, "1000");
    // A process without those statistics reads the footer, and fails.
    let fresh = RolloutContext::open(&fx.store()).await.unwrap();
    let err = try_run(&fresh, "SELECT count(*) FROM orders")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("was modified"), "{err}");
    let err = try_run(&rc, "SELECT count(*), sum(amount) FROM orders")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("part-1.parquet"), "{err}");
    assert!(err.contains("orders@v2"), "{err}");
    assert!(err.contains("was modified"), "{err}");
    // Other versions keep working.
    assert_eq!(
        scalar(
            &rc,
            "SELECT round(avg(amount), 2) FROM orders VERSION AS OF 'v1'"
        )
        .await,
        "49.95"
    );
    // Truncated, then deleted.
    std::fs::write(&file, &bytes[..100]).unwrap();
    let err = try_run(&rc, "SELECT sum(amount) FROM orders")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("changed size"), "{err}");
    std::fs::remove_file(&file).unwrap();
    let err = try_run(&rc, "SELECT sum(amount) FROM orders")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is missing"), "{err}");
}

#[tokio::test]
async fn memory_stores_work_for_tests() {
    let fx = Fixture::new().await;
    let name = format!("memory://store-{}", std::process::id());
    let rc = RolloutContext::open(&name).await.unwrap();
    run(&rc, "CREATE DATASET orders").await;
    run(
        &rc,
        &format!(
            "REGISTER VERSION 'v1' OF orders FROM '{}/'",
            fx.path("orders_v1").display()
        ),
    )
    .await;
    run(&rc, "CREATE VERSION 'v2' OF orders AS SELECT * FROM orders VERSION AS OF 'v1' WHERE amount > 50").await;
    run(&rc, "PROMOTE orders TO 'v2'").await;
    let again = RolloutContext::open(&name).await.unwrap();
    assert_eq!(again.store().state().sequence, 4);
    assert_eq!(scalar(&again, "SELECT count(*) FROM orders").await, "499");
}

/// Opening and committing read what is new, never the history: the same requests at 210
/// entries as at 1,010 (both 10 past a checkpoint), and no listing at all. A listing of the
/// log folder on a local file system walks every entry, which made commits O(history).
#[tokio::test]
async fn requests_to_open_and_commit_do_not_grow_with_the_history() {
    use std::sync::Arc;

    use datafusion_rollout::store::{
        CountingStore, deregister_object_store, object_store_for, register_object_store,
        resolve_location,
    };

    let fx = Fixture::new().await;
    let prefix = resolve_location(&format!("{}/", fx.store()), true).unwrap();
    let counting = Arc::new(CountingStore::new(object_store_for(&prefix).unwrap()));
    register_object_store(&prefix, counting.clone());

    let rc = fx.orders(Some("zoe")).await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    let seq = |rc: &RolloutContext| rc.store().state().sequence;
    // Commits PROMOTE FOR COHORT / ROLLBACK pairs up to `target` entries.
    let fill = |rc: RolloutContext, target: u64| async move {
        while seq(&rc) < target {
            run(&rc, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
            run(&rc, "ROLLBACK orders").await;
        }
        assert_eq!(seq(&rc), target);
        rc
    };
    // Requests of: opening the store, then one PROMOTE and one ROLLBACK.
    let measure = || {
        let counting = Arc::clone(&counting);
        let store = fx.store();
        async move {
            let before = counting.requests();
            let opened = RolloutContext::open(&store).await.unwrap();
            let open = counting.requests() - before;
            let before = counting.requests();
            run(&opened, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
            run(&opened, "ROLLBACK orders").await;
            (open, counting.requests() - before)
        }
    };

    // 5 entries so far; pairs keep the count odd: 207 and 1,007 are 7 past a checkpoint.
    let rc = fill(rc, 207).await;
    let (open_short, commit_short) = measure().await;
    let rc = fill(rc, 1007).await;
    let (open_long, commit_long) = measure().await;
    // A statement that changes nothing asks the log one thing: is there a next entry? (The
    // end-of-log probes for gaps are left to opening and committing.)
    rc.store().refresh().await.unwrap();
    for sql in ["SELECT 1", "SHOW VERSIONS OF orders"] {
        let before = counting.requests();
        run(&rc, sql).await;
        let spent = counting.requests() - before;
        assert_eq!((spent.get, spent.total()), (1, 1), "{sql}: {spent:?}");
    }
    deregister_object_store(&prefix);

    assert_eq!(open_long, open_short, "opening at 1,010 vs 210 entries");
    assert_eq!(
        commit_long, commit_short,
        "PROMOTE + ROLLBACK at 1,010 vs 210 entries"
    );
    // The log is never listed. PROMOTE looks at no pinned file (rollout.verify_targets is
    // off). ROLLBACK of the candidate serves the stable version everyone else reads already (a
    // damaged one must not keep a bad candidate live), so it verifies nothing, and lists the
    // events of its rollout's days (one folder here) for its blast radius.
    assert_eq!(open_long.list, 0, "open lists the log: {open_long:?}");
    assert_eq!(commit_long.list, 1, "commit lists the log: {commit_long:?}");
}

/// The store parses each pinned URL once; what it hands back is what DataFusion parses,
/// whether it comes from the cache or not (a mix of both included).
#[tokio::test]
async fn pinned_urls_parse_as_datafusion_parses_them() {
    use datafusion::datasource::listing::ListingTableUrl;
    use datafusion_rollout::{Store, StoreOptions};

    let name = format!("memory://urls-{}", std::process::id());
    let store = Store::open(&name, StoreOptions::default()).await.unwrap();
    let urls = [
        "file:///data/orders/v1/part-0.parquet",
        "s3://bucket/lake/orders/part%20one.parquet",
        "file:///data/orders/v1/part-1.parquet",
    ];
    let expected: Vec<String> = urls
        .iter()
        .map(|u| ListingTableUrl::parse(u).unwrap().to_string())
        .collect();
    let shown = |got: Vec<ListingTableUrl>| got.iter().map(|u| u.to_string()).collect::<Vec<_>>();
    let first = store.listing_urls(urls[..1].iter().copied()).unwrap();
    assert_eq!(shown(first), expected[..1]);
    for _ in 0..2 {
        let all = store.listing_urls(urls.iter().copied()).unwrap();
        assert_eq!(shown(all), expected);
    }
}

/// A statement sees every commit acknowledged before it started, even when it arrives while
/// another statement's refresh of the log is under way (that refresh may have read the end of
/// the log before the commit, so joining it would miss the commit).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shared_refresh_never_misses_a_commit_acknowledged_before_the_statement() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let fx = Fixture::new().await;
    let writer = fx.orders(Some("zoe")).await;
    run(&writer, "CREATE COHORT canary MEMBERS ('alice')").await;
    let reader = Arc::new(RolloutContext::open(&fx.store()).await.unwrap());
    let acknowledged = Arc::new(AtomicU64::new(writer.store().state().sequence));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));

    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (reader, acknowledged, done) = (reader.clone(), acknowledged.clone(), done.clone());
            tokio::spawn(async move {
                let mut checked = 0u64;
                // Until the writer is done, and at least 20 times each however slow the
                // machine: the checks made while commits land are the ones that matter.
                while !done.load(Ordering::SeqCst) || checked < 20 {
                    let before = acknowledged.load(Ordering::SeqCst);
                    let state = reader.store().refresh_to_read().await.unwrap();
                    assert!(
                        state.sequence >= before,
                        "a refresh begun after commit {before} was acknowledged returned {}",
                        state.sequence
                    );
                    checked += 1;
                }
            })
        })
        .collect();
    for _ in 0..40 {
        run(&writer, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
        acknowledged.store(writer.store().state().sequence, Ordering::SeqCst);
        run(&writer, "ROLLBACK orders").await;
        acknowledged.store(writer.store().state().sequence, Ordering::SeqCst);
    }
    done.store(true, Ordering::SeqCst);
    for task in readers {
        task.await.unwrap();
    }
}

/// A store in a folder whose name needs escaping in a URL: another process's commits are seen
/// by the next statement here (the refresh asks the file system for the next entry by its
/// path, which must be the file object_store writes), and a store with nothing new reads no
/// entry that is not there.
#[tokio::test]
async fn a_store_in_a_folder_with_an_awkward_name_sees_other_processes_commits() {
    let fx = Fixture::new().await;
    let folder = fx.path("team store 100% ü #1");
    let location = folder.display().to_string();
    let writer = RolloutContext::open(&location).await.unwrap();
    let reader = RolloutContext::open(&location).await.unwrap();
    for n in 1..=3 {
        run(&writer, &format!("CREATE COHORT c{n} MEMBERS ('alice')")).await;
        run(&reader, "SELECT 1").await;
        let state = reader.store().state();
        assert_eq!(state.sequence, n, "after {n} commits elsewhere");
        assert!(state.cohorts.contains_key(&format!("c{n}")));
    }
    assert_eq!(reader.store().state().sequence, 3);
    assert!(
        folder
            .join("_rollout_log")
            .join(format!("{:020}.json", 3))
            .is_file()
    );
    // A version written into the store, pinned, verified and read by the other process.
    run(&writer, "CREATE DATASET d").await;
    run(
        &writer,
        "CREATE VERSION 'v1' OF d AS SELECT value AS id FROM generate_series(1, 100)",
    )
    .await;
    run(&writer, "PROMOTE d TO 'v1'").await;
    assert_eq!(scalar(&reader, "SELECT sum(id) FROM d").await, "5050");
    let verified = run(&reader, "VERIFY d").await;
    assert!(verified.contains("| ok "), "{verified}");
}

/// PROMOTE looks at a local version's pinned files with one `stat` each (no listing through
/// the store): what VERIFY reports of them is what object_store's local store reports
/// (symbolic links followed), and, with `rollout.verify_targets` on, a modified, missing or
/// replaced file refuses the PROMOTE, naming it, with nothing committed.
#[tokio::test]
async fn local_pins_are_verified_as_the_local_store_reports_them() {
    use datafusion::datasource::listing::ListingTableUrl;
    use datafusion::object_store::ObjectStoreExt;
    use datafusion::object_store::local::LocalFileSystem;

    let fx = Fixture::new().await;
    let rc = fx.orders(Some("zoe")).await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    // v3, in a folder with an awkward name: one file of its own (another awkward name) and
    // one symbolic link to v1's first file.
    let v3 = fx.path("orders v3 100% ü #1 ?x");
    std::fs::create_dir_all(&v3).unwrap();
    std::fs::copy(
        fx.path("orders_v2/part-1.parquet"),
        v3.join("part 1 é%20#?.parquet"),
    )
    .unwrap();
    // Its time before 1970 (in seconds and nanoseconds, as the look-up rebuilds it).
    let before_1970 = std::time::UNIX_EPOCH - std::time::Duration::from_nanos(1_000_250_000_123);
    std::fs::File::options()
        .write(true)
        .open(v3.join("part 1 é%20#?.parquet"))
        .unwrap()
        .set_modified(before_1970)
        .unwrap();
    std::os::unix::fs::symlink(
        fx.path("orders_v1/part-0.parquet"),
        v3.join("part-0.parquet"),
    )
    .unwrap();
    run(
        &rc,
        &format!("REGISTER VERSION 'v3' OF orders FROM '{}/'", v3.display()),
    )
    .await;

    // Read through its pinned URLs (the files' footers and data, each verified as it opens):
    // orders 501 to 1,000 of v2's second file and 1 to 500 of v1's first.
    assert_eq!(
        scalar(
            &rc,
            "SELECT count(*) + sum(order_id) FROM orders VERSION AS OF 'v3'"
        )
        .await,
        (1000 + (1..=1000).sum::<i64>()).to_string()
    );
    let local = LocalFileSystem::new();
    let columns = [
        "status",
        "path",
        "found_size",
        "found_e_tag",
        "found_modified",
    ];
    let rows = rows_of(&rc, "VERIFY orders", &columns).await;
    assert_eq!(rows.len(), 6, "v1, v2 and v3 have two files each");
    for row in rows {
        let [status, path, size, e_tag, modified] = row.splitn(5, ' ').collect::<Vec<_>>()[..]
        else {
            panic!("{row}");
        };
        assert_eq!(status, "ok", "{row}");
        // The object's path as DataFusion parses the pinned URL.
        let file = ListingTableUrl::parse(path).unwrap().prefix().clone();
        let head = local.head(&file).await.unwrap();
        assert_eq!(Some(e_tag), head.e_tag.as_deref(), "{row}");
        assert_eq!(size, head.size.to_string(), "{row}");
        assert_eq!(
            modified,
            head.last_modified
                .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "{row}"
        );
    }

    let refused = |sql: &'static str, expected: &'static str| {
        let rc = &rc;
        async move {
            let before = rc.store().state().sequence;
            let err = try_run(rc, sql).await.unwrap_err().to_string();
            assert!(err.contains(expected), "{sql}: {err}");
            assert!(err.contains("nothing was changed"), "{sql}: {err}");
            assert_eq!(rc.store().state().sequence, before, "{sql} committed");
            err
        }
    };
    // PROMOTE looks at the files when told to (it is metadata-only by default).
    run(&rc, "SET rollout.verify_targets = true").await;
    // Same bytes written again: same size, a new modification time.
    let file = fx.path("orders_v2/part-1.parquet");
    let bytes = std::fs::read(&file).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    std::fs::write(&file, &bytes).unwrap();
    let err = refused("PROMOTE orders TO 'v2' FOR COHORT canary", "was modified").await;
    assert!(err.contains("orders_v2/part-1.parquet"), "{err}");
    // A folder where the file was.
    std::fs::remove_file(&file).unwrap();
    std::fs::create_dir(&file).unwrap();
    refused("PROMOTE orders TO 'v2'", "is missing").await;
    // A file where the folder of one was.
    std::fs::remove_dir_all(fx.path("orders_v2")).unwrap();
    std::fs::write(fx.path("orders_v2"), b"not a folder").unwrap();
    refused("PROMOTE orders TO 'v2'", "is missing").await;
    // A symbolic link whose target is gone.
    std::fs::remove_file(fx.path("orders_v1/part-0.parquet")).unwrap();
    let err = refused("PROMOTE orders TO 'v3'", "is missing").await;
    assert!(err.contains("/part-0.parquet"), "{err}");
    let statuses = rows_of(&rc, "VERIFY orders", &["version", "status"]).await;
    assert_eq!(
        statuses,
        [
            "v1 missing",
            "v1 ok",
            "v2 missing",
            "v2 missing",
            "v3 ok",
            "v3 missing"
        ]
    );
}
