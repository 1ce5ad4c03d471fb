//! Consumers are idempotent: the same step event delivered twice, or a stale one, changes
//! nothing. The test plays the worker's part itself, so it controls exactly what is sent.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

use chrono::Utc;
use ferry_broker::{FieldTable, OutgoingMessage, Publisher, Topology};
use ferry_contracts::{LogLine, LogStream, StepEvent, StepEventBody, StepJob, StepOutcome};
use ferry_tests::{
    DeploymentStatus, Patience, Progress, StackOptions, StepStatus, TestStack, deployment_status,
    log_text, poll_until, step_status,
};
use lapin::options::{BasicAckOptions, BasicGetOptions};
use serde_json::json;
use uuid::Uuid;

async fn take_job(connection: &lapin::Connection, queue: &str) -> StepJob {
    let channel = connection.create_channel().await.unwrap();
    let message = poll_until(
        &format!("a step job published to {queue}"),
        Patience::within(Duration::from_secs(20)),
        || async {
            match channel
                .basic_get(queue.into(), BasicGetOptions::default())
                .await
                .unwrap()
            {
                Some(message) => Progress::Done(message),
                None => Progress::NotYet("an empty queue"),
            }
        },
    )
    .await;
    let job: StepJob = serde_json::from_slice(&message.delivery.data).unwrap();
    message
        .delivery
        .ack(BasicAckOptions::default())
        .await
        .unwrap();
    job
}

async fn publish_twice(publisher: &Publisher, topology: &Topology, event: &StepEvent) {
    let spec = topology.step_events();
    let payload = serde_json::to_vec(event).unwrap();
    let message_id = event.event_id.to_string();
    for _ in 0..2 {
        publisher
            .publish(OutgoingMessage {
                exchange: &spec.exchange,
                routing_key: &spec.routing_key,
                message_id: &message_id,
                kind: "step_event",
                payload: &payload,
                headers: FieldTable::default(),
                expiration_ms: None,
            })
            .await
            .unwrap();
    }
}

fn line(sequence: i64, text: &str) -> LogLine {
    LogLine {
        sequence,
        stream: LogStream::Stdout,
        logged_at: Utc::now(),
        text: text.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicated_or_stale_event_changes_nothing() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Twice",
            "notification_email": stack.recipient,
            "steps": [{ "name": "Only step", "script": "echo hi" }],
        }))
        .await;
    stack.create_release("Twice", "1.0.0").await;
    let deployment_id = stack.deploy("Twice", "1.0.0", "Dev").await;

    let connection = ferry_broker::connect(&stack.servers.amqp_url, "test-fake-worker")
        .await
        .unwrap();
    let topology = Topology::new(&stack.queue_prefix);
    let job = take_job(&connection, &topology.step_jobs("default").queue).await;
    assert_eq!(job.deployment_id.to_string(), deployment_id);
    let publisher = Publisher::open(&connection).await.unwrap();

    let log_event = StepEvent {
        event_id: Uuid::now_v7(),
        deployment_id: job.deployment_id,
        step_run_id: job.step_run_id,
        attempt: job.attempt,
        body: StepEventBody::Log {
            lines: vec![line(0, "first line"), line(1, "second line")],
        },
    };
    publish_twice(&publisher, &topology, &log_event).await;
    let finished_event = StepEvent {
        event_id: Uuid::now_v7(),
        deployment_id: job.deployment_id,
        step_run_id: job.step_run_id,
        attempt: job.attempt,
        body: StepEventBody::Finished {
            lines: vec![line(2, "third line")],
            outcome: StepOutcome::Succeeded,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            outputs: Default::default(),
            lines_before: None,
            next: None,
        },
    };
    publish_twice(&publisher, &topology, &finished_event).await;

    stack
        .wait_for_within(
            &deployment_id,
            DeploymentStatus::Success,
            Duration::from_secs(30),
        )
        .await;

    // A late, stale result from an earlier attempt must not overturn the outcome.
    let stale_event = StepEvent {
        event_id: Uuid::now_v7(),
        deployment_id: job.deployment_id,
        step_run_id: job.step_run_id,
        attempt: job.attempt - 1,
        body: StepEventBody::Finished {
            lines: vec![],
            outcome: StepOutcome::Failed {
                exit_code: Some(1),
                reason: "stale".into(),
            },
            started_at: Utc::now(),
            finished_at: Utc::now(),
            outputs: Default::default(),
            lines_before: None,
            next: None,
        },
    };
    publish_twice(&publisher, &topology, &stale_event).await;
    let db = stack.db().await;
    poll_until(
        "all 3 events applied",
        Patience::within(Duration::from_secs(10)),
        || async {
            let processed: i64 = db
                .query_one("SELECT count(*) FROM processed_messages", &[])
                .await
                .unwrap()
                .get(0);
            if processed == 3 {
                Progress::Done(())
            } else {
                Progress::NotYet(format!("{processed} of 3 applied"))
            }
        },
    )
    .await;
    // Give the duplicates time to arrive after their originals were applied.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let deployment = stack.deployment(&deployment_id).await;
    assert_eq!(deployment_status(&deployment), DeploymentStatus::Success);
    assert_eq!(step_status(&deployment, "Only step"), StepStatus::Succeeded);
    let log = log_text(&deployment);
    for text in ["first line", "second line", "third line"] {
        assert_eq!(
            log.matches(text).count(),
            1,
            "{text:?} must appear once:\n{log}"
        );
    }
    let worker_lines: i64 = db
        .query_one(
            "SELECT count(*) FROM log_lines WHERE step_run_id IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(worker_lines, 3);
    let finished_messages: i64 = db
        .query_one(
            "SELECT count(*) FROM outbox WHERE kind = 'deployment_finished'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(finished_messages, 1, "the deployment finished exactly once");
    let emails = stack
        .wait_for_emails_within(1, Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        stack.emails().len(),
        1,
        "exactly one status email: {emails:?}"
    );
    connection.close(200, "done".into()).await.ok();
    stack.stop().await;
}

/// Publishes once, to the events exchange, as a worker would.
async fn publish(publisher: &Publisher, topology: &Topology, event: &StepEvent) {
    let spec = topology.step_events();
    publisher
        .publish(OutgoingMessage {
            exchange: &spec.exchange,
            routing_key: &spec.routing_key,
            message_id: &event.event_id.to_string(),
            kind: "step_event",
            payload: &serde_json::to_vec(event).unwrap(),
            headers: FieldTable::default(),
            expiration_ms: None,
        })
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_batches_that_arrive_out_of_order_are_stored_in_order() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Shuffled",
            "steps": [{ "name": "Only step", "script": "echo hi" }],
        }))
        .await;
    stack.create_release("Shuffled", "1.0.0").await;
    let deployment_id = stack.deploy("Shuffled", "1.0.0", "Dev").await;
    let connection = ferry_broker::connect(&stack.servers.amqp_url, "test-fake-worker")
        .await
        .unwrap();
    let topology = Topology::new(&stack.queue_prefix);
    let job = take_job(&connection, &topology.step_jobs("default").queue).await;
    let publisher = Publisher::open(&connection).await.unwrap();
    let event = |body| StepEvent {
        event_id: Uuid::now_v7(),
        deployment_id: job.deployment_id,
        step_run_id: job.step_run_id,
        attempt: job.attempt,
        body,
    };
    // Sent in order, delivered backwards: the result first, then the second batch.
    let finished = event(StepEventBody::Finished {
        lines: vec![],
        outcome: StepOutcome::Succeeded,
        started_at: Utc::now(),
        finished_at: Utc::now(),
        outputs: Default::default(),
        lines_before: Some(4),
        next: None,
    });
    let second = event(StepEventBody::Log {
        lines: vec![line(2, "line 2"), line(3, "line 3")],
    });
    let first = event(StepEventBody::Log {
        lines: vec![line(0, "line 0"), line(1, "line 1")],
    });
    publish(&publisher, &topology, &finished).await;
    publish(&publisher, &topology, &second).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    publish(&publisher, &topology, &first).await;
    let deployment = stack
        .wait_for_within(
            &deployment_id,
            DeploymentStatus::Success,
            Duration::from_secs(30),
        )
        .await;
    let log = log_text(&deployment);
    let at = |text: &str| {
        log.find(text)
            .unwrap_or_else(|| panic!("{text:?} is in the log:\n{log}"))
    };
    let order = [
        at("line 0"),
        at("line 1"),
        at("line 2"),
        at("line 3"),
        at("Step \"Only step\" Succeeded"),
    ];
    assert!(order.is_sorted(), "the log reads out of order:\n{log}");
    stack.stop().await;
}
