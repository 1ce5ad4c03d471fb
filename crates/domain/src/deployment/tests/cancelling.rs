//! Cancelling a running, queued or paused deployment.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn cancel_stops_the_running_step_and_abandons_the_rest_even_always_steps() {
    let plan = vec![
        spec("Deploy"),
        spec("Smoke"),
        with_condition(Condition::Always, spec("Report")),
    ];
    let running = run(run(deployment(plan), create()).deployment, succeeded(0, 1));
    let cancelled = run(running.deployment, cancel("frank"));
    assert_eq!(cancelled.deployment.status, DeploymentStatus::Canceled);
    assert_eq!(statuses(&cancelled), [Succeeded, Canceled, Abandoned]);
    assert_eq!(
        cancelled.deployment.steps[2].error.as_deref(),
        Some("cancelled by frank")
    );
    assert_eq!(
        cancelled.deployment.error.as_deref(),
        Some("the deployment was cancelled")
    );
    assert_eq!(
        others(&cancelled),
        [
            Effect::StopStep {
                step: 1,
                target: None,
                attempt: 1,
                why: StopReason::Cancelled
            },
            Effect::Finished {
                status: DeploymentStatus::Canceled,
                failed_step: Some(1)
            },
            Effect::StartNextQueued(NextQueued::Start)
        ]
    );
    assert_eq!(lines(&cancelled)[0], "Cancelled by frank");
    assert_eq!(
        transition(cancelled.deployment, cancel("frank"), at(40)).unwrap_err(),
        Refusal::AlreadyFinished {
            status: DeploymentStatus::Canceled
        }
    );
}

#[test]
fn cancelling_a_queued_deployment_frees_the_line_only_if_nothing_else_runs() {
    let queued = run(
        deployment(vec![spec("Deploy"), spec("Smoke")]),
        Command::Create {
            requested_by: "jenkins".into(),
            purpose: Purpose::Deploy,
            ahead: Some(DeploymentId::from(Uuid::from_u128(1))),
        },
    );
    let cancelled = run(queued.deployment, cancel("frank"));
    assert_eq!(statuses(&cancelled), [Abandoned, Abandoned]);
    assert_eq!(
        others(&cancelled),
        [
            Effect::Finished {
                status: DeploymentStatus::Canceled,
                failed_step: None
            },
            Effect::StartNextQueued(NextQueued::IfIdle)
        ]
    );
}

#[test]
fn cancelling_a_paused_deployment_closes_its_question_and_stops_no_worker() {
    let cancelled = run(waiting_for_sign_off(), cancel("frank"));
    assert_eq!(
        statuses(&cancelled),
        [Canceled, Abandoned, Abandoned, Abandoned]
    );
    assert_eq!(cancelled.deployment.open_interruption, None);
    let effects = others(&cancelled);
    assert_eq!(
        effects[0],
        Effect::CloseInterruption {
            cancelled_by: "frank".into()
        }
    );
    assert!(
        !effects
            .iter()
            .any(|effect| matches!(effect, Effect::StopStep { .. })),
        "no worker runs a manual intervention"
    );
}

#[test]
fn cancelling_during_a_guided_failure_question_stops_no_worker() {
    let cancelled = run(paused_by_guided_failure().deployment, cancel("frank"));
    assert_eq!(statuses(&cancelled), [Canceled, Abandoned, Abandoned]);
    let effects = others(&cancelled);
    assert!(
        !effects
            .iter()
            .any(|effect| matches!(effect, Effect::StopStep { .. })),
        "the worker already reported: none runs the step"
    );
    assert!(effects.contains(&Effect::CloseInterruption {
        cancelled_by: "frank".into()
    }));
}
