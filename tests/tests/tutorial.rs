//! The tutorial's deployment model on the real stack: a lifecycle with Dev optional and
//! Test and Prod required, `Nginx Port` scoped per environment, a sign-off step skipped in
//! Dev, an always-run step, and guided failure with retry and ignore.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use ferry_tests::{TestStack, log_text};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(60);

async fn tutorial_environments(stack: &TestStack) {
    for environment in ["Dev", "Test", "Prod"] {
        stack.create_environment(environment).await;
    }
    let (status, body) = stack
        .post(
            "/api/lifecycles",
            &json!({
                "name": "Dev, Test, and Prod",
                "phases": [
                    { "name": "Dev", "environments": ["Dev"], "rule": "optional" },
                    { "name": "Test", "environments": ["Test"], "rule": "all_must_complete" },
                    { "name": "Prod", "environments": ["Prod"], "rule": "all_must_complete" },
                ]
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn step_log(deployment: &Value, step: &str) -> String {
    deployment["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|line| line["step"] == step)
        .map(|line| line["text"].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

fn step_status(deployment: &Value, step: &str) -> String {
    deployment["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == step)
        .map(|s| s["status"].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("no step {step}: {deployment:#}"))
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
    let (status, body) = stack
        .post(
            "/api/deployments",
            &json!({ "project": "Random Quotes", "release_number": "1.0.0", "environment": "Prod" }),
        )
        .await;
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
        .wait_for_status(&test_deployment, "WaitingForIntervention", WAIT)
        .await;
    let deploy_log = step_log(&paused, "Deploy web app to Nginx");
    assert!(
        deploy_log.contains("listening on 8082 in Test"),
        "{deploy_log}"
    );
    assert!(deploy_log.contains("env var: 8082"), "{deploy_log}");
    assert!(deploy_log.contains("function: 8082"), "{deploy_log}");
    let interruption = stack.pending_interruption(&test_deployment).await;
    assert_eq!(interruption["kind"], "manual_intervention");
    assert_eq!(interruption["responsible_team"], "Release Managers");
    assert_eq!(
        interruption["instructions"],
        "Check Random Quotes 1.0.0 in Test on port 8082"
    );
    let id = interruption["interruption_id"].as_str().unwrap();

    // Proceeding needs someone to take responsibility first.
    let (status, body) = stack
        .post_as(
            "alice",
            &format!("/api/interruptions/{id}/submit"),
            &json!({ "result": "proceed" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = stack
        .post_as(
            "alice",
            &format!("/api/interruptions/{id}/take"),
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = stack
        .post_as(
            "bob",
            &format!("/api/interruptions/{id}/submit"),
            &json!({ "result": "proceed" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "bob has not taken it: {body}");
    let (status, body) = stack
        .post_as(
            "alice",
            &format!("/api/interruptions/{id}/submit"),
            &json!({ "result": "ignore" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = stack
        .post_as(
            "alice",
            &format!("/api/interruptions/{id}/submit"),
            &json!({ "result": "proceed", "note": "smoke tests pass" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let finished = stack.wait_for_deployment(&test_deployment, WAIT).await;
    assert_eq!(finished["status"], "Success", "{finished:#}");
    assert_eq!(step_status(&finished, "Deployment Sign Off"), "Succeeded");
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
        .wait_for_status(&prod_deployment, "WaitingForIntervention", WAIT)
        .await;
    assert!(step_log(&paused, "Deploy web app to Nginx").contains("listening on 8083 in Prod"));
    let id = stack.pending_interruption(&prod_deployment).await["interruption_id"]
        .as_str()
        .unwrap()
        .to_owned();
    stack
        .post_as(
            "carol",
            &format!("/api/interruptions/{id}/take"),
            &json!({}),
        )
        .await;
    let (status, body) = stack
        .post_as(
            "carol",
            &format!("/api/interruptions/{id}/submit"),
            &json!({ "result": "abort", "note": "wrong quotes" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let aborted = stack.wait_for_deployment(&prod_deployment, WAIT).await;
    assert_eq!(aborted["status"], "Failed");
    assert_eq!(step_status(&aborted, "Deployment Sign Off"), "Failed");
    assert_eq!(step_status(&aborted, "Notify team"), "Succeeded");
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
    let dev = stack.wait_for_deployment(&dev_deployment, WAIT).await;
    assert_eq!(dev["status"], "Success", "{dev:#}");
    assert_eq!(step_status(&dev, "Deployment Sign Off"), "Skipped");
    assert!(log_text(&dev).contains("its environment condition excludes this environment"));
    assert!(step_log(&dev, "Deploy web app to Nginx").contains("listening on 8081 in Dev"));

    // The audit log recorded who answered.
    let (_, audit) = stack.get("/api/audit?project=Random%20Quotes").await;
    let actions: Vec<_> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["actor"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        actions.contains(&("interruption.proceed".into(), "alice".into())),
        "{actions:?}"
    );
    assert!(
        actions.contains(&("interruption.abort".into(), "carol".into())),
        "{actions:?}"
    );
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
    let marker = stack.work_root.path().join("marker");
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
        .wait_for_status(&first, "WaitingForIntervention", WAIT)
        .await;
    assert!(step_log(&paused, "Needs marker").contains("no marker yet"));
    let interruption = stack.pending_interruption(&first).await;
    assert_eq!(interruption["kind"], "guided_failure");
    assert_eq!(interruption["options"], json!(["retry", "ignore", "abort"]));
    std::fs::write(&marker, "").unwrap();
    let id = interruption["interruption_id"].as_str().unwrap();
    stack
        .post_as("dana", &format!("/api/interruptions/{id}/take"), &json!({}))
        .await;
    let (status, body) = stack
        .post_as(
            "dana",
            &format!("/api/interruptions/{id}/submit"),
            &json!({ "result": "retry" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let retried = stack.wait_for_deployment(&first, WAIT).await;
    assert_eq!(retried["status"], "Success", "{retried:#}");
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
        .wait_for_status(&second, "WaitingForIntervention", WAIT)
        .await;
    let id = stack.pending_interruption(&second).await["interruption_id"]
        .as_str()
        .unwrap()
        .to_owned();
    stack
        .post_as("dana", &format!("/api/interruptions/{id}/take"), &json!({}))
        .await;
    let (status, body) = stack
        .post_as(
            "dana",
            &format!("/api/interruptions/{id}/submit"),
            &json!({ "result": "ignore", "note": "known flake" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ignored = stack.wait_for_deployment(&second, WAIT).await;
    assert_eq!(ignored["status"], "Success", "{ignored:#}");
    assert_eq!(ignored["steps"][0]["status"], "Succeeded");
    assert_eq!(ignored["steps"][0]["failure_ignored"], true);
    assert_eq!(ignored["steps"][0]["exit_code"], 3);
    assert!(step_log(&ignored, "Afterwards").contains("afterwards ran"));

    // Without guided failure (overridden per deployment) the same failure fails at once.
    let (status, body) = stack
        .post(
            "/api/deployments",
            &json!({ "project": "Flaky", "release_number": "1.0.0", "environment": "Dev", "guided_failure": false }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let failed = stack
        .wait_for_deployment(body["deployment_id"].as_str().unwrap(), WAIT)
        .await;
    assert_eq!(failed["status"], "Failed");
    assert_eq!(failed["steps"][1]["status"], "Skipped");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn automatic_retries_come_before_failure() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    let counter = stack.work_root.path().join("attempts");
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
    let done = stack.wait_for_deployment(&id, WAIT).await;
    assert_eq!(done["status"], "Success", "{done:#}");
    assert_eq!(done["steps"][0]["attempt"], 3);
    assert!(log_text(&done).contains("retrying (2 of 2 retries)"));
    stack.stop().await;
}
