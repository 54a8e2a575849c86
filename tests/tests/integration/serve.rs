//! `rollout serve`'s Flight SQL endpoint on loopback, through arrow-flight's own Flight SQL
//! client: logins, reads as the principal, refusals, prepared statements, metadata, and the
//! events flushed at shutdown. (Python's ADBC driver is tested against the real binary in
//! python/tests/test_serve.py.)

use std::net::SocketAddr;

use arrow_flight::sql::CommandGetTables;
use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion::arrow::array::{Array, AsArray};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion_rollout::{RolloutContext, RolloutOptions, Secret, Store, StoreOptions};
use futures::TryStreamExt;
use rollout_server::Tls;
use tempfile::TempDir;
use tokio::sync::oneshot;
use tonic::transport::Channel;

use crate::access::governed_store;
use crate::common::*;

// How tonic prints the status codes in a client's error.
const DENIED: &str = "does not have permission";
const UNAUTHENTICATED: &str = "valid authentication credentials";
const INVALID: &str = "invalid argument";

pub(crate) struct Server {
    pub(crate) addr: SocketAddr,
    /// The HTTP endpoint, when started with one.
    pub(crate) http: Option<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    done: tokio::task::JoinHandle<datafusion_rollout::Result<()>>,
}

impl Server {
    async fn start(store: &str) -> Server {
        Self::start_with(store, false, None).await
    }

    /// A server on loopback, with an HTTP endpoint when `http`, in TLS with `tls`.
    pub(crate) async fn start_with(store: &str, http: bool, tls: Option<Tls>) -> Server {
        let store = Store::open(store, StoreOptions::default()).await.unwrap();
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let (listener, addr) = rollout_server::bind(any).await.unwrap();
        let web = if http {
            Some(rollout_server::bind(any).await.unwrap())
        } else {
            None
        };
        let http = web.as_ref().map(|(_, addr)| *addr);
        let (stop, stopped) = oneshot::channel::<()>();
        let mut server = rollout_server::Server::new(store, RolloutOptions::default());
        if let Some(tls) = tls {
            server = server.with_tls(tls);
        }
        let done = tokio::spawn(server.run(listener, web.map(|(l, _)| l), async move {
            let _ = stopped.await;
        }));
        Server {
            addr,
            http,
            stop: Some(stop),
            done,
        }
    }

    pub(crate) async fn client(&self) -> FlightSqlServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
        FlightSqlServiceClient::new(channel)
    }

    pub(crate) async fn login(
        &self,
        user: &str,
        password: &str,
    ) -> FlightSqlServiceClient<Channel> {
        let mut client = self.client().await;
        client.handshake(user, password).await.unwrap();
        client
    }

    pub(crate) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.done.await.unwrap().unwrap();
    }
}

/// Runs `sql` and collects its result.
pub(crate) async fn query(
    client: &mut FlightSqlServiceClient<Channel>,
    sql: &str,
) -> Result<Vec<RecordBatch>, String> {
    let info = client
        .execute(sql.to_string(), None)
        .await
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.ok_or("no ticket")?;
        let stream = client.do_get(ticket).await.map_err(|e| e.to_string())?;
        out.extend(
            stream
                .try_collect::<Vec<_>>()
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok(out)
}

/// The one value of a one-row result, as text.
pub(crate) async fn value(client: &mut FlightSqlServiceClient<Channel>, sql: &str) -> String {
    let batches = query(client, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let batch = batches.iter().find(|b| b.num_rows() > 0).expect("a row");
    datafusion::arrow::util::display::array_value_to_string(batch.column(0), 0).unwrap()
}

#[tokio::test]
async fn each_principal_reads_as_themselves_and_acts_only_as_granted() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let server = Server::start(&store).await;

    let mut alice = server.login("alice", "alice-password").await;
    let mut bob = server.login("bob", "bob-password").await;
    value(
        &mut alice,
        "PROMOTE orders TO 'v2' FOR COHORT canary REASON 'canary'",
    )
    .await;
    // The same SELECT: alice (in canary) reads v2, bob reads v1.
    assert_eq!(value(&mut alice, "SELECT max(v) FROM orders").await, "2");
    assert_eq!(value(&mut bob, "SELECT max(v) FROM orders").await, "1");

    let err = query(&mut alice, "SET rollout.consumer = 'bob'")
        .await
        .unwrap_err();
    assert!(err.contains(DENIED) && err.contains("IMPERSONATE"), "{err}");

    let admin = admin_session(&store).await;
    let before = admin.store().state().sequence;
    let err = query(&mut bob, "PROMOTE orders TO 'v2'").await.unwrap_err();
    assert!(err.contains(DENIED), "{err}");
    assert!(err.contains("bob lacks PROMOTE ON DATASET orders"), "{err}");
    // DataFusion's own DDL and DML would act on the server's machine.
    let err = query(
        &mut bob,
        &format!("COPY (SELECT 1) TO '{}/x.csv'", dir.path().display()),
    )
    .await
    .unwrap_err();
    assert!(err.contains(DENIED), "{err}");
    admin.store().refresh().await.unwrap();
    assert_eq!(
        admin.store().state().sequence,
        before,
        "a refusal committed"
    );
    assert!(!dir.path().join("x.csv").exists());

    // The history's actor is who logged in.
    let history = run(&admin, "SHOW HISTORY OF orders LIMIT 1").await;
    assert!(history.contains("| alice "), "{history}");

    // Errors of SQL come back as INVALID_ARGUMENT with the message, and the server goes on.
    let err = query(&mut bob, "SELEC 1").await.unwrap_err();
    assert!(err.contains(INVALID), "{err}");
    let err = query(&mut bob, "SELECT * FROM nope").await.unwrap_err();
    assert!(err.contains("nope"), "{err}");
    assert_eq!(value(&mut bob, "SELECT count(*) FROM orders").await, "10");

    server.stop().await;
    // The reads the server recorded were flushed at shutdown, each as its principal.
    let consumers = run(
        &admin,
        "SELECT consumer, count(*) AS reads FROM rollout_reads('orders') GROUP BY consumer ORDER BY consumer",
    )
    .await;
    assert!(consumers.contains("| alice "), "{consumers}");
    assert!(consumers.contains("| bob "), "{consumers}");
}

#[tokio::test]
async fn logins_fail_alike_and_tokens_work_as_bearers() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    let server = Server::start(&store).await;

    let mut client = server.client().await;
    let wrong = client
        .handshake("alice", "not-her-password")
        .await
        .unwrap_err();
    let unknown = client
        .handshake("nobody", "not-her-password")
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains(UNAUTHENTICATED), "{wrong}");
    let strip = |e: String| e.replace("nobody", "").replace("alice", "");
    assert_eq!(strip(wrong.to_string()), strip(unknown.to_string()));

    // No credentials, a made-up bearer.
    let err = query(&mut client, "SELECT 1").await.unwrap_err();
    assert!(
        err.contains(UNAUTHENTICATED) && err.contains("no credentials"),
        "{err}"
    );
    client.set_token("made-up".into());
    let err = query(&mut client, "SELECT 1").await.unwrap_err();
    assert!(err.contains(UNAUTHENTICATED), "{err}");

    // An API token is a bearer of its own; dropping it ends it at once.
    let mut admin = server.login("admin", "admin-password").await;
    let batches = query(&mut admin, "CREATE TOKEN FOR svc").await.unwrap();
    let column = batches[0].column_by_name("token").unwrap();
    let token = column.as_string::<i32>().value(0).to_string();
    let id = batches[0]
        .column_by_name("id")
        .unwrap()
        .as_string::<i32>()
        .value(0)
        .to_string();
    let mut svc = server.client().await;
    svc.set_token(token);
    assert_eq!(value(&mut svc, "SELECT count(*) FROM orders").await, "10");
    value(&mut admin, &format!("DROP TOKEN '{id}'")).await;
    let err = query(&mut svc, "SELECT count(*) FROM orders")
        .await
        .unwrap_err();
    assert!(err.contains("revoked"), "{err}");

    // A changed password ends the user's password sessions (a leaked one stops working);
    // the new password logs in.
    let mut alice = server.login("alice", "alice-password").await;
    assert_eq!(value(&mut alice, "SELECT count(*) FROM orders").await, "10");
    value(&mut admin, "ALTER USER alice PASSWORD 'alice-new-password'").await;
    let err = query(&mut alice, "SELECT count(*) FROM orders")
        .await
        .unwrap_err();
    assert!(
        err.contains(UNAUTHENTICATED) && err.contains("password changed"),
        "{err}"
    );
    let err = query(&mut alice, "SELECT 1").await.unwrap_err();
    assert!(err.contains("unknown or expired session"), "{err}");
    assert!(client.handshake("alice", "alice-password").await.is_err());
    let mut alice = server.login("alice", "alice-new-password").await;
    assert_eq!(value(&mut alice, "SELECT count(*) FROM orders").await, "10");
    // The admin's own session, whose password did not change, goes on.
    assert_eq!(value(&mut admin, "SELECT count(*) FROM orders").await, "10");

    server.stop().await;
}

#[tokio::test]
async fn prepared_statements_and_metadata_answer_as_the_principal() {
    let dir = TempDir::new().unwrap();
    let store = governed_store(dir.path()).await;
    run(&admin_session(&store).await, "CREATE DATASET items").await;
    let server = Server::start(&store).await;
    let mut alice = server.login("alice", "alice-password").await;

    let mut prepared = alice
        .prepare("SELECT count(*) AS n FROM orders".into(), None)
        .await
        .unwrap();
    assert_eq!(prepared.dataset_schema().unwrap().field(0).name(), "n");
    let info = prepared.execute().await.unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let batches: Vec<RecordBatch> = alice
        .do_get(ticket)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(batches[0].column(0).len(), 1);
    prepared.close().await.unwrap();
    let err = alice.prepare("SELEC 1".into(), None).await.unwrap_err();
    assert!(err.to_string().contains(INVALID), "{err}");

    // alice reads orders (through her role), not items: only orders is listed.
    let info = alice
        .get_tables(CommandGetTables {
            include_schema: false,
            ..Default::default()
        })
        .await
        .unwrap();
    let ticket = info.endpoint[0].ticket.clone().unwrap();
    let batches: Vec<RecordBatch> = alice
        .do_get(ticket)
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    let mut tables = Vec::new();
    for b in &batches {
        let names = b.column_by_name("table_name").unwrap().as_string::<i32>();
        tables.extend((0..names.len()).map(|i| names.value(i).to_string()));
    }
    assert!(tables.contains(&"orders".to_string()), "{tables:?}");
    assert!(!tables.contains(&"items".to_string()), "{tables:?}");

    let info = alice.get_sql_info(vec![]).await.unwrap();
    assert!(!info.endpoint.is_empty());
    server.stop().await;
}

/// A library session on `store` logged in as its admin.
pub(crate) async fn admin_session(store: &str) -> RolloutContext {
    RolloutContext::open_with(
        store,
        RolloutOptions {
            user: Some("admin".into()),
            password: Some(Secret::new("admin-password")),
            ..Default::default()
        },
    )
    .await
    .unwrap()
}
