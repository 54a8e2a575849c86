//! The kinds of events: reads, metrics, evaluations, deliveries.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which side of a rollout a read or a metric belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// The consumer was exposed to the candidate (cohort member, session cohort or bucket).
    Candidate,
    /// The consumer read the stable version.
    Stable,
    /// The query named its version (`VERSION AS OF`): outside the rollout's comparison.
    Pinned,
}

impl Arm {
    /// The arm's name as it appears in tables (`candidate`, `stable`, `pinned`).
    pub fn as_str(self) -> &'static str {
        match self {
            Arm::Candidate => "candidate",
            Arm::Stable => "stable",
            Arm::Pinned => "pinned",
        }
    }
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One scan of a dataset by a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadEvent {
    /// When the scan was planned.
    pub time: DateTime<Utc>,
    /// The dataset read.
    pub dataset: String,
    /// The version it resolved to.
    pub version: String,
    /// The side of the rollout that version was on for this consumer.
    pub arm: Arm,
    /// The session's `rollout.consumer`, if any.
    pub consumer: Option<String>,
    /// Why this version (resolution's explanation).
    pub reason: String,
    /// Rows the scan produced; `None` when the query was answered without reading the files
    /// (from file statistics, say).
    pub rows: Option<u64>,
    /// Milliseconds from planning the scan to the end of its last stream.
    pub elapsed_ms: f64,
    /// The error that ended the scan, if one did.
    pub error: Option<String>,
    /// The deprecated compatibility columns (of an unfinished migration) the scan read.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deprecated: Vec<String>,
}

/// One observation of an outcome metric (`REPORT METRIC`), attributed to the version and arm
/// the consumer resolved at its time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricEvent {
    /// When the observation was made (`AT TIMESTAMP`, or when it was reported).
    pub time: DateTime<Utc>,
    /// The dataset whose rollout it measures.
    pub dataset: String,
    /// The metric's name.
    pub name: String,
    /// The observed value (finite).
    pub value: f64,
    /// The version the consumer resolved at `time`.
    pub version: String,
    /// The side of the rollout that version was on.
    pub arm: Arm,
    /// Who the observation is about, if anyone.
    pub consumer: Option<String>,
    /// Who reported it.
    pub reported_by: String,
}

/// One controller round's judgement of one live rollout, and what it decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationEvent {
    /// When the round evaluated.
    pub time: DateTime<Utc>,
    /// The dataset.
    pub dataset: String,
    /// The candidate evaluated.
    pub version: String,
    /// When its rollout started (with the version, names the rollout).
    pub rollout_started_at: DateTime<Utc>,
    /// The stage it was at, from 1 (0 when not staged).
    pub stage: usize,
    /// `advance`, `rollback`, `wait` (guards hold, the stage soaks), `pending` (too few
    /// samples), `failing` (a guard failed, fewer times in a row than the policy allows) or
    /// `done elsewhere` (another controller decided first).
    pub decision: String,
    /// Rounds in a row (this one included) in which a guard failed.
    pub consecutive_failures: u32,
    /// The live checks' results (check, value, threshold, status, detail).
    pub checks: Vec<serde_json::Value>,
    /// Who evaluated (the controller's id).
    pub controller: String,
}

/// One notification's delivery (after its retries): to whom, for what, and how it went.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliveryEvent {
    /// When the delivery ended.
    pub time: DateTime<Utc>,
    /// The notification's name.
    pub notification: String,
    /// Its URL, secrets hidden.
    pub url: String,
    /// `PROMOTE`, `ADVANCE`, `ROLLBACK` or `GUARD_FAILED`.
    pub event: String,
    /// The dataset it was about.
    pub dataset: String,
    /// The log entry it announced, if a commit.
    pub sequence: Option<u64>,
    /// Attempts made.
    pub attempts: u32,
    /// The receiver's last HTTP status, if it answered.
    pub status: Option<u16>,
    /// Whether a 2xx answer came.
    pub delivered: bool,
    /// Why not, if not.
    pub error: Option<String>,
    /// Milliseconds from the first attempt to the end.
    pub elapsed_ms: f64,
}

/// Anything recorded in the events folder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// A scan of a dataset.
    Read(ReadEvent),
    /// A reported metric observation.
    Metric(MetricEvent),
    /// A controller's evaluation of a live rollout.
    Evaluation(EvaluationEvent),
    /// A notification's delivery.
    Delivery(DeliveryEvent),
}

impl Event {
    /// The dataset the event is about.
    pub fn dataset(&self) -> &str {
        match self {
            Event::Read(r) => &r.dataset,
            Event::Metric(m) => &m.dataset,
            Event::Evaluation(e) => &e.dataset,
            Event::Delivery(d) => &d.dataset,
        }
    }

    /// Its kind as written in the `kind` field (`read`, `metric`, `evaluation`, `delivery`).
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Read(_) => "read",
            Event::Metric(_) => "metric",
            Event::Evaluation(_) => "evaluation",
            Event::Delivery(_) => "delivery",
        }
    }

    /// When it happened.
    pub fn time(&self) -> DateTime<Utc> {
        match self {
            Event::Read(r) => r.time,
            Event::Metric(m) => m.time,
            Event::Evaluation(e) => e.time,
            Event::Delivery(d) => d.time,
        }
    }
}
