//! Storage reads names as the domain's types: every name was validated before it was written,
//! so one that no longer parses is damaged data, reported as `Corrupt` naming its column
//! (and answered 500 by the API), never handed on as text.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use ferry_storage::paging::PageRequest;
use ferry_storage::{StorageError, environments, projects};
use ferry_tests::{StackOptions, TestStack};
use reqwest::StatusCode;
use serde_json::json;

fn corrupt_message(result: Result<impl std::fmt::Debug, StorageError>) -> String {
    match result {
        Err(StorageError::Corrupt(message)) => message,
        other => panic!("expected a Corrupt error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_name_reads_as_corrupt_naming_its_column() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({ "name": "Names", "steps": [
            { "name": "Run", "kind": "run_script", "script": "true" }
        ] }))
        .await;
    let pool = ferry_storage::connect(&stack.database_url, 1).unwrap();
    let client = pool.get().await.unwrap();
    let names: Vec<String> = projects::list(&client, &PageRequest::first(10))
        .await
        .unwrap()
        .unwrap()
        .items
        .iter()
        .map(|project| project.name.to_string())
        .collect();
    assert_eq!(names, ["Names"], "an intact name reads as it was written");

    // Damage the names as a bug or a bad migration might: padded, and empty.
    let db = stack.db().await;
    db.execute("UPDATE projects SET name = ' Names'", &[])
        .await
        .unwrap();
    db.execute("UPDATE environments SET name = ''", &[])
        .await
        .unwrap();

    let message = corrupt_message(projects::list(&client, &PageRequest::first(10)).await);
    assert!(message.contains("projects.name"), "{message}");
    let message = corrupt_message(environments::list(&client, &PageRequest::first(10)).await);
    assert!(message.contains("environments.name"), "{message}");
    let (status, body) = stack.get("/api/projects").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");

    drop(client);
    stack.stop().await;
}
