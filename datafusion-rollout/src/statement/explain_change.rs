//! `EXPLAIN PROMOTE ...`, `EXPLAIN ROLLBACK ...`, `EXPLAIN ADVANCE ...`: what the change would
//! do, which checks it would run, and how many known consumers would switch version, without
//! committing anything or scanning data.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{Duration, Utc};

use super::Outcome;
use super::Statement;
use super::table::Table;
use crate::catalog::{Action, State};
use crate::contract::compile;
use crate::error::{Error, Result};
use crate::guard::Env;
use crate::resolve::{RolloutConfig, resolve};
use crate::store::Event;

/// How far back the reads ledger is searched for the consumers a change would affect.
pub const KNOWN_CONSUMERS_DAYS: i64 = 30;

/// `EXPLAIN` of a `PROMOTE`, `ROLLBACK` or `ADVANCE`: one row per fact (`item`, `detail`).
///
/// Items: `change` (what would happen, as the statement would say it), `status` (each
/// version whose status would change), `checks` (the guards that would run first), `files`
/// (the pinned files of what would be served, and whether they are verified before committing:
/// `rollout.verify_targets`), `approvals` (when the two-person rule
/// applies), `consumers` (the consumers seen in the reads ledger over the last
/// [`KNOWN_CONSUMERS_DAYS`] days who would read another version, per switch and per dataset
/// touched). A `ROLLBACK` is explained through its own plan, so a `CASCADE` and several
/// datasets show as they would commit. A change the statement would refuse is refused here
/// with the same error.
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainChange {
    /// The statement explained: a `PROMOTE`, `ROLLBACK` or `ADVANCE`.
    pub statement: Box<Statement>,
}

impl fmt::Display for ExplainChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EXPLAIN {}", self.statement)
    }
}

impl ExplainChange {
    /// The dataset the explained statement changes.
    pub fn dataset(&self) -> &str {
        match self.statement.as_ref() {
            Statement::Promote(s) => &s.dataset,
            Statement::Rollback(s) => &s.dataset,
            Statement::Advance(s) => &s.dataset,
            _ => "",
        }
    }

    pub(crate) async fn execute(&self, env: &Env<'_>) -> Result<Outcome> {
        let state = env.store.state();
        let dataset = self.dataset();
        let ds = state.dataset(dataset)?;
        // The consumers the reads ledger knows (and, for a rollback, its blast radius).
        let since = Utc::now() - Duration::days(KNOWN_CONSUMERS_DAYS);
        let events = env
            .store
            .events()
            .read_since(Some(since))
            .await
            .map(|r| r.events)
            .unwrap_or_default();
        // What the statement would commit, and whether its guards would run.
        let mut estimate = "";
        let (planned, guarded, force) = match self.statement.as_ref() {
            Statement::Promote(p) => {
                // A rollout that starts draws its salt at commit: this one stands in for it
                // (several datasets share one).
                let salt = match (&ds.rollout.candidate, p.more.is_empty()) {
                    (Some(c), true) => c.salt.clone(),
                    _ => {
                        if p.percent_bp.is_some() || !p.stages.is_empty() {
                            estimate =
                                " (by an example salt: the rollout draws its own when it starts)";
                        }
                        "explain".to_string()
                    }
                };
                let commit = p.plan_all(&state, &salt)?;
                (commit.map(|c| (c.message, c.actions)), true, p.force)
            }
            Statement::Advance(a) => {
                let commit = a.plan(&state)?;
                (commit.map(|c| (c.message, c.actions)), true, a.force)
            }
            // The rollback's own plan: CASCADE and several datasets included.
            Statement::Rollback(r) => {
                let commit = r
                    .with_linked(&state)?
                    .plan(&state, &mut BTreeMap::new(), &events)?;
                (commit.map(|c| (c.message, c.actions)), false, false)
            }
            other => {
                return Err(Error::internal(format!("EXPLAIN of {other}")));
            }
        };
        let mut rows: Vec<(&str, String)> = Vec::new();
        let Some((message, actions)) = planned else {
            rows.push(("change", "nothing: the rollout is already so".into()));
            return table(env, rows);
        };
        rows.push(("change", message));
        // Every dataset the change touches, the statement's first.
        let mut touched = vec![dataset];
        for d in actions.iter().filter_map(Action::dataset) {
            if !touched.contains(&d) {
                touched.push(d);
            }
        }
        let label = |d: &str| {
            if d == dataset {
                String::new()
            } else {
                format!("{d} ")
            }
        };
        for action in &actions {
            if let Action::SetVersionStatus {
                dataset: d,
                version,
                status,
            } = action
            {
                let was = state.version(d, version).map(|v| v.status.to_string());
                rows.push((
                    "status",
                    format!(
                        "{}'{version}': {} -> {status}",
                        label(d),
                        was.unwrap_or_default()
                    ),
                ));
            }
        }
        let mut after = state.as_ref().clone();
        after
            .apply(state.sequence + 1, &actions)
            .map_err(Error::internal)?;

        // The guards: the contract over each version exposed, drift against the stable one.
        let exposed: Vec<(&str, String)> = match self.statement.as_ref() {
            Statement::Promote(p) => p.targets().map(|(d, v)| (d.as_str(), v.clone())).collect(),
            Statement::Advance(a) => a
                .members(&state)?
                .into_iter()
                .filter_map(|d| {
                    let v = state
                        .dataset(&d)
                        .ok()?
                        .rollout
                        .candidate
                        .as_ref()?
                        .version
                        .clone();
                    let d = state.datasets.get_key_value(&d)?.0.as_str();
                    Some((d, v))
                })
                .collect(),
            _ => vec![],
        };
        if exposed.is_empty() || !guarded {
            rows.push(("checks", "none: a rollback runs no guards".into()));
        }
        for (dataset, version) in exposed.iter().filter(|_| guarded) {
            let (dataset, version) = (*dataset, version.as_str());
            let ds = state.dataset(dataset)?;
            match &ds.contract {
                Some(contract) => {
                    let specs = compile(contract)?;
                    let baseline = ds.rollout.stable.as_deref().filter(|s| *s != version);
                    let against = baseline
                        .map(|b| format!(", drift against '{b}'"))
                        .unwrap_or_default();
                    let forced = if force {
                        "; FORCE: a failure would not refuse it"
                    } else {
                        "; a FAIL refuses the change"
                    };
                    let names: Vec<String> = specs
                        .iter()
                        .map(|s| match &s.column {
                            Some(c) if !s.check.contains(c.as_str()) => {
                                format!("{} on {c}", s.check)
                            }
                            _ => s.check.clone(),
                        })
                        .collect();
                    rows.push((
                    "checks",
                    format!(
                        "{} check(s) of contract {} over {dataset}@{version}{against}{forced}: {}",
                        specs.len(),
                        contract.name,
                        names.join(", ")
                    ),
                ));
                }
                None => rows.push(("checks", format!("none: {dataset} has no contract"))),
            }
        }
        // The files of the version each dataset the statement names will serve.
        let verified: Vec<(&str, String)> = match self.statement.as_ref() {
            Statement::Promote(p) => p.targets().map(|(d, v)| (d.as_str(), v.clone())).collect(),
            Statement::Rollback(r) => r
                .datasets()
                .filter_map(|d| {
                    // Only a stable version that changes: aborting a candidate serves the
                    // stable version everyone else reads already, and looks at no file.
                    let stable = after.dataset(d).ok()?.rollout.stable.clone()?;
                    let before = state.dataset(d).ok()?.rollout.stable.as_ref();
                    (before != Some(&stable)).then_some((d.as_str(), stable))
                })
                .collect(),
            _ => vec![],
        };
        let verify_first = RolloutConfig::of(env.session).verify_targets;
        for (d, target) in verified {
            let files = state.version(d, &target)?.files.len();
            let when = if verify_first {
                "verified before committing"
            } else {
                "verified by the reads that open them (SET rollout.verify_targets = true verifies them before committing)"
            };
            rows.push((
                "files",
                format!("{files} pinned file(s) of {}'{target}' {when}", label(d)),
            ));
        }
        let policy = super::approvals::policy_of(&self.statement, &state)
            .filter(|_| !state.access.is_open());
        if let Some(policy) = policy {
            rows.push((
                "approvals",
                format!(
                    "pending until {} other principal(s) APPROVE it (two-person rule)",
                    policy.required.saturating_sub(1)
                ),
            ));
        }

        // Who would read another version: the consumers the reads ledger knows, per dataset.
        for d in touched {
            let known: BTreeSet<&str> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Read(r) if r.dataset == d && r.time >= since => r.consumer.as_deref(),
                    _ => None,
                })
                .collect();
            let mut switches: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
            for consumer in &known {
                let reads = |s: &State| {
                    resolve(s, d, None, Some(consumer), None)
                        .ok()
                        .map(|r| r.version)
                };
                if let (Some(before), Some(now)) = (reads(&state), reads(&after))
                    && before != now
                {
                    switches.entry((before, now)).or_default().push(consumer);
                }
            }
            let of = if d == dataset {
                String::new()
            } else {
                format!(" of {d}")
            };
            if switches.is_empty() {
                rows.push((
                    "consumers",
                    format!(
                        "none of the {} consumer(s){of} seen in the last {KNOWN_CONSUMERS_DAYS} days would switch version{estimate}",
                        known.len()
                    ),
                ));
            }
            for ((from, to), who) in &switches {
                let shown: Vec<String> = who.iter().take(10).map(|c| format!("'{c}'")).collect();
                let more = who.len().saturating_sub(shown.len());
                let more = if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                };
                rows.push((
                    "consumers",
                    format!(
                        "{} of the {} consumer(s){of} seen in the last {KNOWN_CONSUMERS_DAYS} days would switch from '{from}' to '{to}'{estimate}: {}{more}",
                        who.len(),
                        known.len(),
                        shown.join(", ")
                    ),
                ));
            }
        }
        table(env, rows)
    }
}

fn table(env: &Env<'_>, rows: Vec<(&str, String)>) -> Result<Outcome> {
    let batch = Table::new()
        .text("item", rows.iter().map(|(k, _)| *k))
        .text("detail", rows.iter().map(|(_, d)| d))
        .build()?;
    Ok(Outcome::Query(env.session.read_batch(batch)?))
}
