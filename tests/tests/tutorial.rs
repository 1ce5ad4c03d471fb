//! The tutorial's deployment model on the real stack: a lifecycle with Dev optional and
//! Test and Prod required, `Nginx Port` scoped per environment, a sign-off step skipped in
//! Dev, an always-run step, and guided failure with retry and ignore.

#![allow(clippy::unwrap_used)]

use ferry_tests::{
    DeploymentStatus, InterruptionKind, StepStatus, TestStack, log_text, step_log, step_status,
};
use reqwest::StatusCode;
use serde_json::json;

async fn tutorial_environments(stack: &TestStack) {
    for environment in ["Dev", "Test", "Prod"] {
        stack.create_environment(environment).await;
    }
    stack
        .create_lifecycle(&json!({
            "name": "Dev, Test, and Prod",
            "phases": [
                { "name": "Dev", "environments": ["Dev"], "rule": "optional" },
                { "name": "Test", "environments": ["Test"], "rule": "all_must_complete" },
                { "name": "Prod", "environments": ["Prod"], "rule": "all_must_complete" },
            ]
        }))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tutorial_plays_out_as_written() {
    let stack = TestStack::start().await;
    tutorial_environments(&stack).await;
    stack
        .create_project(&json!({
            "name": "Random Quotes",
            "lifecycle": "Dev, Test, and Prod",
            "notification_email": stack.recipient,
            "variables": [
                { "name": "Nginx Port", "value": "8081", "scope": { "environments": ["Dev"] } },
                { "name": "Nginx Port", "value": "8082", "scope": { "environments": ["Test"] } },
                { "name": "Nginx Port", "value": "8083", "scope": { "environments": ["Prod"] } },
            ],
            "steps": [
                {
                    "name": "Deploy web app to Nginx",
                    "script": "echo \"listening on #{Nginx Port} in #{Octopus.Environment.Name}\"\necho \"env var: $NGINX_PORT\"\necho \"function: $(get_octopusvariable 'nginx port')\""
                },
                {
                    "name": "Deployment Sign Off",
                    "kind": "manual_intervention",
                    "instructions": "Check #{Octopus.Project.Name} #{Octopus.Release.Number} in #{Octopus.Environment.Name} on port #{Nginx Port}",
                    "responsible_team": "Release Managers",
                    "environments": { "skip_in": ["Dev"] }
                },
                {
                    "name": "Notify team",
                    "run_condition": "always",
                    "script": "echo \"#{each step in Octopus.Step}#{step}=#{step.Status.Code};#{/each}\""
                }
            ]
        }))
        .await;
    stack.create_release("Random Quotes", "1.0.0").await;

    // Prod first: refused, naming the phase that is not complete.
    let (status, body) = stack.try_deploy("Random Quotes", "1.0.0", "Prod").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("phase `Test` is not complete"),
        "{message}"
    );
    assert_eq!(stack.count("deployments").await, 0, "nothing written");

    // Straight to Test (Dev is optional): runs, then waits for sign-off.
    let test_deployment = stack.deploy("Random Quotes", "1.0.0", "Test").await;
    let paused = stack
        .wait_for(&test_deployment, DeploymentStatus::WaitingForIntervention)
        .await;
    let deploy_log = step_log(&paused, "Deploy web app to Nginx");
    assert!(
        deploy_log.contains("listening on 8082 in Test"),
        "{deploy_log}"
    );
    assert!(deploy_log.contains("env var: 8082"), "{deploy_log}");
    assert!(deploy_log.contains("function: 8082"), "{deploy_log}");
    let sign_off = stack.pending_interruption(&test_deployment).await;
    assert_eq!(sign_off.kind, InterruptionKind::ManualIntervention);
    assert_eq!(
        sign_off.responsible_team.as_deref(),
        Some("Release Managers")
    );
    assert_eq!(
        sign_off.instructions.as_deref(),
        Some("Check Random Quotes 1.0.0 in Test on port 8082")
    );

    // Proceeding needs someone to take responsibility first.
    let (status, body) = stack
        .try_submit_as("alice", &sign_off, "proceed", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    stack.take_as("alice", &sign_off).await;
    let (status, body) = stack.try_submit_as("bob", &sign_off, "proceed", None).await;
    assert_eq!(status, StatusCode::CONFLICT, "bob has not taken it: {body}");
    let (status, body) = stack
        .try_submit_as("alice", &sign_off, "ignore", None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    stack
        .submit_as("alice", &sign_off, "proceed", Some("smoke tests pass"))
        .await;
    let finished = stack
        .wait_for(&test_deployment, DeploymentStatus::Success)
        .await;
    assert_eq!(
        step_status(&finished, "Deployment Sign Off"),
        StepStatus::Succeeded
    );
    let recorded = &finished["interruptions"][0];
    assert_eq!(recorded["resolution"], "proceed");
    assert_eq!(recorded["resolved_by"], "alice");
    assert_eq!(recorded["note"], "smoke tests pass");
    let notify_log = step_log(&finished, "Notify team");
    assert!(
        notify_log.contains(
            "Deploy web app to Nginx=Succeeded;Deployment Sign Off=Succeeded;Notify team=Running;"
        ),
        "{notify_log}"
    );
    assert!(log_text(&finished).contains("alice chose to proceed"));

    // Test is complete, so Prod is open now. Abort the sign-off there: the deployment fails,
    // and the always-run step still runs.
    let prod_deployment = stack.deploy("Random Quotes", "1.0.0", "Prod").await;
    let paused = stack
        .wait_for(&prod_deployment, DeploymentStatus::WaitingForIntervention)
        .await;
    assert!(step_log(&paused, "Deploy web app to Nginx").contains("listening on 8083 in Prod"));
    let sign_off = stack.pending_interruption(&prod_deployment).await;
    stack.take_as("carol", &sign_off).await;
    stack
        .submit_as("carol", &sign_off, "abort", Some("wrong quotes"))
        .await;
    let aborted = stack
        .wait_for(&prod_deployment, DeploymentStatus::Failed)
        .await;
    assert_eq!(
        step_status(&aborted, "Deployment Sign Off"),
        StepStatus::Failed
    );
    assert_eq!(step_status(&aborted, "Notify team"), StepStatus::Succeeded);
    assert!(
        aborted["error"]
            .as_str()
            .unwrap()
            .contains("aborted by carol: wrong quotes"),
        "{aborted:#}"
    );
    assert!(step_log(&aborted, "Notify team").contains("Deployment Sign Off=Failed;"));

    // In Dev the sign-off is skipped by its environment condition.
    let dev_deployment = stack.deploy("Random Quotes", "1.0.0", "Dev").await;
    let dev = stack
        .wait_for(&dev_deployment, DeploymentStatus::Success)
        .await;
    assert_eq!(
        step_status(&dev, "Deployment Sign Off"),
        StepStatus::Skipped
    );
    assert!(log_text(&dev).contains("its environment condition excludes this environment"));
    assert!(step_log(&dev, "Deploy web app to Nginx").contains("listening on 8081 in Dev"));

    // The project's audit log recorded who took each question and who answered it.
    let audit = stack.audit_log("Random Quotes").await;
    let answered_by = |action: &str, actor: &str| {
        audit
            .iter()
            .any(|event| event.action == action && event.actor == actor)
    };
    assert!(answered_by("interruption.proceed", "alice"), "{audit:#?}");
    assert!(answered_by("interruption.abort", "carol"), "{audit:#?}");
    assert!(answered_by("interruption.taken", "alice"), "{audit:#?}");
    assert!(answered_by("interruption.taken", "carol"), "{audit:#?}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guided_failure_retries_and_ignores() {
    let stack = TestStack::start().await;
    let (status, body) = stack
        .post(
            "/api/environments",
            &json!({ "name": "Dev", "guided_failure": true }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let marker = stack.scripts_folder.path().join("marker");
    stack
        .create_project(&json!({
            "name": "Flaky",
            "steps": [
                {
                    "name": "Needs marker",
                    "script": format!("if [ -f '{}' ]; then echo marker found; else echo no marker yet; exit 3; fi", marker.display())
                },
                { "name": "Afterwards", "script": "echo \"afterwards ran after #{each step in Octopus.Step}#{step};#{/each}\"" }
            ]
        }))
        .await;
    stack.create_release("Flaky", "1.0.0").await;

    // Retry: fails, pauses, the marker appears, retry succeeds.
    let first = stack.deploy("Flaky", "1.0.0", "Dev").await;
    let paused = stack
        .wait_for(&first, DeploymentStatus::WaitingForIntervention)
        .await;
    assert!(step_log(&paused, "Needs marker").contains("no marker yet"));
    let failure = stack.pending_interruption(&first).await;
    assert_eq!(failure.kind, InterruptionKind::GuidedFailure);
    assert_eq!(failure.options, ["retry", "ignore", "abort"]);
    std::fs::write(&marker, "").unwrap();
    stack.take_as("dana", &failure).await;
    stack.submit_as("dana", &failure, "retry", None).await;
    let retried = stack.wait_for(&first, DeploymentStatus::Success).await;
    assert_eq!(retried["steps"][0]["attempt"], 2);
    assert_eq!(retried["steps"][0]["failure_ignored"], false);
    assert!(step_log(&retried, "Needs marker").contains("marker found"));
    // Steps iterate in process order, not by name.
    assert!(
        step_log(&retried, "Afterwards").contains("afterwards ran after Needs marker;Afterwards;"),
        "{}",
        step_log(&retried, "Afterwards")
    );

    // Ignore: the failure is ignored, the deployment carries on, the step says so.
    std::fs::remove_file(&marker).unwrap();
    let second = stack.deploy("Flaky", "1.0.0", "Dev").await;
    stack
        .wait_for(&second, DeploymentStatus::WaitingForIntervention)
        .await;
    let failure = stack.pending_interruption(&second).await;
    stack.take_as("dana", &failure).await;
    stack
        .submit_as("dana", &failure, "ignore", Some("known flake"))
        .await;
    let ignored = stack.wait_for(&second, DeploymentStatus::Success).await;
    assert_eq!(step_status(&ignored, "Needs marker"), StepStatus::Succeeded);
    assert_eq!(ignored["steps"][0]["failure_ignored"], true);
    assert_eq!(ignored["steps"][0]["exit_code"], 3);
    assert!(step_log(&ignored, "Afterwards").contains("afterwards ran"));

    // Without guided failure (overridden per deployment) the same failure fails at once.
    let third = stack
        .deploy_with(&json!({ "project": "Flaky", "release_number": "1.0.0", "environment": "Dev", "guided_failure": false }))
        .await;
    let failed = stack.wait_for(&third, DeploymentStatus::Failed).await;
    assert_eq!(step_status(&failed, "Afterwards"), StepStatus::Skipped);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_retries_come_before_failure() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    let counter = stack.scripts_folder.path().join("attempts");
    stack
        .create_project(&json!({
            "name": "Third time lucky",
            "steps": [{
                "name": "Count",
                "retries": 2,
                "script": format!("echo x >> '{0}'; n=$(wc -l < '{0}'); echo attempt $n; [ $n -ge 3 ]", counter.display())
            }]
        }))
        .await;
    stack.create_release("Third time lucky", "1.0.0").await;
    let id = stack.deploy("Third time lucky", "1.0.0", "Dev").await;
    let done = stack.wait_for(&id, DeploymentStatus::Success).await;
    assert_eq!(done["steps"][0]["attempt"], 3);
    assert!(log_text(&done).contains("retrying (2 of 2 retries)"));
    stack.stop().await;
}
