//! Live rollouts end to end, on a real local store with real Parquet versions: consumers read
//! through the alias (child processes), controllers (child processes, ~1 s rounds) advance an
//! AUTO rollout stage by stage or roll it back when its reads fail. The transient-failure and
//! metric cases drive rounds by hand (`Controller::round`), so what each round sees is exact.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use datafusion_rollout::store::StoreOptions;
use datafusion_rollout::{Controller, RolloutContext, RolloutOptions};

use crate::common::*;

const STORE_ENV: &str = "ROLLOUT_TEST_LIVE_STORE";
const STOP_ENV: &str = "ROLLOUT_TEST_LIVE_STOP";
const NAME_ENV: &str = "ROLLOUT_TEST_LIVE_NAME";

async fn open_fast(store: &str, consumer: Option<&str>) -> RolloutContext {
    RolloutContext::open_with(
        store,
        RolloutOptions {
            consumer: consumer.map(str::to_string),
            actor: Some("test".into()),
            store: StoreOptions {
                events_flush_interval: Duration::from_millis(200),
                ..Default::default()
            },
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

/// Child: reads `orders` as 40 consumers in turn until the stop file exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of live:: tests; run by them"]
async fn child_consumers() {
    let store = child_env(STORE_ENV, "live::");
    let stop = PathBuf::from(child_env(STOP_ENV, "live::"));
    let name = child_env(NAME_ENV, "live::");
    let rc = open_fast(&store, None).await;
    let mut i = 0u64;
    while !stop.exists() {
        rc.set_consumer(Some(&format!("{name}-{}", i % 40)))
            .unwrap();
        // Failures are what the test is about: they are recorded, not fatal.
        let _ = try_run(&rc, "SELECT sum(amount) FROM orders").await;
        i += 1;
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    rc.close().await.unwrap();
}

/// Child: a controller with ~1 s rounds until the stop file exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "child process of live:: tests; run by them"]
async fn child_controller() {
    let store = child_env(STORE_ENV, "live::");
    let stop = PathBuf::from(child_env(STOP_ENV, "live::"));
    let name = child_env(NAME_ENV, "live::");
    let rc = open_fast(&store, None).await;
    let controller = Controller::new(rc.clone(), name);
    let stopped = async {
        while !stop.exists() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    controller
        .run(Duration::from_secs(1), stopped, |round| {
            if let Err(e) = round {
                eprintln!("round failed: {e}");
            }
        })
        .await;
    rc.close().await.unwrap();
}

/// Child processes of `test`, stopped (and checked) when dropped by [`Children::stop`].
struct Children {
    stop: PathBuf,
    running: Vec<(String, std::process::Child)>,
}

impl Children {
    fn new(dir: &Path) -> Children {
        Children {
            stop: dir.join("stop"),
            running: vec![],
        }
    }

    fn spawn(&mut self, test: &str, store: &str, name: &str) {
        let child = child_test(test)
            .env(STORE_ENV, store)
            .env(STOP_ENV, &self.stop)
            .env(NAME_ENV, name)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        self.running.push((format!("{test} {name}"), child));
    }

    fn stop(self) {
        std::fs::write(&self.stop, b"stop").unwrap();
        for (what, child) in self.running {
            let out = child.wait_with_output().unwrap();
            assert_child_passed(&what, &out);
        }
    }
}

async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const GUARDS: &str = "CREATE CONTRACT live FOR orders (
    EXPECT read_error_rate() <= 0.05,
    EXPECT latency_ratio() <= 100
)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_auto_rollout_advances_to_stable_under_two_controllers_each_step_once() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(&rc, GUARDS).await;
    run(
        &rc,
        "PROMOTE orders TO 'v2' IN STAGES (20, 50, 100) EVERY INTERVAL '1 second' AUTO",
    )
    .await;
    let promoted = rc.store().state().sequence;
    let store = fx.store();
    let mut children = Children::new(fx.dir.path());
    children.spawn("live::child_consumers", &store, "a");
    children.spawn("live::child_consumers", &store, "b");
    children.spawn("live::child_controller", &store, "c1");
    children.spawn("live::child_controller", &store, "c2");
    wait_until("v2 to become stable", Duration::from_secs(90), async || {
        rc.store().refresh().await.unwrap();
        rc.store().state().datasets["orders"]
            .rollout
            .stable
            .as_deref()
            == Some("v2")
    })
    .await;
    children.stop();

    // No human statement after the PROMOTE: the controller made each step, once.
    let history = rc.store().history().await.unwrap();
    let after: Vec<_> = history.iter().filter(|e| e.sequence > promoted).collect();
    let steps: Vec<(&str, &str)> = after
        .iter()
        .map(|e| (e.actor.as_str(), e.operation.as_str()))
        .collect();
    assert_eq!(
        steps,
        [("controller", "ADVANCE"), ("controller", "ADVANCE")],
        "{steps:?}"
    );
    // Each advance carries the live checks that decided it.
    for entry in &after {
        let checks: Vec<String> = entry
            .checks
            .iter()
            .map(|c| format!("{} {}", c["check"], c["status"]))
            .collect();
        assert_eq!(
            checks,
            [
                "\"read_error_rate()\" \"pass\"",
                "\"latency_ratio()\" \"pass\""
            ],
            "{checks:?}"
        );
    }
    let evaluations = scalar(&rc, "SELECT count(*) FROM rollout_evaluations('orders')").await;
    assert!(evaluations.parse::<u64>().unwrap() >= 2, "{evaluations}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_reads_of_the_candidate_roll_it_back_with_evidence_and_blast_radius() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(&rc, GUARDS).await;
    let oncall = crate::notify::Receiver::start(&[]).await;
    run(
        &rc,
        &format!(
            "CREATE NOTIFICATION oncall URL '{}' FOR orders ON (ROLLBACK, GUARD_FAILED)",
            oncall.url
        ),
    )
    .await;
    run(
        &rc,
        "PROMOTE orders TO 'v2' IN STAGES (50, 100) EVERY INTERVAL '1 hour' AUTO",
    )
    .await;
    let store = fx.store();
    let mut children = Children::new(fx.dir.path());
    children.spawn("live::child_consumers", &store, "a");
    children.spawn("live::child_controller", &store, "c1");
    // Healthy rounds first, then the candidate's file disappears.
    tokio::time::sleep(Duration::from_secs(2)).await;
    std::fs::remove_file(fx.path("orders_v2").join("part-1.parquet")).unwrap();
    wait_until("the rollback", Duration::from_secs(60), async || {
        rc.store().refresh().await.unwrap();
        rc.store().state().datasets["orders"]
            .rollout
            .candidate
            .is_none()
    })
    .await;
    // The on-call receiver heard it from the controller's process: the guard failed, then
    // the rollback with its evidence.
    let told = oncall.wait_for(2).await;
    children.stop();
    let mut events: Vec<&str> = told.iter().filter_map(|b| b["event"].as_str()).collect();
    events.sort();
    assert_eq!(events, ["GUARD_FAILED", "ROLLBACK"], "{told:?}");
    let rollback = told.iter().find(|b| b["event"] == "ROLLBACK").unwrap();
    assert_eq!(rollback["actor"], "guard");
    assert_eq!(rollback["blast_radius"]["version"], "v2");

    let history = rc.store().history().await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.actor.as_str(), last.operation.as_str()),
        ("guard", "ROLLBACK")
    );
    let reason = last.reason.as_deref().unwrap_or_default();
    assert!(
        reason.starts_with("guard failed: read_error_rate()"),
        "{reason}"
    );
    let failed: Vec<&serde_json::Value> = last
        .checks
        .iter()
        .filter(|c| c["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{:?}", last.checks);
    assert_eq!(failed[0]["check"], "read_error_rate()");
    let radius = last.blast_radius.as_ref().expect("blast radius recorded");
    assert_eq!(radius["version"], "v2");
    assert!(radius["queries"].as_u64().unwrap() > 0, "{radius}");
    assert!(radius["errors"].as_u64().unwrap() > 0, "{radius}");
    assert_eq!(
        rc.store().state().datasets["orders"]
            .rollout
            .stable
            .as_deref(),
        Some("v1")
    );
}

/// `n` reads of `orders`, as consumers who all resolve to the arm asked for.
async fn reads(rc: &RolloutContext, n: usize, candidate: bool) {
    let consumer = if candidate { "alice" } else { "bob" };
    rc.set_consumer(Some(consumer)).unwrap();
    for _ in 0..n {
        let _ = try_run(rc, "SELECT sum(amount) FROM orders").await;
    }
}

#[tokio::test]
async fn one_bad_round_does_not_roll_back_when_the_policy_allows_three() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(
        &rc,
        "CREATE CONTRACT live FOR orders (EXPECT read_error_rate() <= 0.05)",
    )
    .await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    run(
        &rc,
        "PROMOTE orders TO 'v2' IN STAGES (1, 100) EVERY INTERVAL '1 hour' AUTO ROLLBACK AFTER 3 FAILURES",
    )
    .await;
    // alice reads the candidate through the cohort (the 1% bucket need not hold her).
    run(&rc, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
    let controller = Controller::new(rc.clone(), "test");
    let decide = async || {
        let round = controller.round().await.unwrap();
        let d = &round.decisions[0];
        (d.decision.clone(), d.report.results[0].status.to_string())
    };

    reads(&rc, 20, true).await;
    assert_eq!(decide().await, ("wait".into(), "pass".into()));
    // The file goes away for a moment (a rename keeps its modification time, so it reads as
    // unchanged when it is back).
    let part = fx.path("orders_v2").join("part-1.parquet");
    let aside = fx.path("part-1.parquet.aside");
    std::fs::rename(&part, &aside).unwrap();
    reads(&rc, 5, true).await;
    assert_eq!(decide().await, ("failing".into(), "fail".into()));
    // The file is back; the error rate falls under the threshold over the window.
    std::fs::rename(&aside, &part).unwrap();
    reads(&rc, 200, true).await;
    assert_eq!(decide().await, ("wait".into(), "pass".into()));
    let candidate = rc.store().state().datasets["orders"]
        .rollout
        .candidate
        .clone();
    assert!(candidate.is_some(), "not rolled back");

    // Failing three rounds in a row does roll back.
    std::fs::remove_file(&part).unwrap();
    reads(&rc, 100, true).await;
    assert_eq!(decide().await.0, "failing");
    assert_eq!(decide().await.0, "failing");
    assert_eq!(decide().await.0, "rollback");
    let failures = run(
        &rc,
        "SELECT decision, consecutive_failures FROM rollout_evaluations('orders') ORDER BY time",
    )
    .await;
    for line in [
        "| wait     | 0                    |",
        "| failing  | 1                    |",
        "| failing  | 2                    |",
        "| rollback | 3                    |",
    ] {
        assert!(failures.contains(line), "{line} in\n{failures}");
    }
    assert!(
        rc.store().state().datasets["orders"]
            .rollout
            .candidate
            .is_none()
    );
}

#[tokio::test]
async fn a_window_outlives_the_stage_it_began_in() {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(
        &rc,
        "CREATE CONTRACT live FOR orders (EXPECT read_error_rate() <= 0.05, \
         EXPECT read_error_rate() <= 0.05 WINDOW INTERVAL '1 hour')",
    )
    .await;
    run(&rc, "CREATE COHORT canary MEMBERS ('alice')").await;
    run(
        &rc,
        "PROMOTE orders TO 'v2' IN STAGES (1, 50, 100) EVERY INTERVAL '1 second' AUTO ROLLBACK AFTER 5 FAILURES",
    )
    .await;
    run(&rc, "PROMOTE orders TO 'v2' FOR COHORT canary").await;
    let controller = Controller::new(rc.clone(), "test");
    let statuses = async || {
        let round = controller.round().await.unwrap();
        let d = &round.decisions[0];
        let s: Vec<String> = d
            .report
            .results
            .iter()
            .map(|r| r.status.to_string())
            .collect();
        (d.decision.clone(), s)
    };
    // The candidate's reads fail for a while in the first stage: both guards see it.
    let part = fx.path("orders_v2").join("part-1.parquet");
    let aside = fx.path("part-1.parquet.aside");
    std::fs::rename(&part, &aside).unwrap();
    reads(&rc, 20, true).await;
    std::fs::rename(&aside, &part).unwrap();
    assert_eq!(
        statuses().await,
        ("failing".into(), vec!["fail".into(), "fail".into()])
    );
    // A person widens the stage; the new stage's reads all succeed.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    run(&rc, "ADVANCE orders").await;
    reads(&rc, 20, true).await;
    // The stage's guard starts over; the hour's window still holds the failures (20 of 40).
    let (decision, s) = statuses().await;
    assert_eq!(s, vec!["pass".to_string(), "fail".to_string()]);
    assert_eq!(decision, "failing");
    let evaluation = run(
        &rc,
        "SELECT checks FROM rollout_evaluations('orders') ORDER BY time DESC LIMIT 1",
    )
    .await;
    assert!(
        evaluation.contains("20 of 40 candidate reads failed"),
        "{evaluation}"
    );
}

/// A deterministic stream of normal values (mean `mean`, standard deviation `sd`).
fn normals(seed: u64, n: usize, mean: f64, sd: f64) -> Vec<f64> {
    let mut state = seed;
    let mut uniform = move || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    (0..n)
        .map(|_| {
            let (u, v) = (uniform(), uniform());
            mean + sd * (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        })
        .collect()
}

async fn metric_rollout(candidate_mean: f64) -> (Fixture, RolloutContext, String) {
    let fx = Fixture::new().await;
    let rc = fx.orders(None).await;
    run(
        &rc,
        "CREATE CONTRACT live FOR orders (EXPECT metric_change('conversion') >= -0.02)",
    )
    .await;
    run(
        &rc,
        "PROMOTE orders TO 'v2' IN STAGES (50, 100) EVERY INTERVAL '1 hour' AUTO",
    )
    .await;
    // Consumers report a business metric; each lands on the arm the consumer resolves to.
    // Which consumers land on which arm changes from run to run (the rollout's cohort salt), so
    // the arms' means differ by chance: with a standard deviation of 10% the difference of two
    // equal arms was beyond what the interval can call "no worse than -2%" in about one run in
    // twelve ("pending"). At 5% that takes a difference of six standard errors.
    let values = (
        normals(7, 2000, 1.0, 0.05),
        normals(11, 2000, candidate_mean, 0.05),
    );
    let mut sql = String::new();
    for i in 0..2000 {
        let consumer = format!("c{i}");
        let resolved = datafusion_rollout::resolve::resolve(
            &rc.store().state(),
            "orders",
            None,
            Some(&consumer),
            None,
        )
        .unwrap();
        let on_candidate = resolved.version == "v2";
        let value = if on_candidate {
            values.1[i]
        } else {
            values.0[i]
        };
        sql.push_str(&format!(
            "REPORT METRIC conversion = {value} FOR orders CONSUMER '{consumer}';"
        ));
    }
    rc.run(&sql).await.unwrap();
    let decision = Controller::new(rc.clone(), "test").round().await.unwrap();
    let d = decision.decisions[0].clone();
    (
        fx,
        rc,
        format!("{} {}", d.decision, d.report.results[0].detail),
    )
}

#[tokio::test]
async fn a_metric_ten_percent_worse_on_the_candidate_rolls_back_and_an_equal_one_does_not() {
    let (_fx, rc, decided) = metric_rollout(0.9).await;
    assert!(
        decided.starts_with("rollback 'conversion' changed -9.")
            || decided.starts_with("rollback 'conversion' changed -10."),
        "{decided}"
    );
    assert!(
        rc.store().state().datasets["orders"]
            .rollout
            .candidate
            .is_none()
    );

    let (_fx, rc, decided) = metric_rollout(1.0).await;
    assert!(
        decided.starts_with("wait 'conversion' changed"),
        "{decided}"
    );
    assert!(
        rc.store().state().datasets["orders"]
            .rollout
            .candidate
            .is_some()
    );
}

#[tokio::test]
async fn session_consistency_keeps_the_first_version_while_a_stage_advances_but_not_past_a_rollback()
 {
    let fx = Fixture::new().await;
    let admin = fx.orders(None).await;
    // 50% of consumers; find one on each side of the first stage.
    run(
        &admin,
        "PROMOTE orders TO 'v2' IN STAGES (50, 100) EVERY INTERVAL '0 seconds'",
    )
    .await;
    let state = admin.store().state();
    let stable_reader = (0..200)
        .map(|i| format!("c{i}"))
        .find(|c| {
            datafusion_rollout::resolve::resolve(&state, "orders", None, Some(c), None)
                .unwrap()
                .version
                == "v1"
        })
        .unwrap();
    let open = async |consistency| {
        RolloutContext::open_with(
            &fx.store(),
            RolloutOptions {
                consumer: Some(stable_reader.clone()),
                consistency,
                ..Default::default()
            },
        )
        .await
        .unwrap()
    };
    let script = open(datafusion_rollout::Consistency::Session).await;
    let plain = open(datafusion_rollout::Consistency::Statement).await;
    let rows = "SELECT count(*) FROM orders WHERE channel IS NULL OR channel IS NOT NULL";
    let version = async |rc: &RolloutContext| {
        // v2 has a `channel` column that v1 lacks (it reads as NULL there): count v2's web rows.
        scalar(rc, "SELECT count(*) FROM orders WHERE channel = 'web'").await
    };
    assert_eq!(scalar(&script, rows).await, "1000");
    assert_eq!(version(&script).await, "0", "v1 first");
    assert_eq!(version(&plain).await, "0");

    // The stage advances to 100%: v2 is stable for everyone.
    run(&admin, "ADVANCE orders").await;
    assert_eq!(
        version(&plain).await,
        "333",
        "a plain session sees the change"
    );
    assert_eq!(version(&script).await, "0", "the script keeps v1");
    let explain = run(&script, "EXPLAIN SELECT * FROM orders").await;
    assert!(explain.contains("kept for the session"), "{explain}");

    // A rollback of the version a session kept reaches it at its next statement.
    run(&admin, "ROLLBACK orders TO 'v1'").await; // v2 rolled back, v1 stable
    run(&admin, "ROLLBACK orders TO 'v2'").await; // v1 rolled back, v2 stable again
    assert_eq!(
        version(&script).await,
        "333",
        "v1 was rolled back: the script moves on"
    );
    assert_eq!(version(&plain).await, "333");
}
