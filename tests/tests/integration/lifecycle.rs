//! Lifecycle across datasets: what a `ROLLBACK ... CASCADE` restores is verified like the
//! dataset it names.

use crate::common::*;

#[tokio::test]
async fn a_cascade_verifies_the_files_of_every_version_it_restores() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(&rc, "CREATE DATASET summary").await;
    run(
        &rc,
        "CREATE VERSION 's1' OF summary AS SELECT count(*) AS n FROM orders",
    )
    .await;
    run(&rc, "PROMOTE summary TO 's1'").await;
    run(&rc, "PROMOTE orders TO 'v2'").await;
    run(
        &rc,
        "CREATE VERSION 's2' OF summary AS SELECT count(*) AS n FROM orders",
    )
    .await;
    run(&rc, "PROMOTE summary TO 's2'").await;

    // s1, which the cascade would restore, loses a byte.
    let state = rc.store().state();
    let file = &state.version("summary", "s1").unwrap().files[0];
    let path = file
        .url
        .trim_start_matches("file://")
        .trim_start_matches("file:");
    let bytes = std::fs::read(path).unwrap();
    std::fs::write(path, &bytes[..bytes.len() - 1]).unwrap();

    // (ROLLBACK looks at the files of what it would serve only when told to.)
    run(&rc, "SET rollout.verify_targets = true").await;
    let err = try_run(&rc, "ROLLBACK orders CASCADE").await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("ROLLBACK summary refused: it would serve 's1'") && text.contains("changed"),
        "{text}"
    );
    // Nothing was changed: both still serve their newer versions.
    let state = rc.store().refresh().await.unwrap();
    assert_eq!(
        state.datasets["orders"].rollout.stable.as_deref(),
        Some("v2")
    );
    assert_eq!(
        state.datasets["summary"].rollout.stable.as_deref(),
        Some("s2")
    );
    // Without CASCADE the rollback of orders alone goes through, naming what derives from it.
    let done = run(&rc, "ROLLBACK orders").await;
    assert!(
        done.contains("derived from orders 'v2': summary 's2'"),
        "{done}"
    );
}
