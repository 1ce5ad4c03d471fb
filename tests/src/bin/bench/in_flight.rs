//! Many deployments in flight at once: each runs `sleep 12` then `true`, one per project and
//! environment (a pair runs one deployment at a time), created at a steady pace (500 in
//! about ten seconds, [`CREATE_EVERY`]), so all are running at once before the first one's
//! sleep ends, and their first steps then end at that same pace. Measures the time from the
//! first create request to the last deployment's end, the most deployments running at once
//! (sampled), and the hop between the two steps (the worker's finish stamp of step 1 to its
//! start stamp of step 2) while the others are in flight.
//!
//! Runs on a stack of its own with the worker in a process of its own (concurrency at least
//! the number of deployments), so the bench process's memory is the API's (and the bench's
//! small client).

use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_tests::TestStack;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::common::{Api, memory_mib, peak_rss_mib, wait_all_succeeded};
use crate::percentile;
use crate::workers;

/// Environments the deployments are spread over (projects: as many as it then takes).
const ENVIRONMENTS: usize = 4;

/// One create request this often: a pace the box sustains beside the hops it causes.
const CREATE_EVERY: Duration = Duration::from_millis(20);

/// The first step's sleep: longer than creating all of them takes.
const SLEEP_SECONDS: u64 = 12;

const PREFIX: &str = "Wide";

pub struct InFlight {
    pub count: usize,
    /// From the first create request to the last deployment's `finished_at`.
    pub elapsed: Duration,
    /// How long creating them all took.
    pub created_in: Duration,
    pub hop_p50: f64,
    pub hop_p99: f64,
    /// The most deployments seen running at once.
    pub peak_running: i64,
    /// The bench process's `(VmRSS, VmHWM)` in MiB before the first request and once all ended.
    pub memory_before: (f64, f64),
    pub memory_after: (f64, f64),
    /// The bench process's highest `VmRSS` (MiB) sampled from the first request to the end.
    pub peak_rss: f64,
    /// The whole phase, its setup included.
    pub took: Duration,
}

impl InFlight {
    /// The phase's line on standard output, its details (the hop beside `idle_hop_p50`, the
    /// idle figure of the 10-step chain, and the memory) on standard error.
    pub fn print(&self, idle_hop_p50: f64) {
        println!(
            "in flight {} deployments: all finished in {:.1} s, hop p50 {:.1} ms",
            self.count,
            self.elapsed.as_secs_f64(),
            self.hop_p50
        );
        let within = if self.hop_p50 <= 2.0 * idle_hop_p50 {
            "yes"
        } else {
            "no"
        };
        eprintln!(
            "in flight: hop p50 {:.1} ms (p99 {:.1} ms) beside idle p50 {idle_hop_p50:.1} ms: within 2× idle: {within}; created in {:.1} s; at most {} running at once",
            self.hop_p50,
            self.hop_p99,
            self.created_in.as_secs_f64(),
            self.peak_running,
        );
        eprintln!(
            "in flight: bench process (the API; its worker runs apart) VmRSS {:.0} MiB before, {:.0} MiB peak, {:.0} MiB after; VmHWM {:.0} → {:.0} MiB; phase {:.1} s",
            self.memory_before.0,
            self.peak_rss,
            self.memory_after.0,
            self.memory_before.1,
            self.memory_after.1,
            self.took.as_secs_f64()
        );
    }
}

/// Runs `count` two-step deployments at once on a fresh stack and one worker process; fails
/// unless every one ends `Success`.
pub async fn in_flight(count: usize) -> anyhow::Result<InFlight> {
    let started = Instant::now();
    let stack = workers::stack_for_worker_processes().await;
    let workers = workers::start_workers(&stack, 1, count.max(64)).await;
    let outcome = match workers {
        Ok(workers) => {
            let outcome = measure(&stack, count).await;
            workers::stop_workers(workers).await.and(outcome)
        }
        Err(error) => Err(error),
    };
    stack.stop().await;
    outcome.map(|figures| InFlight {
        took: started.elapsed(),
        ..figures
    })
}

async fn measure(stack: &TestStack, count: usize) -> anyhow::Result<InFlight> {
    let api = Api::of(stack);
    let environments: Vec<String> = (1..=ENVIRONMENTS.min(count))
        .map(|n| format!("Env {n}"))
        .collect();
    for environment in &environments {
        api.create("/api/environments", &json!({ "name": environment }))
            .await?;
    }
    // The default lifecycle opens environments one after another; this one opens all.
    api.create(
        "/api/lifecycles",
        &json!({
            "name": "Flat",
            "phases": [{ "name": "All", "environments": environments, "rule": "optional" }],
        }),
    )
    .await?;
    let projects = count.div_ceil(environments.len());
    let names: Vec<String> = (0..projects).map(|n| format!("{PREFIX} {n}")).collect();
    api.create_projects(
        names
            .iter()
            .map(|name| {
                json!({
                    "name": name,
                    "lifecycle": "Flat",
                    "steps": [
                        { "name": "Sleep", "script": format!("sleep {SLEEP_SECONDS}") },
                        { "name": "Then", "script": "true" },
                    ],
                })
            })
            .collect(),
    )
    .await?;
    let pairs: Vec<(String, String)> = names
        .iter()
        .flat_map(|name| {
            environments
                .iter()
                .map(move |environment| (name.clone(), environment.clone()))
        })
        .take(count)
        .collect();

    let db = stack.db().await;
    let memory_before = memory_mib()?;
    let sampling = CancellationToken::new();
    let sampler = tokio::spawn(peak_rss_mib(sampling.clone()));
    let counting = CancellationToken::new();
    let counter = tokio::spawn(peak_running(stack.db().await, counting.clone()));
    let first_request = chrono::Utc::now();
    let started = Instant::now();
    deploy_paced(&api, &pairs).await?;
    let created_in = started.elapsed();
    wait_all_succeeded(&db, PREFIX, count, Duration::from_secs(600)).await?;
    counting.cancel();
    let peak_running = counter.await.context("the running counter panicked")??;
    let memory_after = memory_mib()?;
    sampling.cancel();
    let peak_rss = sampler.await.context("the memory sampler panicked")??;
    let pattern = format!("{PREFIX} %");
    let last: chrono::DateTime<chrono::Utc> = db
        .query_one(
            "SELECT max(d.finished_at) FROM deployments d
             JOIN projects p ON p.project_id = d.project_id WHERE p.name LIKE $1",
            &[&pattern],
        )
        .await?
        .get(0);
    let elapsed = (last - first_request).to_std().unwrap_or_default();
    let rows = db
        .query(
            "SELECT (EXTRACT(EPOCH FROM second.started_at - first.finished_at) * 1000)::float8
             FROM step_runs first
             JOIN step_runs second ON second.deployment_id = first.deployment_id
                                  AND second.step_index = 1
             JOIN deployments d ON d.deployment_id = first.deployment_id
             JOIN projects p ON p.project_id = d.project_id
             WHERE first.step_index = 0 AND p.name LIKE $1",
            &[&pattern],
        )
        .await?;
    let mut hops: Vec<f64> = rows.iter().map(|row| row.get(0)).collect();
    anyhow::ensure!(
        hops.len() == count,
        "{} of {count} deployments have both steps' stamps",
        hops.len()
    );
    Ok(InFlight {
        count,
        elapsed,
        created_in,
        hop_p50: percentile(&mut hops, 0.5),
        hop_p99: percentile(&mut hops, 0.99),
        peak_running,
        memory_before,
        memory_after,
        peak_rss,
        took: Duration::ZERO,
    })
}

/// Creates one deployment per pair, one request every [`CREATE_EVERY`] (each in a task of its
/// own, so a slow answer does not slow the pace).
async fn deploy_paced(api: &Api, pairs: &[(String, String)]) -> anyhow::Result<()> {
    let mut ticks = tokio::time::interval(CREATE_EVERY);
    let mut requests = tokio::task::JoinSet::new();
    for (project, environment) in pairs {
        ticks.tick().await;
        let (api, project, environment) = (api.clone(), project.clone(), environment.clone());
        requests.spawn(async move { api.deploy(&project, &environment).await });
    }
    while let Some(created) = requests.join_next().await {
        created.context("a create request panicked")??;
    }
    Ok(())
}

/// The most deployments of this phase seen `Running` at once, sampled every 200 ms until
/// `stop`.
async fn peak_running(db: tokio_postgres::Client, stop: CancellationToken) -> anyhow::Result<i64> {
    let pattern = format!("{PREFIX} %");
    let mut peak = 0;
    while !stop.is_cancelled() {
        let running: i64 = db
            .query_one(
                "SELECT count(*) FROM deployments d JOIN projects p ON p.project_id = d.project_id
                 WHERE p.name LIKE $1 AND d.status = 'Running'",
                &[&pattern],
            )
            .await?
            .get(0);
        peak = peak.max(running);
        tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    Ok(peak)
}
