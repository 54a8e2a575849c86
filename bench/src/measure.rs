//! Metadata latencies: PROMOTE / ROLLBACK against data size and history length, and opening.

use std::path::{Path, PathBuf};
use std::time::Instant;

use datafusion::prelude::SessionContext;
use datafusion_rollout::RolloutContext;
use serde_json::{Value, json};

use crate::tpch::path_str;

/// A fresh folder under the system temp dir, removed on drop.
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(name: &str) -> anyhow::Result<Self> {
        let p = std::env::temp_dir().join(format!("rollout-bench-{name}-{}", std::process::id()));
        if p.exists() {
            std::fs::remove_dir_all(&p)?;
        }
        std::fs::create_dir_all(&p)?;
        Ok(Self(p))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// `rounds` × (PROMOTE `d` to a cohort, ROLLBACK `d`): the seconds of each.
async fn promote_rollback(
    rc: &RolloutContext,
    rounds: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    promote_rollback_of(rc, "d", rounds).await
}

/// `rounds` × (PROMOTE `dataset` to a cohort, ROLLBACK `dataset`): the seconds of each.
async fn promote_rollback_of(
    rc: &RolloutContext,
    dataset: &str,
    rounds: usize,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    let mut promote = Vec::with_capacity(rounds);
    let mut rollback = Vec::with_capacity(rounds);
    let (up, down) = (
        format!("PROMOTE {dataset} TO 'v2' FOR COHORT canary"),
        format!("ROLLBACK {dataset}"),
    );
    for _ in 0..rounds {
        let t = Instant::now();
        rc.sql(&up).await?;
        promote.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        rc.sql(&down).await?;
        rollback.push(t.elapsed().as_secs_f64());
    }
    Ok((promote, rollback))
}

/// A store with dataset `d`: v1 and v2 both pinned to the files under `data` (metadata is
/// all PROMOTE touches), v1 stable, cohort `canary`. No contract: nothing to run at PROMOTE.
pub(crate) async fn setup(store: &Path, data: &str) -> anyhow::Result<RolloutContext> {
    let rc = RolloutContext::open(&path_str(store)?).await?;
    rc.sql("CREATE DATASET d").await?;
    for v in ["v1", "v2"] {
        rc.sql(&format!("REGISTER VERSION '{v}' OF d FROM '{data}/'"))
            .await?;
    }
    rc.sql("PROMOTE d TO 'v1'").await?;
    rc.sql("CREATE COHORT canary MEMBERS ('alice')").await?;
    Ok(rc)
}

/// PROMOTE and ROLLBACK of one dataset per data folder (`d0`, `d1`, ...: v1 and v2 both its
/// files), all in one store, measured round by round across the datasets: their commits go to
/// the same log folder, so the file system's state (ext4 slows down creating files for a while
/// after many were deleted, by how much depending on the folder's place on the disk) and the
/// machine's load weigh on every size alike. Only the data differs.
pub async fn latency(data: &[PathBuf], rounds: usize) -> anyhow::Result<Value> {
    let scratch = Scratch::new("latency")?;
    let rc = RolloutContext::open(&path_str(&scratch.0.join("store"))?).await?;
    rc.sql("CREATE COHORT canary MEMBERS ('alice')").await?;
    let names: Vec<String> = (0..data.len()).map(|i| format!("d{i}")).collect();
    for (name, d) in names.iter().zip(data) {
        rc.sql(&format!("CREATE DATASET {name}")).await?;
        for v in ["v1", "v2"] {
            rc.sql(&format!(
                "REGISTER VERSION '{v}' OF {name} FROM '{}/'",
                path_str(d)?
            ))
            .await?;
        }
        rc.sql(&format!("PROMOTE {name} TO 'v1'")).await?;
        // Warm-up round (first commit pays for lazily built things).
        promote_rollback_of(&rc, name, 2).await?;
    }
    let mut promote = vec![Vec::new(); data.len()];
    let mut rollback = vec![Vec::new(); data.len()];
    // The same PROMOTE with `rollout.verify_targets` on (a look at each pinned file first),
    // taking turns with the default one.
    let mut verified = vec![Vec::new(); data.len()];
    for _ in 0..rounds {
        for (i, name) in names.iter().enumerate() {
            let (p, r) = promote_rollback_of(&rc, name, 1).await?;
            promote[i].extend(p);
            rollback[i].extend(r);
            rc.sql("SET rollout.verify_targets = true").await?;
            let (p, _) = promote_rollback_of(&rc, name, 1).await?;
            rc.sql("RESET rollout.verify_targets").await?;
            verified[i].extend(p);
        }
    }
    let mut out = Vec::new();
    for (i, d) in data.iter().enumerate() {
        let files = std::fs::read_dir(d)?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().extension().is_some_and(|x| x == "parquet"))
            .count();
        out.push(json!({
            "data": path_str(d)?,
            "files": files,
            "promote": promote[i],
            "promote_verified": verified[i],
            "rollback": rollback[i],
        }));
    }
    Ok(json!({ "sizes": out }))
}

/// Opening, PROMOTE and ROLLBACK on one store per history length, all filled first and then
/// measured round by round across the stores (each round: open, PROMOTE, ROLLBACK on every
/// store), so that the file system's state (a local log folder is a directory of files; ext4
/// slows down creating files for a while after many were deleted) weighs on all lengths alike
/// instead of on whichever ran after a large scratch folder was removed.
pub async fn history(lengths: &[u64], rounds: usize) -> anyhow::Result<Value> {
    let scratch = Scratch::new("history")?;
    let data = scratch.0.join("data");
    let ctx = SessionContext::new();
    ctx.sql(&format!(
        "COPY (SELECT value AS id, random() AS amount FROM generate_series(1, 1000)) TO '{}' STORED AS PARQUET",
        path_str(&data.join("part-0.parquet"))?
    ))
    .await?
    .collect()
    .await?;
    let mut stores = Vec::new();
    for &entries in lengths {
        let store = scratch.0.join(format!("store-{entries}"));
        let t = Instant::now();
        let rc = setup(&store, &path_str(&data)?).await?;
        // Real commits: PROMOTE to the cohort and ROLLBACK, in pairs, up to `entries`.
        while rc.store().state().sequence < entries {
            rc.sql("PROMOTE d TO 'v2' FOR COHORT canary").await?;
            rc.sql("ROLLBACK d").await?;
        }
        let fill_seconds = t.elapsed().as_secs_f64();
        let history = rc.store().state().sequence;
        drop(rc);
        let location = path_str(&store)?;
        // Warm-up: the first commit pays for lazily built things.
        let rc = RolloutContext::open(&location).await?;
        promote_rollback(&rc, 2).await?;
        stores.push((entries, history, fill_seconds, location, rc));
    }
    let mut open = vec![Vec::new(); stores.len()];
    let mut promote = vec![Vec::new(); stores.len()];
    let mut rollback = vec![Vec::new(); stores.len()];
    for _ in 0..rounds {
        for (i, (_, _, _, location, rc)) in stores.iter().enumerate() {
            let t = Instant::now();
            let opened = RolloutContext::open(location).await?;
            open[i].push(t.elapsed().as_secs_f64());
            drop(opened);
            let (p, r) = promote_rollback(rc, 1).await?;
            promote[i].extend(p);
            rollback[i].extend(r);
        }
    }
    let out: Vec<Value> = stores
        .iter()
        .enumerate()
        .map(|(i, (asked, history, fill_seconds, _, _))| {
            json!({
                "asked": asked,
                "entries": history,
                "fill_seconds": fill_seconds,
                "open": open[i],
                "promote": promote[i],
                "rollback": rollback[i],
            })
        })
        .collect();
    Ok(json!({ "stores": out }))
}

/// One controller round over `rollouts` live AUTO rollouts on a fresh local store, each with
/// two tiny versions, live guards on reads, 20 recorded reads per rollout (flushed, so the
/// round reads them from the store), timed `rounds` times. A round scans no data: its cost is
/// listing and parsing the events and judging the guards.
pub async fn controller(rollouts: usize, rounds: usize) -> anyhow::Result<Value> {
    let scratch = Scratch::new("controller")?;
    let store = path_str(&scratch.0.join("store"))?;
    let rc = RolloutContext::open(&store).await?;
    let mut setup = String::new();
    for i in 0..rollouts {
        setup.push_str(&format!(
            "CREATE DATASET d{i};
             CREATE VERSION 'v1' OF d{i} AS SELECT value AS id FROM generate_series(1, 10);
             CREATE VERSION 'v2' OF d{i} AS SELECT value AS id FROM generate_series(1, 20);
             PROMOTE d{i} TO 'v1';
             CREATE CONTRACT c{i} FOR d{i} (EXPECT read_error_rate() <= 0.05, EXPECT latency_ratio() <= 2);
             PROMOTE d{i} TO 'v2' IN STAGES (50, 100) EVERY INTERVAL '1 day' AUTO;"
        ));
    }
    rc.run(&setup).await?;
    for i in 0..rollouts {
        for c in 0..20 {
            rc.set_consumer(Some(&format!("c{c}")))?;
            rc.sql(&format!("SELECT count(*) FROM d{i} WHERE id > 1"))
                .await?
                .collect()
                .await?;
        }
    }
    rc.flush_events().await?;
    // A fresh process's view: the events come from the store.
    let fresh = RolloutContext::open(&store).await?;
    let controller = datafusion_rollout::Controller::new(fresh, "bench");
    let mut times = Vec::with_capacity(rounds);
    let mut decisions = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        let round = controller.round().await?;
        times.push(t.elapsed().as_secs_f64());
        decisions = round.decisions.len();
    }
    Ok(json!({ "rollouts": rollouts, "decisions": decisions, "times": times }))
}

/// Reading a month of events: `days` ended days of `objects` flushed objects of `events` read
/// events each, read whole by a fresh process `reps` times as flushed, then again after
/// `VACUUM` compacted each day into one Parquet object. The events are the same (checked).
pub async fn events(
    days: i64,
    objects: usize,
    events: usize,
    reps: usize,
) -> anyhow::Result<Value> {
    use datafusion_rollout::store::{Arm, Event, ReadEvent};
    let scratch = Scratch::new("events")?;
    let root = scratch.0.join("store");
    let store = path_str(&root)?;
    let rc = RolloutContext::open(&store).await?;
    rc.run("CREATE DATASET orders").await?;
    let today = chrono::Utc::now().date_naive();
    for d in 1..=days {
        let day = today - chrono::TimeDelta::days(d);
        let folder = root
            .join("_rollout_events")
            .join(day.format("%Y-%m-%d").to_string());
        std::fs::create_dir_all(&folder)?;
        let start = day.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc();
        for o in 0..objects {
            let mut body = String::new();
            for e in 0..events {
                let event = Event::Read(ReadEvent {
                    time: start + chrono::TimeDelta::milliseconds((o * events + e) as i64),
                    dataset: "orders".into(),
                    version: if e % 10 == 0 { "v2" } else { "v1" }.into(),
                    arm: if e % 10 == 0 {
                        Arm::Candidate
                    } else {
                        Arm::Stable
                    },
                    consumer: Some(format!("service-{}", e % 7)),
                    reason: "stable".into(),
                    rows: Some(1000 + e as u64),
                    elapsed_ms: 1.0 + (e % 13) as f64,
                    error: None,
                    deprecated: vec![],
                });
                body.push_str(&serde_json::to_string(&event)?);
                body.push('\n');
            }
            std::fs::write(folder.join(format!("{o:013}-bench.jsonl")), body)?;
        }
    }
    let read_all = || async {
        let mut times = Vec::with_capacity(reps);
        let mut n = 0;
        for _ in 0..reps {
            let t = Instant::now();
            let fresh = RolloutContext::open(&store).await?;
            n = fresh.store().events().read().await?.events.len();
            times.push(t.elapsed().as_secs_f64());
        }
        anyhow::Ok((times, n))
    };
    let (flushed, n_flushed) = read_all().await?;
    let t = Instant::now();
    rc.run("VACUUM").await?;
    let vacuum = t.elapsed().as_secs_f64();
    let (compacted, n_compacted) = read_all().await?;
    anyhow::ensure!(
        n_flushed == n_compacted,
        "{n_flushed} events before, {n_compacted} after"
    );
    Ok(json!({
        "days": days, "objects_per_day": objects, "events": n_flushed,
        "flushed": flushed, "compacted": compacted, "vacuum_seconds": vacuum,
    }))
}
