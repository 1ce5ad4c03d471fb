//! Losing RabbitMQ loses nothing: when the broker drops every connection of an installation
//! (as when it restarts), the API's relay and event consumer, the worker and the notifier
//! reconnect by themselves, and deployments asked for meanwhile all finish, with their emails.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

use ferry_tests::{DeploymentStatus, Patience, Progress, TestStack, poll_until};
use serde_json::{Value, json};

/// The management API's address and the broker's credentials.
fn management(stack: &TestStack) -> (String, String, String) {
    let base = ferry_tests::config::required("FERRY_RABBITMQ_MANAGEMENT_URL");
    let amqp = reqwest::Url::parse(&stack.servers.amqp_url).unwrap();
    let user = amqp.username().to_owned();
    let password = amqp.password().unwrap_or_default().to_owned();
    (base, user, password)
}

/// Closes every broker connection of this stack's services, as a broker restart would.
async fn drop_connections(stack: &TestStack) -> usize {
    let (base, user, password) = management(stack);
    let http = reqwest::Client::new();
    let mine = poll_until(
        "the stack's API, worker and notifier connections to be listed",
        Patience::within(Duration::from_secs(30)),
        || async {
            let listed: Vec<Value> = http
                .get(format!("{base}/api/connections"))
                .basic_auth(&user, Some(&password))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let mine: Vec<String> = listed
                .iter()
                .filter(|connection| {
                    connection["client_properties"]["connection_name"]
                        .as_str()
                        .is_some_and(|name| name.contains(&stack.queue_prefix))
                })
                .filter_map(|connection| connection["name"].as_str().map(str::to_owned))
                .collect();
            if mine.len() >= 3 {
                Progress::Done(mine)
            } else {
                Progress::NotYet(format!("{mine:?}"))
            }
        },
    )
    .await;
    for name in &mine {
        let mut url = reqwest::Url::parse(&format!("{base}/api/connections")).unwrap();
        url.path_segments_mut().unwrap().push(name);
        let answer = http
            .delete(url)
            .basic_auth(&user, Some(&password))
            .header("X-Reason", "test: the broker went away")
            .send()
            .await
            .unwrap();
        assert!(answer.status().is_success(), "{answer:?}");
    }
    mine.len()
}

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

    let dropped = drop_connections(&stack).await;
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
