//! Output variables of a step on targets are kept per target, as Octopus keeps them per
//! machine: a later step on the same target sees its own target's value under the short name
//! (`Octopus.Action[<step>].Output.<name>`), every step sees each target's under
//! `Octopus.Action[<step>].Output[<target>].<name>`, and a step elsewhere sees the short name
//! only when all targets agree. Two local targets on the worker's host, the real stack.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

use ferry_domain::DeploymentStatus;
use ferry_tests::{TestStack, deployment_status, log_text};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outputs_of_a_step_on_targets_are_kept_per_target() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    for name in ["box-a", "box-b"] {
        let (status, created) = stack
            .post(
                "/api/targets",
                &json!({"name": name, "environments": ["Dev"], "roles": ["app"], "kind": "local"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
    }
    stack
        .create_project(&json!({
            "name": "Two Boxes",
            "steps": [
                {
                    "name": "Install",
                    "kind": "deploy_package",
                    "package_id": "two-boxes",
                    "target_roles": ["app"],
                    "scripts": {"post_deploy": "set_octopusvariable Where \"#{Octopus.Machine.Name}\"\nset_octopusvariable Same same-everywhere\n# Another target's spelling of the name must not reach box-a's own value.\nif [ \"#{Octopus.Machine.Name}\" = box-b ]; then set_octopusvariable where from-b-lowercase; fi"}
                },
                {
                    "name": "Check",
                    "target_roles": ["app"],
                    "script": "echo \"on #{Octopus.Machine.Name}: where=#{Octopus.Action[Install].Output.Where} dir=#{Octopus.Action[Install].Output.Package.InstallationDirectoryPath}\""
                },
                {
                    "name": "Summary",
                    "script": "echo \"a=#{Octopus.Action[Install].Output[box-a].Where} b=#{Octopus.Action[Install].Output[box-b].Where} same=#{Octopus.Action[Install].Output.Same} short=#{if Octopus.Action[Install].Output.Where}defined#{else}undefined#{/if}\""
                }
            ]
        }))
        .await;
    let package = ferry_tests::zip_of(&[("app.txt", "an app")]);
    stack.push_package("two-boxes", "1.0.0", package).await;
    stack.create_release("Two Boxes", "1.0.0").await;

    let id = stack.deploy("Two Boxes", "1.0.0", "Dev").await;
    let done = stack
        .wait_for_deployment_within(&id, Duration::from_secs(120))
        .await;
    let text = log_text(&done);
    assert_eq!(
        deployment_status(&done),
        DeploymentStatus::Success,
        "{text}"
    );
    for name in ["box-a", "box-b"] {
        // Its own target's value, never the other's (the last to finish used to win).
        let line = text
            .lines()
            .find(|line| line.contains(&format!("[{name}] on {name}: where=")))
            .unwrap_or_else(|| panic!("no Check line from {name}: {text}"));
        let expected = if name == "box-a" {
            "box-a"
        } else {
            "from-b-lowercase"
        };
        assert!(line.contains(&format!("where={expected} ")), "{line}");
        assert!(
            line.contains("/.ferry/Applications/Dev/two-boxes/1.0.0"),
            "each target's own installation folder: {line}"
        );
    }
    assert!(
        text.contains("a=box-a b=from-b-lowercase same=same-everywhere short=undefined"),
        "{text}"
    );
}
