//! A package is never whole in memory: the API writes an upload to a file as it arrives and
//! checks it there, a worker streams it from the store into its cache and extracts it from
//! the file, and uploads are received a bounded number at a time (one more waits its turn,
//! then is told to try again), leaving no file behind either way.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use ferry_tests::stack::spawn_worker_process;
use ferry_tests::{
    DeploymentStatus, Patience, Progress, StackOptions, TestStack, log_text, poll_until, zip_of,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The package's size: far more than a streaming reader holds, so buffering it whole shows.
const PACKAGE_BYTES: u64 = 96 * 1024 * 1024;
/// How far a process's peak memory may rise while it moves the package.
const MOST_GROWTH_KIB: u64 = 40 * 1024;

fn status_kib(pid: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Writes a stored (uncompressed) zip of incompressible bytes to `path`, piece by piece.
fn write_large_zip(path: &Path) {
    let file = std::fs::File::create(path).unwrap();
    let mut zip = zip::ZipWriter::new(file);
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    zip.start_file("blob.bin", stored).unwrap();
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut piece = vec![0u8; 1024 * 1024];
    for _ in 0..PACKAGE_BYTES / piece.len() as u64 {
        for bytes in piece.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.copy_from_slice(&state.to_le_bytes());
        }
        zip.write_all(&piece).unwrap();
    }
    zip.start_file("hello.txt", stored).unwrap();
    zip.write_all(b"hello from a large package\n").unwrap();
    zip.finish().unwrap();
}

async fn push_file(stack: &TestStack, path: &Path) -> (StatusCode, Value) {
    let file = tokio::fs::File::open(path).await.unwrap();
    let length = file.metadata().await.unwrap().len();
    let response = stack
        .http
        .post(format!("{}/api/packages/Large/1.0.0", stack.base_url))
        .header("x-ferry-apikey", ferry_tests::API_KEY)
        .header("content-type", "application/octet-stream")
        .header("content-length", length)
        .body(reqwest::Body::from(file))
        .send()
        .await
        .unwrap();
    let status = response.status();
    (status, response.json().await.unwrap())
}

/// An upload of `package_id` 1.0.0 whose body the test feeds piece by piece: the sender
/// gives the pieces (dropping it ends the body), the task answers once the API does.
fn fed_upload(
    stack: &TestStack,
    package_id: &str,
) -> (
    tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(futures_util::stream::unfold(
        receiver,
        |mut receiver| async move { receiver.recv().await.map(|piece| (piece, receiver)) },
    ));
    let upload = stack
        .http
        .post(format!(
            "{}/api/packages/{package_id}/1.0.0",
            stack.base_url
        ))
        .header("x-ferry-apikey", ferry_tests::API_KEY)
        .header("content-type", "application/octet-stream")
        .body(body)
        .send();
    (sender, tokio::spawn(upload))
}

fn uploads_in_progress(stack: &TestStack) -> usize {
    std::fs::read_dir(stack.work_root.path().join("api-uploads"))
        .map(|entries| entries.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_package_moves_through_the_api_and_a_worker_in_pieces() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        max_package_bytes: 256 * 1024 * 1024,
        ..StackOptions::default()
    })
    .await;
    let folder = tempfile::tempdir().unwrap();
    let archive = folder.path().join("Large.1.0.0.zip");
    write_large_zip(&archive);

    // The API runs in this process: its peak memory over the upload is this process's.
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
    let before = status_kib("self", "VmRSS:");
    let (status, pushed) = push_file(&stack, &archive).await;
    assert_eq!(status, StatusCode::CREATED, "{pushed}");
    let growth = status_kib("self", "VmHWM:").saturating_sub(before);
    assert!(
        growth < MOST_GROWTH_KIB,
        "receiving a {PACKAGE_BYTES}-byte package raised the API's peak memory by {growth} KiB"
    );
    let expected_sha256 =
        ferry_packages::archive::sha256_of_reader(std::fs::File::open(&archive).unwrap()).unwrap();
    assert_eq!(pushed["sha256"], expected_sha256.1);
    assert_eq!(pushed["size_bytes"], expected_sha256.0);
    assert_eq!(uploads_in_progress(&stack), 0, "the upload's file is gone");

    let work_root = tempfile::tempdir().unwrap();
    let mut worker = spawn_worker_process(
        env!("CARGO_BIN_EXE_ferry-test-worker"),
        stack.worker_environment(work_root.path()),
    );
    let pid = worker.id().unwrap().to_string();
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({ "name": "Large", "steps": [{
            "name": "Deploy", "package_id": "Large",
            "script": "cat hello.txt; echo \"blob $(stat -c %s blob.bin) bytes\"",
        }] }))
        .await;
    stack.create_release("Large", "1.0.0").await;
    // Let the worker settle, so its peak so far is its idle peak.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_peak = status_kib(&pid, "VmHWM:");
    let first = stack.deploy("Large", "1.0.0", "Dev").await;
    let deployment = stack.wait_for(&first, DeploymentStatus::Success).await;
    let log = log_text(&deployment);
    assert!(log.contains("hello from a large package"), "{log}");
    assert!(
        log.contains(&format!("blob {PACKAGE_BYTES} bytes")),
        "{log}"
    );
    let growth = status_kib(&pid, "VmHWM:").saturating_sub(idle_peak);
    assert!(
        growth < MOST_GROWTH_KIB,
        "deploying a {PACKAGE_BYTES}-byte package raised the worker's peak memory by {growth} KiB"
    );

    let second = stack.deploy("Large", "1.0.0", "Dev").await;
    let deployment = stack.wait_for(&second, DeploymentStatus::Success).await;
    assert!(
        log_text(&deployment).contains("Package Large 1.0.0 found in this worker's cache"),
        "{}",
        log_text(&deployment)
    );
    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker still runs"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_beyond_the_limit_waits_its_turn_then_is_told_to_try_again() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        max_concurrent_uploads: 1,
        upload_turn_wait: Duration::from_secs(1),
        ..StackOptions::default()
    })
    .await;
    let package = zip_of(&[("index.txt", "slow")]);

    // An upload whose body arrives slowly holds the only turn.
    let (sender, slow) = fed_upload(&stack, "Slow");
    sender
        .send(Ok(Bytes::copy_from_slice(&package[..10])))
        .await
        .unwrap();
    poll_until(
        "the slow upload to be received",
        Patience::within(Duration::from_secs(10)),
        || async {
            match uploads_in_progress(&stack) {
                1 => Progress::Done(()),
                files => Progress::NotYet(format!("{files} upload files")),
            }
        },
    )
    .await;

    let (status, body) = stack
        .post_raw(
            "/api/packages/Quick/1.0.0",
            "application/octet-stream",
            package.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("1 uploads are being received; try again shortly"),
        "{body}"
    );

    sender
        .send(Ok(Bytes::copy_from_slice(&package[10..])))
        .await
        .unwrap();
    drop(sender);
    let answer = slow.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::CREATED);
    assert_eq!(
        uploads_in_progress(&stack),
        0,
        "the slow upload's file is gone"
    );

    // Its turn given back, the next upload is received; a refused one leaves nothing either.
    stack.push_package("Quick", "1.0.0", package).await;
    let (status, body) = stack
        .post_raw(
            "/api/packages/Broken/1.0.0",
            "application/octet-stream",
            b"PK\x03\x04 not a zip".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        uploads_in_progress(&stack),
        0,
        "the refused upload's file is gone"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_upload_is_given_up_and_its_turn_given_back() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        max_concurrent_uploads: 1,
        upload_idle: Duration::from_secs(1),
        ..StackOptions::default()
    })
    .await;
    let package = zip_of(&[("index.txt", "stalled")]);
    let (sender, stalled) = fed_upload(&stack, "Stalled");
    sender
        .send(Ok(Bytes::copy_from_slice(&package[..10])))
        .await
        .unwrap();
    // It sends nothing more (and keeps its connection open).
    let answer = tokio::time::timeout(Duration::from_secs(20), stalled)
        .await
        .expect("the stalled upload is answered")
        .unwrap()
        .unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let body: Value = answer.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the upload sent nothing for 1 seconds; nothing was stored"),
        "{body}"
    );
    assert_eq!(
        uploads_in_progress(&stack),
        0,
        "the stalled upload's file is gone"
    );
    stack.push_package("Quick", "1.0.0", package).await;
    drop(sender);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_cancelled_while_its_package_is_prepared_never_starts_its_script() {
    let stack = TestStack::start_with(StackOptions {
        notifier: false,
        max_package_bytes: 256 * 1024 * 1024,
        ..StackOptions::default()
    })
    .await;
    let folder = tempfile::tempdir().unwrap();
    let archive = folder.path().join("Large.1.0.0.zip");
    write_large_zip(&archive);
    let (status, pushed) = push_file(&stack, &archive).await;
    assert_eq!(status, StatusCode::CREATED, "{pushed}");
    let marker = stack.scripts_folder.path().join("ran");
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({ "name": "Large", "steps": [{
            "name": "Deploy", "package_id": "Large",
            "script": format!("touch {}", marker.display()),
        }] }))
        .await;
    stack.create_release("Large", "1.0.0").await;
    let id = stack.deploy("Large", "1.0.0", "Dev").await;
    stack
        .wait_for_log_line(&id, "Downloading package Large 1.0.0")
        .await;
    stack.cancel(&id).await;
    let deployment = stack.wait_for(&id, DeploymentStatus::Canceled).await;
    // The worker's own account of the stop arrives with its result, after the cancel.
    stack
        .wait_for_log_line(&id, "the step was stopped while it was being prepared")
        .await;
    assert!(
        !marker.exists(),
        "the cancelled step's script ran: {deployment:#}"
    );
    stack.stop().await;
}
