//! A worker killed in the middle of a step does not leave the deployment running forever:
//! its heartbeats stop, the API gives the attempt up when its lease runs out (the step fails,
//! saying the worker was lost; nobody runs the script a second time), and the deployment
//! ends. Everything the script started dies with the worker, background children included.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::process::Stdio;
use std::time::Duration;

use ferry_tests::{DeploymentStatus, StackOptions, StepStatus, TestStack, log_text, step_status};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_fails_its_step_instead_of_hanging() {
    let mut stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    let marker = stack.scripts_folder.path().join("finished-marker");
    let orphan_marker = stack.scripts_folder.path().join("orphan-marker");
    stack
        .create_project(&json!({
            "name": "Long Step",
            "notification_email": stack.recipient,
            "steps": [
                { "name": "Slow migration", "script": format!(
                    "(sleep 3; touch {}) &\nsetsid sh -c 'sleep 3; touch {}.setsid' &\necho started slow step\nsleep 3\ntouch {}\necho finished slow step",
                    orphan_marker.display(), orphan_marker.display(), marker.display()
                ) },
                { "name": "Report", "script": "echo reporting", "run_condition": "always" }
            ],
        }))
        .await;
    stack.create_release("Long Step", "1.0.0").await;

    let first_work_root = tempfile::tempdir().unwrap();
    let mut worker = tokio::process::Command::new(env!("CARGO_BIN_EXE_ferry-test-worker"))
        .envs(stack.worker_environment(first_work_root.path()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the worker process");

    let deployment_id = stack.deploy("Long Step", "1.0.0", "Dev").await;
    stack
        .wait_for_log_line_within(&deployment_id, "started slow step", Duration::from_secs(30))
        .await;
    worker.start_kill().expect("killing the worker");
    worker.wait().await.unwrap();

    let second_work_root = tempfile::tempdir().unwrap();
    stack.start_worker(second_work_root.path());
    let deployment = stack
        .wait_for_within(
            &deployment_id,
            DeploymentStatus::Failed,
            Duration::from_secs(30),
        )
        .await;

    assert_eq!(
        step_status(&deployment, "Slow migration"),
        StepStatus::Failed
    );
    let reason = deployment["steps"][0]["error"].as_str().unwrap();
    assert!(
        reason.contains("was lost: it sent no heartbeat"),
        "{reason}"
    );
    assert_eq!(
        step_status(&deployment, "Report"),
        StepStatus::Succeeded,
        "the always-run step still runs"
    );
    let log = log_text(&deployment);
    assert!(
        !log.contains("finished slow step"),
        "the script was not run to the end:\n{log}"
    );

    // The killed worker's script died with it, and so did what it started in the
    // background, in its own session or not: none of them reaches its `touch`.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        !marker.exists(),
        "the orphaned script kept running after its worker was killed"
    );
    assert!(
        !orphan_marker.exists(),
        "a background child of the script outlived its killed worker"
    );
    assert!(
        !orphan_marker.with_extension("setsid").exists(),
        "a child the script started in a session of its own outlived its killed worker"
    );
    stack.stop().await;
}
