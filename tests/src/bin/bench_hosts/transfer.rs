//! The transfer half: a package of 100 MB of incompressible bytes deployed with a
//! `deploy_package` step to one SSH target, cold (neither the worker's cache nor the
//! target's has it) and again (the target's cache has it), by a worker in a process of its
//! own whose peak memory is read from `/proc`; beside it a raw S3 GET of the same object to
//! a file and `scp` of that file to the same sshd, timed together.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use ferry_tests::TestStack;
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::fanout::deploy_to_and_wait;
use crate::host::{Hosts, TargetPlace, WorkerProcess};

/// The package's payload: 100 MB (10^6 bytes each, as every MB this program prints).
const BLOB_BYTES: u64 = 100_000_000;
const MB: f64 = 1_000_000.0;
const ENVIRONMENT: &str = "Transfer";
const PROJECT: &str = "Transfer";

/// Writes a stored (uncompressed) zip holding `BLOB_BYTES` of xorshift output from a random
/// seed, piece by piece: incompressible, and new bytes (a new SHA-256) on every run.
fn write_random_zip(path: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(path)?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let stored = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(true);
    zip.start_file("blob.bin", stored)?;
    let mut state = Uuid::new_v4().as_u64_pair().0 | 1;
    let mut piece = vec![0u8; 1_000_000];
    for _ in 0..BLOB_BYTES / piece.len() as u64 {
        for bytes in piece.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.copy_from_slice(&state.to_le_bytes());
        }
        zip.write_all(&piece)?;
    }
    zip.start_file("hello.txt", stored)?;
    zip.write_all(b"hello from the transfer benchmark\n")?;
    zip.finish()?.flush()?;
    Ok(())
}

/// Pushes the archive through the API as a stream; returns the API's answer.
async fn push(stack: &TestStack, archive: &Path) -> anyhow::Result<Value> {
    let file = tokio::fs::File::open(archive).await?;
    let length = file.metadata().await?.len();
    let response = stack
        .http
        .post(format!("{}/api/packages/Blob/1.0.0", stack.base_url))
        .header("x-ferry-apikey", ferry_tests::API_KEY)
        .header("content-type", "application/octet-stream")
        .header("content-length", length)
        .body(reqwest::Body::from(file))
        .send()
        .await?;
    let status = response.status();
    let body: Value = response.json().await?;
    anyhow::ensure!(status == StatusCode::CREATED, "pushing: {status} {body}");
    Ok(body)
}

/// What the target account keeps for this run, removed at the end.
struct OnTarget {
    /// `~/.ferry/packages/<sha256>`.
    cached_package: std::path::PathBuf,
    /// `~/.ferry-bench/<id>`: the applications root.
    folder: std::path::PathBuf,
    /// `~/.ferry-bench-raw-<id>.zip`: what `scp` wrote.
    raw_copy: std::path::PathBuf,
    lock: Option<std::path::PathBuf>,
}

impl OnTarget {
    /// The cached package and the installations (about 300 MB).
    fn remove_deployed(&self) {
        let _ = std::fs::remove_file(&self.cached_package);
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

impl Drop for OnTarget {
    fn drop(&mut self) {
        self.remove_deployed();
        let _ = std::fs::remove_file(&self.raw_copy);
        if let Some(lock) = &self.lock {
            let _ = std::fs::remove_file(lock);
        }
    }
}

pub async fn run(stack: &TestStack, hosts: &Hosts) -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let archive = folder.path().join("Blob.1.0.0.zip");
    write_random_zip(&archive)?;
    let archive_bytes = std::fs::metadata(&archive)?.len();
    let pushed = push(stack, &archive).await?;
    // Disk is scarce on a shared machine: the store has it now.
    std::fs::remove_file(&archive)?;
    let sha256 = pushed["sha256"]
        .as_str()
        .context("no sha256 in the push's answer")?
        .to_owned();
    let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
    let home = hosts.home();
    let mut on_target = OnTarget {
        cached_package: home.join(".ferry/packages").join(&sha256),
        folder: home.join(".ferry-bench").join(&id),
        raw_copy: home.join(format!(".ferry-bench-raw-{id}.zip")),
        lock: None,
    };
    stack.create_environment(ENVIRONMENT).await;
    // A lifecycle of its own: the default one would first want a deployment to the fan-out's
    // environment, created before this one.
    stack
        .create_lifecycle(&json!({
            "name": "Transfer only",
            "phases": [{"name": "Transfer", "environments": [ENVIRONMENT], "rule": "optional"}]
        }))
        .await;
    let applications_root = format!(".ferry-bench/{id}/Applications");
    let target_id = hosts
        .register(
            stack,
            &TargetPlace {
                name: "transfer-target",
                server: 0,
                environment: ENVIRONMENT,
                applications_root: Some(&applications_root),
            },
        )
        .await?;
    on_target.lock = Some(home.join(".ferry/locks").join(format!("{target_id}.lock")));
    stack
        .create_project(&json!({
            "name": PROJECT,
            "lifecycle": "Transfer only",
            "steps": [{"name": "Deploy", "kind": "deploy_package", "package_id": "Blob", "target_roles": ["web"]}]
        }))
        .await;
    stack.create_release(PROJECT, "1.0.0").await;

    // Cold: the target's cache lacks the package (it is new; removed to be sure), and so
    // does the new worker's.
    let _ = std::fs::remove_file(&on_target.cached_package);
    let worker = WorkerProcess::start(stack, 8).await?;
    let idle_kib = worker.status_kib("VmHWM:")?;
    let cold = deploy_to_and_wait(stack, PROJECT, ENVIRONMENT).await?;
    let peak_kib = worker.status_kib("VmHWM:")?;
    let cold_run = run_seconds(stack, &cold.deployment_id).await?;
    let cold_log = ferry_tests::log_text(&stack.deployment(&cold.deployment_id).await);
    let cached = deploy_to_and_wait(stack, PROJECT, ENVIRONMENT).await?;
    let cached_log = ferry_tests::log_text(&stack.deployment(&cached.deployment_id).await);
    worker.stop().await?;
    on_target.remove_deployed();

    // Raw: the same object from S3 to a file, then `scp` of that file to the same sshd.
    let raw_file = folder.path().join("raw.zip");
    let started = Instant::now();
    stack
        .store()
        .download_to(
            &ferry_packages::store::object_key(&sha256),
            &raw_file,
            u64::MAX,
        )
        .await?;
    let fetched = started.elapsed();
    let raw_name = on_target
        .raw_copy
        .file_name()
        .context("a file name")?
        .to_string_lossy()
        .into_owned();
    hosts.scp(0, &raw_file, &raw_name)?;
    let raw = started.elapsed();

    let sent_bytes = package_bytes_sent(&cached_log).with_context(|| {
        format!("the redeploy's log says nothing of the package:\n{cached_log}")
    })?;
    let cold_sent = package_bytes_sent(&cold_log);
    let megabytes = archive_bytes as f64 / MB;
    println!(
        "transfer 100 MB: {:.1} MB/s (raw: {:.1} MB/s), cached redeploy {sent_bytes} bytes, worker peak RSS {:.1} MB",
        megabytes / cold_run,
        megabytes / raw.as_secs_f64(),
        peak_kib as f64 * 1024.0 / MB
    );
    eprintln!(
        "  archive {archive_bytes} bytes; cold: run start→end {cold_run:.2} s, created→end {:.2} s, sent {}; \
         cached redeploy created→end {:.2} s; raw: S3 GET {:.2} s + scp {:.2} s; worker VmHWM idle {:.1} MB, after the cold deploy {:.1} MB",
        cold.elapsed.as_secs_f64(),
        cold_sent.map_or_else(|| "?".to_owned(), |bytes| format!("{bytes} bytes")),
        cached.elapsed.as_secs_f64(),
        fetched.as_secs_f64(),
        (raw - fetched).as_secs_f64(),
        idle_kib as f64 * 1024.0 / MB,
        peak_kib as f64 * 1024.0 / MB,
    );
    for line in cold_log
        .lines()
        .filter(|line| line.contains("[transfer-target]"))
    {
        eprintln!("  cold log: {line}");
    }
    Ok(())
}

/// The bytes of the package the worker sent, as its log says: "… 0 bytes sent" when the
/// target had it, else "Sent package … to the target: <n> bytes".
fn package_bytes_sent(log: &str) -> Option<u64> {
    if log.contains("found in the target's cache, 0 bytes sent") {
        return Some(0);
    }
    log.lines()
        .filter_map(|line| line.split_once("Sent package ").map(|(_, rest)| rest))
        .filter_map(|rest| rest.rsplit_once(": ").map(|(_, bytes)| bytes))
        .find_map(|bytes| bytes.trim_end_matches(" bytes").trim().parse().ok())
}

/// The target run's start to end on the worker's clock, in seconds.
async fn run_seconds(stack: &TestStack, deployment_id: &str) -> anyhow::Result<f64> {
    let row = stack
        .db()
        .await
        .query_one(
            "SELECT extract(epoch FROM finished_at - started_at)::float8 FROM step_runs
             WHERE deployment_id = $1 AND target_id IS NOT NULL",
            &[&Uuid::parse_str(deployment_id)?],
        )
        .await?;
    row.get::<_, Option<f64>>(0)
        .context("the target run has no start and finish stamps")
}
