//! The harness's typed waits say what went wrong: a deployment that ends in another final
//! state is named by that state, and one that takes too long is printed as last seen.

use std::time::Duration;

use ferry_tests::{DeploymentStatus, TestStack};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "ended Failed while waiting for Success")]
async fn waiting_for_success_on_a_failed_deployment_names_the_state_it_ended_in() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(
            &json!({ "name": "Broken", "steps": [{ "name": "Fail", "script": "exit 1" }] }),
        )
        .await;
    stack.create_release("Broken", "1.0.0").await;
    let id = stack.deploy("Broken", "1.0.0", "Dev").await;
    stack.wait_for(&id, DeploymentStatus::Success).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[should_panic(expected = "to be Success; last seen: {")]
async fn waiting_past_the_timeout_prints_the_deployment_as_last_seen() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({ "name": "Asks", "steps": [
            { "name": "Ask", "kind": "manual_intervention", "instructions": "ok?" }
        ] }))
        .await;
    stack.create_release("Asks", "1.0.0").await;
    let id = stack.deploy("Asks", "1.0.0", "Dev").await;
    stack
        .wait_for(&id, DeploymentStatus::WaitingForIntervention)
        .await;
    stack
        .wait_for_within(&id, DeploymentStatus::Success, Duration::from_secs(1))
        .await;
}
