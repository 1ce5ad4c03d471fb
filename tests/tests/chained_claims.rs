//! Chained claims (ARCHITECTURE.md, "Chained claims"): a deployment's next step goes to the
//! worker that finished the step before it, already claimed in the result's transaction,
//! without a claim of its own, and so does the first step of the deployment queued behind it;
//! a copy of such a job never runs a step twice; an offer the API does not take frees the
//! worker's slot at once.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::{Duration, Instant};

use ferry_tests::{
    DeploymentStatus, Patience, Progress, StackOptions, TestStack, log_text, poll_until,
};
use serde_json::json;

/// How many chained jobs the outbox holds for a deployment (jobs sent straight to the
/// worker whose offer was granted).
async fn chained_jobs(stack: &TestStack, deployment_id: &str) -> i64 {
    stack
        .db()
        .await
        .query_one(
            "SELECT count(*) FROM outbox
             WHERE kind = 'chained_job' AND payload->'job'->>'deployment_id' = $1",
            &[&deployment_id],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_step_goes_to_the_worker_that_finished_the_last_and_a_copy_never_runs_twice() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    let counter = stack.scripts_folder.path().join("runs");
    let steps: Vec<_> = ["One", "Two", "Three"]
        .iter()
        .map(|name| {
            json!({ "name": name, "script": format!("echo {name} >> {}", counter.display()) })
        })
        .collect();
    stack
        .create_project(&json!({ "name": "Chained", "steps": steps }))
        .await;
    stack.create_release("Chained", "1.0.0").await;
    let deployment_id = stack.deploy("Chained", "1.0.0", "Dev").await;
    let deployment = stack
        .wait_for(&deployment_id, DeploymentStatus::Success)
        .await;
    let log = log_text(&deployment);
    assert_eq!(
        log.matches("started on worker test-worker").count(),
        3,
        "{log}"
    );
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap(),
        "One\nTwo\nThree\n"
    );

    // Steps Two and Three went straight to the worker's private queue, not to the pool.
    let db = stack.db().await;
    let rows = db
        .query(
            "SELECT routing_key, published_at IS NOT NULL FROM outbox
             WHERE kind = 'chained_job' AND payload->'job'->>'deployment_id' = $1",
            &[&deployment_id],
        )
        .await
        .unwrap();
    assert_eq!(
        rows.len(),
        2,
        "one chained job for each step after the first"
    );
    for row in &rows {
        assert!(row.get::<_, String>(0).starts_with("amq.gen-"));
    }

    // The relay sends both again (as after a crash before it stamped them): the worker's
    // offers are spent, so neither step runs again.
    db.execute(
        "UPDATE outbox SET published_at = NULL
         WHERE kind = 'chained_job' AND payload->'job'->>'deployment_id' = $1",
        &[&deployment_id],
    )
    .await
    .unwrap();
    poll_until(
        "the relay to send the copies",
        Patience::within(Duration::from_secs(30)),
        || async {
            let row = db
                .query_one(
                    "SELECT count(*) FROM outbox WHERE kind = 'chained_job'
                     AND payload->'job'->>'deployment_id' = $1 AND published_at IS NULL",
                    &[&deployment_id],
                )
                .await
                .unwrap();
            match row.get::<_, i64>(0) {
                0 => Progress::Done(()),
                left => Progress::NotYet(format!("{left} not sent again yet")),
            }
        },
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap(),
        "One\nTwo\nThree\n",
        "a copy of a chained job ran its step again"
    );
    let deployment = stack.deployment(&deployment_id).await;
    assert_eq!(deployment["status"], "Success", "{deployment:#}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_queued_behind_another_starts_on_the_worker_that_finished_it() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(
            &json!({ "name": "Lined Up", "steps": [{ "name": "Wait", "script": "sleep 1" }] }),
        )
        .await;
    stack.create_release("Lined Up", "1.0.0").await;
    let ahead = stack.deploy("Lined Up", "1.0.0", "Dev").await;
    let behind = stack.deploy("Lined Up", "1.0.0", "Dev").await;
    stack.wait_for(&ahead, DeploymentStatus::Success).await;
    let deployment = stack.wait_for(&behind, DeploymentStatus::Success).await;
    let log = log_text(&deployment);
    assert!(log.contains("finished; starting"), "it was queued:\n{log}");
    assert!(log.contains("started on worker test-worker"), "{log}");
    let chained = chained_jobs(&stack, &behind).await;
    assert_eq!(
        chained, 1,
        "its step went to the worker that finished the one ahead"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_for_another_pool_is_not_chained_to_the_worker_that_offered() {
    // The deployment queued behind moves to a pool no worker serves before it starts: the
    // offer of the default pool's worker must not take its step.
    let mut stack = TestStack::start().await;
    stack.uses_worker_pool("elsewhere");
    stack.create_environment("Dev").await;
    let project = |pool: &str| {
        json!({ "name": "Moving", "worker_pool": pool,
                "steps": [{ "name": "Wait", "script": "sleep 1" }] })
    };
    stack.create_project(&project("default")).await;
    stack.create_release("Moving", "1.0.0").await;
    let ahead = stack.deploy("Moving", "1.0.0", "Dev").await;
    let behind = stack.deploy("Moving", "1.0.0", "Dev").await;
    let (status, answer) = stack
        .put("/api/projects/Moving", &project("elsewhere"))
        .await;
    assert!(status.is_success(), "{answer}");
    stack.wait_for(&ahead, DeploymentStatus::Success).await;
    stack
        .wait_for_log_line(&behind, "dispatched to worker pool `elsewhere`")
        .await;
    let chained = chained_jobs(&stack, &behind).await;
    assert_eq!(
        chained, 0,
        "a step of another pool went to this pool's worker"
    );
    let deployment = stack.deployment(&behind).await;
    assert!(
        !log_text(&deployment).contains("started on worker"),
        "{deployment:#}"
    );
    stack.cancel(&behind).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offer_the_api_does_not_take_frees_the_workers_only_slot_at_once() {
    // One slot: a one-step deployment's result offers to run a next step there is not, and
    // the slot it keeps for it must come back with the refusal, not after the offer expires
    // (30 s).
    let stack = TestStack::start_with(StackOptions {
        worker_concurrency: 1,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    for name in ["First", "Second", "Third"] {
        stack
            .create_project(
                &json!({ "name": name, "steps": [{ "name": "Only", "script": "true" }] }),
            )
            .await;
        stack.create_release(name, "1.0.0").await;
    }
    let started = Instant::now();
    for name in ["First", "Second", "Third"] {
        let id = stack.deploy(name, "1.0.0", "Dev").await;
        stack
            .wait_for_within(&id, DeploymentStatus::Success, Duration::from_secs(20))
            .await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "three one-step deployments on one slot took {:?}",
        started.elapsed()
    );
    stack.stop().await;
}
