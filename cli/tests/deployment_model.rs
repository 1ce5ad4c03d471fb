//! The CLI against the real stack: a lifecycle, a refused deployment, a sign-off answered
//! from the command line by a named person, a preview and a refused rollback.

#![allow(clippy::unwrap_used)]

use std::process::Output;

use ferry_tests::{API_KEY, DeploymentStatus, TestStack};
use serde_json::json;

fn ferry(stack: &TestStack, user: Option<&str>, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"));
    command
        .args(args)
        .env("FERRY_SERVER", &stack.base_url)
        .env("FERRY_API_KEY", API_KEY)
        .env_remove("FERRY_USER");
    if let Some(user) = user {
        command.env("FERRY_USER", user);
    }
    command.output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_manager_works_from_the_command_line() {
    let stack = TestStack::start().await;
    let folder = tempfile::tempdir().unwrap();
    for environment in ["Dev", "Test", "Prod"] {
        let output = ferry(&stack, None, &["create-environment", environment]);
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let lifecycle = folder.path().join("lifecycle.json");
    std::fs::write(
        &lifecycle,
        json!({ "name": "Dev, Test, and Prod", "phases": [
            { "name": "Dev", "environments": ["Dev"], "rule": "optional" },
            { "name": "Test", "environments": ["Test"], "rule": "all_must_complete" },
            { "name": "Prod", "environments": ["Prod"], "rule": "all_must_complete" }
        ] })
        .to_string(),
    )
    .unwrap();
    let output = ferry(
        &stack,
        None,
        &["create-lifecycle", lifecycle.to_str().unwrap()],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let project = folder.path().join("project.json");
    std::fs::write(
        &project,
        json!({ "name": "Random Quotes", "lifecycle": "Dev, Test, and Prod",
                "variables": [{ "name": "Nginx Port", "value": "8082", "scope": { "environments": ["Test"] } }],
                "steps": [
                    { "name": "Deploy", "script": "echo port #{Nginx Port}" },
                    { "name": "Sign off", "kind": "manual_intervention",
                      "instructions": "Check port #{Nginx Port}", "environments": { "skip_in": ["Dev"] } }
                ] })
        .to_string(),
    )
    .unwrap();
    let output = ferry(&stack, None, &["create-project", project.to_str().unwrap()]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = ferry(
        &stack,
        None,
        &[
            "create-release",
            "--project",
            "Random Quotes",
            "--version",
            "1.0.0",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));

    let output = ferry(
        &stack,
        None,
        &[
            "preview",
            "--project",
            "Random Quotes",
            "--release",
            "1.0.0",
            "--environment",
            "Prod",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("phase `Test` is not complete"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("runs     Sign off"),
        "{}",
        stdout(&output)
    );

    let output = ferry(
        &stack,
        None,
        &[
            "deploy",
            "--project",
            "Random Quotes",
            "--release",
            "1.0.0",
            "--environment",
            "Prod",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("phase `Test`"),
        "{}",
        stderr(&output)
    );

    let output = ferry(
        &stack,
        None,
        &[
            "deploy",
            "--project",
            "Random Quotes",
            "--release",
            "1.0.0",
            "--environment",
            "Test",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let deployment_id = stdout(&output)
        .lines()
        .find_map(|line| line.split("/deployments/").nth(1))
        .unwrap()
        .trim()
        .to_owned();
    stack
        .wait_for(&deployment_id, DeploymentStatus::WaitingForIntervention)
        .await;
    let output = ferry(&stack, None, &["interruptions"]);
    assert!(
        stdout(&output).contains("Check port 8082"),
        "{}",
        stdout(&output)
    );
    assert!(
        stdout(&output).contains("proceed | abort"),
        "{}",
        stdout(&output)
    );
    let sign_off = stack.pending_interruption(&deployment_id).await;
    let interruption_id = sign_off.interruption_id.as_str();
    let output = ferry(
        &stack,
        Some("bob"),
        &["intervene", interruption_id, "retry"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("use proceed or abort"),
        "{}",
        stderr(&output)
    );
    stack.take_as("alice", &sign_off).await;
    let output = ferry(
        &stack,
        Some("bob"),
        &["intervene", interruption_id, "proceed"],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("alice has taken responsibility"),
        "{}",
        stderr(&output)
    );
    let output = ferry(
        &stack,
        Some("bob"),
        &[
            "intervene",
            interruption_id,
            "proceed",
            "--take-over",
            "--note",
            "looks good",
        ],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let done = stack
        .wait_for(&deployment_id, DeploymentStatus::Success)
        .await;
    assert_eq!(done["interruptions"][0]["resolved_by"], "bob");
    assert_eq!(done["interruptions"][0]["note"], "looks good");

    // Only one release succeeded in Test: nothing to roll back to, and the CLI says why.
    let output = ferry(
        &stack,
        None,
        &[
            "rollback",
            "--project",
            "Random Quotes",
            "--environment",
            "Test",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("nothing to roll back to"),
        "{}",
        stderr(&output)
    );
    stack.stop().await;
}
