//! Stages are not skipped or lowered without FORCE; AUTO rollouts keep their policy.

use super::*;

#[test]
fn stages_cannot_be_skipped_by_a_plain_make_stable() {
    let mut state = staged();
    let refused = refusal(&state, stable("v2"), t0());
    assert_eq!(
        refused.to_string(),
        "'v2' is at stage 1 of 3 (10%) on orders; stages cannot be skipped: ADVANCE orders moves it \
         to the next stage (50%), or add FORCE REASON '...' to skip them"
    );
    let forced = Transition::MakeStable {
        version: "v2".into(),
        force: true,
    };
    step(&mut state, forced, t0()).unwrap();
    assert_eq!(ds(&state).rollout.stable.as_deref(), Some("v2"));
}

#[test]
fn exposure_cannot_be_lowered_nor_stages_overridden_without_force() {
    let mut state = with_stable();
    let at = |bp, force| {
        Transition::Expose(Exposure {
            percent_bp: Some(bp),
            force,
            ..expose("v2")
        })
    };
    step(&mut state, at(3000, false), t0()).unwrap();
    assert!(matches!(
        refusal(&state, at(1000, false), t0()),
        Refusal::LowerExposure { .. }
    ));
    // The same or more is fine; FORCE may lower.
    assert!(
        ds(&state)
            .transition(&at(3000, false), t0())
            .unwrap()
            .is_none()
    );
    step(&mut state, at(4000, false), t0()).unwrap();
    step(&mut state, at(2000, true), t0()).unwrap();
    assert_eq!(
        ds(&state).rollout.candidate.clone().unwrap().percent_bp,
        2000
    );

    // A staged rollout moves by ADVANCE; AT n PERCENT (up or down) needs FORCE.
    let mut state = staged();
    assert!(matches!(
        refusal(&state, at(5000, false), t0()),
        Refusal::StagesRemain { .. }
    ));
    assert!(matches!(
        refusal(&state, at(500, false), t0()),
        Refusal::LowerExposure { .. }
    ));
    // Forced past the middle stage: the next ADVANCE goes up (to 100%), never back to 50%.
    step(&mut state, at(6000, true), t0()).unwrap();
    let c = ds(&state).rollout.candidate.clone().unwrap();
    assert_eq!((c.percent_bp, c.next_stage()), (6000, Some(10_000)));
    let later = t0() + Duration::hours(1);
    let change = step(&mut state, Transition::Advance { force: false }, later).unwrap();
    assert!(
        matches!(change.event, Event::MadeStable { .. }),
        "{change:?}"
    );
}

#[test]
fn an_auto_rollout_keeps_its_policy() {
    let mut state = with_stable();
    let e = Exposure {
        stages: vec![500, 2500, 10_000],
        soak_seconds: Some(60),
        auto: Some(AutoPolicy { rollback_after: 3 }),
        ..expose("v2")
    };
    step(&mut state, Transition::Expose(e), t0()).unwrap();
    let c = ds(&state).rollout.candidate.clone().unwrap();
    assert_eq!(c.auto, Some(AutoPolicy { rollback_after: 3 }));
    step(
        &mut state,
        Transition::Advance { force: false },
        t0() + Duration::minutes(1),
    )
    .unwrap();
    let c = ds(&state).rollout.candidate.clone().unwrap();
    assert_eq!((c.stage, c.auto.map(|a| a.rollback_after)), (1, Some(3)));
}
