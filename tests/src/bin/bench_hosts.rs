//! `ferry-bench-hosts`: deployments to SSH targets on the dev stack's two sshd servers, each
//! figure beside plain OpenSSH doing the same work in the same run.
//!
//! Run with `infra/dev bench-hosts` (or, with `.ferry-dev/env.sh` sourced and `ferry-helper`
//! and `ferry-test-worker` built in release mode beside it,
//! `target/release/ferry-bench-hosts [--sizes 10,100,1000] [--concurrency 256]
//! [--sequential-sample 20] [--no-fanout] [--no-transfer]`). Prints on standard output:
//! - `fan-out <N> targets: <s> s (sequential ssh: <s> s)`: one `true` script step with role
//!   `web` and `max_parallelism` N to N targets, from the create request to the end, beside
//!   plain `ssh … true` one target after another (a sample, extrapolated to N and said so);
//! - `transfer 100 MB: <MB/s> MB/s (raw: <MB/s> MB/s), cached redeploy <bytes> bytes, worker
//!   peak RSS <MB> MB`: a `deploy_package` step with 100 MB of incompressible bytes, cold
//!   (the target run's start to end), beside an S3 GET to a file plus `scp` of it; then the
//!   same release again, and the worker process's VmHWM.
//!
//! Where the time went (per-run stamps, CPU per process group) goes to standard error.

// The crate root is this file, so its modules are named by path: `bench_hosts/` beside it.
#[path = "bench_hosts/cpu.rs"]
mod cpu;
#[path = "bench_hosts/fanout.rs"]
mod fanout;
#[path = "bench_hosts/host.rs"]
mod host;
#[path = "bench_hosts/transfer.rs"]
mod transfer;

use anyhow::Context;
use ferry_tests::config::DevTargets;
use ferry_tests::{StackOptions, TestStack};

struct Arguments {
    fan_out: Option<fanout::FanOutOptions>,
    transfer: bool,
}

fn arguments() -> anyhow::Result<Arguments> {
    let mut options = fanout::FanOutOptions {
        sizes: vec![10, 100, 1000],
        worker_concurrency: 256,
        sequential_sample: 20,
    };
    let (mut fan_out, mut transfer) = (true, true);
    let mut args = std::env::args().skip(1);
    while let Some(argument) = args.next() {
        let mut value = || {
            args.next()
                .with_context(|| format!("{argument} takes a value"))
        };
        match argument.as_str() {
            "--sizes" => {
                options.sizes = value()?
                    .split(',')
                    .map(str::parse)
                    .collect::<Result<_, _>>()
                    .context("--sizes: numbers separated by commas")?;
            }
            "--concurrency" => options.worker_concurrency = value()?.parse()?,
            "--sequential-sample" => options.sequential_sample = value()?.parse()?,
            "--no-fanout" => fan_out = false,
            "--no-transfer" => transfer = false,
            other => anyhow::bail!("unknown argument {other}"),
        }
    }
    anyhow::ensure!(
        options.sequential_sample > 0 && options.sizes.iter().all(|size| *size > 0),
        "sizes and the sequential sample must be positive"
    );
    Ok(Arguments {
        fan_out: fan_out.then_some(options),
        transfer,
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arguments = arguments()?;
    // lapin logs channels that close while the stack shuts down as errors; they say nothing
    // about the figures, so the benchmark's default filter leaves lapin out.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,lapin=off".into()),
        )
        .try_init();
    let hosts = host::Hosts::new(DevTargets::from_env())?;
    // The worker runs in a process of its own (`host::WorkerProcess`), so this process is
    // the API and the harness alone.
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        database_max_connections: 32,
        event_concurrency: 32, // the API's default
        lease_seconds: 60,     // the API's default
        max_package_bytes: 256 * 1024 * 1024,
        ..StackOptions::default()
    })
    .await;
    let mut outcome = Ok(());
    if let Some(options) = &arguments.fan_out {
        outcome = fanout::run(&stack, &hosts, options).await;
    }
    if outcome.is_ok() && arguments.transfer {
        outcome = transfer::run(&stack, &hosts).await;
    }
    stack.stop().await;
    outcome
}
