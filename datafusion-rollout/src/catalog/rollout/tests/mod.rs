//! Every transition of the state machine, legal and illegal, on hand-built datasets. Each legal
//! change is also applied through `State::apply`, which checks that statuses agree.

mod rollback;
mod stages;

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::*;
use crate::catalog::{Action, State, Version};
use crate::error::Error;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn version(id: &str) -> Version {
    Version {
        id: id.into(),
        location: format!("file:///data/{id}/"),
        format: crate::catalog::FileFormat::Parquet,
        schema: vec![],
        row_count: 1,
        files: vec![],
        managed: false,
        created_at: t0(),
        created_by: "test".into(),
        comment: None,
        status: VersionStatus::Registered,
        inputs: vec![],
        migration: None,
    }
}

/// `orders` with versions v1..v4 registered (v4 rejected) and nothing served.
fn fresh() -> State {
    let mut state = State::default();
    let dataset = Dataset {
        name: "orders".into(),
        comment: None,
        created_at: t0(),
        created_by: "test".into(),
        all_columns: vec![],
        versions: vec![],
        rollout: Rollout::default(),
        contract: None,
        retention: None,
    };
    let mut actions = vec![Action::CreateDataset {
        dataset: Box::new(dataset),
    }];
    for id in ["v1", "v2", "v3", "v4"] {
        let mut v = version(id);
        if id == "v4" {
            v.status = VersionStatus::Rejected;
        }
        actions.push(Action::AddVersion {
            dataset: "orders".into(),
            version: Box::new(v),
            schema: vec![],
        });
    }
    state.apply(1, &actions).unwrap();
    state
}

fn ds(state: &State) -> &Dataset {
    state.dataset("orders").unwrap()
}

/// Runs `t` at `now` and applies the change (which must apply: statuses agree).
fn step(state: &mut State, t: Transition, now: DateTime<Utc>) -> Option<Change> {
    let change = ds(state).transition(&t, now).unwrap();
    if let Some(c) = &change {
        state.apply(state.sequence + 1, &c.actions()).unwrap();
    }
    change
}

fn refusal(state: &State, t: Transition, now: DateTime<Utc>) -> Refusal {
    match ds(state).transition(&t, now) {
        Err(Error::Refused(r)) => *r,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn stable(version: &str) -> Transition {
    Transition::MakeStable {
        version: version.into(),
        force: false,
    }
}

fn expose(version: &str) -> Exposure {
    Exposure {
        version: version.into(),
        cohorts: vec![],
        percent_bp: None,
        stages: vec![],
        soak_seconds: None,
        auto: None,
        salt: "salt".into(),
        force: false,
    }
}

fn status(state: &State, id: &str) -> VersionStatus {
    ds(state).version(id).unwrap().status
}

/// v1 stable.
fn with_stable() -> State {
    let mut state = fresh();
    step(&mut state, stable("v1"), t0());
    state
}

/// v1 stable, v2 rolling out in stages (10, 50, 100) with a one-hour soak, started at t0.
fn staged() -> State {
    let mut state = with_stable();
    let e = Exposure {
        stages: vec![1000, 5000, 10_000],
        soak_seconds: Some(3600),
        ..expose("v2")
    };
    step(&mut state, Transition::Expose(e), t0());
    state
}

#[test]
fn first_make_stable_serves_everyone() {
    let state = with_stable();
    assert_eq!(ds(&state).rollout.stable.as_deref(), Some("v1"));
    assert_eq!(status(&state, "v1"), VersionStatus::Stable);
    assert!(ds(&state).rollout.previous_stable.is_empty());
}

#[test]
fn make_stable_retires_the_old_stable_and_remembers_it() {
    let mut state = with_stable();
    let change = step(&mut state, stable("v2"), t0()).unwrap();
    assert_eq!(
        change.message(),
        "'v2' is now the stable version of orders (was 'v1')"
    );
    assert_eq!(status(&state, "v1"), VersionStatus::Retired);
    assert_eq!(status(&state, "v2"), VersionStatus::Stable);
    assert_eq!(ds(&state).rollout.previous_stable, vec!["v1".to_string()]);
}

#[test]
fn make_stable_of_the_stable_version_changes_nothing() {
    let state = with_stable();
    assert_eq!(ds(&state).transition(&stable("v1"), t0()).unwrap(), None);
}

#[test]
fn make_stable_refuses_rejected_unless_forced() {
    let mut state = with_stable();
    assert!(matches!(
        refusal(&state, stable("v4"), t0()),
        Refusal::Rejected { .. }
    ));
    let forced = Transition::MakeStable {
        version: "v4".into(),
        force: true,
    };
    step(&mut state, forced, t0()).unwrap();
    assert_eq!(status(&state, "v4"), VersionStatus::Stable);
}

#[test]
fn make_stable_refuses_while_another_candidate_is_live() {
    let mut state = with_stable();
    let e = Exposure {
        cohorts: vec!["canary".into()],
        ..expose("v2")
    };
    step(&mut state, Transition::Expose(e), t0());
    assert!(matches!(
        refusal(&state, stable("v3"), t0()),
        Refusal::OtherCandidate { .. }
    ));
    // The candidate itself may become stable, which ends its rollout.
    step(&mut state, stable("v2"), t0()).unwrap();
    assert_eq!(ds(&state).rollout.candidate, None);
    assert_eq!(status(&state, "v2"), VersionStatus::Stable);
}

#[test]
fn unknown_version_is_not_found() {
    let state = with_stable();
    let err = ds(&state).transition(&stable("v9"), t0()).unwrap_err();
    assert!(matches!(err, Error::VersionNotFound { .. }), "{err}");
}

#[test]
fn expose_starts_then_widens_then_changes_nothing() {
    let mut state = with_stable();
    let cohort = Exposure {
        cohorts: vec!["canary".into()],
        ..expose("v2")
    };
    let started = step(&mut state, Transition::Expose(cohort.clone()), t0()).unwrap();
    assert!(matches!(started.event, Event::Started { .. }));
    assert_eq!(status(&state, "v2"), VersionStatus::Candidate);
    let c = ds(&state).rollout.candidate.clone().unwrap();
    assert_eq!((c.salt.as_str(), c.started_at), ("salt", t0()));
    let percent = Exposure {
        percent_bp: Some(1000),
        salt: "another".into(),
        ..expose("v2")
    };
    let widened = step(&mut state, Transition::Expose(percent), t0()).unwrap();
    assert_eq!(
        widened.message(),
        "exposure changed: 'v2' is now the candidate of orders, exposed to cohort canary + 10% of consumers (stable: 'v1')"
    );
    let c = ds(&state).rollout.candidate.clone().unwrap();
    assert_eq!(c.salt, "salt", "the salt is fixed when the rollout starts");
    // A widened candidate is not re-marked.
    assert!(widened.statuses.is_empty());
    assert_eq!(
        ds(&state)
            .transition(&Transition::Expose(cohort), t0())
            .unwrap(),
        None
    );
}

#[test]
fn expose_refusals() {
    let state = fresh();
    assert!(matches!(
        refusal(&state, Transition::Expose(expose("v2")), t0()),
        Refusal::NoStable { .. }
    ));
    let state = with_stable();
    assert!(matches!(
        refusal(&state, Transition::Expose(expose("v1")), t0()),
        Refusal::AlreadyStable { .. }
    ));
    assert!(matches!(
        refusal(&state, Transition::Expose(expose("v4")), t0()),
        Refusal::Rejected { .. }
    ));
    let state = staged();
    assert!(matches!(
        refusal(&state, Transition::Expose(expose("v3")), t0()),
        Refusal::OtherCandidate { .. }
    ));
    let again = Exposure {
        stages: vec![5000, 10_000],
        ..expose("v2")
    };
    assert!(matches!(
        refusal(&state, Transition::Expose(again), t0()),
        Refusal::AlreadyRollingOut { .. }
    ));
}

#[test]
fn a_rejected_version_can_be_exposed_by_force() {
    let mut state = with_stable();
    let e = Exposure {
        force: true,
        percent_bp: Some(500),
        ..expose("v4")
    };
    step(&mut state, Transition::Expose(e), t0()).unwrap();
    assert_eq!(status(&state, "v4"), VersionStatus::Candidate);
}

#[test]
fn staged_rollout_starts_at_its_first_stage() {
    let state = staged();
    let c = ds(&state).rollout.candidate.clone().unwrap();
    assert_eq!((c.stage, c.percent_bp), (0, 1000));
    assert_eq!(c.stage_started_at, Some(t0()));
    assert_eq!(c.may_advance_at(), Some(t0() + Duration::hours(1)));
}

#[test]
fn advance_waits_for_the_soak_unless_forced() {
    let mut state = staged();
    let soon = t0() + Duration::minutes(59);
    match refusal(&state, Transition::Advance { force: false }, soon) {
        Refusal::Soaking {
            remaining_seconds,
            next,
            ..
        } => assert_eq!((remaining_seconds, next.as_str()), (60, "50%")),
        other => panic!("{other:?}"),
    }
    step(&mut state, Transition::Advance { force: true }, soon).unwrap();
    assert_eq!(ds(&state).rollout.candidate.as_ref().unwrap().stage, 1);
}

#[test]
fn advance_moves_stage_by_stage_and_the_last_makes_stable() {
    let mut state = staged();
    let later = t0() + Duration::hours(1);
    let change = step(&mut state, Transition::Advance { force: false }, later).unwrap();
    assert_eq!(
        change.message(),
        "'v2' on orders advanced to stage 2 of 3: 50% of consumers"
    );
    let c = ds(&state).rollout.candidate.clone().unwrap();
    assert_eq!(
        (c.stage, c.percent_bp, c.stage_started_at),
        (1, 5000, Some(later))
    );
    // The soak restarts with the stage.
    assert!(matches!(
        refusal(&state, Transition::Advance { force: false }, later),
        Refusal::Soaking { .. }
    ));
    let last = later + Duration::hours(1);
    let change = step(&mut state, Transition::Advance { force: false }, last).unwrap();
    assert_eq!(
        change.event,
        Event::MadeStable {
            version: "v2".into(),
            was: Some("v1".into()),
            last_stage: true
        }
    );
    assert_eq!(ds(&state).rollout.candidate, None);
    assert_eq!(status(&state, "v2"), VersionStatus::Stable);
    assert_eq!(status(&state, "v1"), VersionStatus::Retired);
    assert!(matches!(
        refusal(&state, Transition::Advance { force: false }, last),
        Refusal::NotStaged { .. }
    ));
}

#[test]
fn advance_refuses_past_stages_short_of_everyone_and_without_stages() {
    let mut state = with_stable();
    assert!(matches!(
        refusal(&state, Transition::Advance { force: true }, t0()),
        Refusal::NotStaged { .. }
    ));
    let e = Exposure {
        stages: vec![500, 2500],
        ..expose("v2")
    };
    step(&mut state, Transition::Expose(e), t0());
    step(&mut state, Transition::Advance { force: false }, t0()).unwrap();
    assert!(matches!(
        refusal(&state, Transition::Advance { force: true }, t0()),
        Refusal::LastStage { .. }
    ));
    // A candidate exposed to a cohort only has no stages to advance.
    let mut state = with_stable();
    let e = Exposure {
        cohorts: vec!["canary".into()],
        ..expose("v2")
    };
    step(&mut state, Transition::Expose(e), t0());
    assert!(matches!(
        refusal(&state, Transition::Advance { force: false }, t0()),
        Refusal::NotStaged { .. }
    ));
}

#[test]
fn statuses_that_disagree_with_the_rollout_do_not_apply() {
    let mut state = with_stable();
    let wrong = Action::SetVersionStatus {
        dataset: "orders".into(),
        version: "v2".into(),
        status: VersionStatus::Stable,
    };
    let err = state.apply(state.sequence + 1, &[wrong]).unwrap_err();
    assert!(err.contains("has status stable"), "{err}");
    let mut rollout = ds(&state).rollout.clone();
    rollout.stable = Some("v3".into());
    let wrong = Action::SetRollout {
        dataset: "orders".into(),
        rollout,
    };
    assert!(state.apply(state.sequence + 1, &[wrong]).is_err());
    assert_eq!(
        ds(&state).rollout.stable.as_deref(),
        Some("v1"),
        "unchanged"
    );
}
