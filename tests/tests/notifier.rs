//! The notifier never drops a status email because the SMTP server is down: the event is
//! retried with backoff until the server answers; and an event delivered again (its
//! acknowledgement lost with a connection) is not emailed twice.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

use ferry_broker::{FieldTable, OutgoingMessage, Publisher};
use ferry_tests::{DeploymentStatus, Servers, SmtpServer, StackOptions, TestStack};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_email_waits_for_the_smtp_server_to_come_back() {
    // An SMTP address where nothing listens yet.
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let mut servers_override = Servers::from_env();
    servers_override.smtp_url = format!("smtp://127.0.0.1:{port}");
    let stack = TestStack::start_with_servers(servers_override, StackOptions::default()).await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Patient",
            "notification_email": stack.recipient,
            "steps": [{ "name": "Only", "script": "echo done" }],
        }))
        .await;
    stack.create_release("Patient", "1.0.0").await;
    let deployment_id = stack.deploy("Patient", "1.0.0", "Dev").await;
    stack
        .wait_for_within(
            &deployment_id,
            DeploymentStatus::Success,
            Duration::from_secs(30),
        )
        .await;

    // Let the first attempts fail against the closed port.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let smtp = SmtpServer::start(port);
    let emails = smtp
        .wait_for_emails_to(&stack.recipient, 1, Duration::from_secs(30))
        .await;
    assert_eq!(emails.len(), 1);
    assert!(
        emails[0].contains("Success") && emails[0].contains("Patient"),
        "{}",
        emails[0]
    );
    smtp.stop().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_finished_event_delivered_again_is_not_emailed_twice() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Once",
            "notification_email": stack.recipient,
            "steps": [{ "name": "Only", "script": "echo done" }],
        }))
        .await;
    stack.create_release("Once", "1.0.0").await;
    let deployment_id = stack.deploy("Once", "1.0.0", "Dev").await;
    stack
        .wait_for(&deployment_id, DeploymentStatus::Success)
        .await;
    assert_eq!(stack.wait_for_emails(1).await.len(), 1);

    // The same event again, as RabbitMQ redelivers one whose acknowledgement was lost.
    let row = stack
        .db()
        .await
        .query_one(
            "SELECT exchange, routing_key, kind, payload::text, message_id::text FROM outbox
             WHERE kind = 'deployment_finished'",
            &[],
        )
        .await
        .unwrap();
    let (exchange, routing_key, kind, payload, message_id): (
        String,
        String,
        String,
        String,
        String,
    ) = (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    let connection = ferry_broker::connect(&stack.servers.amqp_url, "test-redeliver")
        .await
        .unwrap();
    Publisher::open(&connection)
        .await
        .unwrap()
        .publish(OutgoingMessage {
            exchange: &exchange,
            routing_key: &routing_key,
            message_id: &message_id,
            kind: &kind,
            payload: payload.as_bytes(),
            headers: FieldTable::default(),
            expiration_ms: None,
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        stack.emails().len(),
        1,
        "the redelivered event was emailed again"
    );
    stack.stop().await;
}
