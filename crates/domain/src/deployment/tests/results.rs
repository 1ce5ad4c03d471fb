//! Workers' results: success, failure, retries, stale results and outputs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn each_success_dispatches_the_next_step_and_the_last_one_finishes_the_deployment() {
    let created = run(deployment(vec![spec("Deploy"), spec("Smoke")]), create());
    let first = run(created.deployment, succeeded(0, 1));
    assert_eq!(statuses(&first), [Succeeded, Running]);
    assert_eq!(first.deployment.steps[0].finished_at, Some(at(11)));
    assert_eq!(
        lines(&first),
        [
            "Step \"Deploy\" Succeeded",
            "Step \"Smoke\" dispatched to worker pool `default`"
        ]
    );
    let done = run(first.deployment, succeeded(1, 1));
    assert_eq!(done.deployment.status, DeploymentStatus::Success);
    assert_eq!(done.deployment.error, None);
    assert_eq!(done.deployment.finished_at, Some(at(30)));
    assert_eq!(
        others(&done),
        [
            Effect::Finished {
                status: DeploymentStatus::Success,
                failed_step: None
            },
            Effect::StartNextQueued(NextQueued::Start)
        ]
    );
    assert_eq!(
        lines(&done).last().unwrap(),
        "Deployment of Random Quotes release 0.0.2 to Test finished: Success"
    );
}

#[test]
fn a_failure_skips_success_steps_runs_always_steps_and_fails_naming_the_step() {
    let plan = vec![
        spec("Migrate database"),
        spec("Deploy"),
        with_condition(Condition::Always, spec("Clean up")),
    ];
    let created = run(deployment(plan), create());
    let after = run(created.deployment, failed(0, 1, 3));
    assert_eq!(statuses(&after), [Failed, Skipped, Running]);
    assert_eq!(after.deployment.steps[0].exit_code, Some(3));
    assert_eq!(
        lines(&after)[..2],
        [
            "Step \"Migrate database\" failed: the script exited with code 3",
            "Step \"Deploy\" skipped: its run condition does not hold"
        ]
    );
    let done = run(after.deployment, succeeded(2, 1));
    assert_eq!(done.deployment.status, DeploymentStatus::Failed);
    assert_eq!(
        done.deployment.error.as_deref(),
        Some("Step \"Migrate database\" failed: the script exited with code 3")
    );
    assert!(others(&done).contains(&Effect::Finished {
        status: DeploymentStatus::Failed,
        failed_step: Some(0)
    }));
}

#[test]
fn failed_attempts_are_retried_before_the_step_fails() {
    let plan = vec![StepSpec {
        retries: 2,
        ..spec("Flaky")
    }];
    let mut state = run(deployment(plan), create()).deployment;
    for attempt in 1..=2 {
        let retried = run(state, failed(0, attempt, 1));
        assert_eq!(statuses(&retried), [Running]);
        assert_eq!(retried.deployment.steps[0].attempt, attempt + 1);
        assert_eq!(
            retried.deployment.steps[0].exit_code, None,
            "a new attempt starts with a fresh result"
        );
        assert_eq!(
            lines(&retried),
            [
                format!(
                    "Step \"Flaky\" attempt {attempt} failed: the script exited with code 1; retrying ({attempt} of 2 retries)"
                ),
                format!(
                    "Step \"Flaky\" dispatched to worker pool `default` (attempt {})",
                    attempt + 1
                ),
            ]
        );
        assert_eq!(
            others(&retried),
            [Effect::Dispatch {
                step: 0,
                target: None,
                attempt: attempt + 1
            }]
        );
        state = retried.deployment;
    }
    let done = run(state, failed(0, 3, 1));
    assert_eq!(done.deployment.status, DeploymentStatus::Failed);
}

#[test]
fn a_stale_result_changes_nothing() {
    let created = run(deployment(vec![spec("Deploy"), spec("Smoke")]), create());
    // Another attempt's result.
    let other = run(created.deployment.clone(), succeeded(0, 2));
    assert_eq!(other.stale, Some(Stale::OtherAttempt { current: 1 }));
    assert_eq!(other.deployment, created.deployment);
    assert!(other.effects.is_empty());
    // A second delivery of a result already applied.
    let once = run(created.deployment, succeeded(0, 1));
    let twice = run(once.deployment.clone(), succeeded(0, 1));
    assert_eq!(
        twice.stale,
        Some(Stale::StepNotRunning { status: Succeeded })
    );
    assert_eq!(twice.deployment, once.deployment);
    // A result for a cancelled deployment.
    let cancelled = run(once.deployment, cancel("frank"));
    let late = run(cancelled.deployment.clone(), succeeded(1, 1));
    assert_eq!(
        late.stale,
        Some(Stale::DeploymentFinished {
            status: DeploymentStatus::Canceled
        })
    );
    assert_eq!(late.deployment, cancelled.deployment);
    // A step the deployment does not have.
    assert_eq!(
        transition(late.deployment, succeeded(9, 1), at(40)).unwrap_err(),
        Refusal::NoSuchStep { step: 9 }
    );
}

#[test]
fn outputs_of_the_current_attempt_are_kept_for_later_steps() {
    let created = run(deployment(vec![spec("Deploy"), spec("Smoke")]), create());
    let mut report = StepReport {
        step: 0,
        target: None,
        attempt: 1,
        outcome: StepOutcome::Succeeded,
        started_at: at(10),
        finished_at: at(11),
        outputs: BTreeMap::from([("Greeting".to_owned(), "hello".to_owned())]),
    };
    let stale = run(
        created.deployment.clone(),
        Command::StepFinished(StepReport {
            attempt: 5,
            ..report.clone()
        }),
    );
    assert!(stale.deployment.steps[0].outputs.is_empty());
    report.attempt = 1;
    let done = run(created.deployment, Command::StepFinished(report));
    assert_eq!(done.deployment.steps[0].outputs["Greeting"], "hello");
}

#[test]
fn a_worker_that_died_fails_its_step_without_an_exit_code() {
    let created = run(deployment(vec![spec("Deploy")]), create());
    let died = run(
        created.deployment,
        Command::StepFinished(StepReport {
            step: 0,
            target: None,
            attempt: 1,
            outcome: StepOutcome::Failed {
                exit_code: None,
                reason: "the worker running this step stopped before it reported a result".into(),
            },
            started_at: at(10),
            finished_at: at(11),
            outputs: BTreeMap::new(),
        }),
    );
    assert_eq!(died.deployment.status, DeploymentStatus::Failed);
    assert_eq!(died.deployment.steps[0].exit_code, None);
    assert_eq!(
        died.deployment.error.as_deref(),
        Some(
            "Step \"Deploy\" failed: the worker running this step stopped before it reported a result"
        )
    );
}
