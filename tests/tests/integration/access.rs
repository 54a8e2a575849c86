//! Principals on a real local store: logins by password and token, what reads and changes
//! each principal may make, and that secrets never reach the store's files.

use std::path::Path;
use std::time::Duration;

use datafusion_rollout::{ErrorKind, RolloutContext, RolloutOptions, Secret};
use tempfile::TempDir;

use crate::common::*;

fn login(user: &str, password: &str) -> RolloutOptions {
    RolloutOptions {
        user: Some(user.into()),
        password: Some(Secret::new(password)),
        ..Default::default()
    }
}

fn with_token(token: &str) -> RolloutOptions {
    RolloutOptions {
        token: Some(Secret::new(token)),
        ..Default::default()
    }
}

/// A store with `orders` (v1 stable, v2 to the canary cohort with alice in it), an admin,
/// alice (release manager: PROMOTE and ROLLBACK) and bob (READ only).
pub(crate) async fn governed_store(dir: &Path) -> String {
    let store = dir.join("store").display().to_string();
    let rc = RolloutContext::open_with(
        &store,
        RolloutOptions {
            actor: Some("setup".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for sql in [
        "CREATE DATASET orders",
        "CREATE VERSION 'v1' OF orders AS SELECT value AS id, 1 AS v FROM generate_series(1, 10)",
        "CREATE VERSION 'v2' OF orders AS SELECT value AS id, 2 AS v FROM generate_series(1, 10)",
        "PROMOTE orders TO 'v1'",
        "CREATE COHORT canary MEMBERS ('alice')",
        "CREATE USER admin PASSWORD 'admin-password'",
        // From here on this session is the admin.
        "CREATE USER alice PASSWORD 'alice-password'",
        "CREATE USER bob PASSWORD 'bob-password'",
        "CREATE USER svc",
        "CREATE ROLE release",
        "GRANT ROLE release TO alice",
        "GRANT READ, PROMOTE, ROLLBACK ON DATASET orders TO ROLE release",
        "GRANT READ ON ALL DATASETS TO bob",
        "GRANT READ ON DATASET orders TO svc",
    ] {
        run(&rc, sql).await;
    }
    assert_eq!(rc.actor(), "admin");
    store
}

#[tokio::test]
async fn a_password_logs_in_and_a_wrong_one_says_nothing_of_who_exists() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;

    let alice = RolloutContext::open_with(&store, login("alice", "alice-password"))
        .await
        .unwrap();
    assert_eq!(alice.principal().as_deref(), Some("alice"));
    assert_eq!(alice.actor(), "alice");
    assert_eq!(alice.consumer().as_deref(), Some("alice"));

    let unknown = RolloutContext::open_with(&store, login("nobody", "alice-password"))
        .await
        .unwrap_err();
    let wrong = RolloutContext::open_with(&store, login("alice", "not-her-password"))
        .await
        .unwrap_err();
    assert_eq!(unknown.kind(), ErrorKind::Unauthenticated);
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert_eq!(
        wrong.to_string(),
        "not logged in: wrong user name or password"
    );

    let anonymous = RolloutContext::open(&store).await.unwrap_err();
    assert_eq!(anonymous.kind(), ErrorKind::Unauthenticated, "{anonymous}");
    assert!(anonymous.to_string().contains("--user"), "{anonymous}");

    // A user without a password logs in with tokens only.
    let svc = RolloutContext::open_with(&store, login("svc", "anything-at-all"))
        .await
        .unwrap_err();
    assert_eq!(
        svc.to_string(),
        "not logged in: wrong user name or password"
    );
}

/// Runs a `CREATE TOKEN` and returns (token, id) from its one row.
async fn create_token(rc: &RolloutContext, sql: &str) -> (String, String) {
    let batches = rc.sql(sql).await.unwrap().collect().await.unwrap();
    let batch = &batches[0];
    let text = |name: &str| {
        let column = batch.column_by_name(name).unwrap();
        datafusion::arrow::util::display::array_value_to_string(column, 0).unwrap()
    };
    (text("token"), text("id"))
}

#[tokio::test]
async fn tokens_log_in_until_they_expire_or_are_dropped() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let admin = RolloutContext::open_with(&store, login("admin", "admin-password"))
        .await
        .unwrap();
    let (token, id) = create_token(&admin, "CREATE TOKEN FOR svc").await;
    let (short, _) = create_token(
        &admin,
        "CREATE TOKEN FOR svc EXPIRES IN INTERVAL '1 second'",
    )
    .await;
    assert!(token.starts_with(&format!("rollout_{id}_")), "{token}");

    let svc = RolloutContext::open_with(&store, with_token(&token))
        .await
        .unwrap();
    assert_eq!(svc.principal().as_deref(), Some("svc"));
    assert_eq!(scalar(&svc, "SELECT count(*) FROM orders").await, "10");

    // A token whose secret is wrong, or that is not a token at all.
    let forged = format!("{}x", &token[..token.len() - 1]);
    for bad in [forged.as_str(), "rollout_nope_nope", "Bearer abc"] {
        let err = RolloutContext::open_with(&store, with_token(bad))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{bad}: {err}");
    }
    // A token and a user that do not match.
    let mut mismatched = with_token(&token);
    mismatched.user = Some("alice".into());
    let err = RolloutContext::open_with(&store, mismatched)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("does not belong to user 'alice'"),
        "{err}"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    let err = RolloutContext::open_with(&store, with_token(&short))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("expired at"), "{err}");

    // A user may drop their own token; then it no longer logs in.
    run(&svc, &format!("DROP TOKEN '{id}'")).await;
    let err = RolloutContext::open_with(&store, with_token(&token))
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "not logged in: unknown or revoked token");

    // Neither the passwords nor the token secrets are anywhere in the store's files.
    let secrets = ["admin-password", "alice-password", "bob-password"];
    let token_secret = token.rsplit('_').next().unwrap().to_string();
    let mut files = 0;
    for entry in walk(&dir.path().join("store")) {
        let bytes = std::fs::read(&entry).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for secret in secrets.iter().copied().chain([token_secret.as_str()]) {
            assert!(!text.contains(secret), "{} holds a secret", entry.display());
        }
        files += 1;
    }
    assert!(files > 10, "only {files} files in the store");
}

#[tokio::test]
async fn each_reads_their_own_version_and_cannot_read_as_another() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let alice = RolloutContext::open_with(&store, login("alice", "alice-password"))
        .await
        .unwrap();
    let bob = RolloutContext::open_with(&store, login("bob", "bob-password"))
        .await
        .unwrap();
    run(&alice, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
    // The same SELECT: alice is in the canary cohort, bob is not.
    assert_eq!(scalar(&alice, "SELECT max(v) FROM orders").await, "2");
    assert_eq!(scalar(&bob, "SELECT max(v) FROM orders").await, "1");

    // Our SET refuses; DataFusion's own SET (a quoted name) gets past the statement, and the
    // read itself refuses.
    let err = try_run(&alice, "SET rollout.consumer = 'bob'")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(
        err.to_string()
            .contains("alice lacks IMPERSONATE ON ALL DATASETS"),
        "{err}"
    );
    assert!(alice.set_cohort(Some("canary")).is_err());
    run(&alice, "SET \"rollout.consumer\" = 'bob'").await;
    assert_eq!(alice.consumer().as_deref(), Some("bob"));
    let err = try_run(&alice, "SELECT max(v) FROM orders")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("alice lacks IMPERSONATE"), "{err}");
    run(&alice, "RESET rollout.consumer").await;
    assert_eq!(alice.consumer().as_deref(), Some("alice"));
    assert_eq!(scalar(&alice, "SELECT max(v) FROM orders").await, "2");

    // Opening as another consumer needs IMPERSONATE too.
    let mut as_bob = login("alice", "alice-password");
    as_bob.consumer = Some("bob".into());
    let err = RolloutContext::open_with(&store, as_bob).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
}

#[tokio::test]
async fn a_refusal_names_the_privilege_and_changes_nothing() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let bob = RolloutContext::open_with(&store, login("bob", "bob-password"))
        .await
        .unwrap();
    let before = bob.store().state().sequence;
    for (sql, missing) in [
        (
            "PROMOTE orders TO 'v2' FOR COHORT canary",
            "PROMOTE ON DATASET orders",
        ),
        ("ROLLBACK orders", "ROLLBACK ON DATASET orders"),
        ("CREATE DATASET items", "REGISTER ON DATASET items"),
        (
            "CREATE CONTRACT c FOR orders (EXPECT row_count() > 0)",
            "CONTRACT ON DATASET orders",
        ),
        ("CREATE COHORT beta MEMBERS ('x')", "ADMIN ON ALL DATASETS"),
        (
            "GRANT ADMIN ON ALL DATASETS TO bob",
            "ADMIN ON ALL DATASETS",
        ),
        ("CREATE TOKEN FOR alice", "ADMIN ON ALL DATASETS"),
        ("VACUUM", "ADMIN ON ALL DATASETS"),
    ] {
        let err = commit(&bob, sql).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{sql}: {err}");
        assert!(
            err.to_string().contains(&format!("bob lacks {missing}")),
            "{sql}: {err}"
        );
    }
    bob.store().refresh().await.unwrap();
    assert_eq!(
        bob.store().state().sequence,
        before,
        "a refused statement committed"
    );
}

#[tokio::test]
async fn a_session_opened_before_the_first_user_can_no_longer_change_anything() {
    let dir = TempDir::new().unwrap();
    let store = dir.path().join("store").display().to_string();
    let early = RolloutContext::open_with(
        &store,
        RolloutOptions {
            actor: Some("ops".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    run(&early, "CREATE DATASET orders").await;
    let founder = RolloutContext::open(&store).await.unwrap();
    run(&founder, "CREATE USER admin PASSWORD 'admin-password'").await;
    assert_eq!(founder.principal().as_deref(), Some("admin"));
    run(&founder, "CREATE DATASET items").await;

    let err = commit(&early, "CREATE DATASET later").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(
        err.to_string()
            .contains("'ops' is not a user of this store"),
        "{err}"
    );
    let err = try_run(&early, "SHOW VERSIONS OF orders")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PermissionDenied, "{err}");
}
