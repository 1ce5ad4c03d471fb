//! The notifier never drops a status email because the SMTP server is down: the event is
//! retried with backoff until the server answers.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

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
