//! The sweeper gives up on attempts nobody will report on (ARCHITECTURE.md, "Jobs, claims and
//! leases"), and ones it cannot act on (an unreadable deployment) do not hold up the rest.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

use ferry_tests::{DeploymentStatus, StackOptions, TestStack, log_text};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_the_sweeper_cannot_act_on_do_not_starve_the_rest() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        dispatch_timeout_seconds: 2,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    // More unreadable deployments with lost attempts than the sweeper takes in one batch,
    // all older than the one it can act on.
    let mut unreadable = Vec::new();
    for index in 0..101 {
        let name = format!("Damaged {index}");
        stack
            .create_project(
                &json!({ "name": name, "steps": [{ "name": "Run", "script": "true" }] }),
            )
            .await;
        stack.create_release(&name, "1.0.0").await;
        unreadable.push(stack.deploy(&name, "1.0.0", "Dev").await);
    }
    stack
        .create_project(
            &json!({ "name": "Healthy", "steps": [{ "name": "Run", "script": "true" }] }),
        )
        .await;
    stack.create_release("Healthy", "1.0.0").await;
    let healthy = stack.deploy("Healthy", "1.0.0", "Dev").await;
    stack
        .wait_for_log_line(&healthy, "dispatched to worker pool")
        .await;
    let db = stack.db().await;
    db.execute(
        "UPDATE step_runs SET name = '', dispatched_at = dispatched_at - interval '1 hour'
         WHERE deployment_id IN (SELECT deployment_id FROM deployments d
                                 JOIN projects p ON p.project_id = d.project_id
                                 WHERE p.name LIKE 'Damaged %')",
        &[],
    )
    .await
    .unwrap();
    let deployment = stack
        .wait_for_within(&healthy, DeploymentStatus::Failed, Duration::from_secs(60))
        .await;
    assert!(
        log_text(&deployment).contains("no worker took its job within"),
        "{}",
        log_text(&deployment)
    );
    stack.stop().await;
}
