//! The start handshake (ARCHITECTURE.md, "Jobs, claims and leases"): a worker runs a job
//! only once the API grants its claim, so a duplicated job runs its script once, a cancelled
//! deployment's job never runs even on a worker that never heard the stop, a worker that
//! beats for an attempt it no longer holds is told to stop it, and a worker that is stopped
//! hands back the jobs it has not started.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

use ferry_broker::{FieldTable, OutgoingMessage, Publisher};
use ferry_tests::{
    DeploymentStatus, Patience, Progress, StackOptions, TestStack, log_text, poll_until,
    spawn_worker_process,
};
use lapin::options::{BasicAckOptions, BasicGetOptions};
use serde_json::json;

/// Takes the one job waiting in the stack's default queue (no worker runs yet).
async fn take_waiting_job(stack: &TestStack, connection: &lapin::Connection) -> Vec<u8> {
    let queue = ferry_broker::Topology::new(&stack.queue_prefix)
        .step_jobs("default")
        .queue;
    let channel = connection.create_channel().await.unwrap();
    poll_until(
        "the job to wait in its queue",
        Patience::within(Duration::from_secs(30)),
        || async {
            match channel
                .basic_get(queue.as_str().into(), BasicGetOptions::default())
                .await
                .unwrap()
            {
                Some(message) => {
                    let data = message.delivery.data.clone();
                    message
                        .delivery
                        .ack(BasicAckOptions::default())
                        .await
                        .unwrap();
                    Progress::Done(data)
                }
                None => Progress::NotYet("no job yet".to_owned()),
            }
        },
    )
    .await
}

/// Puts `job` into the stack's default queue, `copies` times, as the relay would.
async fn put_job(stack: &TestStack, connection: &lapin::Connection, job: &[u8], copies: usize) {
    let queue = ferry_broker::Topology::new(&stack.queue_prefix)
        .step_jobs("default")
        .queue;
    let publisher = Publisher::open(connection).await.unwrap();
    for copy in 0..copies {
        publisher
            .publish(OutgoingMessage {
                exchange: "",
                routing_key: &queue,
                message_id: &format!("copy-{copy}"),
                kind: "step_job",
                payload: job,
                headers: FieldTable::default(),
                expiration_ms: None,
            })
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_job_runs_its_script_once_across_workers() {
    let mut stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    let counter = stack.scripts_folder.path().join("runs");
    stack
        .create_project(&json!({
            "name": "Counted",
            "steps": [{ "name": "Count", "script": format!("echo ran >> {}\nsleep 1", counter.display()) }],
        }))
        .await;
    stack.create_release("Counted", "1.0.0").await;
    let deployment_id = stack.deploy("Counted", "1.0.0", "Dev").await;
    let connection = ferry_broker::connect(&stack.servers.amqp_url, "test-duplicator")
        .await
        .unwrap();
    let job = take_waiting_job(&stack, &connection).await;
    // The relay crashed between publishing and committing, twice: three copies.
    put_job(&stack, &connection, &job, 3).await;
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    stack.start_worker(first.path());
    stack.start_worker(second.path());
    let deployment = stack
        .wait_for_within(
            &deployment_id,
            DeploymentStatus::Success,
            Duration::from_secs(60),
        )
        .await;
    // Wait until no copy is left in the queue, then count the runs.
    stack.wait_until_jobs_taken("default").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let runs = std::fs::read_to_string(&counter).unwrap();
    assert_eq!(runs.lines().count(), 1, "the script ran {runs:?}");
    assert_eq!(
        log_text(&deployment).matches("started on worker").count(),
        1,
        "{}",
        log_text(&deployment)
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_deployments_job_never_runs_on_a_worker_that_never_heard_the_stop() {
    let mut stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    let marker = stack.scripts_folder.path().join("ran");
    stack
        .create_project(&json!({
            "name": "Cancelled Early",
            "steps": [{ "name": "Touch", "script": format!("touch {}", marker.display()) }],
        }))
        .await;
    stack.create_release("Cancelled Early", "1.0.0").await;
    let deployment_id = stack.deploy("Cancelled Early", "1.0.0", "Dev").await;
    stack
        .wait_for_log_line(&deployment_id, "dispatched to worker pool")
        .await;
    // No worker was running to hear the stop message; the job waits in the queue.
    stack.cancel(&deployment_id).await;
    let work_root = tempfile::tempdir().unwrap();
    stack.start_worker(work_root.path());
    stack.wait_until_jobs_taken("default").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!marker.exists(), "the cancelled deployment's script ran");
    let deployment = stack.deployment(&deployment_id).await;
    assert_eq!(deployment["status"], "Canceled", "{deployment:#}");
    assert!(!log_text(&deployment).contains("started on worker"));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_worker_hands_back_the_jobs_it_has_not_started() {
    let mut stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    let mut deployments = Vec::new();
    for index in 0..4 {
        let name = format!("Queued {index}");
        stack
            .create_project(&json!({
                "name": name,
                "steps": [{ "name": "Work", "script": "echo working\nsleep 2\necho done" }],
            }))
            .await;
        stack.create_release(&name, "1.0.0").await;
        deployments.push(stack.deploy(&name, "1.0.0", "Dev").await);
    }
    let work_root = tempfile::tempdir().unwrap();
    let mut environment = stack.worker_environment(work_root.path());
    environment.push(("FERRY_WORKER_CONCURRENCY".into(), "1".into()));
    environment.push(("FERRY_WORKER_NAME".into(), "stopping-worker".into()));
    let mut worker = spawn_worker_process(env!("CARGO_BIN_EXE_ferry-test-worker"), environment);
    // One job runs; the next one is delivered and waits for the worker's only slot.
    poll_until(
        "a step to start",
        Patience::within(Duration::from_secs(30)),
        || async {
            for id in &deployments {
                if log_text(&stack.deployment(id).await).contains("working") {
                    return Progress::Done(());
                }
            }
            Progress::NotYet("no step started".to_owned())
        },
    )
    .await;
    let pid = worker.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .expect("the worker stops once its running step finished")
        .unwrap();
    assert!(status.success(), "the worker stopped cleanly: {status}");
    // A fresh worker takes what the stopped one handed back.
    let second = tempfile::tempdir().unwrap();
    stack.start_worker(second.path());
    for id in &deployments {
        let deployment = stack
            .wait_for_within(id, DeploymentStatus::Success, Duration::from_secs(60))
            .await;
        let log = log_text(&deployment);
        assert!(!log.contains("lost"), "{log}");
        assert_eq!(log.matches("started on worker").count(), 1, "{log}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_beating_for_an_attempt_it_no_longer_holds_is_told_to_stop() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Held Elsewhere",
            "steps": [{ "name": "Wait", "script": "echo waiting; sleep 60; echo never" }],
        }))
        .await;
    stack.create_release("Held Elsewhere", "1.0.0").await;
    let deployment_id = stack.deploy("Held Elsewhere", "1.0.0", "Dev").await;
    stack.wait_for_log_line(&deployment_id, "waiting").await;
    // As if the attempt had been given to another worker while this one was cut off and
    // missed the stop sent then: its next heartbeat is answered with a stop of its own.
    let deployment: uuid::Uuid = deployment_id.parse().unwrap();
    stack
        .db()
        .await
        .execute(
            // The state version moves on, as ARCHITECTURE.md asks of any change made by hand.
            "WITH moved AS (UPDATE deployments SET state_version = state_version + 1
                            WHERE deployment_id = $1)
             UPDATE step_runs SET claimed_by = 'another-worker' WHERE deployment_id = $1",
            &[&deployment],
        )
        .await
        .unwrap();
    stack
        .wait_for_log_line_within(
            &deployment_id,
            "the script was stopped because this worker no longer holds the attempt",
            Duration::from_secs(30),
        )
        .await;
    let deployment = stack.deployment(&deployment_id).await;
    assert!(!log_text(&deployment).contains("never"), "{deployment:#}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_during_a_stopping_workers_grace_period_stops_its_step_at_once() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Long Step",
            "steps": [{ "name": "Work", "script": "echo working\nsleep 120\necho done" }],
        }))
        .await;
    stack.create_release("Long Step", "1.0.0").await;
    let id = stack.deploy("Long Step", "1.0.0", "Dev").await;
    let work_root = tempfile::tempdir().unwrap();
    let mut environment = stack.worker_environment(work_root.path());
    environment.push(("FERRY_SHUTDOWN_GRACE_SECONDS".into(), "300".into()));
    let mut worker = spawn_worker_process(env!("CARGO_BIN_EXE_ferry-test-worker"), environment);
    stack.wait_for_log_line(&id, "working").await;
    let pid = worker.id().unwrap();
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    // The worker now waits for its step (a grace of five minutes); the cancel reaches it.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stack.cancel(&id).await;
    let status = tokio::time::timeout(Duration::from_secs(30), worker.wait())
        .await
        .expect("the cancelled step stopped, and the worker with it, well within the grace")
        .unwrap();
    assert!(status.success(), "{status:?}");
    stack.wait_for(&id, DeploymentStatus::Canceled).await;
    stack
        .wait_for_log_line(
            &id,
            "the script was stopped because the deployment was cancelled",
        )
        .await;
    stack.stop().await;
}
