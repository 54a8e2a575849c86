//! `Transition::Rollback`: abort the candidate, restore a previous stable version.

use super::*;

#[test]
fn rollback_aborts_a_live_candidate() {
    let mut state = staged();
    let change = step(&mut state, Transition::Rollback { to: None }, t0()).unwrap();
    assert_eq!(
        change.message(),
        "rolled back the rollout of 'v2' on orders; everyone reads 'v1'"
    );
    assert_eq!(status(&state, "v2"), VersionStatus::RolledBack);
    assert_eq!(ds(&state).rollout.stable.as_deref(), Some("v1"));
    assert_eq!(ds(&state).rollout.candidate, None);
}

#[test]
fn rollback_without_candidate_restores_the_previous_stable() {
    let mut state = with_stable();
    step(&mut state, stable("v2"), t0());
    step(&mut state, stable("v3"), t0());
    let change = step(&mut state, Transition::Rollback { to: None }, t0()).unwrap();
    assert_eq!(
        change.event,
        Event::RestoredPrevious {
            from: "v3".into(),
            to: "v2".into()
        }
    );
    assert_eq!(status(&state, "v3"), VersionStatus::RolledBack);
    assert_eq!(ds(&state).rollout.previous_stable, vec!["v1".to_string()]);
    step(&mut state, Transition::Rollback { to: None }, t0()).unwrap();
    assert_eq!(ds(&state).rollout.stable.as_deref(), Some("v1"));
    assert!(matches!(
        refusal(&state, Transition::Rollback { to: None }, t0()),
        Refusal::NothingToRollBack { .. }
    ));
}

#[test]
fn rollback_with_nothing_served_is_refused() {
    assert!(matches!(
        refusal(&fresh(), Transition::Rollback { to: None }, t0()),
        Refusal::NothingToRollBack { .. }
    ));
}

#[test]
fn rollback_to_an_earlier_version_truncates_the_stack() {
    let mut state = with_stable();
    step(&mut state, stable("v2"), t0());
    step(&mut state, stable("v3"), t0());
    let to = |v: &str| Transition::Rollback { to: Some(v.into()) };
    step(&mut state, to("v1"), t0()).unwrap();
    assert_eq!(ds(&state).rollout.stable.as_deref(), Some("v1"));
    assert!(ds(&state).rollout.previous_stable.is_empty());
    assert_eq!(status(&state, "v3"), VersionStatus::RolledBack);
    // A version that was never stable becomes stable; the current one can be restored.
    let mut state = with_stable();
    step(&mut state, to("v3"), t0()).unwrap();
    assert_eq!(ds(&state).rollout.previous_stable, vec!["v1".to_string()]);
    // Already there: nothing to do.
    assert_eq!(ds(&state).transition(&to("v3"), t0()).unwrap(), None);
    assert!(matches!(
        refusal(&state, to("v4"), t0()),
        Refusal::RejectedCannotBeStable { .. }
    ));
}

#[test]
fn rollback_to_the_stable_version_aborts_the_candidate() {
    let mut state = staged();
    let change = step(
        &mut state,
        Transition::Rollback {
            to: Some("v1".into()),
        },
        t0(),
    )
    .unwrap();
    assert_eq!(change.message(), "rolled back orders to 'v1'");
    assert_eq!(status(&state, "v2"), VersionStatus::RolledBack);
    assert_eq!(ds(&state).rollout.candidate, None);
}
