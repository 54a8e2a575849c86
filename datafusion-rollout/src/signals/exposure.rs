//! Exposure: who read which version of a dataset, how often, with what errors and latency.
//! `SHOW EXPOSURE` and the blast radius of a `ROLLBACK` are this summary of the reads ledger.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};

use crate::store::{Arm, Event};

/// The reads of one version on one arm.
#[derive(Debug, Clone, PartialEq)]
pub struct Exposure {
    /// The version read.
    pub version: String,
    /// The side of the rollout it was read on.
    pub arm: Arm,
    /// Distinct consumers (a session without a consumer counts as none).
    pub consumers: u64,
    /// Scans of the dataset (one per query that read it).
    pub queries: u64,
    /// Scans that ended in an error.
    pub errors: u64,
    /// Rows the scans produced.
    pub rows: u64,
    /// Median elapsed milliseconds of a scan (nearest rank).
    pub p50_ms: f64,
    /// 95th-percentile elapsed milliseconds of a scan (nearest rank).
    pub p95_ms: f64,
    /// The first read.
    pub first_read: DateTime<Utc>,
    /// The last read.
    pub last_read: DateTime<Utc>,
}

impl Exposure {
    /// Errors per query.
    pub fn error_rate(&self) -> f64 {
        if self.queries == 0 {
            0.0
        } else {
            self.errors as f64 / self.queries as f64
        }
    }
}

/// The nearest-rank percentile of `sorted` values (`q` in 0..=1): the smallest value with at
/// least `q` of the values at or below it. `NaN` for no values.
pub fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The exposure of `dataset` per version and arm, over reads at or after `since`, optionally
/// of one version only; ordered by version, then arm.
pub fn exposure(
    events: &[Event],
    dataset: &str,
    version: Option<&str>,
    since: Option<DateTime<Utc>>,
) -> Vec<Exposure> {
    #[derive(Default)]
    struct Acc {
        consumers: BTreeSet<String>,
        queries: u64,
        errors: u64,
        rows: u64,
        elapsed: Vec<f64>,
        first: Option<DateTime<Utc>>,
        last: Option<DateTime<Utc>>,
    }
    let mut groups: BTreeMap<(String, &'static str), (Arm, Acc)> = BTreeMap::new();
    for event in events {
        let Event::Read(r) = event else { continue };
        if r.dataset != dataset
            || version.is_some_and(|v| v != r.version)
            || since.is_some_and(|s| r.time < s)
        {
            continue;
        }
        let (_, acc) = groups
            .entry((r.version.clone(), r.arm.as_str()))
            .or_insert_with(|| (r.arm, Acc::default()));
        if let Some(c) = &r.consumer {
            acc.consumers.insert(c.clone());
        }
        acc.queries += 1;
        acc.errors += u64::from(r.error.is_some());
        acc.rows += r.rows.unwrap_or(0);
        acc.elapsed.push(r.elapsed_ms);
        acc.first = Some(acc.first.map_or(r.time, |f| f.min(r.time)));
        acc.last = Some(acc.last.map_or(r.time, |l| l.max(r.time)));
    }
    groups
        .into_iter()
        .filter_map(|((version, _), (arm, mut acc))| {
            acc.elapsed.sort_by(f64::total_cmp);
            Some(Exposure {
                version,
                arm,
                consumers: acc.consumers.len() as u64,
                queries: acc.queries,
                errors: acc.errors,
                rows: acc.rows,
                p50_ms: nearest_rank(&acc.elapsed, 0.5),
                p95_ms: nearest_rank(&acc.elapsed, 0.95),
                first_read: acc.first?,
                last_read: acc.last?,
            })
        })
        .collect()
}

/// How far a version reached: consumers and queries that read it (pinned reads excluded),
/// and between when and when. `None` when nobody read it.
#[derive(Debug, Clone, PartialEq)]
pub struct BlastRadius {
    /// Distinct consumers that read the version.
    pub consumers: u64,
    /// Queries that read it.
    pub queries: u64,
    /// Of which ended in an error.
    pub errors: u64,
    /// The first read.
    pub first_read: DateTime<Utc>,
    /// The last read.
    pub last_read: DateTime<Utc>,
}

impl std::fmt::Display for BlastRadius {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        write!(
            f,
            "read by {} consumer(s) in {} quer{} ({} failed) between {} and {}",
            self.consumers,
            self.queries,
            if self.queries == 1 { "y" } else { "ies" },
            self.errors,
            time(self.first_read),
            time(self.last_read)
        )
    }
}

/// The blast radius of `version` of `dataset`: its reads through the dataset's name.
pub fn blast_radius(events: &[Event], dataset: &str, version: &str) -> Option<BlastRadius> {
    let mut consumers = BTreeSet::new();
    let (mut queries, mut errors) = (0, 0);
    let mut span: Option<(DateTime<Utc>, DateTime<Utc>)> = None;
    for event in events {
        let Event::Read(r) = event else { continue };
        if r.dataset != dataset || r.version != version || r.arm == Arm::Pinned {
            continue;
        }
        if let Some(c) = &r.consumer {
            consumers.insert(c.as_str());
        }
        queries += 1;
        errors += u64::from(r.error.is_some());
        span = Some(span.map_or((r.time, r.time), |(a, b)| (a.min(r.time), b.max(r.time))));
    }
    let (first_read, last_read) = span?;
    Some(BlastRadius {
        consumers: consumers.len() as u64,
        queries,
        errors,
        first_read,
        last_read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(nearest_rank(&v, 0.5), 10.0);
        assert_eq!(nearest_rank(&v, 0.95), 19.0);
        assert_eq!(nearest_rank(&v, 1.0), 20.0);
        assert_eq!(nearest_rank(&[3.0], 0.95), 3.0);
        assert!(nearest_rank(&[], 0.5).is_nan());
    }
}
