//! Creating a deployment, queueing it behind another, and its turn coming.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn a_new_deployment_dispatches_its_first_step() {
    let created = run(deployment(vec![spec("Deploy"), spec("Smoke")]), create());
    assert_eq!(created.deployment.status, DeploymentStatus::Running);
    assert_eq!(created.deployment.started_at, Some(at(30)));
    assert_eq!(statuses(&created), [Running, Pending]);
    assert_eq!(created.deployment.steps[0].attempt, 1);
    assert_eq!(
        others(&created),
        [Effect::Dispatch {
            step: 0,
            target: None,
            attempt: 1
        }]
    );
    assert_eq!(
        lines(&created),
        [
            "Deploying release 0.0.2 to Test requested by jenkins",
            "Step \"Deploy\" dispatched to worker pool `default`",
        ]
    );
}

#[test]
fn a_deployment_behind_another_waits_then_starts_when_its_turn_comes() {
    let ahead = DeploymentId::from(Uuid::from_u128(7));
    let queued = run(
        deployment(vec![spec("Deploy")]),
        Command::Create {
            requested_by: "jenkins".into(),
            purpose: Purpose::Rollback,
            ahead: Some(ahead),
        },
    );
    assert_eq!(queued.deployment.status, DeploymentStatus::Queued);
    assert_eq!(statuses(&queued), [Pending]);
    assert!(others(&queued).is_empty(), "nothing is dispatched");
    assert_eq!(
        lines(&queued),
        [
            "Rolling back to release 0.0.2 to Test requested by jenkins".to_owned(),
            format!("Queued behind deployment {ahead} of the same project and environment"),
        ]
    );
    let started = run(queued.deployment, Command::Start);
    assert_eq!(started.deployment.status, DeploymentStatus::Running);
    assert_eq!(
        lines(&started)[0],
        "The previous deployment of this project to this environment finished; starting"
    );
    assert_eq!(
        transition(started.deployment, Command::Start, at(31)).unwrap_err(),
        Refusal::NotQueued {
            status: DeploymentStatus::Running
        }
    );
}

#[test]
fn a_deployment_whose_every_step_is_skipped_finishes_at_once() {
    let plan = vec![StepSpec {
        excluded: true,
        ..with_condition(Condition::Always, spec("Deploy"))
    }];
    let done = run(deployment(plan), create());
    assert_eq!(done.deployment.status, DeploymentStatus::Success);
    assert_eq!(done.deployment.started_at, None, "it never ran");
    assert_eq!(statuses(&done), [Skipped]);
    assert_eq!(
        lines(&done)[1],
        "Step \"Deploy\" skipped: it was excluded from this deployment"
    );
}
