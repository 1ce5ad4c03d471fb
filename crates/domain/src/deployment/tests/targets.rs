//! Steps on targets: one run per target with its own attempts, a window kept by the machine,
//! retries per run, no target is a failure naming role and environment, guided failure asks
//! about the failed targets, cancel stops every running run.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::TargetId;
use crate::names::{RoleName, TargetName};

fn on_targets(name: &str, window: usize, retries: u8) -> StepSpec {
    StepSpec {
        roles: vec![RoleName::parse("web").unwrap()],
        window,
        retries,
        ..spec(name)
    }
}

fn target(number: u128) -> TargetRef {
    TargetRef {
        id: TargetId::from_uuid(Uuid::from_u128(number)),
        name: TargetName::parse(&format!("web-{number}")).unwrap(),
    }
}

/// A deployment whose first step runs on `count` targets.
fn fanned(count: u128, window: usize, retries: u8, guided_failure: bool) -> Deployment {
    let mut deployment = deployment(vec![on_targets("Deploy", window, retries), spec("Notify")]);
    deployment.steps[0].targets = (1..=count).map(target).map(TargetRun::pending).collect();
    deployment.guided_failure = guided_failure;
    deployment
}

fn on(step: usize, target: usize, attempt: u32, outcome: StepOutcome) -> Command {
    Command::StepFinished(StepReport {
        step,
        target: Some(target),
        attempt,
        outcome,
        started_at: at(10),
        finished_at: at(11),
        outputs: BTreeMap::new(),
    })
}

fn failure() -> StepOutcome {
    StepOutcome::Failed {
        exit_code: Some(3),
        reason: "the script exited with code 3".into(),
    }
}

fn dispatched(transition: &Transition) -> Vec<(usize, Option<usize>, u32)> {
    transition.dispatches()
}

fn target_statuses(deployment: &Deployment, step: usize) -> Vec<StepStatus> {
    deployment.steps[step]
        .targets
        .iter()
        .map(|run| run.status)
        .collect()
}

#[test]
fn a_step_on_targets_starts_as_many_runs_as_its_window_and_the_next_as_one_ends() {
    let started = run(fanned(3, 2, 0, false), create());
    assert_eq!(dispatched(&started), [(0, Some(0), 1), (0, Some(1), 1)]);
    assert!(
        lines(&started).contains(&"Step \"Deploy\" runs on 3 targets, at most 2 at once".into())
    );
    assert!(lines(&started).contains(
        &"Step \"Deploy\" on target web-1 dispatched to the target's worker pool".into()
    ));
    let state = started.deployment;
    assert_eq!(
        target_statuses(&state, 0),
        [Running, Running, Pending],
        "the window holds the third back"
    );
    let one_done = run(state, on(0, 1, 1, StepOutcome::Succeeded));
    assert_eq!(dispatched(&one_done), [(0, Some(2), 1)]);
    assert_eq!(one_done.deployment.steps[0].status, Running);
    let two_done = run(one_done.deployment, on(0, 0, 1, StepOutcome::Succeeded));
    let all_done = run(two_done.deployment, on(0, 2, 1, StepOutcome::Succeeded));
    assert_eq!(all_done.deployment.steps[0].status, Succeeded);
    assert_eq!(
        dispatched(&all_done),
        [(1, None, 1)],
        "the next step starts once every target succeeded"
    );
}

#[test]
fn a_failed_target_run_is_retried_on_its_own_then_fails_the_step_naming_the_target() {
    let started = run(fanned(2, 10, 1, false), create()).deployment;
    let retried = run(started, on(0, 0, 1, failure()));
    assert_eq!(dispatched(&retried), [(0, Some(0), 2)]);
    assert!(lines(&retried).contains(
        &"Step \"Deploy\" on target web-1 attempt 1 failed: the script exited with code 3; retrying (1 of 1 retries)".into()
    ));
    // The other target's result is not affected by its neighbour's attempts.
    let other = run(retried.deployment, on(0, 1, 1, StepOutcome::Succeeded));
    assert_eq!(other.stale, None);
    let late = run(
        other.deployment.clone(),
        on(0, 0, 1, StepOutcome::Succeeded),
    );
    assert_eq!(late.stale, Some(Stale::OtherAttempt { current: 2 }));
    let failed = run(other.deployment, on(0, 0, 2, failure()));
    let state = &failed.deployment;
    assert_eq!(state.steps[0].status, Failed);
    assert_eq!(
        state.steps[0].error.as_deref(),
        Some("failed on target web-1: the script exited with code 3")
    );
    assert_eq!(state.status, DeploymentStatus::Failed);
    assert_eq!(
        state.error.as_deref(),
        Some("Step \"Deploy\" failed: failed on target web-1: the script exited with code 3")
    );
}

#[test]
fn once_a_target_fails_for_good_no_new_run_starts_and_the_rest_are_abandoned() {
    let started = run(fanned(3, 1, 0, false), create()).deployment;
    let failed = run(started, on(0, 0, 1, failure()));
    assert_eq!(
        dispatched(&failed),
        [],
        "nothing more starts, not even the next step"
    );
    assert_eq!(
        target_statuses(&failed.deployment, 0),
        [Failed, Abandoned, Abandoned]
    );
    assert_eq!(failed.deployment.steps[1].status, Skipped);
}

#[test]
fn a_step_whose_role_no_target_has_fails_naming_role_and_environment() {
    let ended = run(fanned(0, 10, 0, false), create());
    let state = &ended.deployment;
    assert_eq!(state.steps[0].status, Failed);
    assert_eq!(
        state.steps[0].error.as_deref(),
        Some("no target in environment Test has the role `web`")
    );
    assert_eq!(dispatched(&ended), []);
}

#[test]
fn guided_failure_asks_once_nothing_runs_and_retry_runs_only_the_failed_targets_again() {
    let started = run(fanned(2, 10, 0, true), create()).deployment;
    let one_failed = run(started, on(0, 0, 1, failure()));
    assert_eq!(
        one_failed.deployment.status,
        DeploymentStatus::Running,
        "the other target still runs: nobody is asked yet"
    );
    let asked = run(one_failed.deployment, on(0, 1, 1, StepOutcome::Succeeded));
    assert_eq!(
        asked.deployment.status,
        DeploymentStatus::WaitingForIntervention
    );
    assert!(lines(&asked)[1].starts_with(
        "Step \"Deploy\" failed: failed on target web-1: the script exited with code 3. Guided failure is on"
    ));
    let taken = run(asked.deployment, take("alice")).deployment;
    let retried = run(taken, answer("alice", Answer::Retry, None));
    assert_eq!(dispatched(&retried), [(0, Some(0), 2)]);
    assert_eq!(
        target_statuses(&retried.deployment, 0),
        [Running, Succeeded]
    );
    let done = run(retried.deployment, on(0, 0, 2, StepOutcome::Succeeded));
    assert_eq!(done.deployment.steps[0].status, Succeeded);
}

#[test]
fn cancel_stops_every_running_target_run_and_abandons_the_rest() {
    let started = run(fanned(3, 2, 0, false), create()).deployment;
    let cancelled = run(started, cancel("bob"));
    let stops: Vec<_> = cancelled
        .effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::StopStep { step, target, .. } => Some((*step, *target)),
            _ => None,
        })
        .collect();
    assert_eq!(stops, [(0, Some(0)), (0, Some(1))]);
    assert_eq!(
        target_statuses(&cancelled.deployment, 0),
        [Canceled, Canceled, Abandoned]
    );
    assert_eq!(cancelled.deployment.status, DeploymentStatus::Canceled);
}

#[test]
fn a_target_run_is_claimed_once_and_a_silent_worker_loses_only_its_own_run() {
    let started = run(fanned(2, 10, 0, false), create()).deployment;
    let claim = |target, worker: &str| Command::Claim {
        step: 0,
        target: Some(target),
        attempt: 1,
        worker: worker.into(),
        claim_id: crate::ClaimId::from_uuid(Uuid::from_u128(process_of(worker))),
    };
    let claimed = run(started, claim(0, "w1"));
    assert!(
        lines(&claimed).contains(&"Step \"Deploy\" started on target web-1 (worker w1)".into())
    );
    let second = run(claimed.deployment.clone(), claim(0, "w2"));
    assert_eq!(second.stale, Some(Stale::AlreadyClaimed));
    let lost = run(
        claimed.deployment,
        Command::Lost {
            step: 0,
            target: Some(0),
            attempt: 1,
            why: LostAttempt::Silent {
                worker: "w1".into(),
                silent_seconds: 60,
            },
        },
    );
    assert_eq!(target_statuses(&lost.deployment, 0), [Failed, Running]);
    assert!(lost.effects.contains(&Effect::StopStep {
        step: 0,
        target: Some(0),
        attempt: 1,
        why: StopReason::Lost
    }));
}
