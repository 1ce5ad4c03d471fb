//! One-step deployment throughput with 1, 2 and 4 worker processes: for each count a fresh
//! stack without an in-process worker, that many worker processes, fresh projects (a prefix
//! per run), and deployments created as fast as the API takes them (32 requests in flight,
//! round-robin over 64 projects) until all ended `Success`.
//!
//! Each worker process runs up to 64 steps at once (not 64 / N), as a worker host added to
//! an installation is configured like the others: the figure says what adding workers brings.
//! Slots never limit the runs either way: one deployment per project runs at a time, so at
//! most 64 steps run at once, which one worker's 64 already covers.

use std::time::{Duration, Instant};

use ferry_tests::TestStack;
use serde_json::json;

use crate::common::{Api, noop_projects, wait_all_succeeded};
use crate::workers;

/// The worker process counts measured, in the order printed.
const WORKER_COUNTS: [usize; 3] = [1, 2, 4];

const CONCURRENCY_PER_WORKER: usize = 64;
const PROJECTS: usize = 64;
const IN_FLIGHT_REQUESTS: usize = 32;

/// The phase's line on standard output: `figures` in [`WORKER_COUNTS`]' order.
pub fn print(figures: &[f64]) {
    let counts: Vec<String> = WORKER_COUNTS.iter().map(usize::to_string).collect();
    let figures: Vec<String> = figures.iter().map(|f| format!("{f:.1}")).collect();
    println!(
        "workers {}: {} deployments per second",
        counts.join("/"),
        figures.join(" / ")
    );
}

/// Deployments per second with each of [`WORKER_COUNTS`] worker processes.
pub async fn worker_scaling(deployments: usize) -> anyhow::Result<Vec<f64>> {
    let phase = Instant::now();
    let mut figures = Vec::new();
    for workers in WORKER_COUNTS {
        let started = Instant::now();
        let per_second = run(workers, deployments).await?;
        eprintln!(
            "workers {workers}: {per_second:.1} deployments per second ({deployments}; run with setup {:.1} s)",
            started.elapsed().as_secs_f64()
        );
        figures.push(per_second);
    }
    eprintln!("workers: phase {:.1} s", phase.elapsed().as_secs_f64());
    Ok(figures)
}

async fn run(worker_count: usize, deployments: usize) -> anyhow::Result<f64> {
    let stack = workers::stack_for_worker_processes().await;
    let outcome = match workers::start_workers(&stack, worker_count, CONCURRENCY_PER_WORKER).await {
        Ok(processes) => {
            let outcome = measure(&stack, worker_count, deployments).await;
            workers::stop_workers(processes).await.and(outcome)
        }
        Err(error) => Err(error),
    };
    stack.stop().await;
    outcome
}

async fn measure(stack: &TestStack, worker_count: usize, count: usize) -> anyhow::Result<f64> {
    let api = Api::of(stack);
    api.create("/api/environments", &json!({ "name": "Dev" }))
        .await?;
    let prefix = format!("Scale{worker_count}");
    api.create_projects(noop_projects(&prefix, PROJECTS))
        .await?;
    let pairs: Vec<(String, String)> = (0..count)
        .map(|n| (format!("{prefix} {}", n % PROJECTS), "Dev".to_owned()))
        .collect();
    let db = stack.db().await;
    let started = Instant::now();
    api.deploy_all(&pairs, IN_FLIGHT_REQUESTS).await?;
    wait_all_succeeded(&db, &prefix, count, Duration::from_secs(600)).await?;
    Ok(count as f64 / started.elapsed().as_secs_f64())
}
