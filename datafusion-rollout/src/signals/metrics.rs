//! Outcome metrics: `REPORT METRIC conversion = 0.031 FOR orders [CONSUMER 'alice']
//! [AT TIMESTAMP '...']`. Each observation is attributed to the version and arm the consumer
//! resolved at its time, so the candidate and stable arms compare without any setup.

use chrono::{DateTime, Utc};

use crate::catalog::State;
use crate::contract::{CheckKind, LiveSignal, compile};
use crate::error::{Error, Result};
use crate::resolve::{arm_of, resolve};
use crate::store::{Event, MetricEvent, Store};

/// One observation to report.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricReport {
    /// The dataset whose rollout the metric measures.
    pub dataset: String,
    /// The metric's name (letters, digits, `_`, `.`, `-`; at most 128 characters).
    pub name: String,
    /// The observed value; must be finite.
    pub value: f64,
    /// Who the observation is about; `None` attributes it as a session without a consumer
    /// would read (stable, unless `cohort` is exposed).
    pub consumer: Option<String>,
    /// A cohort the reporting session joined (`rollout.cohort`).
    pub cohort: Option<String>,
    /// When it was observed; `None` is now.
    pub at: Option<DateTime<Utc>>,
}

/// Checks a metric's name.
pub fn check_metric_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidName {
            kind: "metric name",
            name: name.to_string(),
            reason: "use 1 to 128 letters, digits, '_', '.' or '-'".into(),
        })
    }
}

/// Checks that `dataset` exists and that its contract judges `metric` (`metric_change('m')`):
/// a metric nobody observes is a typo, or a contract not written yet.
pub fn observed_metric(state: &State, dataset: &str, metric: &str) -> Result<()> {
    let ds = state.dataset(dataset)?;
    let specs = match &ds.contract {
        Some(contract) => compile(contract)?,
        None => vec![],
    };
    let observed: Vec<String> = specs
        .into_iter()
        .filter_map(|s| match s.kind {
            CheckKind::Live(LiveSignal::MetricChange { metric }) => Some(metric),
            _ => None,
        })
        .collect();
    if observed.iter().any(|m| m == metric) {
        return Ok(());
    }
    Err(Error::MetricNotFound {
        dataset: dataset.to_string(),
        metric: metric.to_string(),
        hint: crate::error::hint_known("metrics", &observed),
    })
}

/// Validates `report`, attributes it to the version and arm its consumer resolved at its time
/// (the state as of that time when it is in the past), and buffers it as an event.
pub async fn report_metric(
    store: &Store,
    report: &MetricReport,
    reported_by: &str,
) -> Result<MetricEvent> {
    check_metric_name(&report.name)?;
    if !report.value.is_finite() {
        return Err(Error::InvalidValue {
            what: "metric value",
            value: report.value.to_string(),
            reason: "a metric must be a finite number".into(),
        });
    }
    let now = Utc::now();
    let time = report.at.unwrap_or(now);
    let current = store.state();
    observed_metric(&current, &report.dataset, &report.name)?;
    let state = match report.at {
        Some(at) if at < now => state_at(store, at).await?,
        _ => current,
    };
    let resolution = resolve(
        &state,
        &report.dataset,
        None,
        report.consumer.as_deref(),
        report.cohort.as_deref(),
    )
    .map_err(|e| match e {
        // The dataset existed, but not yet (or without a stable version) at that time.
        Error::DatasetNotFound { .. } | Error::NoStableVersion { .. } => Error::InvalidValue {
            what: "time",
            value: time.to_rfc3339(),
            reason: format!("{} had no version to read then: {e}", report.dataset),
        },
        other => other,
    })?;
    let event = MetricEvent {
        time,
        dataset: report.dataset.clone(),
        name: report.name.clone(),
        value: report.value,
        version: resolution.version.clone(),
        arm: arm_of(&resolution.reason),
        consumer: report.consumer.clone(),
        reported_by: reported_by.to_string(),
    };
    store.events().record(Event::Metric(event.clone()));
    Ok(event)
}

/// The state as the log described it at `at`: every entry committed at or before it.
async fn state_at(store: &Store, at: DateTime<Utc>) -> Result<std::sync::Arc<State>> {
    let mut state = State::default();
    for entry in store.history().await? {
        if entry.timestamp > at {
            break;
        }
        state
            .apply(entry.sequence, &entry.actions)
            .map_err(|reason| Error::CorruptLogEntry {
                path: format!("entry {}", entry.sequence),
                reason,
            })?;
    }
    Ok(std::sync::Arc::new(state))
}
