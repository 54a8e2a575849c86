//! The controller: rounds over every self-running (`AUTO`) rollout of a store.
//!
//! Each round, for each live `AUTO` rollout: evaluate the contract's live expectations over the
//! current stage's window (the reads and metrics recorded since the stage began), record the
//! evaluation as an event, and decide:
//! - **rollback** (actor `guard`) when a guard failed in `n` consecutive rounds (`ROLLBACK
//!   AFTER n FAILURES`, 1 by default), with the failing checks as the entry's evidence;
//! - **advance** (actor `controller`) when the stage has soaked and every live guard passed
//!   over the window (a rollout without live guards advances on its soak alone);
//! - otherwise wait (`wait`, `pending` with too few samples, `failing` below the policy).
//!
//! Versions are immutable and passed their data checks at `PROMOTE`, so a round scans no data.
//! Decisions commit with a precondition (same candidate, same rollout, same stage as
//! evaluated): when several controllers run on one store, the first commit wins and the others
//! find nothing to do, so every decision happens exactly once. A rollout whose round fails
//! (a corrupt event object is skipped and named, not an error) never stops the others.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::catalog::{Candidate, State};
use crate::contract::{CheckKind, CheckReport, CheckSpec, compile};
use crate::error::{Error, Result};
use crate::session::RolloutContext;
use crate::signals::{LiveWindow, evaluate_live};
use crate::statement::{Advance, Rollback};
use crate::store::{CommitOutcome, EvaluationEvent, Event, Skipped};

/// The actor of the controller's advances.
pub const CONTROLLER_ACTOR: &str = "controller";
/// The actor of automatic rollbacks.
pub const GUARD_ACTOR: &str = "guard";

/// What a round did for one rollout.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// The dataset.
    pub dataset: String,
    /// The candidate evaluated.
    pub version: String,
    /// `advance`, `rollback`, `wait`, `pending`, `failing`, `done elsewhere` or `error`.
    pub decision: String,
    /// The log sequence of the commit this decision made, if it made one.
    pub sequence: Option<u64>,
    /// The live checks' results.
    pub report: CheckReport,
    /// A line saying why.
    pub detail: String,
}

/// What one round found and did.
#[derive(Debug, Clone, Default)]
pub struct Round {
    /// One decision per live `AUTO` rollout, by dataset name.
    pub decisions: Vec<Decision>,
    /// Event objects that could not be read (skipped, named).
    pub skipped: Vec<Skipped>,
}

/// Runs rounds over a store's `AUTO` rollouts (`rollout watch`, or a service's task).
#[derive(Debug, Clone)]
pub struct Controller {
    ctx: RolloutContext,
    id: String,
}

impl Controller {
    /// A controller acting on `ctx`'s store, named `id` in its evaluations.
    pub fn new(ctx: RolloutContext, id: impl Into<String>) -> Self {
        Self { ctx, id: id.into() }
    }

    /// One round over every live `AUTO` rollout.
    pub async fn round(&self) -> Result<Round> {
        let store = self.ctx.store();
        let state = store.refresh().await?;
        let live: Vec<(String, Candidate)> = state
            .datasets
            .values()
            .filter_map(|ds| {
                let c = ds.rollout.candidate.as_ref()?;
                c.auto.is_some().then(|| (ds.name.clone(), c.clone()))
            })
            .collect();
        let mut round = Round::default();
        if live.is_empty() {
            return Ok(round);
        }
        // The events of every window: a stage's, or a trailing WINDOW's (within the rollout).
        let since = live
            .iter()
            .map(|(name, c)| {
                let windowed = state.datasets.get(name).is_some_and(|ds| {
                    ds.contract
                        .as_ref()
                        .is_some_and(|k| k.expectations.iter().any(|e| e.window_seconds.is_some()))
                });
                if windowed {
                    c.started_at
                } else {
                    window_start(c)
                }
            })
            .min();
        let read = store.events().read_since(since).await?;
        round.skipped = read.skipped;
        for (dataset, candidate) in &live {
            let decision = match self.decide(&state, dataset, candidate, &read.events).await {
                Ok(d) => d,
                Err(e) => Decision {
                    dataset: dataset.clone(),
                    version: candidate.version.clone(),
                    decision: "error".into(),
                    sequence: None,
                    report: CheckReport::default(),
                    detail: e.to_string(),
                },
            };
            round.decisions.push(decision);
        }
        // Evaluations reach the store now: other controllers count failures from them.
        store.events().flush().await?;
        Ok(round)
    }

    /// Rounds every `every` until `stop` completes; a failed round is reported by `on_round`
    /// and the next one runs.
    pub async fn run(
        &self,
        every: Duration,
        stop: impl std::future::Future<Output = ()>,
        mut on_round: impl FnMut(Result<Round>),
    ) {
        tokio::pin!(stop);
        loop {
            on_round(self.round().await);
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                () = &mut stop => return,
            }
        }
    }

    async fn decide(
        &self,
        state: &State,
        dataset: &str,
        candidate: &Candidate,
        events: &[Event],
    ) -> Result<Decision> {
        let ds = state.dataset(dataset)?;
        let stable = ds.rollout.stable.clone().unwrap_or_default();
        let specs = match &ds.contract {
            Some(contract) => compile(contract)?,
            None => vec![],
        };
        let now = Utc::now();
        let window = |spec: &CheckSpec| LiveWindow {
            dataset,
            candidate: &candidate.version,
            stable: &stable,
            since: spec_window_start(spec, candidate, now),
        };
        let results: Vec<_> = specs
            .iter()
            .filter_map(|spec| match &spec.kind {
                CheckKind::Live(signal) => Some(evaluate_live(spec, signal, events, &window(spec))),
                _ => None,
            })
            .collect();
        let report = CheckReport::new(results);
        let counts = report.counts();
        let failing = counts.fail + counts.error > 0;
        let previous = last_evaluation(events, dataset, candidate)
            .map(|e| e.consecutive_failures)
            .unwrap_or(0);
        let consecutive = if failing { previous + 1 } else { 0 };
        let policy = candidate.auto.unwrap_or_default();
        let soaked = candidate.may_advance_at().is_none_or(|t| now >= t);
        let (mut decision, mut detail) = if failing && consecutive >= policy.rollback_after {
            (
                "rollback",
                format!("guard failed: {}", report.failures().join("; ")),
            )
        } else if failing {
            (
                "failing",
                format!(
                    "a guard failed {consecutive} time(s) in a row; rollback after {}",
                    policy.rollback_after
                ),
            )
        } else if counts.pending > 0 {
            (
                "pending",
                "too few samples to judge every guard".to_string(),
            )
        } else if !soaked {
            let until = candidate.may_advance_at().unwrap_or(now);
            (
                "wait",
                format!("the stage soaks until {}", until.to_rfc3339()),
            )
        } else {
            ("advance", "every guard held over the stage".to_string())
        };
        if failing && consecutive == 1 {
            crate::signals::notify::guard_failed(
                self.ctx.store(),
                dataset,
                &candidate.version,
                &report.failures(),
                report.to_json(),
            );
        }
        let mut sequence = None;
        if matches!(decision, "rollback" | "advance") {
            match self
                .commit(decision, dataset, candidate, &report, &detail)
                .await?
            {
                Some(seq) => sequence = Some(seq),
                None => {
                    decision = "done elsewhere";
                    detail = "another controller (or a person) changed the rollout first".into();
                }
            }
        }
        self.ctx
            .store()
            .events()
            .record(Event::Evaluation(EvaluationEvent {
                time: now,
                dataset: dataset.to_string(),
                version: candidate.version.clone(),
                rollout_started_at: candidate.started_at,
                stage: if candidate.stages.is_empty() {
                    0
                } else {
                    candidate.stage + 1
                },
                decision: decision.to_string(),
                consecutive_failures: consecutive,
                checks: report.to_json(),
                controller: self.id.clone(),
            }));
        Ok(Decision {
            dataset: dataset.to_string(),
            version: candidate.version.clone(),
            decision: decision.to_string(),
            sequence,
            report,
            detail,
        })
    }

    /// Commits the decision if the rollout is still as evaluated; `None` if it changed.
    async fn commit(
        &self,
        decision: &str,
        dataset: &str,
        evaluated: &Candidate,
        report: &CheckReport,
        detail: &str,
    ) -> Result<Option<u64>> {
        let actor = self.ctx.actor();
        let env = self.ctx.env(&actor, &[]);
        let unchanged = |state: &State| -> Result<bool> {
            let c = state.dataset(dataset)?.rollout.candidate.as_ref();
            Ok(c.is_some_and(|c| {
                c.version == evaluated.version
                    && c.started_at == evaluated.started_at
                    && c.stage == evaluated.stage
            }))
        };
        let evidence = report.to_json();
        let outcome = if decision == "rollback" {
            let rollback = Rollback {
                dataset: dataset.to_string(),
                cascade: false,
                more: vec![],
                to: None,
                reason: Some(detail.to_string()),
            };
            let since = Some(evaluated.started_at);
            let events = match self.ctx.store().events().read_since(since).await {
                Ok(read) => read.events,
                Err(_) => vec![],
            };
            let mut seen = std::collections::BTreeMap::new();
            env.commit_as(GUARD_ACTOR, |state| {
                if !unchanged(state)? {
                    return Ok(None);
                }
                let mut commit = rollback.plan(state, &mut seen, &events)?;
                if let Some(c) = commit.as_mut() {
                    c.checks = evidence.clone();
                }
                Ok(commit)
            })
            .await?
        } else {
            let advance = Advance {
                dataset: dataset.to_string(),
                force: false,
                reason: Some(detail.to_string()),
            };
            env.commit_as(CONTROLLER_ACTOR, |state| {
                if !unchanged(state)? {
                    return Ok(None);
                }
                let mut commit = match advance.plan(state) {
                    // Soaking or at its last stage: a person's decision now, not ours.
                    Err(Error::Refused(_)) => return Ok(None),
                    other => other?,
                };
                if let Some(c) = commit.as_mut() {
                    c.checks = evidence.clone();
                }
                Ok(commit)
            })
            .await?
        };
        Ok(match outcome {
            CommitOutcome::Committed(done) => Some(done.entry.sequence),
            CommitOutcome::Unchanged => None,
        })
    }
}

/// The window of a rollout: its current stage.
fn window_start(c: &Candidate) -> DateTime<Utc> {
    c.stage_started_at.unwrap_or(c.started_at)
}

/// Where a live expectation's window starts: the current stage's start, or `WINDOW`'s length
/// before `now` but never before the rollout began (earlier reads have no candidate arm).
fn spec_window_start(spec: &CheckSpec, c: &Candidate, now: DateTime<Utc>) -> DateTime<Utc> {
    match spec.window_seconds {
        None => window_start(c),
        Some(w) => i64::try_from(w)
            .ok()
            .and_then(chrono::TimeDelta::try_seconds)
            .and_then(|d| now.checked_sub_signed(d))
            .map_or(c.started_at, |t| t.max(c.started_at)),
    }
}

/// The latest evaluation of this rollout (same version, same start), by any controller.
pub fn last_evaluation<'a>(
    events: &'a [Event],
    dataset: &str,
    candidate: &Candidate,
) -> Option<&'a EvaluationEvent> {
    events.iter().rev().find_map(|e| match e {
        Event::Evaluation(v)
            if v.dataset == dataset
                && v.version == candidate.version
                && v.rollout_started_at == candidate.started_at =>
        {
            Some(v)
        }
        _ => None,
    })
}
