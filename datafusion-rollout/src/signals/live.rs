//! Live expectations: the candidate arm against the stable arm over a rollout's window,
//! judged from the events (reads, metrics), never by scanning data.
//!
//! - `read_error_rate()`: failed reads of the candidate / its reads through the dataset's name.
//! - `latency_ratio()`: p95 elapsed time of the candidate's successful reads / the stable's
//!   (nearest rank, as `SHOW EXPOSURE`).
//! - `metric_change('m')`: the relative change of the metric's mean, candidate vs stable, as
//!   an anytime-valid confidence interval ([`super::sequential`]): it fails only when the whole
//!   interval is on the wrong side of the threshold, so looking every round does not inflate
//!   false rollbacks.
//!
//! With too few samples an expectation is `pending`, never `fail`: at least
//! [`MIN_READS_PER_ARM`] reads (of each arm, for the ratio), and
//! [`super::sequential::MIN_SAMPLES_PER_ARM`] metric observations per arm.

use chrono::{DateTime, Utc};

use super::exposure::nearest_rank;
use super::sequential::{self, ArmStats, SequentialVerdict};
use crate::catalog::Comparison;
use crate::contract::{CheckResult, CheckSpec, CheckStatus, LiveSignal};
use crate::store::{Arm, Event};

/// Reads needed on an arm before `read_error_rate()` or `latency_ratio()` decide.
pub const MIN_READS_PER_ARM: u64 = 10;

/// What a live rollout is judged over: its candidate and stable versions, since when.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LiveWindow<'a> {
    /// The dataset.
    pub dataset: &'a str,
    /// The candidate version (read on the candidate arm).
    pub candidate: &'a str,
    /// The stable version (read on the stable arm).
    pub stable: &'a str,
    /// The window's start: the current stage's start.
    pub since: DateTime<Utc>,
}

impl LiveWindow<'_> {
    fn arm_of(&self, arm: Arm, version: &str) -> Option<bool> {
        match arm {
            Arm::Candidate if version == self.candidate => Some(true),
            Arm::Stable if version == self.stable => Some(false),
            _ => None,
        }
    }
}

/// Judges one live expectation over `events` (any order) in `window`.
pub(crate) fn evaluate_live(
    spec: &CheckSpec,
    signal: &LiveSignal,
    events: &[Event],
    window: &LiveWindow<'_>,
) -> CheckResult {
    let in_window =
        |dataset: &str, time: DateTime<Utc>| dataset == window.dataset && time >= window.since;
    // (errors, reads) of the candidate; successful elapsed times per arm.
    let (mut errors, mut reads) = (0u64, 0u64);
    let (mut cand_ms, mut stable_ms) = (Vec::new(), Vec::new());
    let (mut cand, mut stable) = (ArmStats::default(), ArmStats::default());
    for event in events {
        match event {
            Event::Read(r) if in_window(&r.dataset, r.time) => {
                match window.arm_of(r.arm, &r.version) {
                    Some(true) => {
                        reads += 1;
                        if r.error.is_some() {
                            errors += 1;
                        } else {
                            cand_ms.push(r.elapsed_ms);
                        }
                    }
                    Some(false) if r.error.is_none() => stable_ms.push(r.elapsed_ms),
                    _ => {}
                }
            }
            Event::Metric(m) if in_window(&m.dataset, m.time) => {
                if let LiveSignal::MetricChange { metric } = signal
                    && *metric == m.name
                {
                    match window.arm_of(m.arm, &m.version) {
                        Some(true) => cand.push(m.value),
                        Some(false) => stable.push(m.value),
                        None => {}
                    }
                }
            }
            _ => {}
        }
    }
    match signal {
        LiveSignal::ReadErrorRate => {
            if reads < MIN_READS_PER_ARM {
                return pending(
                    spec,
                    format!("{reads} candidate reads in the window, {MIN_READS_PER_ARM} needed"),
                );
            }
            judge(
                spec,
                errors as f64 / reads as f64,
                format!("{errors} of {reads} candidate reads failed"),
            )
        }
        LiveSignal::LatencyRatio => {
            let (nc, ns) = (cand_ms.len() as u64, stable_ms.len() as u64);
            if nc < MIN_READS_PER_ARM || ns < MIN_READS_PER_ARM {
                return pending(
                    spec,
                    format!(
                        "{nc} candidate and {ns} stable reads in the window, {MIN_READS_PER_ARM} of each needed"
                    ),
                );
            }
            cand_ms.sort_by(f64::total_cmp);
            stable_ms.sort_by(f64::total_cmp);
            let (pc, ps) = (nearest_rank(&cand_ms, 0.95), nearest_rank(&stable_ms, 0.95));
            // A stable p95 of 0 ms (a clock's resolution) counts as a microsecond.
            judge(
                spec,
                pc / ps.max(1e-3),
                format!(
                    "p95 {pc:.1} ms on the candidate vs {ps:.1} ms on stable ({nc} / {ns} reads)"
                ),
            )
        }
        LiveSignal::MetricChange { metric } => metric_change(spec, metric, &cand, &stable),
    }
}

fn metric_change(
    spec: &CheckSpec,
    metric: &str,
    cand: &ArmStats,
    stable: &ArmStats,
) -> CheckResult {
    let (direction, threshold) = match spec.expect {
        Comparison::Gt { value } | Comparison::GtEq { value } => {
            (sequential::Comparison::AtLeast, value)
        }
        Comparison::Lt { value } | Comparison::LtEq { value } => {
            (sequential::Comparison::AtMost, value)
        }
        _ => {
            return CheckResult {
                status: CheckStatus::Error,
                detail: "metric_change() is compared with <, <=, > or >=".into(),
                ..pending(spec, String::new())
            };
        }
    };
    let counts = format!("n = {} candidate / {} stable", cand.n, stable.n);
    let interval = sequential::relative_change(cand, stable, sequential::DEFAULT_ALPHA);
    let Some(ci) = interval.as_ref() else {
        return pending(
            spec,
            format!(
                "'{metric}': {counts} in the window, {} per arm needed (and a nonzero stable mean)",
                sequential::MIN_SAMPLES_PER_ARM
            ),
        );
    };
    let detail = format!(
        "'{metric}' changed {:+.2}% (anytime-valid 95% interval {:+.2}% to {:+.2}%, {counts})",
        ci.estimate * 100.0,
        ci.lower * 100.0,
        ci.upper * 100.0
    );
    let status = match sequential::decide(Some(ci), direction, threshold) {
        SequentialVerdict::Pass => CheckStatus::Pass,
        SequentialVerdict::Fail => CheckStatus::Fail,
        SequentialVerdict::Pending => CheckStatus::Pending,
    };
    CheckResult {
        check: spec.check.clone(),
        column: None,
        value: Some(ci.estimate),
        threshold: spec.threshold(),
        status,
        detail,
    }
}

fn pending(spec: &CheckSpec, detail: String) -> CheckResult {
    CheckResult {
        check: spec.check.clone(),
        column: None,
        value: None,
        threshold: spec.threshold(),
        status: CheckStatus::Pending,
        detail,
    }
}

fn judge(spec: &CheckSpec, value: f64, detail: String) -> CheckResult {
    let status = if value.is_nan() || !spec.expect.holds(value) {
        CheckStatus::Fail
    } else if spec.warn_when.as_ref().is_some_and(|w| w.holds(value)) {
        CheckStatus::Warn
    } else {
        CheckStatus::Pass
    };
    CheckResult {
        check: spec.check.clone(),
        column: None,
        value: Some(value),
        threshold: spec.threshold(),
        status,
        detail,
    }
}
