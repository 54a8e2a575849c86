//! A Ballista cluster of separate processes on loopback (`rollout-scheduler` and two
//! `rollout-executor`s, as users start them) against local DataFusion on the same store:
//! the same answers through aliases, per-consumer resolution, contract checks and drift,
//! reads recorded on the client, a tampered pinned file refused on the cluster, and an
//! executor killed while queries run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::physical_plan::displayable;
use datafusion::prelude::SessionContext;
use datafusion_rollout::{RolloutContext, RolloutOptions};
use tpchgen::generators::LineItemGenerator;
use tpchgen_arrow::LineItemArrow;

const Q1: &str = "SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty, \
    sum(l_extendedprice) AS sum_base_price, \
    sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price, \
    sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge, \
    avg(l_quantity) AS avg_qty, avg(l_extendedprice) AS avg_price, avg(l_discount) AS avg_disc, \
    count(*) AS count_order \
    FROM lineitem WHERE l_shipdate <= DATE '1998-09-02' \
    GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus";

const Q6: &str = "SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem \
    WHERE l_shipdate >= DATE '1994-01-01' AND l_shipdate < DATE '1995-01-01' \
    AND l_discount BETWEEN 0.05 AND 0.07 AND l_quantity < 24";

/// The benchmark's contract: ten checks and a composite-key uniqueness check.
const CONTRACT: &str = "CREATE CONTRACT lineitem_contract FOR lineitem (
  l_orderkey BIGINT NOT NULL,
  l_quantity CHECK (l_quantity BETWEEN 1 AND 50),
  l_extendedprice NOT NULL CHECK (l_extendedprice > 0),
  l_discount CHECK (l_discount BETWEEN 0 AND 0.1),
  l_tax CHECK (l_tax BETWEEN 0 AND 0.08),
  l_shipdate NOT NULL,
  EXPECT row_count() > 1000,
  EXPECT invalid_count_in(l_shipmode, 'AIR', 'FOB', 'MAIL', 'RAIL', 'REG AIR', 'SHIP', 'TRUCK') = 0,
  EXPECT max_length(l_comment) <= 44,
  EXPECT duplicate_count(l_orderkey, l_linenumber) = 0
)";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The cluster's processes, killed when dropped; their output in `logs`.
struct Cluster {
    port: u16,
    scheduler: Child,
    executors: Vec<Child>,
    logs: PathBuf,
}

impl Cluster {
    fn start(store: &str, logs: &Path) -> Cluster {
        std::fs::create_dir_all(logs).unwrap();
        let log = |name: &str| File::create(logs.join(name)).unwrap();
        let port = free_port();
        let scheduler = Command::new(env!("CARGO_BIN_EXE_rollout-scheduler"))
            .args([
                "--store",
                store,
                "--bind-host",
                "127.0.0.1",
                "--external-host",
            ])
            .args([
                "127.0.0.1",
                "--min-ready-executors",
                "2",
                "-p",
                &port.to_string(),
            ])
            // A dead executor is noticed within seconds (the default is 180 s), so its tasks
            // are run again elsewhere while the test waits.
            .args(["--executor-timeout-seconds", "6"])
            .args(["--expire-dead-executor-interval-seconds", "1"])
            .stdout(Stdio::from(log("scheduler.log")))
            .stderr(Stdio::from(log("scheduler.err")))
            .spawn()
            .expect("rollout-scheduler starts");
        let executors = (0..2)
            .map(|i| {
                let work = logs.join(format!("work-{i}"));
                std::fs::create_dir_all(&work).unwrap();
                Command::new(env!("CARGO_BIN_EXE_rollout-executor"))
                    .args(["--store", store, "--bind-host", "127.0.0.1"])
                    .args([
                        "--external-host",
                        "127.0.0.1",
                        "--scheduler-host",
                        "127.0.0.1",
                    ])
                    .args(["--scheduler-port", &port.to_string(), "-c", "2"])
                    // Started beside the scheduler: wait for it to listen.
                    .args(["--scheduler-connect-timeout-seconds", "30"])
                    .args(["-p", &free_port().to_string()])
                    .args(["--bind-grpc-port", &free_port().to_string()])
                    .args(["--bind-health-port", &free_port().to_string()])
                    .args(["--work-dir", work.to_str().unwrap()])
                    .args(["--executor-heartbeat-interval-seconds", "2"])
                    .stdout(Stdio::from(log(&format!("executor-{i}.log"))))
                    .stderr(Stdio::from(log(&format!("executor-{i}.err"))))
                    .spawn()
                    .expect("rollout-executor starts")
            })
            .collect();
        Cluster {
            port,
            scheduler,
            executors,
            logs: logs.to_path_buf(),
        }
    }

    fn url(&self) -> String {
        format!("df://127.0.0.1:{}", self.port)
    }

    fn http(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until both executors have registered (the scheduler's /readyz).
    async fn ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok(r) = reqwest::get(self.http("/readyz")).await
                && r.status().is_success()
            {
                return;
            }
            if let Ok(Some(status)) = self.scheduler.try_wait() {
                self.fail(&format!("the scheduler exited: {status}"));
            }
            let exited = self
                .executors
                .iter_mut()
                .enumerate()
                .find_map(|(i, e)| e.try_wait().ok().flatten().map(|s| (i, s)));
            if let Some((i, status)) = exited {
                self.fail(&format!("executor {i} exited: {status}"));
            }
            if start.elapsed() > Duration::from_secs(90) {
                self.fail("the cluster was not ready within 90 s");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// How many jobs the scheduler has run.
    async fn jobs(&self) -> usize {
        let jobs: serde_json::Value = reqwest::get(self.http("/api/jobs"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        jobs.as_array().map_or(0, Vec::len)
    }

    fn fail(&self, why: &str) -> ! {
        let mut out = String::new();
        for entry in std::fs::read_dir(&self.logs).unwrap().flatten() {
            let path = entry.path();
            if path.is_file() {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(20).collect();
                out.push_str(&format!("--- {}\n", path.display()));
                for line in tail.into_iter().rev() {
                    out.push_str(line);
                    out.push('\n');
                }
            }
        }
        panic!("{why}\n{out}");
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().chain([&mut self.scheduler]) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// TPC-H lineitem at `sf` in `parts` Parquet files.
fn write_lineitem(dir: &Path, sf: f64, parts: i32) {
    std::fs::create_dir_all(dir).unwrap();
    for part in 1..=parts {
        let mut batches = LineItemArrow::new(LineItemGenerator::new(sf, part, parts));
        let first = batches.next().unwrap().unwrap();
        let file = File::create(dir.join(format!("part-{part}.parquet"))).unwrap();
        let mut writer = ArrowWriter::try_new(file, first.schema(), None).unwrap();
        writer.write(&first).unwrap();
        for batch in batches {
            writer.write(&batch.unwrap()).unwrap();
        }
        writer.close().unwrap();
    }
}

async fn open(store: &str, consumer: &str, cluster: Option<&Cluster>) -> RolloutContext {
    let options = RolloutOptions {
        consumer: Some(consumer.to_string()),
        actor: Some("test".into()),
        state_hook: cluster.map(|c| rollout_cluster::cluster_hook(&c.url()).unwrap()),
        ..Default::default()
    };
    RolloutContext::open_with(store, options).await.unwrap()
}

async fn try_table(rc: &RolloutContext, sql: &str) -> datafusion_rollout::Result<String> {
    let batches = rc.sql(sql).await?.collect().await?;
    Ok(pretty_format_batches(&batches)?.to_string())
}

async fn table(rc: &RolloutContext, sql: &str) -> String {
    match try_table(rc, sql).await {
        Ok(t) => t,
        Err(e) => panic!("{sql}: {e}"),
    }
}

/// Whether `sql` is planned to run on the cluster.
async fn distributed(rc: &RolloutContext, sql: &str) -> bool {
    let plan = rc
        .sql(sql)
        .await
        .unwrap()
        .create_physical_plan()
        .await
        .unwrap();
    displayable(plan.as_ref())
        .indent(false)
        .to_string()
        .contains("DistributedQueryExec")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_answers_as_local_datafusion_does() {
    let dir = tempfile::tempdir().unwrap();
    let v1 = dir.path().join("v1");
    let v2 = dir.path().join("v2");
    write_lineitem(&v1, 0.02, 3);
    // v2: every seventh order gone, written by DataFusion.
    std::fs::create_dir_all(&v2).unwrap();
    let df = SessionContext::new().enable_url_table();
    df.sql(&format!(
        "COPY (SELECT * FROM '{}/' WHERE l_orderkey % 7 <> 0) TO '{}/part-1.parquet' STORED AS PARQUET",
        v1.display(),
        v2.display()
    ))
    .await
    .unwrap()
    .collect()
    .await
    .unwrap();

    let store = dir.path().join("store").display().to_string();
    let admin = open(&store, "admin", None).await;
    for sql in [
        "CREATE DATASET lineitem".to_string(),
        format!("REGISTER VERSION 'v1' OF lineitem FROM '{}/'", v1.display()),
        "PROMOTE lineitem TO 'v1'".into(),
        format!("REGISTER VERSION 'v2' OF lineitem FROM '{}/'", v2.display()),
        CONTRACT.into(),
        "CREATE COHORT canary MEMBERS ('alice')".into(),
        "PROMOTE lineitem TO 'v2' FOR COHORT canary".into(),
    ] {
        table(&admin, &sql).await;
    }

    // The cluster starts after the store has versions; it learns of later ones by itself.
    let mut cluster = Cluster::start(&store, &dir.path().join("cluster"));
    cluster.ready().await;
    let late = dir.path().join("v3");
    std::fs::create_dir_all(&late).unwrap();
    std::fs::copy(v1.join("part-1.parquet"), late.join("part-1.parquet")).unwrap();
    table(
        &admin,
        &format!(
            "REGISTER VERSION 'v3' OF lineitem FROM '{}/'",
            late.display()
        ),
    )
    .await;

    // TPC-H Q1 and Q6 through the alias: a canary consumer reads v2, anyone else v1, on the
    // cluster as locally.
    for consumer in ["alice", "bob"] {
        let local = open(&store, consumer, None).await;
        let remote = open(&store, consumer, Some(&cluster)).await;
        for q in [Q1, Q6] {
            assert!(
                distributed(&remote, q).await,
                "{consumer}: not planned for the cluster"
            );
            assert!(!distributed(&local, q).await);
            let jobs = cluster.jobs().await;
            let on_cluster = table(&remote, q).await;
            assert_eq!(on_cluster, table(&local, q).await, "{consumer}: {q}");
            assert!(
                cluster.jobs().await > jobs,
                "{consumer}: the scheduler ran no job"
            );
        }
        remote.close().await.unwrap();
    }
    let alice = open(&store, "alice", Some(&cluster)).await;
    let bob = open(&store, "bob", Some(&cluster)).await;
    let count = "SELECT count(*) FROM lineitem";
    assert_ne!(table(&alice, count).await, table(&bob, count).await);
    assert_eq!(
        table(&bob, "SELECT count(*) FROM lineitem VERSION AS OF 'v3'").await,
        table(
            &open(&store, "bob", None).await,
            "SELECT count(*) FROM lineitem VERSION AS OF 'v3'"
        )
        .await,
        "a version registered after the cluster started"
    );

    // The contract's checks and exact drift: equal to the local results. A cluster's plan gives
    // no file statistics, so every check is scanned there; locally too, to compare the details.
    let local_bob = open(&store, "bob", None).await;
    table(&local_bob, "SET rollout.check_statistics = false").await;
    let jobs = cluster.jobs().await;
    let check = table(&bob, "CHECK lineitem VERSION 'v2'").await;
    assert_eq!(
        check,
        table(&local_bob, "CHECK lineitem VERSION 'v2'").await
    );
    assert!(check.contains("duplicate_count"), "{check}");
    assert!(
        cluster.jobs().await > jobs,
        "CHECK did not run on the cluster"
    );
    // EXPLAIN ANALYZE runs on the cluster: the stages' metrics, and the version and why.
    let analyzed = table(&bob, &format!("EXPLAIN ANALYZE {Q6}")).await;
    for expected in [
        "Plan with Metrics",
        "output_rows",
        "rollout_resolution",
        "v1",
    ] {
        assert!(analyzed.contains(expected), "{expected}: {analyzed}");
    }
    let drift = "SELECT * FROM drift('lineitem', 'v1', 'v2')";
    assert_eq!(table(&bob, drift).await, table(&local_bob, drift).await);

    // A version made by a query: the query (and the contract's checks at registration) run
    // on the cluster, the files are written here; the version holds what the query returned.
    let air = "SELECT * FROM lineitem WHERE l_shipmode = 'AIR'";
    let copy = format!(
        "COPY ({air}) TO '{}' STORED AS PARQUET",
        dir.path().join("air.parquet").display()
    );
    assert!(
        distributed(&bob, &copy).await,
        "a write's query is not planned for the cluster"
    );
    let jobs = cluster.jobs().await;
    let erin = open(&store, "erin", Some(&cluster)).await;
    table(
        &erin,
        &format!("CREATE VERSION 'air' OF lineitem AS {air} ORDER BY l_orderkey, l_linenumber"),
    )
    .await;
    erin.close().await.unwrap();
    let read = table(
        &admin,
        "SELECT version, rows > 0 AS counted FROM rollout_reads('lineitem') WHERE consumer = 'erin'",
    )
    .await;
    assert!(
        read.contains("| v1      | true    |"),
        "the write's read: {read}"
    );
    assert!(
        cluster.jobs().await > jobs + 1,
        "CREATE VERSION ... AS SELECT: its query and checks did not run on the cluster"
    );
    let summary = "SELECT count(*), sum(l_quantity), min(l_shipmode), max(l_shipmode) FROM";
    assert_eq!(
        table(
            &local_bob,
            &format!("{summary} lineitem VERSION AS OF 'air'")
        )
        .await,
        table(&local_bob, &format!("{summary} ({air})")).await,
    );

    // Reads are recorded on the client, with the version each consumer read.
    alice.close().await.unwrap();
    bob.close().await.unwrap();
    let bob = open(&store, "bob", Some(&cluster)).await;
    let reads = table(
        &admin,
        "SELECT consumer, version, count(*) AS n FROM rollout_reads('lineitem') \
         WHERE consumer IN ('alice', 'bob') GROUP BY consumer, version ORDER BY consumer, version",
    )
    .await;
    assert!(reads.contains("| alice    | v2 "), "{reads}");
    assert!(reads.contains("| bob      | v1 "), "{reads}");

    // The rows a read scanned: counted by the cluster's scans (the scheduler's job metrics),
    // as many as the same query counts here; a query of two datasets' scans is not split.
    let scan = "SELECT l_shipmode, sum(l_quantity) FROM lineitem WHERE l_quantity < 10 \
        GROUP BY l_shipmode";
    for (consumer, cluster) in [("carol", Some(&cluster)), ("dave", None)] {
        let rc = open(&store, consumer, cluster).await;
        table(&rc, scan).await;
        rc.close().await.unwrap();
    }
    let rows = table(
        &admin,
        "SELECT consumer, rows FROM rollout_reads('lineitem') \
         WHERE consumer IN ('carol', 'dave') ORDER BY consumer",
    )
    .await;
    let counts: Vec<&str> = rows
        .lines()
        .filter(|l| l.contains("carol") || l.contains("dave"))
        .map(|l| l.split('|').nth(2).unwrap_or_default().trim())
        .collect();
    assert_eq!(counts.len(), 2, "{rows}");
    assert!(
        counts[0] == counts[1] && counts[0].parse::<u64>().is_ok_and(|n| n > 0),
        "{rows}"
    );

    // A pinned file changed after registration fails the query on the cluster, naming it:
    // a file of v3, which the cluster's processes learnt of from the log after they started.
    let tampered = late.join("part-1.parquet");
    std::fs::copy(v1.join("part-2.parquet"), &tampered).unwrap();
    let err = try_table(
        &bob,
        "SELECT sum(l_quantity) FROM lineitem VERSION AS OF 'v3'",
    )
    .await
    .expect_err("a tampered file must fail");
    let text = err.to_string();
    assert!(text.contains(&tampered.display().to_string()), "{text}");
    assert!(text.contains("changed size"), "{text}");

    // An executor killed while queries run, just after it finished a task (its output, which
    // the next stage reads, dies with it): each query answers right or fails clearly.
    let expected = table(&local_bob, Q1).await;
    let log = cluster.logs.join("executor-1.log");
    let finished = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("Finished task")
            .count()
    };
    let before = finished();
    let runs = tokio::spawn(async move {
        let mut outcomes = vec![];
        for _ in 0..6 {
            let run = tokio::time::timeout(Duration::from_secs(60), try_table(&bob, Q1)).await;
            outcomes.push(run);
        }
        outcomes
    });
    let start = Instant::now();
    while finished() == before && start.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    cluster.executors[1].kill().unwrap();
    cluster.executors[1].wait().unwrap();
    let outcomes = runs.await.unwrap();
    let mut answered = 0;
    for outcome in outcomes {
        match outcome {
            Ok(Ok(result)) => {
                assert_eq!(result, expected, "a wrong answer after an executor died");
                answered += 1;
            }
            Ok(Err(e)) => assert!(!e.to_string().is_empty()),
            Err(_) => cluster.fail("a query hung after an executor died"),
        }
    }
    eprintln!("executor killed: {answered} of 6 queries answered");
}

/// The same on a store in an S3 bucket (`.ci/run` starts a Ceph gateway and sets
/// `AWS_ENDPOINT_URL` and the credentials, which the cluster's processes inherit).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cluster_reads_a_store_on_s3() {
    if std::env::var("AWS_ENDPOINT_URL").is_err() {
        eprintln!(
            "SKIPPED cluster on S3: AWS_ENDPOINT_URL is not set (.ci/run starts a Ceph gateway \
             and sets it, with AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION, \
             AWS_ALLOW_HTTP and ROLLOUT_TEST_S3_BUCKET)"
        );
        return;
    }
    let bucket = std::env::var("ROLLOUT_TEST_S3_BUCKET").unwrap_or_else(|_| "rollout-test".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let store = format!("s3://{bucket}/cluster-{}-{nanos}/store", std::process::id());
    let admin = open(&store, "admin", None).await;
    for sql in [
        "CREATE DATASET t",
        "CREATE VERSION 'v1' OF t AS SELECT value AS k, value % 7 AS g, CAST(value AS DOUBLE) / 3 AS x \
         FROM generate_series(1, 200000)",
        "PROMOTE t TO 'v1'",
        "CREATE VERSION 'v2' OF t AS SELECT value AS k, value % 5 AS g, CAST(value AS DOUBLE) / 7 AS x \
         FROM generate_series(1, 150000)",
        "CREATE COHORT canary MEMBERS ('alice')",
        "PROMOTE t TO 'v2' FOR COHORT canary",
    ] {
        table(&admin, sql).await;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cluster = Cluster::start(&store, &dir.path().join("cluster"));
    cluster.ready().await;
    let q = "SELECT g, count(*) AS n, sum(x) AS s FROM t GROUP BY g ORDER BY g";
    for consumer in ["alice", "bob"] {
        let remote = open(&store, consumer, Some(&cluster)).await;
        let local = open(&store, consumer, None).await;
        let jobs = cluster.jobs().await;
        assert_eq!(
            table(&remote, q).await,
            table(&local, q).await,
            "{consumer}"
        );
        assert!(
            cluster.jobs().await > jobs,
            "{consumer}: the scheduler ran no job"
        );
        let check = "SELECT duplicate_count(k) AS d, distinct_count(g) AS n FROM t";
        assert_eq!(table(&remote, check).await, table(&local, check).await);
    }

    // An object of v2 replaced in the bucket fails the canary's query, naming it.
    let file = {
        let state = admin.store().state();
        let v2 = state.readable_version("t", "v2").unwrap();
        v2.files[0].url.clone()
    };
    let url = url::Url::parse(&file).unwrap();
    let path = datafusion::object_store::path::Path::from_url_path(url.path()).unwrap();
    let objects = admin.store().object_store();
    use datafusion::object_store::ObjectStoreExt;
    objects
        .put(&path, b"not the registered object".to_vec().into())
        .await
        .unwrap();
    let alice = open(&store, "alice", Some(&cluster)).await;
    let err = try_table(&alice, q)
        .await
        .expect_err("a replaced object must fail");
    let text = err.to_string();
    assert!(text.contains(&file), "{text}");
}

/// A scheduler or executor pointed at a place without a store says so and stops, rather than
/// starting a cluster that verifies nothing.
#[test]
fn processes_refuse_a_location_without_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let missing = dir.path().join("missing");
    for bin in [
        env!("CARGO_BIN_EXE_rollout-scheduler"),
        env!("CARGO_BIN_EXE_rollout-executor"),
    ] {
        for (place, why) in [
            (&missing, "there is no folder there"),
            (&empty, "no rollout store is there"),
        ] {
            let out = Command::new(bin)
                .args(["--store", place.to_str().unwrap(), "-p", "0"])
                .output()
                .unwrap();
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                !out.status.success(),
                "{bin} started on {}",
                place.display()
            );
            assert!(
                err.contains(place.to_str().unwrap()) && err.contains(why),
                "{bin}: {err}"
            );
        }
    }
}
