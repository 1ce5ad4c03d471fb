//! Work folders do not pile up: a succeeded step without a package leaves no folder, a failed
//! step's folder is kept for inspection, and kept folders are swept once they are older than
//! `FERRY_WORK_FOLDER_KEEP_SECONDS`.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::time::Duration;

use ferry_tests::stack::spawn_worker_process;
use ferry_tests::{DeploymentStatus, Patience, Progress, StackOptions, TestStack, poll_until};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn step_folders_go_when_done_with_and_failed_ones_after_a_while() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    let work_root = tempfile::tempdir().unwrap();
    let mut environment = stack.worker_environment(work_root.path());
    environment.push(("FERRY_WORK_FOLDER_KEEP_SECONDS".into(), "3".into()));
    let mut worker = spawn_worker_process(env!("CARGO_BIN_EXE_ferry-test-worker"), environment);
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Half",
            "steps": [
                { "name": "Quick", "script": "echo quick > note.txt" },
                { "name": "Broken", "script": "echo broken > note.txt; exit 3" },
            ],
        }))
        .await;
    stack.create_release("Half", "1.0.0").await;
    let id = stack.deploy("Half", "1.0.0", "Dev").await;
    stack.wait_for(&id, DeploymentStatus::Failed).await;
    let folder = work_root.path().join("deployments").join(&id);
    assert!(
        !folder.join("000-attempt-1").exists(),
        "the succeeded step's folder is gone"
    );
    assert_eq!(
        std::fs::read_to_string(folder.join("001-attempt-1/note.txt")).unwrap(),
        "broken\n",
        "the failed step's folder is kept for inspection"
    );
    poll_until(
        "the old deployment folder to be swept",
        Patience::within(Duration::from_secs(30)),
        || async {
            if folder.exists() {
                Progress::NotYet("still there")
            } else {
                Progress::Done(())
            }
        },
    )
    .await;
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    stack.stop().await;
}
