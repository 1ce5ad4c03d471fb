//! Guided failure: a failed step pauses and a person retries, ignores or aborts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn under_guided_failure_a_failed_step_pauses_and_asks_a_person() {
    let paused = paused_by_guided_failure();
    let state = &paused.deployment;
    assert_eq!(state.status, DeploymentStatus::WaitingForIntervention);
    assert_eq!(statuses(&paused), [Running, Pending, Pending]);
    assert_eq!(state.steps[0].exit_code, Some(2), "the failure is recorded");
    let question = "Step \"Deploy\" failed: the script exited with code 2. Guided failure is on: retry the step, ignore the failure and carry on, or abort.";
    assert_eq!(
        others(&paused),
        [Effect::OpenInterruption {
            step: 0,
            kind: InterruptionKind::GuidedFailure,
            instructions: question.into(),
            responsible_team: None
        }]
    );
    assert_eq!(lines(&paused), [question]);
    assert_eq!(
        state.open_interruption,
        Some(OpenInterruption {
            step: 0,
            kind: InterruptionKind::GuidedFailure,
            taken_by: None
        })
    );
    // While it waits, a late copy of the result is stale.
    let late = run(paused.deployment.clone(), failed(0, 2, 2));
    assert_eq!(late.stale, Some(Stale::WaitingForIntervention));
}

#[test]
fn guided_failure_retry_runs_a_new_attempt() {
    let paused = paused_by_guided_failure().deployment;
    let taken = run(paused, take("alice")).deployment;
    let retried = run(taken, answer("alice", Answer::Retry, None));
    assert_eq!(retried.deployment.status, DeploymentStatus::Running);
    assert_eq!(retried.deployment.open_interruption, None);
    assert_eq!(retried.deployment.steps[0].attempt, 3);
    assert_eq!(
        others(&retried),
        [
            Effect::ResolveInterruption {
                answer: Answer::Retry,
                note: None,
                answered_by: "alice".into()
            },
            Effect::Dispatch {
                step: 0,
                target: None,
                attempt: 3
            }
        ]
    );
    // Failing again asks again (a person's retries are beyond the automatic ones).
    let asked_again = run(retried.deployment, failed(0, 3, 2));
    assert_eq!(
        asked_again.deployment.status,
        DeploymentStatus::WaitingForIntervention
    );
}

#[test]
fn guided_failure_ignore_carries_on_with_the_step_flagged() {
    let paused = paused_by_guided_failure().deployment;
    let taken = run(paused, take("alice")).deployment;
    let ignored = run(taken, answer("alice", Answer::Ignore, Some("known issue")));
    assert_eq!(statuses(&ignored), [Succeeded, Running, Pending]);
    assert!(ignored.deployment.steps[0].failure_ignored);
    assert_eq!(
        lines(&ignored)[0],
        "alice chose to ignore step \"Deploy\": known issue"
    );
    let done = run(
        run(ignored.deployment, succeeded(1, 1)).deployment,
        succeeded(2, 1),
    );
    assert_eq!(done.deployment.status, DeploymentStatus::Success);
}

#[test]
fn guided_failure_abort_keeps_the_failure_and_runs_always_steps() {
    let paused = paused_by_guided_failure().deployment;
    let taken = run(paused, take("alice")).deployment;
    let aborted = run(taken, answer("alice", Answer::Abort, None));
    assert_eq!(statuses(&aborted), [Failed, Skipped, Running]);
    assert_eq!(
        aborted.deployment.steps[0].error.as_deref(),
        Some("the script exited with code 2")
    );
    let done = run(aborted.deployment, succeeded(2, 1));
    assert_eq!(
        done.deployment.error.as_deref(),
        Some("Step \"Deploy\" failed: the script exited with code 2")
    );
}
