//! Notifications reach a real HTTP receiver on loopback: after the commit, never blocking it,
//! retried on 5xx and connection errors, every delivery recorded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datafusion_rollout::ErrorKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::common::*;

/// A webhook receiver: answers with the scripted statuses (then 200) and keeps the bodies.
pub struct Receiver {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<serde_json::Value>>>,
    answers: Arc<Mutex<VecDeque<u16>>>,
}

impl Receiver {
    pub async fn start(answers: &[u16]) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let answers = Arc::new(Mutex::new(answers.iter().copied().collect::<VecDeque<_>>()));
        let (b, a) = (Arc::clone(&bodies), Arc::clone(&answers));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (b, a) = (Arc::clone(&b), Arc::clone(&a));
                tokio::spawn(async move {
                    let mut data = Vec::new();
                    let mut buf = [0u8; 4096];
                    let (head, length) = loop {
                        let n = socket.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        data.extend_from_slice(&buf[..n]);
                        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            break (end + 4, length);
                        }
                    };
                    while data.len() < head + length {
                        let n = socket.read(&mut buf).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        data.extend_from_slice(&buf[..n]);
                    }
                    let status = a.lock().unwrap().pop_front().unwrap_or(200);
                    if status == 200 {
                        let body = serde_json::from_slice(&data[head..head + length]).unwrap();
                        b.lock().unwrap().push(body);
                    }
                    let reply = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                });
            }
        });
        Receiver {
            url,
            bodies,
            answers,
        }
    }

    /// The first `n` documents received, in commit order: each commit's deliveries run on
    /// their own, so a receiver may get them in any order and orders them by `sequence`.
    pub async fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        let start = Instant::now();
        loop {
            let mut got = self.bodies.lock().unwrap().clone();
            if got.len() >= n {
                got.sort_by_key(|d| d["sequence"].as_u64());
                return got;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{n} notification(s) expected, got {got:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn left(&self) -> usize {
        self.answers.lock().unwrap().len()
    }
}

/// The output of `sql` once it holds every one of `lines`: a delivery is recorded after its
/// receiver answers, so a receiver may hold a document whose record is not written yet.
async fn recorded(rc: &datafusion_rollout::RolloutContext, sql: &str, lines: &[&str]) -> String {
    let start = Instant::now();
    loop {
        let out = run(rc, sql).await;
        if lines.iter().all(|l| out.contains(l)) {
            return out;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{lines:?} expected within 30 s in\n{out}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promote_and_rollback_notify_matching_webhooks_with_their_evidence() {
    let fx = Fixture::new().await;
    let rc = fx.orders(Some("alice")).await;
    let all = Receiver::start(&[]).await;
    let rollbacks = Receiver::start(&[]).await;
    let elsewhere = Receiver::start(&[]).await;
    run(&rc, "CREATE DATASET customers").await;
    run(
        &rc,
        &format!("CREATE NOTIFICATION ops URL '{}' FOR orders", all.url),
    )
    .await;
    run(
        &rc,
        &format!(
            "CREATE NOTIFICATION oncall URL '{}' ON (ROLLBACK)",
            rollbacks.url
        ),
    )
    .await;
    run(
        &rc,
        &format!(
            "CREATE NOTIFICATION crm URL '{}' FOR customers",
            elsewhere.url
        ),
    )
    .await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    run(
        &rc,
        "PROMOTE orders TO 'v2' FOR COHORT canary REASON 'try it'",
    )
    .await;
    run(&rc, "SELECT count(*) FROM orders").await;
    // A read is recorded when its plan is released, which may be a moment after the last
    // batch (DataFusion's tasks let go of it on their threads): the blast radius counts the
    // reads recorded when the ROLLBACK runs.
    recorded(
        &rc,
        "SELECT count(*) AS n FROM rollout_reads('orders')",
        &["| 1 |"],
    )
    .await;
    run(&rc, "ROLLBACK orders REASON 'bad prices'").await;

    let got = all.wait_for(2).await;
    assert_eq!(got[0]["event"], "PROMOTE");
    assert_eq!(got[0]["dataset"], "orders");
    assert_eq!(got[0]["candidate"], "v2");
    assert_eq!(got[0]["stable"], "v1");
    assert_eq!(got[0]["actor"], "test");
    assert_eq!(got[0]["reason"], "try it");
    assert_eq!(got[1]["event"], "ROLLBACK");
    assert_eq!(got[1]["reason"], "bad prices");
    assert_eq!(got[1]["blast_radius"]["version"], "v2");
    assert_eq!(got[1]["blast_radius"]["queries"], 1);
    let got = rollbacks.wait_for(1).await;
    assert_eq!(got.len(), 1, "ON (ROLLBACK) only: {got:?}");
    assert_eq!(got[0]["event"], "ROLLBACK");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        elsewhere.bodies.lock().unwrap().is_empty(),
        "FOR customers only"
    );

    // Every delivery is recorded (after the receiver's answer, so wait for the records).
    recorded(
        &rc,
        "SELECT notification, event, delivered, attempts FROM rollout_deliveries('orders') ORDER BY time, notification",
        &[
            "| ops          | PROMOTE  | true      | 1        |",
            "| ops          | ROLLBACK | true      | 1        |",
            "| oncall       | ROLLBACK | true      | 1        |",
        ],
    )
    .await;
    let shown = run(&rc, "SHOW NOTIFICATIONS").await;
    assert!(
        shown.contains("ROLLBACK") && shown.contains(&all.url),
        "{shown}"
    );
    run(&rc, "DROP NOTIFICATION ops").await;
    run(&rc, "DROP NOTIFICATION IF EXISTS ops").await;
    let err = rc.run("DROP NOTIFICATION ops").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
}

/// `ROLLBACK a, b` (and a CASCADE) is one commit that changes several datasets: each
/// dataset's webhooks hear of it, with that dataset's versions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_of_two_datasets_notifies_the_webhooks_of_each() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let on_orders = Receiver::start(&[]).await;
    let on_items = Receiver::start(&[]).await;
    run(&rc, "CREATE DATASET items").await;
    run(&rc, "CREATE VERSION 'i1' OF items AS SELECT 1 AS id").await;
    run(&rc, "PROMOTE items TO 'i1'").await;
    run(&rc, "CREATE VERSION 'i2' OF items AS SELECT 2 AS id").await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    run(&rc, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
    run(&rc, "PROMOTE items TO 'i2' FOR COHORT canary").await;
    for (name, dataset, url) in [
        ("o", "orders", &on_orders.url),
        ("i", "items", &on_items.url),
    ] {
        run(
            &rc,
            &format!("CREATE NOTIFICATION {name} URL '{url}' FOR {dataset} ON (ROLLBACK)"),
        )
        .await;
    }
    run(&rc, "ROLLBACK orders, items REASON 'bad load'").await;
    let orders = on_orders.wait_for(1).await;
    let items = on_items.wait_for(1).await;
    assert_eq!(orders[0]["dataset"], "orders");
    assert_eq!(orders[0]["stable"], "v1");
    assert_eq!(items[0]["dataset"], "items");
    assert_eq!(items[0]["stable"], "i1");
    assert_eq!(items[0]["candidate"], serde_json::Value::Null);
    assert_eq!(orders[0]["sequence"], items[0]["sequence"], "one commit");
    assert_eq!(
        items[0]["statement"],
        "ROLLBACK orders, items REASON 'bad load'"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_receiver_is_retried_and_one_that_is_down_never_blocks_the_commit() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let flaky = Receiver::start(&[500, 503]).await;
    // A port nobody listens on (bound, then released).
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/hook?token=s3cret", l.local_addr().unwrap())
    };
    // A receiver that accepts and never answers: each attempt waits for its 5 s timeout.
    let hanging = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hanging_url = format!("http://{}/hook", hanging.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = hanging.accept().await {
            held.push(socket);
        }
    });
    run(
        &rc,
        &format!("CREATE NOTIFICATION flaky URL '{}'", flaky.url),
    )
    .await;
    run(&rc, &format!("CREATE NOTIFICATION down URL '{down}'")).await;
    run(
        &rc,
        &format!("CREATE NOTIFICATION hanging URL '{hanging_url}'"),
    )
    .await;
    let started = Instant::now();
    run(&rc, "PROMOTE orders TO 'v2' AT 10 PERCENT").await;
    // Waiting for the hanging receiver would take 5 s at least.
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the commit waited for deliveries: {:?}",
        started.elapsed()
    );
    let got = flaky.wait_for(1).await;
    assert_eq!(got[0]["event"], "PROMOTE");
    assert_eq!(flaky.left(), 0);
    let deliveries = recorded(
        &rc,
        "SELECT notification, delivered, attempts, status, url FROM rollout_deliveries() ORDER BY notification",
        &[
            "| down         | false     | 4        |        |",
            "| flaky        | true      | 3        | 200    |",
        ],
    )
    .await;
    assert!(
        !deliveries.contains("s3cret"),
        "secrets never shown: {deliveries}"
    );
    let history = run(&rc, "SHOW HISTORY").await;
    assert!(
        !history.contains("s3cret"),
        "nor kept in the history: {history}"
    );
    let shown = run(&rc, "SHOW NOTIFICATIONS").await;
    assert!(
        !shown.contains("s3cret") && shown.contains("token=***"),
        "{shown}"
    );
    assert_eq!(
        rc.store().state().datasets["orders"]
            .rollout
            .candidate
            .as_ref()
            .map(|c| c.percent_bp),
        Some(1000)
    );
}

#[tokio::test]
async fn bad_notifications_are_refused_and_change_nothing() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    let before = rc.store().state().sequence;
    for (sql, kind, says) in [
        (
            "CREATE NOTIFICATION n URL 'ftp://h/x'",
            ErrorKind::InvalidInput,
            "http:// or https://",
        ),
        (
            "CREATE NOTIFICATION n URL 'not a url'",
            ErrorKind::InvalidInput,
            "notification URL",
        ),
        (
            "CREATE NOTIFICATION n URL 'http://h/x' FOR nope",
            ErrorKind::NotFound,
            "unknown dataset 'nope'",
        ),
        (
            "CREATE NOTIFICATION n URL 'http://h/x' ON (DELETE)",
            ErrorKind::Parse,
            "PROMOTE, ADVANCE, ROLLBACK or GUARD_FAILED",
        ),
        ("CREATE NOTIFICATION n", ErrorKind::Parse, "URL"),
        (
            "DROP NOTIFICATION nope",
            ErrorKind::NotFound,
            "unknown notification 'nope'",
        ),
    ] {
        let err = rc.run(sql).await.unwrap_err();
        assert_eq!(err.kind(), kind, "{sql}: {err}");
        assert!(err.to_string().contains(says), "{sql}: {err}");
    }
    run(&rc, "CREATE NOTIFICATION n URL 'http://h/x'").await;
    let err = rc
        .run("CREATE NOTIFICATION n URL 'http://h/y'")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(rc.store().state().sequence, before + 1);
}
