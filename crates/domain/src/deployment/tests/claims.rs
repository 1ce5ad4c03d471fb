//! The start handshake and lost attempts: one claim per attempt wins, and an attempt nobody
//! took or whose worker went silent fails like any failed attempt.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

#[test]
fn the_first_claim_of_the_running_attempt_wins_and_is_logged() {
    let created = run(deployment(vec![spec("Deploy")]), create());
    let claimed = run(created.deployment, claim(0, 1, "worker-a"));
    assert_eq!(claimed.stale, None);
    assert_eq!(
        claimed.deployment.steps[0].claimed_by.as_deref(),
        Some("worker-a")
    );
    assert_eq!(
        lines(&claimed),
        ["Step \"Deploy\" started on worker worker-a"]
    );
    // A duplicated job, or the same job delivered twice, never runs a second time.
    let again = run(claimed.deployment.clone(), claim(0, 1, "worker-b"));
    assert_eq!(again.stale, Some(Stale::AlreadyClaimed));
    assert_eq!(again.deployment, claimed.deployment);
    // Another process of the same name (a restarted worker, two on one host) is refused too.
    let namesake = run(
        claimed.deployment.clone(),
        claim_as(0, 1, "worker-a", process_of("worker-a") + 1),
    );
    assert_eq!(namesake.stale, Some(Stale::AlreadyClaimed));
    assert_eq!(namesake.deployment, claimed.deployment);
    // The winning claim sent again (its answer was lost) is granted again, writing nothing.
    let resent = run(claimed.deployment.clone(), claim(0, 1, "worker-a"));
    assert_eq!(resent.stale, None);
    assert_eq!(resent.deployment, claimed.deployment);
    assert!(lines(&resent).is_empty(), "{:?}", lines(&resent));
}

#[test]
fn a_cancelled_or_superseded_attempt_cannot_be_claimed() {
    let created = run(deployment(vec![spec("Deploy")]), create());
    let cancelled = run(created.deployment.clone(), cancel("frank"));
    assert_eq!(
        run(cancelled.deployment, claim(0, 1, "worker-a")).stale,
        Some(Stale::DeploymentFinished {
            status: DeploymentStatus::Canceled
        })
    );
    let retried = Deployment {
        steps: vec![StepRun {
            attempt: 2,
            ..created.deployment.steps[0].clone()
        }],
        ..created.deployment
    };
    assert_eq!(
        run(retried, claim(0, 1, "worker-a")).stale,
        Some(Stale::OtherAttempt { current: 2 })
    );
}

#[test]
fn a_job_no_worker_took_in_time_fails_its_step_and_retries_apply() {
    let retried = StepSpec {
        retries: 1,
        ..spec("Deploy")
    };
    let created = run(deployment(vec![retried]), create());
    let lost = run(
        created.deployment,
        Command::Lost {
            step: 0,
            target: None,
            attempt: 1,
            why: LostAttempt::NotTaken {
                waited_seconds: 3600,
            },
        },
    );
    assert_eq!(
        lines(&lost),
        [
            "Step \"Deploy\" attempt 1 failed: no worker took its job within 3600 seconds (the dispatch timeout); retrying (1 of 1 retries)",
            "Step \"Deploy\" dispatched to worker pool `default` (attempt 2)"
        ]
    );
    // Claimed meanwhile: the loss no longer holds.
    let claimed = run(lost.deployment, claim(0, 2, "worker-a"));
    let late = run(
        claimed.deployment,
        Command::Lost {
            step: 0,
            target: None,
            attempt: 2,
            why: LostAttempt::NotTaken { waited_seconds: 1 },
        },
    );
    assert_eq!(late.stale, Some(Stale::NotLost));
}

#[test]
fn a_silent_worker_fails_its_step_naming_the_worker() {
    let created = run(deployment(vec![spec("Deploy")]), create());
    let claimed = run(created.deployment, claim(0, 1, "worker-a"));
    let other = run(
        claimed.deployment.clone(),
        Command::Lost {
            step: 0,
            target: None,
            attempt: 1,
            why: LostAttempt::Silent {
                worker: "worker-b".into(),
                silent_seconds: 90,
            },
        },
    );
    assert_eq!(other.stale, Some(Stale::NotLost));
    let lost = run(
        claimed.deployment,
        Command::Lost {
            step: 0,
            target: None,
            attempt: 1,
            why: LostAttempt::Silent {
                worker: "worker-a".into(),
                silent_seconds: 90,
            },
        },
    );
    assert_eq!(lost.deployment.status, DeploymentStatus::Failed);
    // The worker, if only cut off, is told to stop: never alongside a retry.
    assert!(lost.effects.contains(&Effect::StopStep {
        step: 0,
        target: None,
        attempt: 1,
        why: StopReason::Lost
    }));
    assert_eq!(
        lost.deployment.steps[0].error.as_deref(),
        Some("worker worker-a was lost: it sent no heartbeat for 90 seconds")
    );
}
