//! A step's output cannot take its worker down: a line without end is cut while it is read,
//! and output beyond the step's log budget is counted, not kept, so the worker's memory stays
//! bounded and the task log says what was dropped.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use ferry_tests::stack::spawn_worker_process;
use ferry_tests::{DeploymentStatus, StackOptions, TestStack, log_text};
use serde_json::json;

/// The most memory the worker process may have used at its peak, in KiB: far above what it
/// needs (tens of MiB), far below what reading a 256 MiB line whole takes.
const MOST_PEAK_RSS_KIB: u64 = 160 * 1024;

fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_lines_and_floods_of_lines_leave_the_worker_alive_and_small() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    let work_root = tempfile::tempdir().unwrap();
    let mut environment = stack.worker_environment(work_root.path());
    environment.push(("FERRY_STEP_LOG_MAX_LINES".into(), "1000".into()));
    let mut worker = spawn_worker_process(env!("CARGO_BIN_EXE_ferry-test-worker"), environment);
    let pid = worker.id().unwrap();

    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Noisy",
            "steps": [
                { "name": "Endless line", "script": "head -c 268435456 /dev/zero; echo; echo after the line" },
                { "name": "Flood", "script": "seq 1 10000000; echo flood done >&2" },
            ],
        }))
        .await;
    stack.create_release("Noisy", "1.0.0").await;
    let id = stack.deploy("Noisy", "1.0.0", "Dev").await;
    let deployment = stack.wait_for(&id, DeploymentStatus::Success).await;
    let log = log_text(&deployment);

    assert!(
        log.contains("…[line truncated]"),
        "the endless line was cut"
    );
    assert!(
        log.contains("after the line"),
        "output after the long line is kept"
    );
    assert!(
        log.contains(
            "9999001 more lines (68886014 bytes) of output were not kept: the step's log budget \
             is 1000 lines or 33554432 bytes"
        ),
        "the flood's dropped lines are counted and said:\n{}",
        &log[log.len().saturating_sub(2000)..]
    );
    // 9,999,000 numbers and `flood done` were dropped: 68,886,004 + 10 bytes.
    assert!(
        log.lines().any(|line| line == "1000"),
        "the first lines are kept"
    );
    assert!(
        !log.lines().any(|line| line == "1001"),
        "lines over the budget are not stored"
    );

    assert!(
        worker.try_wait().unwrap().is_none(),
        "the worker is still running"
    );
    let peak = peak_rss_kib(pid);
    assert!(
        peak < MOST_PEAK_RSS_KIB,
        "the worker's peak memory was {peak} KiB"
    );
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    stack.stop().await;
}
