//! Notifications: after a commit lands (never before, never blocking it), a JSON document is
//! POSTed to every matching webhook (`CREATE NOTIFICATION`), with bounded retries and backoff;
//! each delivery is recorded as an event (`rollout_deliveries`). A receiver that is down
//! delays nothing and undoes nothing.
//!
//! HTTP client: `reqwest` 0.12, the one the object_store stack already compiles (same TLS
//! stack, no second HTTP client in the build).
//!
//! A signal going out, as the reads and metrics are signals coming in: it sits with them,
//! below the guarded-commit path (whose `Env::commit` calls [`after_commit`] for every commit
//! of a statement or of the controller) and the controller (which calls [`guard_failed`]).

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

use crate::catalog::{Notification, NotifyOn, State};
use crate::store::{DeliveryEvent, Event, LogEntry, Store};

/// How deliveries retry.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    /// Attempts in all (connect errors, timeouts and 5xx answers are retried; 4xx are not).
    pub attempts: u32,
    /// The wait before the second attempt; it doubles after each.
    pub first_backoff: Duration,
    /// Each attempt's time limit.
    pub timeout: Duration,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self {
            attempts: 4,
            first_backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(5),
        }
    }
}

fn kind_of(operation: &str) -> Option<NotifyOn> {
    match operation {
        "PROMOTE" => Some(NotifyOn::Promote),
        "ADVANCE" => Some(NotifyOn::Advance),
        "ROLLBACK" => Some(NotifyOn::Rollback),
        _ => None,
    }
}

fn matching<'a>(state: &'a State, dataset: &str, kind: NotifyOn) -> Vec<&'a Notification> {
    state
        .notifications
        .values()
        .filter(|n| n.dataset.as_deref().is_none_or(|d| d == dataset) && n.on.contains(&kind))
        .collect()
}

/// Sends the notifications `entry` (just committed, giving `state`) matches, in the
/// background: one document per dataset the entry changed (a `ROLLBACK a, b` or a
/// `CASCADE` changes several). Needs a Tokio runtime; without one nothing is sent.
pub fn after_commit(store: &Arc<Store>, entry: &LogEntry, state: &State) {
    let (Some(kind), Some(first)) = (kind_of(&entry.operation), entry.dataset.as_deref()) else {
        return;
    };
    let mut datasets = vec![first];
    for d in entry.actions.iter().filter_map(|a| a.dataset()) {
        if !datasets.contains(&d) {
            datasets.push(d);
        }
    }
    for dataset in datasets {
        notify_dataset(store, entry, state, kind, dataset);
    }
}

/// [`after_commit`]'s document for one dataset.
fn notify_dataset(
    store: &Arc<Store>,
    entry: &LogEntry,
    state: &State,
    kind: NotifyOn,
    dataset: &str,
) {
    let targets = matching(state, dataset, kind);
    if targets.is_empty() {
        return;
    }
    let rollout = state.datasets.get(dataset).map(|d| &d.rollout);
    let document = json!({
        "event": kind.as_str(),
        "dataset": dataset,
        "sequence": entry.sequence,
        "timestamp": entry.timestamp,
        "actor": entry.actor,
        "reason": entry.reason,
        "statement": entry.statement,
        "stable": rollout.and_then(|r| r.stable.clone()),
        "candidate": rollout.and_then(|r| r.candidate.as_ref().map(|c| c.version.clone())),
        "checks": entry.checks,
        // The entry's blast radius is its first dataset's.
        "blast_radius": entry.blast_radius.as_ref().filter(|_| entry.dataset.as_deref() == Some(dataset)),
    });
    send(
        store,
        targets,
        kind,
        dataset,
        Some(entry.sequence),
        document,
    );
}

/// Sends `GUARD_FAILED` for a live rollout whose guards failed in a controller round.
pub fn guard_failed(
    store: &Arc<Store>,
    dataset: &str,
    version: &str,
    failures: &[String],
    checks: Vec<Value>,
) {
    let state = store.state();
    let targets = matching(&state, dataset, NotifyOn::GuardFailed);
    if targets.is_empty() {
        return;
    }
    let rollout = state.datasets.get(dataset).map(|d| &d.rollout);
    let document = json!({
        "event": NotifyOn::GuardFailed.as_str(),
        "dataset": dataset,
        "timestamp": Utc::now(),
        "actor": "guard",
        "candidate": version,
        "stable": rollout.and_then(|r| r.stable.clone()),
        "failures": failures,
        "checks": checks,
    });
    send(
        store,
        targets,
        NotifyOn::GuardFailed,
        dataset,
        None,
        document,
    );
}

fn send(
    store: &Arc<Store>,
    targets: Vec<&Notification>,
    kind: NotifyOn,
    dataset: &str,
    sequence: Option<u64>,
    document: Value,
) {
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let body = document.to_string();
    for n in targets {
        let store = Arc::clone(store);
        let (name, url, shown) = (n.name.clone(), n.url.clone(), n.redacted_url());
        let (body, dataset) = (body.clone(), dataset.to_string());
        runtime.spawn(async move {
            let started = Instant::now();
            let result = deliver(&url, &body, DeliveryPolicy::default()).await;
            store.events().record(Event::Delivery(DeliveryEvent {
                time: Utc::now(),
                notification: name,
                url: shown.clone(),
                event: kind.as_str().to_string(),
                dataset,
                sequence,
                attempts: result.attempts,
                status: result.status,
                delivered: result.error.is_none(),
                // reqwest's errors name the URL: show it without its secrets.
                error: result.error.map(|e| e.replace(&url, &shown)),
                elapsed_ms: started.elapsed().as_secs_f64() * 1e3,
            }));
            // Deliveries happen after the statement's flush: write them now.
            let _ = store.events().flush().await;
        });
    }
}

/// How a delivery went.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    /// Attempts made.
    pub attempts: u32,
    /// The last HTTP status received.
    pub status: Option<u16>,
    /// Why it was not delivered, if not.
    pub error: Option<String>,
}

/// POSTs `body` (JSON) to `url` under `policy`.
pub async fn deliver(url: &str, body: &str, policy: DeliveryPolicy) -> Delivered {
    let client = match reqwest::Client::builder().timeout(policy.timeout).build() {
        Ok(c) => c,
        Err(e) => {
            return Delivered {
                attempts: 0,
                status: None,
                error: Some(format!("no HTTP client: {e}")),
            };
        }
    };
    let mut backoff = policy.first_backoff;
    let mut out = Delivered {
        attempts: 0,
        status: None,
        error: None,
    };
    while out.attempts < policy.attempts.max(1) {
        if out.attempts > 0 {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
        out.attempts += 1;
        let sent = client
            .post(url)
            .header("content-type", "application/json")
            .header("user-agent", "datafusion-rollout")
            .body(body.to_string())
            .send()
            .await;
        match sent {
            Ok(response) => {
                let status = response.status();
                out.status = Some(status.as_u16());
                if status.is_success() {
                    out.error = None;
                    return out;
                }
                out.error = Some(format!("the receiver answered {status}"));
                if status.is_client_error() {
                    return out;
                }
            }
            Err(e) => out.error = Some(format!("cannot reach the receiver: {e}")),
        }
    }
    out
}
