//! The fan-out half: one trivial script step (`true`, role `web`, `max_parallelism` = N) to
//! N registered targets spread over the dev stack's two sshd servers, timed from the create
//! request to the deployment's end, beside plain `ssh` running `true` one target after
//! another; then where the time went (per-run stamps from `step_runs`) and the CPU.

use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_tests::TestStack;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::json;
use uuid::Uuid;

use crate::cpu::CpuSnapshot;
use crate::host::{Hosts, TargetPlace, WorkerProcess};

/// Target registrations sent at once (only setting up; not timed).
const REGISTERING_AT_ONCE: usize = 16;
const ENVIRONMENT: &str = "Fanout";

/// How the fan-out is run.
pub struct FanOutOptions {
    /// Target counts, each measured once, in order (targets are added as the count grows).
    pub sizes: Vec<usize>,
    /// Steps the worker runs at once (its RabbitMQ prefetch follows).
    pub worker_concurrency: u16,
    /// Plain `ssh` runs timed one after another; a size above it is extrapolated.
    pub sequential_sample: usize,
}

pub async fn run(stack: &TestStack, hosts: &Hosts, options: &FanOutOptions) -> anyhow::Result<()> {
    stack.create_environment(ENVIRONMENT).await;
    for size in &options.sizes {
        let name = project_name(*size);
        stack
            .create_project(&json!({
                "name": name,
                "steps": [{"name": "True", "script": "true", "target_roles": ["web"], "max_parallelism": size}]
            }))
            .await;
        stack.create_release(&name, "1.0.0").await;
    }
    let worker = WorkerProcess::start(stack, options.worker_concurrency).await?;
    let mut target_ids = Vec::new();
    let outcome = measure_sizes(stack, hosts, options, &worker, &mut target_ids).await;
    worker.stop().await?;
    // Each run took a lock file named by its target's id in the shared account's home.
    for target_id in &target_ids {
        let _ = std::fs::remove_file(
            hosts
                .home()
                .join(".ferry/locks")
                .join(format!("{target_id}.lock")),
        );
    }
    outcome
}

fn project_name(size: usize) -> String {
    format!("Fanout {size}")
}

async fn measure_sizes(
    stack: &TestStack,
    hosts: &Hosts,
    options: &FanOutOptions,
    worker: &WorkerProcess,
    target_ids: &mut Vec<String>,
) -> anyhow::Result<()> {
    let marker = dev_folder(hosts)?;
    let first = *options.sizes.first().context("no fan-out sizes")?;
    // A warm-up: the first run on the account puts ferry-helper in its home; measured runs
    // then find it there, as every deployment after a target's first does.
    register_up_to(stack, hosts, first, target_ids).await?;
    let warm_up = deploy_and_wait(stack, &project_name(first)).await?;
    eprintln!(
        "fan-out warm-up ({first} targets, ferry-helper sent): {:.1} s",
        warm_up.elapsed.as_secs_f64()
    );
    for &size in &options.sizes {
        register_up_to(stack, hosts, size, target_ids).await?;
        let before = CpuSnapshot::take(&marker);
        let deployed = deploy_and_wait(stack, &project_name(size)).await?;
        let after = CpuSnapshot::take(&marker);
        let sample = size.min(options.sequential_sample);
        let started = Instant::now();
        for index in 0..sample {
            hosts.ssh_true(index % hosts.targets.servers.len())?;
        }
        let sequential = started.elapsed().as_secs_f64() * size as f64 / sample as f64;
        let note = if sample < size {
            format!(", extrapolated from {sample} runs")
        } else {
            String::new()
        };
        println!(
            "fan-out {size} targets: {:.1} s (sequential ssh: {sequential:.1} s{note})",
            deployed.elapsed.as_secs_f64()
        );
        eprintln!("  {}", phases(stack, &deployed.deployment_id).await?);
        eprintln!(
            "  {}",
            crate::cpu::report(&before, &after, std::process::id(), worker.pid)
        );
    }
    Ok(())
}

/// This checkout's `.ferry-dev` folder, which each dev server's command line names.
fn dev_folder(hosts: &Hosts) -> anyhow::Result<String> {
    let (_, _, host_key) = hosts.targets.servers.first().context("no dev targets")?;
    let text = host_key.display().to_string();
    let end = text
        .find("/.ferry-dev/")
        .context("the host keys are not in a .ferry-dev folder")?;
    Ok(text[..end + "/.ferry-dev/".len()].to_owned())
}

/// Registers `web-0001` … until there are `count`, alternating between the two servers.
async fn register_up_to(
    stack: &TestStack,
    hosts: &Hosts,
    count: usize,
    target_ids: &mut Vec<String>,
) -> anyhow::Result<()> {
    let names: Vec<(String, usize)> = (target_ids.len()..count)
        .map(|index| {
            (
                format!("web-{:04}", index + 1),
                index % hosts.targets.servers.len(),
            )
        })
        .collect();
    let mut pending = names.iter();
    let mut in_flight = FuturesUnordered::new();
    loop {
        while in_flight.len() < REGISTERING_AT_ONCE {
            let Some((name, server)) = pending.next() else {
                break;
            };
            in_flight.push(async move {
                let place = TargetPlace {
                    name,
                    server: *server,
                    environment: ENVIRONMENT,
                    applications_root: None,
                };
                hosts.register(stack, &place).await
            });
        }
        match in_flight.next().await {
            Some(registered) => target_ids.push(registered?),
            None => return Ok(()),
        }
    }
}

pub struct Deployed {
    pub deployment_id: String,
    /// From just before the create request to the first look that saw it ended.
    pub elapsed: Duration,
}

/// Deploys release 1.0.0 of `project` to the fan-out environment and waits for the end,
/// watching the deployment's row (cheap, unlike reading its log of thousands of lines).
pub async fn deploy_and_wait(stack: &TestStack, project: &str) -> anyhow::Result<Deployed> {
    deploy_to_and_wait(stack, project, ENVIRONMENT).await
}

pub async fn deploy_to_and_wait(
    stack: &TestStack,
    project: &str,
    environment: &str,
) -> anyhow::Result<Deployed> {
    let db = stack.db().await;
    let started = Instant::now();
    let deployment_id = stack.deploy(project, "1.0.0", environment).await;
    let id = Uuid::parse_str(&deployment_id)?;
    let deadline = started + Duration::from_secs(900);
    loop {
        let row = db
            .query_one(
                "SELECT status FROM deployments WHERE deployment_id = $1",
                &[&id],
            )
            .await?;
        let status: String = row.get(0);
        if ["Success", "Failed", "Canceled"].contains(&status.as_str()) {
            let elapsed = started.elapsed();
            if status != "Success" {
                let deployment = stack.deployment(&deployment_id).await;
                let log = ferry_tests::log_text(&deployment);
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                anyhow::bail!(
                    "deployment of {project} ended {status}; the log's end:\n{}",
                    tail.into_iter().rev().collect::<Vec<_>>().join("\n")
                );
            }
            return Ok(Deployed {
                deployment_id,
                elapsed,
            });
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "deployment of {project} still {status} after 15 minutes"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Where a deployment's time went, from the stamps of its target runs: the API's dispatch
/// and the worker's start and finish of each run.
async fn phases(stack: &TestStack, deployment_id: &str) -> anyhow::Result<String> {
    let db = stack.db().await;
    let row = db
        .query_one(
            "SELECT count(*),
                extract(epoch FROM min(s.dispatched_at) - d.created_at)::float8,
                extract(epoch FROM max(s.dispatched_at) - d.created_at)::float8,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.started_at - s.dispatched_at)::float8),
                max(extract(epoch FROM s.started_at - s.dispatched_at)::float8),
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s.finished_at - s.started_at)::float8),
                percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s.finished_at - s.started_at)::float8),
                sum(extract(epoch FROM s.finished_at - s.started_at)::float8),
                extract(epoch FROM max(s.finished_at) - min(s.started_at))::float8,
                extract(epoch FROM min(s.started_at) - d.created_at)::float8,
                extract(epoch FROM d.finished_at - max(s.finished_at))::float8,
                extract(epoch FROM d.finished_at - d.created_at)::float8
             FROM step_runs s JOIN deployments d ON d.deployment_id = s.deployment_id
             WHERE s.deployment_id = $1 AND s.target_id IS NOT NULL
             GROUP BY d.created_at, d.finished_at",
            &[&Uuid::parse_str(deployment_id)?],
        )
        .await?;
    let runs: i64 = row.get(0);
    let ms = |index: usize| row.get::<_, Option<f64>>(index).unwrap_or(f64::NAN) * 1000.0;
    let busy = row.get::<_, Option<f64>>(7).unwrap_or(f64::NAN);
    let span = row.get::<_, Option<f64>>(8).unwrap_or(f64::NAN);
    Ok(format!(
        "{runs} runs: created→end {:.0} ms; dispatched +{:.0}…+{:.0} ms; first start +{:.0} ms; \
         dispatched→started p50 {:.0} ms, max {:.0} ms; started→finished p50 {:.0} ms, p99 {:.0} ms; \
         {:.1} runs at once on average over {:.0} ms; last finish→end {:.0} ms",
        ms(11),
        ms(1),
        ms(2),
        ms(9),
        ms(3),
        ms(4),
        ms(5),
        ms(6),
        busy / span,
        span * 1000.0,
        ms(10),
    ))
}
