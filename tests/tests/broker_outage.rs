//! Losing RabbitMQ loses nothing: when the broker drops every connection of an installation
//! (as when it restarts), the API's relay and event consumer, the worker and the notifier
//! reconnect by themselves, and deployments asked for meanwhile all finish, with their emails.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

use ferry_tests::{DeploymentStatus, TestStack};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_service_reconnects_and_nothing_accepted_is_lost() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    let mut projects = Vec::new();
    for index in 0..5 {
        let name = format!("Outage {index}");
        stack
            .create_project(&json!({
                "name": name,
                "notification_email": stack.recipient,
                "steps": [
                    { "name": "One", "script": "echo one" },
                    { "name": "Two", "script": "echo two" }
                ],
            }))
            .await;
        stack.create_release(&name, "1.0.0").await;
        projects.push(name);
    }
    let first = stack.deploy(&projects[0], "1.0.0", "Dev").await;
    stack.wait_for(&first, DeploymentStatus::Success).await;

    let dropped = stack.drop_broker_connections().await;
    assert!(dropped >= 3, "dropped {dropped} connections");
    // Asked for while the services reconnect: accepted, and all of them finish.
    let mut deployments = Vec::new();
    for name in &projects[1..] {
        deployments.push(stack.deploy(name, "1.0.0", "Dev").await);
    }
    for id in &deployments {
        stack
            .wait_for_within(id, DeploymentStatus::Success, Duration::from_secs(60))
            .await;
    }
    let emails = stack
        .wait_for_emails_within(5, Duration::from_secs(60))
        .await;
    assert_eq!(emails.len(), 5);
    let (status, health) = stack.get("/health").await;
    assert_eq!(status, reqwest::StatusCode::OK, "{health:#}");
    stack.stop().await;
}
