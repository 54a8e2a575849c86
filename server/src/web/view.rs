//! What the dashboard shows, as plain values: the JSON API serialises them, the pages and the
//! report render them. Built from the store's state, its log and its events; nothing here
//! decides anything the library does not.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use datafusion_rollout::catalog::{
    Candidate, Dataset, PendingRequest, Privilege, State, VersionStatus,
};
use datafusion_rollout::signals::{Exposure, exposure};
use datafusion_rollout::statement::parse_statement;
use datafusion_rollout::store::{EvaluationEvent, Event, LogEntry};
use serde::Serialize;

/// Every dataset, as the overview lists it.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetSummary {
    /// The dataset.
    pub name: String,
    /// Its comment.
    pub comment: Option<String>,
    /// The version everyone reads unless exposed to the candidate.
    pub stable: Option<String>,
    /// The rollout in progress.
    pub candidate: Option<CandidateView>,
    /// How many versions it has.
    pub versions: usize,
    /// `stable` (no rollout), `healthy`, `pending`, `failing`, `rolled_back` (the last change
    /// was a rollback) or `empty` (no stable version).
    pub health: &'static str,
    /// The last change of the dataset in the log.
    pub last_change: Option<Change>,
    /// The controller's last decision on the rollout in progress.
    pub last_decision: Option<Decision>,
}

/// A rollout in progress.
#[derive(Debug, Clone, Serialize)]
pub struct CandidateView {
    /// The version exposed.
    pub version: String,
    /// Who reads it, in words (`cohort canary; 5% of consumers`).
    pub exposure: String,
    /// The share of consumers chosen by bucket, in percent.
    pub percent: f64,
    /// The cohorts exposed.
    pub cohorts: Vec<String>,
    /// A staged rollout's stages, in percent.
    pub stages: Vec<f64>,
    /// The current stage, from 1 (`None` when not staged).
    pub stage: Option<usize>,
    /// The next stage's percentage.
    pub next_stage: Option<f64>,
    /// When the current stage may advance (after its soak).
    pub may_advance_at: Option<DateTime<Utc>>,
    /// A controller drives it (`AUTO`).
    pub auto: bool,
    /// When it started.
    pub started_at: DateTime<Utc>,
}

/// One log entry, in short.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// Its sequence number.
    pub sequence: u64,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// `PROMOTE`, `ROLLBACK`, ...
    pub operation: String,
    /// Why.
    pub reason: Option<String>,
}

/// A controller's decision.
#[derive(Debug, Clone, Serialize)]
pub struct Decision {
    /// When.
    pub time: DateTime<Utc>,
    /// `advance`, `rollback`, `wait`, `pending`, `failing`, ...
    pub decision: String,
    /// Which controller.
    pub controller: String,
}

/// One version of a dataset.
#[derive(Debug, Clone, Serialize)]
pub struct VersionView {
    /// Its id.
    pub id: String,
    /// `registered`, `candidate`, `stable`, `rejected`, `rolled_back`, `retired`, `dropped`.
    pub status: String,
    /// Rows.
    pub rows: u64,
    /// Files pinned.
    pub files: usize,
    /// Bytes pinned.
    pub bytes: u64,
    /// Written into the store by `CREATE VERSION ... AS`.
    pub managed: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// By whom.
    pub created_by: String,
    /// Its comment.
    pub comment: Option<String>,
}

/// The reads of one version on one arm (`SHOW EXPOSURE`).
#[derive(Debug, Clone, Serialize)]
pub struct ReadsView {
    /// The version read.
    pub version: String,
    /// `candidate`, `stable` or `pinned`.
    pub arm: String,
    /// Distinct consumers.
    pub consumers: u64,
    /// Queries that read it.
    pub queries: u64,
    /// Of which failed.
    pub errors: u64,
    /// Rows read.
    pub rows: u64,
    /// Median milliseconds.
    pub p50_ms: Option<f64>,
    /// 95th percentile milliseconds.
    pub p95_ms: Option<f64>,
    /// The first read.
    pub first_read: DateTime<Utc>,
    /// The last read.
    pub last_read: DateTime<Utc>,
}

/// A change waiting for approvals.
#[derive(Debug, Clone, Serialize)]
pub struct PendingView {
    /// The request's id (`POST .../approve` names it).
    pub id: u64,
    /// The statement, with its reason.
    pub statement: String,
    /// Who asked.
    pub requested_by: String,
    /// When.
    pub requested_at: DateTime<Utc>,
    /// When it lapses.
    pub expires_at: DateTime<Utc>,
    /// Who approved so far.
    pub approved_by: Vec<String>,
    /// Approvals still missing.
    pub missing: u32,
}

/// What the caller may do to a dataset (the buttons a page shows).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Allowed {
    /// `POST .../rollback`.
    pub rollback: bool,
    /// `POST .../advance`.
    pub advance: bool,
    /// `POST .../promote`.
    pub promote: bool,
    /// `POST .../approve` (a pending request exists that someone else made).
    pub approve: bool,
}

/// A dataset in full: `GET /api/datasets/{name}`.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetDetail {
    /// The overview's line.
    #[serde(flatten)]
    pub summary: DatasetSummary,
    /// Stable versions before the current one, most recent last (what `ROLLBACK` restores).
    pub previous_stable: Vec<String>,
    /// Every version, oldest first.
    pub versions: Vec<VersionView>,
    /// The contract, as SQL.
    pub contract: Option<String>,
    /// The live guards with their latest results (the last evaluation of the rollout).
    pub guards: Vec<serde_json::Value>,
    /// The rollout's evaluations, oldest first (the last [`EVALUATIONS`]).
    pub evaluations: Vec<EvaluationEvent>,
    /// Reads per version and arm.
    pub reads: Vec<ReadsView>,
    /// Requests waiting for approval.
    pub pending: Vec<PendingView>,
    /// What the caller may do.
    pub allowed: Allowed,
    /// The log's sequence this view was built at.
    pub sequence: u64,
    /// The versions a drift panel compares by default: (stable, candidate), or the previous
    /// stable and the stable without a candidate.
    pub drift_pair: Option<(String, String)>,
}

/// One log entry with its evidence: `GET /api/datasets/{name}/history`.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    /// Its sequence number.
    pub sequence: u64,
    /// When.
    pub timestamp: DateTime<Utc>,
    /// Who (the authenticated principal, `controller` or `guard`).
    pub actor: String,
    /// `PROMOTE`, `ROLLBACK`, ...
    pub operation: String,
    /// The statement, canonical SQL.
    pub statement: String,
    /// Why.
    pub reason: Option<String>,
    /// The checks that gated it.
    pub checks: Vec<serde_json::Value>,
    /// Who had read what it took away.
    pub blast_radius: Option<serde_json::Value>,
}

/// The most evaluations a dataset view carries.
pub const EVALUATIONS: usize = 500;

/// The overview line of `ds`.
pub fn summary(ds: &Dataset, history: &[LogEntry], events: &[Event]) -> DatasetSummary {
    let candidate = ds.rollout.candidate.as_ref();
    let last_change = history
        .iter()
        .rev()
        .find(|e| e.dataset.as_deref() == Some(&ds.name))
        .map(change);
    let last_evaluation =
        candidate.and_then(|c| evaluations_of(events, &ds.name, c).last().copied());
    let health = match (candidate, &last_evaluation, &last_change) {
        (_, _, _) if ds.rollout.stable.is_none() && candidate.is_none() => "empty",
        (Some(_), Some(e), _) if matches!(e.decision.as_str(), "failing" | "rollback") => "failing",
        (Some(_), Some(e), _) if e.decision == "pending" => "pending",
        (Some(_), _, _) => "healthy",
        (None, _, Some(c)) if c.operation == "ROLLBACK" => "rolled_back",
        (None, _, _) => "stable",
    };
    DatasetSummary {
        name: ds.name.clone(),
        comment: ds.comment.clone(),
        stable: ds.rollout.stable.clone(),
        candidate: candidate.map(candidate_view),
        versions: ds.versions.len(),
        health,
        last_change,
        last_decision: last_evaluation.map(|e| Decision {
            time: e.time,
            decision: e.decision.clone(),
            controller: e.controller.clone(),
        }),
    }
}

fn percent(bp: u32) -> f64 {
    f64::from(bp) / 100.0
}

fn candidate_view(c: &Candidate) -> CandidateView {
    let staged = !c.stages.is_empty();
    CandidateView {
        version: c.version.clone(),
        exposure: c.exposure(),
        percent: percent(c.percent_bp),
        cohorts: c.cohorts.iter().cloned().collect(),
        stages: c.stages.iter().copied().map(percent).collect(),
        stage: staged.then_some(c.stage + 1),
        next_stage: c.next_stage().map(percent),
        may_advance_at: c.next_stage().and(c.may_advance_at()),
        auto: c.auto.is_some(),
        started_at: c.started_at,
    }
}

fn change(e: &LogEntry) -> Change {
    Change {
        sequence: e.sequence,
        timestamp: e.timestamp,
        actor: e.actor.clone(),
        operation: e.operation.clone(),
        reason: e.reason.clone(),
    }
}

/// The evaluations of the rollout `c` of `dataset`, oldest first.
fn evaluations_of<'e>(
    events: &'e [Event],
    dataset: &str,
    c: &Candidate,
) -> Vec<&'e EvaluationEvent> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Evaluation(v)
                if v.dataset == dataset
                    && v.version == c.version
                    && v.rollout_started_at == c.started_at =>
            {
                Some(v)
            }
            _ => None,
        })
        .collect()
}

/// The evaluations of the most recent rollout of `dataset` (live or ended), oldest first.
fn last_rollout_evaluations(events: &[Event], ds: &Dataset) -> Vec<EvaluationEvent> {
    if let Some(c) = &ds.rollout.candidate {
        return evaluations_of(events, &ds.name, c)
            .into_iter()
            .cloned()
            .collect();
    }
    let mut mine: Vec<&EvaluationEvent> = events
        .iter()
        .filter_map(|e| match e {
            Event::Evaluation(v) if v.dataset == ds.name => Some(v),
            _ => None,
        })
        .collect();
    let Some(last) = mine
        .iter()
        .max_by_key(|v| v.time)
        .map(|v| (v.version.clone(), v.rollout_started_at))
    else {
        return vec![];
    };
    mine.retain(|v| v.version == last.0 && v.rollout_started_at == last.1);
    mine.sort_by_key(|v| v.time);
    mine.into_iter().cloned().collect()
}

fn reads_view(x: Exposure) -> ReadsView {
    let finite = |v: f64| v.is_finite().then_some(v);
    ReadsView {
        version: x.version,
        arm: x.arm.as_str().to_string(),
        consumers: x.consumers,
        queries: x.queries,
        errors: x.errors,
        rows: x.rows,
        p50_ms: finite(x.p50_ms),
        p95_ms: finite(x.p95_ms),
        first_read: x.first_read,
        last_read: x.last_read,
    }
}

/// What `actor` may do to `dataset`.
pub fn allowed(state: &State, actor: &str, dataset: &str, pending: &[PendingView]) -> Allowed {
    let may = |p| state.access.allows(actor, p, Some(dataset));
    let open = state.access.is_open();
    Allowed {
        rollback: may(Privilege::Rollback),
        advance: may(Privilege::Promote),
        promote: may(Privilege::Promote),
        // Approving needs what the change needs, from someone other than the requester who
        // has not approved it yet (and a store with users).
        approve: !open
            && pending.iter().any(|p| {
                p.requested_by != actor
                    && !p.approved_by.iter().any(|a| a == actor)
                    && parse_statement(&p.statement).is_ok_and(|s| {
                        state
                            .access
                            .check_all(actor, &s.needs(actor, state))
                            .is_ok()
                    })
            }),
    }
}

/// The full view of `ds` for `actor`.
pub fn detail(
    state: &State,
    ds: &Dataset,
    history: &[LogEntry],
    events: &[Event],
    actor: &str,
) -> DatasetDetail {
    let evaluations = {
        let mut all = last_rollout_evaluations(events, ds);
        let skip = all.len().saturating_sub(EVALUATIONS);
        all.drain(..skip);
        all
    };
    let guards = evaluations
        .last()
        .map(|e| e.checks.clone())
        .unwrap_or_default();
    let now = Utc::now();
    let pending: Vec<PendingView> = state
        .approvals
        .pending
        .values()
        .filter(|p: &&PendingRequest| p.dataset == ds.name && p.expires_at > now)
        .map(|p| PendingView {
            id: p.id,
            statement: p.statement.clone(),
            requested_by: p.requested_by.clone(),
            requested_at: p.requested_at,
            expires_at: p.expires_at,
            approved_by: p.approved_by.iter().cloned().collect(),
            missing: p.missing(),
        })
        .collect();
    let drift_pair = match (&ds.rollout.stable, &ds.rollout.candidate) {
        (Some(s), Some(c)) => Some((s.clone(), c.version.clone())),
        // No rollout live: what the last change moved away from, so a rollback can be
        // explained by its drift (the version rolled back against the stable one).
        (Some(s), None) => ds
            .rollout
            .previous_stable
            .last()
            .map(|p| (p.clone(), s.clone()))
            .or_else(|| {
                ds.versions
                    .iter()
                    .filter(|v| v.status == VersionStatus::RolledBack)
                    .max_by_key(|v| v.created_at)
                    .map(|v| (s.clone(), v.id.clone()))
            }),
        _ => None,
    };
    DatasetDetail {
        summary: summary(ds, history, events),
        previous_stable: ds.rollout.previous_stable.clone(),
        versions: ds
            .versions
            .iter()
            .map(|v| VersionView {
                id: v.id.clone(),
                status: v.status.to_string(),
                rows: v.row_count,
                files: v.files.len(),
                bytes: v.files.iter().map(|f| f.size).sum(),
                managed: v.managed,
                created_at: v.created_at,
                created_by: v.created_by.clone(),
                comment: v.comment.clone(),
            })
            .collect(),
        contract: ds.contract.as_ref().map(|c| c.to_string()),
        guards,
        evaluations,
        reads: exposure(events, &ds.name, None, None)
            .into_iter()
            .map(reads_view)
            .collect(),
        allowed: allowed(state, actor, &ds.name, &pending),
        pending,
        sequence: state.sequence,
        drift_pair,
    }
}

/// The entries of `dataset` in `history`, oldest first (the last `limit`).
pub fn history(history: &[LogEntry], dataset: &str, limit: Option<usize>) -> Vec<HistoryEntry> {
    let mine: Vec<&LogEntry> = history
        .iter()
        .filter(|e| e.dataset.as_deref() == Some(dataset))
        .collect();
    let skip = limit.map_or(0, |n| mine.len().saturating_sub(n));
    mine[skip..]
        .iter()
        .map(|e| HistoryEntry {
            sequence: e.sequence,
            timestamp: e.timestamp,
            actor: e.actor.clone(),
            operation: e.operation.clone(),
            statement: e.statement.clone(),
            reason: e.reason.clone(),
            checks: e.checks.clone(),
            blast_radius: e.blast_radius.clone(),
        })
        .collect()
}

/// Counts of check statuses in a list of check results (`{"pass": 3, "fail": 1}`).
pub fn status_counts(checks: &[serde_json::Value]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for c in checks {
        if let Some(s) = c.get("status").and_then(|s| s.as_str()) {
            *counts.entry(s.to_string()).or_default() += 1;
        }
    }
    counts
}
