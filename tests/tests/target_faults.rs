//! Targets and workers failing under a step on targets: a target that goes away mid-run fails
//! its run as retryable, its retry tries the connection again and the step fails naming the
//! cause; a worker killed with SIGKILL mid-run loses its attempt by the lease rule, the retry
//! runs on another worker, and the target's lock keeps the two runs from ever overlapping.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::process::Stdio;
use std::time::Duration;

use ferry_tests::config::DevTargets;
use ferry_tests::targets::{Relay, ssh_target};
use ferry_tests::{DeploymentStatus, StackOptions, StepStatus, TestStack, log_text, step_status};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

async fn register(stack: &TestStack, mut body: serde_json::Value, port: Option<u16>) {
    if let Some(port) = port {
        body["port"] = json!(port);
    }
    let (status, created) = stack.post("/api/targets", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_that_goes_away_mid_run_fails_retryable_then_the_step_names_the_cause() {
    let stack = TestStack::start().await;
    let targets = DevTargets::from_env();
    stack.create_environment("Dev").await;
    let (host, port, _) = targets.servers[0].clone();
    let mut relay = Relay::start(&host, port).await;
    let id = Uuid::new_v4().simple().to_string();
    let body = ssh_target(
        &targets,
        "web-gone",
        0,
        &["Dev"],
        &format!(".ferry-test/{id}"),
    );
    register(&stack, body, Some(relay.port)).await;
    stack
        .create_project(&json!({
            "name": "Gone",
            "steps": [{
                "name": "Long", "target_roles": ["web"], "retries": 1,
                "script": "echo started on #{Octopus.Machine.Name}\nsleep 20\necho finished"
            }]
        }))
        .await;
    stack.create_release("Gone", "1.0.0").await;
    let deployment_id = stack.deploy("Gone", "1.0.0", "Dev").await;
    stack
        .wait_for_log_line_within(
            &deployment_id,
            "started on web-gone",
            Duration::from_secs(60),
        )
        .await;
    relay.vanish().await;

    let deployment = stack
        .wait_for_deployment_within(&deployment_id, Duration::from_secs(90))
        .await;
    let text = log_text(&deployment);
    assert_eq!(
        step_status(&deployment, "Long"),
        StepStatus::Failed,
        "{text}"
    );
    assert!(
        text.contains("Step \"Long\" on target web-gone attempt 1 failed:")
            && text.contains("(retryable); retrying (1 of 1 retries)"),
        "the broken session is retryable and the run is retried: {text}"
    );
    assert!(
        text.contains("trying again in 500 ms (1 of 4 tries)"),
        "the retry tries the connection again, each try logged: {text}"
    );
    let error = deployment["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("failed on target web-gone")
            && error.contains("(retryable; gave up after 4 tries)"),
        "the step's failure names the target and the cause: {error}"
    );
    assert!(
        !text.contains("[web-gone] finished"),
        "the script never finished: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_killed_mid_run_loses_its_attempt_and_the_retry_never_overlaps_it() {
    let mut stack = TestStack::start_with(StackOptions {
        worker: false,
        lease_seconds: 3,
        ..StackOptions::default()
    })
    .await;
    let targets = DevTargets::from_env();
    stack.create_environment("Dev").await;
    let id = Uuid::new_v4().simple().to_string();
    let folder = format!(".ferry-test/{id}");
    register(
        &stack,
        ssh_target(&targets, "web-1", 0, &["Dev"], &folder),
        None,
    )
    .await;
    // Each run writes when it starts and ends to a file on the target (after its last
    // output line, so its helper notices nothing until the script is over).
    let runs = format!("/home/{}/{folder}/runs", targets.user);
    let script = format!(
        "mkdir -p \"$HOME/{folder}\"\necho \"start $(date +%s.%N)\" >> \"$HOME/{folder}/runs\"\necho started run\nsleep 15\necho \"end $(date +%s.%N)\" >> \"$HOME/{folder}/runs\""
    );
    stack
        .create_project(&json!({
            "name": "Killed",
            "steps": [{"name": "Slow", "target_roles": ["web"], "retries": 1, "script": script}]
        }))
        .await;
    stack.create_release("Killed", "1.0.0").await;

    let first_root = tempfile::tempdir().unwrap();
    let mut worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry-test-worker"))
        .envs(stack.worker_environment(first_root.path()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deployment_id = stack.deploy("Killed", "1.0.0", "Dev").await;
    stack
        .wait_for_log_line_within(&deployment_id, "started run", Duration::from_secs(60))
        .await;
    worker.start_kill().unwrap();
    worker.wait().await.unwrap();
    let second_root = tempfile::tempdir().unwrap();
    stack.start_worker(second_root.path());

    let deployment = stack
        .wait_for_within(
            &deployment_id,
            DeploymentStatus::Success,
            Duration::from_secs(90),
        )
        .await;
    let text = log_text(&deployment);
    assert!(
        text.contains("was lost: it sent no heartbeat"),
        "the attempt is lost by the lease rule: {text}"
    );
    assert!(
        text.contains("on target web-1 attempt 1 failed") && text.contains("retrying"),
        "{text}"
    );
    let marks = std::fs::read_to_string(&runs).unwrap();
    let _ = std::fs::remove_dir_all(format!("/home/{}/{folder}", targets.user));
    let stamps: Vec<(String, f64)> = marks
        .lines()
        .map(|line| {
            let (what, at) = line.split_once(' ').unwrap();
            (what.to_owned(), at.parse().unwrap())
        })
        .collect();
    let kinds: Vec<&str> = stamps.iter().map(|(what, _)| what.as_str()).collect();
    assert_eq!(
        kinds,
        ["start", "end", "start", "end"],
        "the killed worker's run went on to its end on the target, and the retry ran after it, never beside it: {marks}"
    );
    assert!(stamps[2].1 >= stamps[1].1, "{marks}");
    assert!(
        text.contains("Waiting: another step's run holds target web-1"),
        "the retry waited for the target: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_stops_on_the_target_and_one_waiting_for_the_target_never_deploys() {
    let stack = TestStack::start().await;
    let targets = DevTargets::from_env();
    stack.create_environment("Dev").await;
    let id = Uuid::new_v4().simple().to_string();
    let folder = format!(".ferry-test/{id}");
    let home = format!("/home/{}/{folder}", targets.user);
    register(
        &stack,
        ssh_target(
            &targets,
            "web-1",
            0,
            &["Dev"],
            &format!("{folder}/Applications"),
        ),
        None,
    )
    .await;
    // A: a long script on the target; B: a package for the same target, which waits for A.
    stack
        .create_project(&json!({
            "name": "Long",
            "steps": [{"name": "Slow", "target_roles": ["web"], "script": format!(
                "mkdir -p \"$HOME/{folder}\"\necho started slow\nsleep 6\ntouch \"$HOME/{folder}/late\""
            )}]
        }))
        .await;
    stack
        .create_project(&json!({
            "name": "Queued Deploy",
            "steps": [{"name": "Install", "kind": "deploy_package", "package_id": "waiting-app",
                       "target_roles": ["web"]}]
        }))
        .await;
    stack
        .push_package(
            "waiting-app",
            "1.0.0",
            ferry_tests::zip_of(&[("index.html", "hello")]),
        )
        .await;
    stack.create_release("Long", "1.0.0").await;
    stack.create_release("Queued Deploy", "1.0.0").await;

    let long = stack.deploy("Long", "1.0.0", "Dev").await;
    stack
        .wait_for_log_line_within(&long, "started slow", Duration::from_secs(60))
        .await;
    let waiting = stack.deploy("Queued Deploy", "1.0.0", "Dev").await;
    stack
        .wait_for_log_line_within(&waiting, "holds target web-1", Duration::from_secs(60))
        .await;
    stack.cancel(&waiting).await;
    stack.cancel(&long).await;
    let long = stack
        .wait_for_within(&long, DeploymentStatus::Canceled, Duration::from_secs(30))
        .await;
    stack
        .wait_for_log_line_within(
            long["deployment_id"].as_str().unwrap(),
            "Asked the target to stop the run: stopped",
            Duration::from_secs(30),
        )
        .await;
    // Past the moment the script would have ended, and the waiting one would have deployed.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let late = std::path::Path::new(&home).join("late").exists();
    let installed = std::path::Path::new(&home)
        .join("Applications/Dev/waiting-app")
        .join("current")
        .exists();
    let _ = std::fs::remove_dir_all(&home);
    assert!(!late, "the cancelled script was stopped on the target");
    assert!(
        !installed,
        "the cancelled deployment never deployed, even once the target was free"
    );
    let waiting = stack.deployment(&waiting).await;
    assert_eq!(
        waiting["steps"][0]["targets"][0]["status"], "Canceled",
        "{waiting}"
    );
    assert_eq!(step_status(&waiting, "Install"), StepStatus::Canceled);
}
