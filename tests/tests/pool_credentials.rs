//! Worker pools are kept apart by RabbitMQ itself (ARCHITECTURE.md, "Threat model"): a pool's
//! workers log in as a user with `Topology::worker_permissions`, which is enough to run that
//! pool's steps and nothing more: it cannot read another pool's jobs, publish where another
//! pool's events or Ferry's own messages go, and an event it sends about another pool's
//! step is parked by the API, never applied.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

use ferry_broker::{FieldTable, OutgoingMessage, Publisher, Topology, dead_letters};
use ferry_contracts::{StepEvent, StepEventBody, StepJob, StepOutcome};
use ferry_tests::{
    DeploymentStatus, Patience, Progress, StackOptions, TestStack, poll_until, spawn_worker_process,
};
use lapin::options::{BasicConsumeOptions, BasicGetOptions};
use serde_json::json;

/// Publishes `event` as the pool user `dev` may (to pool `default`'s events exchange) and
/// waits for the API to park it, returning the reason it gives.
async fn parked_reason(
    dev: &lapin::Connection,
    admin: &lapin::Connection,
    topology: &Topology,
    event: &StepEvent,
) -> String {
    let message_id = event.event_id.to_string();
    Publisher::open(dev)
        .await
        .unwrap()
        .publish(OutgoingMessage {
            exchange: &topology.worker_events_exchange("default"),
            routing_key: "step_event",
            message_id: &message_id,
            kind: "step_event",
            payload: &serde_json::to_vec(event).unwrap(),
            headers: FieldTable::default(),
            expiration_ms: None,
        })
        .await
        .unwrap();
    let dead = topology.step_events().dead_letter_queue();
    poll_until(
        "the event to be parked",
        Patience::within(Duration::from_secs(30)),
        || async {
            let parked = dead_letters::list(admin, &dead, 10).await.unwrap();
            match parked.iter().find(|parked| parked.message_id == message_id) {
                Some(parked) => Progress::Done(parked.reason.clone()),
                None => Progress::NotYet(format!("{parked:?}")),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pools_credentials_run_its_steps_and_reach_nothing_of_another_pool() {
    let mut stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    stack.uses_worker_pool("prod");
    let topology = Topology::new(&stack.queue_prefix);
    let admin = ferry_broker::connect(&stack.servers.amqp_url, "test-admin")
        .await
        .unwrap();
    topology.declare_pool(&admin, "prod").await.unwrap();
    let dev_url = stack.create_pool_user("default").await;

    // Enough to run the pool's steps: a worker logged in as the pool's user deploys.
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Dev App",
            "steps": [{ "name": "Run", "script": "echo from the dev pool" }],
        }))
        .await;
    stack.create_release("Dev App", "1.0.0").await;
    let work_root = tempfile::tempdir().unwrap();
    let mut environment = stack.worker_environment(work_root.path());
    environment.push(("FERRY_AMQP_URL".into(), dev_url.clone()));
    let _worker = spawn_worker_process(env!("CARGO_BIN_EXE_ferry-test-worker"), environment);
    let deployment = stack.deploy("Dev App", "1.0.0", "Dev").await;
    stack
        .wait_for_within(
            &deployment,
            DeploymentStatus::Success,
            Duration::from_secs(60),
        )
        .await;

    let dev = ferry_broker::connect(&dev_url, "test-dev-user")
        .await
        .unwrap();
    // It cannot read another pool's jobs…
    let prod_jobs = topology.step_jobs("prod").queue;
    let channel = dev.create_channel().await.unwrap();
    let consumed = channel
        .basic_consume(
            prod_jobs.as_str().into(),
            "thief".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await;
    let refused = match consumed {
        Ok(_) => panic!("reading prod's jobs is refused"),
        Err(error) => error.to_string(),
    };
    assert!(refused.contains("ACCESS_REFUSED"), "{refused}");
    // …nor publish where another pool's events, Ferry's own events, or (through the default
    // exchange) any queue would take it.
    let prod_events = topology.worker_events_exchange("prod");
    let events = topology.events_exchange();
    for (exchange, routing_key) in [
        (prod_events.as_str(), "step_event"),
        (events.as_str(), "step_event"),
        ("", prod_jobs.as_str()),
    ] {
        let publisher = Publisher::open(&dev).await.unwrap();
        let published = publisher
            .publish(OutgoingMessage {
                exchange,
                routing_key,
                message_id: "forged",
                kind: "step_event",
                payload: b"{}",
                headers: FieldTable::default(),
                expiration_ms: None,
            })
            .await;
        let refused = published
            .err()
            .unwrap_or_else(|| panic!("publishing to `{exchange}` is refused"))
            .to_string();
        assert!(
            refused.contains("ACCESS_REFUSED") || refused.contains("invalid channel state"),
            "{exchange}: {refused}"
        );
    }

    // What it may publish, its own pool's events, is believed only about its own pool's
    // steps: a forged result for a prod step is parked, and the prod deployment goes on
    // waiting for a prod worker.
    stack
        .create_project(&json!({
            "name": "Prod App",
            "worker_pool": "prod",
            "steps": [{ "name": "Run", "script": "echo from the prod pool" }],
        }))
        .await;
    stack.create_release("Prod App", "1.0.0").await;
    let prod_deployment = stack.deploy("Prod App", "1.0.0", "Dev").await;
    let reader = admin.create_channel().await.unwrap();
    let job: StepJob = poll_until(
        "the prod job to wait in its queue",
        Patience::within(Duration::from_secs(30)),
        || async {
            match reader
                .basic_get(prod_jobs.as_str().into(), BasicGetOptions::default())
                .await
                .unwrap()
            {
                Some(message) => {
                    let job = serde_json::from_slice(&message.delivery.data).unwrap();
                    // Given back: the job stays for a prod worker.
                    message
                        .delivery
                        .nack(lapin::options::BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await
                        .unwrap();
                    Progress::Done(job)
                }
                None => Progress::NotYet("no job yet".to_owned()),
            }
        },
    )
    .await;
    let forged = StepEvent {
        event_id: uuid::Uuid::now_v7(),
        deployment_id: job.deployment_id,
        step_run_id: job.step_run_id,
        attempt: job.attempt,
        body: StepEventBody::Finished {
            lines: Vec::new(),
            outcome: StepOutcome::Succeeded,
            started_at: chrono::Utc::now(),
            finished_at: chrono::Utc::now(),
            outputs: Default::default(),
            lines_before: None,
            next: None,
        },
    };
    let parked = parked_reason(&dev, &admin, &topology, &forged).await;
    assert!(
        parked.contains("arrived from worker pool `default`")
            && parked.contains("sent to pool `prod`"),
        "{parked}"
    );
    let prod = stack.deployment(&prod_deployment).await;
    assert_eq!(prod["status"], "Running", "{prod:#}");
    assert_eq!(prod["steps"][0]["status"], "Running", "{prod:#}");

    // Nor can it speak, ahead of time, for an attempt of its own pool's step that was never
    // sent: a retry might go to another pool.
    let dev_deployment: uuid::Uuid = deployment.parse().unwrap();
    let step_run_id: uuid::Uuid = stack
        .db()
        .await
        .query_one(
            "SELECT step_run_id FROM step_runs WHERE deployment_id = $1",
            &[&dev_deployment],
        )
        .await
        .unwrap()
        .get(0);
    let ahead = StepEvent {
        event_id: uuid::Uuid::now_v7(),
        deployment_id: dev_deployment.into(),
        step_run_id: step_run_id.into(),
        attempt: 2,
        body: StepEventBody::Heartbeat {
            worker: "test-worker".into(),
        },
    };
    let parked = parked_reason(&dev, &admin, &topology, &ahead).await;
    assert!(
        parked.contains("about attempt 2") && parked.contains("which was never sent"),
        "{parked}"
    );
    stack.stop().await;
}
