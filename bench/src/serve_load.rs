//! `rollout-bench serve-load`: `rollout serve` under many concurrent Flight SQL clients on
//! loopback, beside a plain DataFusion Flight SQL server (`datafusion-flight-sql-server`, built
//! with `--features flight-peer`) serving the same Parquet files to the same reading clients.
//!
//! Ours: `clients` clients log in (the Flight handshake); `writers` of them loop PROMOTE to a
//! cohort / ROLLBACK (release managers), the rest read TPC-H Q6 and a filtered count through
//! the dataset's name, half of them in the canary cohort. Afterwards the log is read back:
//! every commit a client was told of must be in the log once, under its actor, and the log
//! must hold no commit of theirs that nobody was told of. The peer: the same readers and
//! queries over a `ListingTable` of the same files (its writers have nothing to do there).
//!
//! Both sides run in this process, with the client tasks on the same runtime as the server, so
//! the ratio compares like with like on a 2-core machine. Every client connects (and logs in)
//! before the clock starts; then the sides take turns in short slices (ours, the peer, the
//! peer, ours, ...), so that a change in what else the machine is doing weighs on both.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arrow_flight::sql::client::FlightSqlServiceClient;
use datafusion_rollout::{RolloutContext, RolloutOptions, Store, StoreOptions};
use futures::TryStreamExt;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tonic::transport::Channel;

use crate::queries::Q6;

/// The second read: a filtered count (a scan with a predicate, little aggregation).
const COUNT: &str = "SELECT count(*) FROM lineitem WHERE l_quantity < 10 AND l_discount > 0.05";

const PASSWORD: &str = "load-test-password";

/// What one client saw.
#[derive(Default)]
struct Tally {
    latencies_ms: Vec<f64>,
    /// Of the writers' statements (a commit, a refusal or "nothing to do" alike).
    write_latencies_ms: Vec<f64>,
    read_errors: BTreeMap<String, u64>,
    committed: Vec<u64>,
    refused: u64,
    unchanged: u64,
}

/// How one side went.
struct Side {
    name: &'static str,
    seconds: f64,
    tallies: Vec<(String, Tally)>,
}

impl Side {
    fn sorted(&self, of: impl Fn(&Tally) -> &Vec<f64>) -> Vec<f64> {
        let mut all: Vec<f64> = self
            .tallies
            .iter()
            .flat_map(|(_, t)| of(t).iter().copied())
            .collect();
        all.sort_by(f64::total_cmp);
        all
    }

    fn summary(&self) -> Value {
        let reads = self.sorted(|t| &t.latencies_ms);
        let writes = self.sorted(|t| &t.write_latencies_ms);
        let pct = |of: &[f64], p: f64| {
            if of.is_empty() {
                return f64::NAN;
            }
            let i = ((of.len() as f64 - 1.0) * p).round() as usize;
            of[i]
        };
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        for (_, t) in &self.tallies {
            for (k, v) in &t.read_errors {
                *errors.entry(k.clone()).or_default() += v;
            }
        }
        json!({
            "side": self.name,
            "reads": reads.len(),
            "reads_per_s": reads.len() as f64 / self.seconds,
            "p50_ms": pct(&reads, 0.50),
            "p99_ms": pct(&reads, 0.99),
            "writes": writes.len(),
            "writes_per_s": writes.len() as f64 / self.seconds,
            "write_p50_ms": pct(&writes, 0.50),
            "write_p99_ms": pct(&writes, 0.99),
            "read_errors": errors,
            "commits": self.tallies.iter().map(|(_, t)| t.committed.len()).sum::<usize>(),
            "refused": self.tallies.iter().map(|(_, t)| t.refused).sum::<u64>(),
            "unchanged": self.tallies.iter().map(|(_, t)| t.unchanged).sum::<u64>(),
        })
    }
}

/// Peak and current resident set of this process (Linux), in bytes.
/// Peak and current resident set size of this process, in bytes (Linux).
pub(crate) fn rss() -> (Option<u64>, Option<u64>) {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return (None, None);
    };
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<u64>().ok())
            .map(|kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<FlightSqlServiceClient<Channel>> {
    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    Ok(FlightSqlServiceClient::new(channel))
}

/// Runs `sql`; returns what the server says it did (the `FlightInfo`'s app_metadata, empty
/// from the peer) and the first column of its first row as text.
async fn first_value(
    client: &mut FlightSqlServiceClient<Channel>,
    sql: &str,
) -> Result<(Value, String), String> {
    let info = client
        .execute(sql.to_string(), None)
        .await
        .map_err(|e| e.to_string())?;
    let what = serde_json::from_slice(&info.app_metadata).unwrap_or(Value::Null);
    let mut first = None;
    for endpoint in info.endpoint {
        let ticket = endpoint.ticket.ok_or("no ticket")?;
        let batches: Vec<_> = client
            .do_get(ticket)
            .await
            .map_err(|e| e.to_string())?
            .try_collect()
            .await
            .map_err(|e| e.to_string())?;
        if first.is_none()
            && let Some(b) = batches.iter().find(|b| b.num_rows() > 0)
        {
            first = Some(
                datafusion::arrow::util::display::array_value_to_string(b.column(0), 0)
                    .map_err(|e| e.to_string())?,
            );
        }
    }
    Ok((what, first.ok_or_else(|| "no rows".to_string())?))
}

/// The class of an error for the tally: the gRPC code's words.
fn class(error: &str) -> String {
    for code in [
        "permission",
        "authentication",
        "invalid argument",
        "failed precondition",
        "not found",
        "aborted",
        "internal",
        "unavailable",
    ] {
        if error.to_ascii_lowercase().contains(code) {
            return code.to_string();
        }
    }
    error.chars().take(80).collect()
}

/// One client of a side: its connection (logged in once) and what it saw over every slice.
struct Client {
    label: String,
    conn: FlightSqlServiceClient<Channel>,
    writes: bool,
    /// Which of its two statements comes next, across slices.
    next: usize,
    tally: Tally,
}

async fn reader(mut c: Client, until: Instant) -> Client {
    while Instant::now() < until {
        let sql = if c.next.is_multiple_of(2) { Q6 } else { COUNT };
        c.next += 1;
        let started = Instant::now();
        match first_value(&mut c.conn, sql).await {
            Ok(_) => c
                .tally
                .latencies_ms
                .push(started.elapsed().as_secs_f64() * 1000.0),
            Err(e) => *c.tally.read_errors.entry(class(&e)).or_default() += 1,
        }
    }
    c
}

async fn writer(mut c: Client, until: Instant) -> Client {
    let statements = [
        "PROMOTE lineitem TO 'v2' FOR COHORT canary REASON 'load test'",
        "ROLLBACK lineitem REASON 'load test'",
    ];
    while Instant::now() < until {
        let sql = statements[c.next % 2];
        c.next += 1;
        let started = Instant::now();
        let outcome = first_value(&mut c.conn, sql).await;
        c.tally
            .write_latencies_ms
            .push(started.elapsed().as_secs_f64() * 1000.0);
        match outcome {
            Ok((what, _)) => match what["sequence"].as_u64() {
                Some(seq) => c.tally.committed.push(seq),
                None => c.tally.unchanged += 1,
            },
            // Another release manager got there first: the intended refusal.
            Err(_) => c.tally.refused += 1,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c
}

/// One side's clients, connected and logged in before any slice is timed.
struct Fleet {
    name: &'static str,
    clients: Vec<Client>,
    seconds: f64,
}

impl Fleet {
    /// Connects a client per entry of `users` (`None`: no login, for the peer); the first
    /// `writers` write.
    async fn connect(
        name: &'static str,
        addr: std::net::SocketAddr,
        users: &[Option<String>],
        writers: usize,
    ) -> anyhow::Result<Fleet> {
        let mut clients = Vec::new();
        for (i, user) in users.iter().enumerate() {
            let mut conn = connect(addr).await?;
            if let Some(user) = user {
                conn.handshake(user, PASSWORD)
                    .await
                    .with_context(|| format!("login as {user}"))?;
            }
            clients.push(Client {
                label: user.clone().unwrap_or_else(|| format!("client{i}")),
                conn,
                writes: i < writers,
                next: 0,
                tally: Tally::default(),
            });
        }
        Ok(Fleet {
            name,
            clients,
            seconds: 0.0,
        })
    }

    /// Every client of the side at once for `seconds`; each finishes the statement it is in.
    async fn drive(&mut self, seconds: f64) -> anyhow::Result<()> {
        let started = Instant::now();
        let until = started + Duration::from_secs_f64(seconds);
        let tasks: Vec<_> = self
            .clients
            .drain(..)
            .map(|c| {
                if c.writes {
                    tokio::spawn(writer(c, until))
                } else {
                    tokio::spawn(reader(c, until))
                }
            })
            .collect();
        for task in tasks {
            self.clients.push(task.await?);
        }
        self.seconds += started.elapsed().as_secs_f64();
        Ok(())
    }

    fn side(self) -> Side {
        Side {
            name: self.name,
            seconds: self.seconds,
            tallies: self
                .clients
                .into_iter()
                .map(|c| (c.label, c.tally))
                .collect(),
        }
    }
}

/// A fresh store under `dir` with `lineitem` v1 and v2 (the same files), users and grants.
async fn setup(
    dir: &Path,
    clients: usize,
    writers: usize,
) -> anyhow::Result<(String, Vec<String>)> {
    let store = dir.join("serve-load-store");
    if store.exists() {
        std::fs::remove_dir_all(&store)?;
    }
    let store = store.display().to_string();
    let data = dir.join("lineitem");
    if !data.exists() {
        bail!(
            "no {}: run rollout-bench gen --dir {} first",
            data.display(),
            dir.display()
        );
    }
    let users: Vec<String> = (0..clients)
        .map(|i| {
            if i < writers {
                format!("release{i}")
            } else {
                format!("reader{i}")
            }
        })
        .collect();
    let canary: Vec<String> = users
        .iter()
        .skip(writers)
        .step_by(2)
        .map(|u| format!("'{u}'"))
        .collect();
    let rc = RolloutContext::open_with(
        &store,
        RolloutOptions {
            actor: Some("setup".into()),
            ..Default::default()
        },
    )
    .await?;
    let mut script = vec![
        "CREATE DATASET lineitem".to_string(),
        format!(
            "REGISTER VERSION 'v1' OF lineitem FROM '{}/'",
            data.display()
        ),
        format!(
            "REGISTER VERSION 'v2' OF lineitem FROM '{}/'",
            data.display()
        ),
        "PROMOTE lineitem TO 'v1'".to_string(),
        format!("CREATE COHORT canary MEMBERS ({})", canary.join(", ")),
        format!("CREATE USER admin PASSWORD '{PASSWORD}'"),
        "CREATE ROLE readers".to_string(),
        "CREATE ROLE release".to_string(),
        "GRANT READ ON ALL DATASETS TO ROLE readers".to_string(),
        "GRANT READ, PROMOTE, ROLLBACK ON DATASET lineitem TO ROLE release".to_string(),
    ];
    for (i, user) in users.iter().enumerate() {
        script.push(format!("CREATE USER {user} PASSWORD '{PASSWORD}'"));
        let role = if i < writers { "release" } else { "readers" };
        script.push(format!("GRANT ROLE {role} TO {user}"));
    }
    for sql in &script {
        rc.sql(sql).await?.collect().await?;
    }
    Ok((store, users))
}

/// Every commit a client was told of is in the log once, under its actor; the log holds no
/// commit of theirs nobody was told of.
async fn verify(store: &str, since: u64, ours: &Side) -> anyhow::Result<Value> {
    let store = Store::open(store, StoreOptions::default()).await?;
    let entries: Vec<_> = store
        .history()
        .await?
        .into_iter()
        .filter(|e| e.sequence > since)
        .collect();
    let in_log: HashMap<u64, String> = entries
        .iter()
        .map(|e| (e.sequence, e.actor.clone()))
        .collect();
    let mut told: HashMap<u64, usize> = HashMap::new();
    let mut wrong_actor = 0usize;
    let mut missing = 0usize;
    for (user, tally) in &ours.tallies {
        for seq in &tally.committed {
            *told.entry(*seq).or_default() += 1;
            match in_log.get(seq) {
                Some(actor) if actor == user => {}
                Some(_) => wrong_actor += 1,
                None => missing += 1,
            }
        }
    }
    let duplicated = told.values().filter(|n| **n > 1).count();
    let untold = entries
        .iter()
        .filter(|e| !told.contains_key(&e.sequence))
        .count();
    let contiguous = entries
        .windows(2)
        .all(|w| w[1].sequence == w[0].sequence + 1);
    let ok = duplicated == 0 && wrong_actor == 0 && missing == 0 && untold == 0 && contiguous;
    Ok(json!({
        "log_entries": entries.len(),
        "told": told.len(),
        "missing_from_log": missing,
        "duplicated": duplicated,
        "wrong_actor": wrong_actor,
        "in_log_but_untold": untold,
        "contiguous": contiguous,
        "ok": ok,
    }))
}

/// The whole measurement; prints one JSON object. The two sides take turns in slices of
/// `slice` seconds (ours, the peer, the peer, ours, ...) until each has had `seconds`, so that
/// whatever else the machine does in the meantime falls on both alike.
pub async fn run(
    dir: &Path,
    clients: usize,
    writers: usize,
    seconds: u64,
    slice: u64,
    with_peer: bool,
) -> anyhow::Result<Value> {
    if writers >= clients {
        bail!("--writers must be fewer than --clients");
    }
    if slice == 0 || seconds == 0 {
        bail!("--seconds and --slice must be at least 1");
    }
    let (store_url, users) = setup(dir, clients, writers).await?;
    let store = Store::open(&store_url, StoreOptions::default()).await?;
    let since = store.state().sequence;
    let (listener, addr) = rollout_server::bind("127.0.0.1:0".parse()?).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        rollout_server::Server::new(Arc::clone(&store), RolloutOptions::default()).run(
            listener,
            None,
            async move {
                let _ = stopped.await;
            },
        ),
    );
    let logins: Vec<Option<String>> = users.iter().cloned().map(Some).collect();
    let mut ours = Fleet::connect("rollout serve", addr, &logins, writers).await?;
    let mut peer = if with_peer {
        peer(dir, clients - writers).await?
    } else {
        None
    };

    let rounds = seconds.div_ceil(slice);
    let mut rss_mid = None;
    for round in 0..rounds {
        let length = slice.min(seconds - round * slice) as f64;
        let ours_first = round.is_multiple_of(2);
        if ours_first {
            ours.drive(length).await?;
        }
        if let Some((fleet, _)) = peer.as_mut() {
            fleet.drive(length).await?;
        }
        if !ours_first {
            ours.drive(length).await?;
        }
        // Resident memory half way (both sides are in this process), to compare with the
        // end: bounded, not growing with time.
        if round == rounds / 2 {
            rss_mid = rss().1;
        }
    }
    let _ = stop.send(());
    server.await??;
    let ours = ours.side();
    let checked = verify(&store_url, since, &ours).await?;
    let peer = match peer {
        Some((fleet, stop)) => {
            stop.await?;
            Some(fleet.side())
        }
        None => None,
    };
    let (hwm, rss_end) = rss();
    let ratio = |key: &str| -> Value {
        match (&peer, ours.summary()[key].as_f64()) {
            (Some(p), Some(o)) => json!(o / p.summary()[key].as_f64().unwrap_or(f64::NAN)),
            _ => Value::Null,
        }
    };
    Ok(json!({
        "clients": clients,
        "writers": writers,
        "seconds": seconds,
        "slice": slice,
        "ours": ours.summary(),
        "peer": peer.as_ref().map(Side::summary),
        "ratio_p50": ratio("p50_ms"),
        "ratio_p99": ratio("p99_ms"),
        "ratio_reads_per_s": ratio("reads_per_s"),
        "commits": checked,
        "rss_mid_bytes": rss_mid,
        "rss_end_bytes": rss_end,
        "rss_peak_bytes": hwm,
    }))
}

/// What stops the peer's server and waits for it.
type Stopper = futures::future::BoxFuture<'static, anyhow::Result<()>>;

/// The peer's server on the same files, and `readers` clients connected to it (its readers are
/// ours; our writers' PROMOTE/ROLLBACK have no counterpart there).
#[cfg(feature = "flight-peer")]
async fn peer(dir: &Path, readers: usize) -> anyhow::Result<Option<(Fleet, Stopper)>> {
    use arrow_flight::flight_service_server::FlightServiceServer;
    use futures::FutureExt;
    let ctx = datafusion::prelude::SessionContext::new();
    ctx.register_parquet(
        "lineitem",
        &format!("{}/", dir.join("lineitem").display()),
        Default::default(),
    )
    .await?;
    let service = datafusion_flight_sql_server::service::FlightSqlService::new(ctx.state());
    let (listener, addr) = rollout_server::bind("127.0.0.1:0".parse()?).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(FlightServiceServer::new(service))
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true)),
                async move {
                    let _ = stopped.await;
                },
            ),
    );
    let users: Vec<Option<String>> = vec![None; readers];
    let fleet = Fleet::connect("datafusion-flight-sql-server", addr, &users, 0).await?;
    let stopper = async move {
        let _ = stop.send(());
        server.await??;
        Ok(())
    }
    .boxed();
    Ok(Some((fleet, stopper)))
}

#[cfg(not(feature = "flight-peer"))]
async fn peer(_: &Path, _: usize) -> anyhow::Result<Option<(Fleet, Stopper)>> {
    eprintln!("serve-load: built without --features flight-peer, so no peer side");
    Ok(None)
}
