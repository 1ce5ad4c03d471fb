//! End-to-end deployments through the real stack: a successful one and a failing one, each
//! checked where a user would look: the package in S3, the state in PostgreSQL, the task log
//! and the status email.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use ferry_tests::{
    DeploymentStatus, StepStatus, TestStack, log_text, sha256_hex, step_log, step_status, zip_of,
};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_package_is_deployed_and_everyone_can_see_it_succeeded() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Random Quotes",
            "notification_email": stack.recipient,
            "variables": { "Nginx Port": "8081" },
            "steps": [{
                "name": "Deploy web app",
                "package_id": "RandomQuotes",
                "script": "set -e\ncat quotes.txt\necho \"port=$NGINX_PORT env=$OCTOPUS_ENVIRONMENT_NAME\"\necho to-stderr >&2\necho \"here=$(pwd) installed=#{Octopus.Action.Package.InstallationDirectoryPath} on #{Octopus.Machine.Name}\"\nset_octopusvariable Greeting 'hello from step one'",
            }, {
                "name": "Use outputs",
                "script": "echo \"previous=#{Octopus.Action[Deploy web app].Output.Package.InstallationDirectoryPath}\"\necho \"greeting=#{Octopus.Action[Deploy web app].Output.Greeting}\"\necho \"package=#{Octopus.Action[Deploy web app].Package.PackageId} #{Octopus.Action[Deploy web app].Package.PackageVersion}\"",
            }],
        }))
        .await;
    let package = zip_of(&[(
        "quotes.txt",
        "The only way to do great work is to love what you do.\n",
    )]);
    let expected_sha256 = sha256_hex(&package);
    let pushed = stack
        .push_package("RandomQuotes", "1.0.1", package.clone())
        .await;
    assert_eq!(pushed["sha256"], expected_sha256);
    assert_eq!(pushed["size_bytes"], package.len());
    stack.create_release("Random Quotes", "0.0.1").await;

    let deployment_id = stack.deploy("Random Quotes", "0.0.1", "Dev").await;
    let deployment = stack
        .wait_for(&deployment_id, DeploymentStatus::Success)
        .await;

    assert_eq!(
        step_status(&deployment, "Deploy web app"),
        StepStatus::Succeeded
    );
    let log = log_text(&deployment);
    assert!(
        log.contains("The only way to do great work"),
        "script output in the task log:\n{log}"
    );
    assert!(
        log.contains("port=8081 env=Dev"),
        "variables reach the script:\n{log}"
    );
    assert!(log.contains("to-stderr"), "stderr is logged too:\n{log}");
    // The package's folder and the machine are system variables, and outputs reach later steps.
    let here = log
        .lines()
        .find_map(|line| line.split("here=").nth(1))
        .expect("the first step printed its folder");
    let (folder, installed) = here.split_once(" installed=").unwrap();
    assert!(installed.starts_with(folder), "{here}");
    assert!(installed.ends_with("on test-worker"), "{here}");
    assert!(log.contains(&format!("previous={folder}")), "{log}");
    assert!(log.contains("greeting=hello from step one"), "{log}");
    assert!(log.contains("package=RandomQuotes 1.0.1"), "{log}");

    // The package object in S3 is byte-for-byte what was pushed, under the recorded checksum.
    let db = stack.db().await;
    let row = db
        .query_one(
            "SELECT sha256, object_key FROM packages WHERE package_id = 'RandomQuotes' AND version = '1.0.1'",
            &[],
        )
        .await
        .unwrap();
    let (recorded_sha256, object_key): (String, String) = (row.get(0), row.get(1));
    assert_eq!(recorded_sha256, expected_sha256);
    let stored = stack.store().get(&object_key).await.unwrap();
    assert_eq!(sha256_hex(&stored), expected_sha256);

    // PostgreSQL says Success, with a finish time.
    let row = db
        .query_one(
            "SELECT status, finished_at IS NOT NULL FROM deployments WHERE deployment_id = $1",
            &[&uuid::Uuid::parse_str(&deployment_id).unwrap()],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "Success");
    assert!(row.get::<_, bool>(1));

    // The status email names the release, the environment and the outcome.
    let emails = stack.wait_for_emails(1).await;
    let email = &emails[0];
    assert!(email.contains("Success"), "{email}");
    assert!(email.contains("0.0.1"), "{email}");
    assert!(email.contains("Dev"), "{email}");
    assert!(
        email.contains(&format!("/deployments/{deployment_id}")),
        "{email}"
    );

    // The status page renders the same story.
    let (status, html) = stack
        .get_page_as("anyone", &format!("/deployments/{deployment_id}"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("Success") && html.contains("Deploy web app"),
        "{html}"
    );
    // It carries the log up to a cursor and follows on from there, never reloading the
    // whole log.
    let (_, page) = stack
        .get(&format!("/api/deployments/{deployment_id}/log"))
        .await;
    let last = page["lines"].as_array().unwrap().last().unwrap().clone();
    assert!(html.contains(last["text"].as_str().unwrap()), "{html}");
    assert!(
        html.contains(&format!("let cursor = {};", last["cursor"])),
        "{html}"
    );
    assert!(html.contains("/log?limit=5000&after="), "{html}");
    assert!(!html.contains("http-equiv=\"refresh\""), "{html}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_script_fails_the_deployment_with_its_exit_code() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Flaky",
            "notification_email": stack.recipient,
            "steps": [
                { "name": "Migrate database", "script": "echo migrating\nexit 3" },
                { "name": "Never runs", "script": "echo should not run" },
                { "name": "Clean up", "script": "echo cleaning up", "run_condition": "always" }
            ],
        }))
        .await;
    stack.create_release("Flaky", "1.0.0").await;
    let deployment_id = stack.deploy("Flaky", "1.0.0", "Dev").await;
    let deployment = stack
        .wait_for(&deployment_id, DeploymentStatus::Failed)
        .await;

    let error = deployment["error"].as_str().unwrap();
    assert!(
        error.contains("Migrate database") && error.contains("code 3"),
        "{error}"
    );
    assert_eq!(
        step_status(&deployment, "Migrate database"),
        StepStatus::Failed
    );
    assert_eq!(deployment["steps"][0]["exit_code"], 3);
    assert_eq!(step_status(&deployment, "Never runs"), StepStatus::Skipped);
    assert_eq!(
        step_status(&deployment, "Clean up"),
        StepStatus::Succeeded,
        "an always-run step runs after a failure"
    );
    let log = log_text(&deployment);
    assert!(
        log.contains("migrating") && log.contains("exited with code 3"),
        "{log}"
    );
    assert!(!log.contains("should not run"), "{log}");
    assert!(log.contains("cleaning up"), "{log}");

    let emails = stack.wait_for_emails(1).await;
    let email = &emails[0];
    assert!(email.contains("Failed"), "{email}");
    assert!(email.contains("Migrate database"), "{email}");
    assert!(email.contains("exit code 3"), "{email}");
    stack.stop().await;
}

/// PostgreSQL cannot store a NUL character: a script that prints one, or instructions that
/// render one, must not make the deployment's events unwritable (and the deployment stuck).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nul_characters_from_a_script_or_a_template_strand_nothing() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Nul",
            "variables": { "Nul": "AA==" },
            "steps": [
                { "name": "Print", "script": "printf 'before\\0after\\n'\nprintf 'no newline\\0' >&2\nexit 3" },
                { "name": "Ask", "kind": "manual_intervention", "instructions": "#{Nul | FromBase64}", "run_condition": "always" }
            ]
        }))
        .await;
    stack.create_release("Nul", "1.0.0").await;
    let id = stack.deploy("Nul", "1.0.0", "Dev").await;
    let done = stack.wait_for(&id, DeploymentStatus::Failed).await;
    assert!(
        step_log(&done, "Print").contains("before\u{FFFD}after"),
        "{done:#}"
    );
    assert_eq!(step_status(&done, "Print"), StepStatus::Failed);
    assert_eq!(step_status(&done, "Ask"), StepStatus::Failed);
    let ask = done["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|step| step["name"] == "Ask")
        .unwrap();
    assert!(
        ask["error"]
            .as_str()
            .unwrap()
            .contains("render a NUL character"),
        "{ask:#}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_task_log_is_read_in_pages_from_a_cursor() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Counter",
            "steps": [{ "name": "Count", "script": "seq 1 25" }],
        }))
        .await;
    stack.create_release("Counter", "1.0.0").await;
    let id = stack.deploy("Counter", "1.0.0", "Dev").await;
    let whole = stack.wait_for(&id, DeploymentStatus::Success).await;
    let whole: Vec<String> = whole["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|line| line["text"].as_str().unwrap().to_owned())
        .collect();
    assert!(whole.len() > 25, "{whole:?}");

    let mut cursor = 0;
    let mut paged = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = stack
            .get(&format!(
                "/api/deployments/{id}/log?after={cursor}&limit=10"
            ))
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let lines = page["lines"].as_array().unwrap();
        assert!(lines.len() <= 10);
        let mut previous = cursor;
        for line in lines {
            let at = line["cursor"].as_i64().unwrap();
            assert!(at > previous, "cursors grow: {page}");
            previous = at;
            paged.push(line["text"].as_str().unwrap().to_owned());
        }
        pages += 1;
        cursor = page["next_cursor"].as_i64().unwrap();
        if !page["more"].as_bool().unwrap() {
            break;
        }
    }
    assert_eq!(
        paged, whole,
        "the pages together are the whole log, in order"
    );
    assert_eq!(pages, whole.len().div_ceil(10));
    let (_, rest) = stack
        .get(&format!("/api/deployments/{id}/log?after={cursor}"))
        .await;
    assert_eq!(rest["lines"], json!([]));
    assert_eq!(rest["next_cursor"].as_i64(), Some(cursor));
    assert_eq!(rest["more"], json!(false));

    let (status, body) = stack
        .get(&format!("/api/deployments/{id}/log?after=-1"))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "after");
    let (status, _) = stack
        .get("/api/deployments/01a23193-86c8-7671-9285-63b4757c06c2/log")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, plain) = stack.get(&format!("/api/deployments/{id}")).await;
    assert!(
        plain.get("log").is_none(),
        "the deployment alone leaves the log out"
    );
    stack.stop().await;
}
