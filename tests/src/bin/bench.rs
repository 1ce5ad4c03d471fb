//! `ferry-bench`: measures Ferry's spine on the real servers, beside raw PostgreSQL and
//! RabbitMQ figures taken in the same run, so ratios stay honest on a noisy machine.
//!
//! Run with `infra/dev bench` (or, with `.ferry-dev/env.sh` sourced,
//! `cargo run --release -p ferry-tests --bin ferry-bench -- [DEPLOYMENTS] [CHAIN_RUNS]`).
//! Prints:
//! - a raw PostgreSQL commit (one-row insert) latency, p50 and p99;
//! - a raw RabbitMQ publish → confirm → deliver round trip on a quorum queue, p50 and p99;
//! - the overhead between one step finishing and the next starting in a 10-step process,
//!   p50 and p99 (the worker's finish stamp of step n to its start stamp of step n+1);
//! - one-step no-op deployments per second, created through the HTTP API as fast as it takes
//!   them (32 requests in flight, spread over 64 projects because one project deploys to one
//!   environment one deployment at a time) and finished by the worker;
//! - `in flight 500 deployments: all finished in X s, hop p50 Y ms`: 500 deployments of
//!   `sleep 12` then `true` all running at once (125 projects × 4 environments, a stack of
//!   their own, the worker in a process of its own with concurrency 500), created one every
//!   20 ms; X from the first create request to the last end, Y the step-to-step hop over all
//!   500 (`bench/in_flight.rs`; how many ran at once goes to standard error);
//! - `reads under load: X requests/s, p99 Y ms`: 16 read loops for 5 s, cycling through
//!   `GET /api/deployments/{id}`, its `/log?after=0` and the status page `/deployments/{id}`,
//!   while one-step deployments are created with 32 requests in flight; every answer must be
//!   200 (`bench/reads.rs`);
//! - `workers 1/2/4: X / Y / Z deployments per second`: the one-step throughput (1000
//!   deployments, 32 requests in flight, 64 projects) with 1, 2 and 4 worker processes of 64
//!   steps each, a fresh stack per count (`bench/scaling.rs`; the worker processes are this
//!   program run again as a worker, `bench/workers.rs`).
//!
//! Every deployment must end `Success`, or the bench fails. Standard error gets the details:
//! the in-flight hop beside the idle one and the process's memory (VmRSS/VmHWM: the API runs
//! in this process), the write throughput and per-route latencies of the read phase, and each
//! worker run.
//!
//! Knobs (environment, for quick runs): `FERRY_BENCH_IN_FLIGHT` (500),
//! `FERRY_BENCH_READ_SECONDS` (5), `FERRY_BENCH_READ_WRITES` (the most deployments the read
//! phase's write load creates, 2000), `FERRY_BENCH_SCALING_DEPLOYMENTS` (1000).

// The crate root is this file, so its modules are named by path: `bench/` beside it.
#[path = "bench/common.rs"]
mod common;
#[path = "bench/config.rs"]
mod config;
#[path = "bench/in_flight.rs"]
mod in_flight;
#[path = "bench/reads.rs"]
mod reads;
#[path = "bench/scaling.rs"]
mod scaling;
#[path = "bench/workers.rs"]
mod workers;

use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_broker::{FieldTable, OutgoingMessage, Publisher, Topology};
use ferry_tests::{StackOptions, TestStack};
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use serde_json::json;

fn percentile(samples: &mut [f64], fraction: f64) -> f64 {
    samples.sort_by(f64::total_cmp);
    if samples.is_empty() {
        return f64::NAN;
    }
    let index = ((samples.len() as f64 - 1.0) * fraction).round() as usize;
    samples[index]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    if config::variable(workers::WORKER_MODE).is_some() {
        return workers::run_as_worker().await;
    }
    let in_flight_count = config::knob("FERRY_BENCH_IN_FLIGHT", 500)?;
    let read_duration = Duration::from_secs(config::knob("FERRY_BENCH_READ_SECONDS", 5)? as u64);
    let read_writes = config::knob("FERRY_BENCH_READ_WRITES", 2000)?;
    let scaling_deployments = config::knob("FERRY_BENCH_SCALING_DEPLOYMENTS", 1000)?;
    let mut args = std::env::args().skip(1);
    let deployments: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let chain_runs: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(30);
    // lapin logs channels that close while the stack shuts down as errors; they say nothing
    // about the figures, so the benchmark's default filter leaves lapin out. Logs go to
    // standard error: standard output is the figures alone.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,lapin=off".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let stack = TestStack::start_with(StackOptions {
        notifier: false,
        worker_concurrency: 64,
        database_max_connections: 32,
        event_concurrency: 32, // the API's default
        ..StackOptions::default()
    })
    .await;

    let (postgres_p50, postgres_p99) = raw_postgres_commit(&stack, 1000).await?;
    let (rabbit_p50, rabbit_p99) = raw_rabbitmq_round_trip(&stack, 1000).await?;
    println!(
        "raw PostgreSQL commit           p50 {postgres_p50:7.3} ms   p99 {postgres_p99:7.3} ms"
    );
    println!("raw RabbitMQ publish→deliver    p50 {rabbit_p50:7.3} ms   p99 {rabbit_p99:7.3} ms");

    stack.create_environment("Dev").await;
    let (overhead_p50, overhead_p99, samples) = step_overhead(&stack, chain_runs).await?;
    println!(
        "step-to-step overhead (10 steps) p50 {overhead_p50:7.3} ms   p99 {overhead_p99:7.3} ms   ({samples} transitions; p50 = {:.1}× a raw broker round trip)",
        overhead_p50 / rabbit_p50
    );
    let (per_second, elapsed) = throughput(&stack, deployments).await?;
    println!(
        "one-step deployments             {per_second:7.1} per second   ({deployments} in {:.2} s)",
        elapsed.as_secs_f64()
    );

    // Measured on this stack while it is the only one, printed after the in-flight line.
    let reads = reads::reads_under_load(&stack, read_duration, read_writes).await?;
    stack.stop().await;
    in_flight::in_flight(in_flight_count)
        .await?
        .print(overhead_p50);
    reads.print();
    scaling::print(&scaling::worker_scaling(scaling_deployments).await?);
    Ok(())
}

async fn raw_postgres_commit(stack: &TestStack, count: usize) -> anyhow::Result<(f64, f64)> {
    let mut client = stack.db().await;
    client
        .batch_execute("CREATE TABLE IF NOT EXISTS bench_commits (id bigserial PRIMARY KEY, at timestamptz NOT NULL)")
        .await?;
    let mut samples = Vec::with_capacity(count);
    for _ in 0..count {
        let started = Instant::now();
        let transaction = client.transaction().await?;
        transaction
            .execute("INSERT INTO bench_commits (at) VALUES (now())", &[])
            .await?;
        transaction.commit().await?;
        samples.push(millis(started.elapsed()));
    }
    Ok((
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
    ))
}

async fn raw_rabbitmq_round_trip(stack: &TestStack, count: usize) -> anyhow::Result<(f64, f64)> {
    let connection = ferry_broker::connect(&stack.servers.amqp_url, "ferry-bench").await?;
    let topology = Topology::new(&stack.queue_prefix);
    let spec = ferry_broker::QueueSpec {
        queue: format!("{}.bench-raw", stack.queue_prefix),
        exchange: topology.events_exchange(),
        routing_key: "bench_raw".into(),
    };
    let channel = connection.create_channel().await?;
    topology.declare_queue(&connection, &spec).await?;
    let mut consumer = channel
        .basic_consume(
            spec.queue.clone().into(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let publisher = Publisher::open(&connection).await?;
    let payload = vec![b'x'; 256];
    let mut samples = Vec::with_capacity(count);
    for index in 0..count {
        let id = index.to_string();
        let started = Instant::now();
        publisher
            .publish(OutgoingMessage {
                exchange: &spec.exchange,
                routing_key: &spec.routing_key,
                message_id: &id,
                kind: "bench",
                payload: &payload,
                headers: FieldTable::default(),
                expiration_ms: None,
            })
            .await?;
        let delivery = consumer.next().await.context("consumer closed")??;
        samples.push(millis(started.elapsed()));
        delivery.ack(BasicAckOptions::default()).await?;
    }
    for queue in [
        spec.queue.clone(),
        spec.retry_queue(),
        spec.dead_letter_queue(),
    ] {
        channel
            .queue_delete(queue.into(), Default::default())
            .await?;
    }
    connection.close(200, "done".into()).await?;
    Ok((
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
    ))
}

async fn step_overhead(stack: &TestStack, runs: usize) -> anyhow::Result<(f64, f64, usize)> {
    let steps: Vec<_> = (1..=10)
        .map(|n| json!({ "name": format!("Step {n}"), "script": "true" }))
        .collect();
    stack
        .create_project(&json!({ "name": "Chain", "steps": steps }))
        .await;
    stack.create_release("Chain", "1.0.0").await;
    let db = stack.db().await;
    let mut samples = Vec::new();
    // The hop in two: the worker's finish stamp to the API's command (the database's clock
    // as the result's transaction locked the deployment, stamped as the next step's
    // dispatch), then that to the worker's start stamp of the next step.
    let (mut to_command, mut to_start) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let deployment_id = stack.deploy("Chain", "1.0.0", "Dev").await;
        let deployment = stack
            .wait_for_deployment_within(&deployment_id, Duration::from_secs(60))
            .await;
        anyhow::ensure!(
            deployment["status"] == "Success",
            "chain deployment failed: {deployment:#}"
        );
        let rows = db
            .query(
                "SELECT started_at, finished_at, dispatched_at FROM step_runs WHERE deployment_id = $1 ORDER BY step_index",
                &[&uuid::Uuid::parse_str(&deployment_id)?],
            )
            .await?;
        let ms =
            |delta: chrono::TimeDelta| delta.num_microseconds().unwrap_or_default() as f64 / 1000.0;
        for pair in rows.windows(2) {
            let finished: chrono::DateTime<chrono::Utc> = pair[0].get(1);
            let next_started: chrono::DateTime<chrono::Utc> = pair[1].get(0);
            let next_dispatched: chrono::DateTime<chrono::Utc> = pair[1].get(2);
            samples.push(ms(next_started - finished));
            to_command.push(ms(next_dispatched - finished));
            to_start.push(ms(next_started - next_dispatched));
        }
    }
    eprintln!(
        "step-to-step overhead in two: worker's finish → the API's command p50 {:.3} ms, the API's command → the next start p50 {:.3} ms",
        percentile(&mut to_command, 0.5),
        percentile(&mut to_start, 0.5)
    );
    let count = samples.len();
    Ok((
        percentile(&mut samples, 0.5),
        percentile(&mut samples, 0.99),
        count,
    ))
}

/// Deployments of one project to one environment run one at a time (a rule, not a limit of
/// the machinery), so throughput is measured across this many projects, deployed round-robin.
const THROUGHPUT_PROJECTS: usize = 64;

/// Deployment requests the benchmark keeps in flight, like many CI jobs at once.
const IN_FLIGHT: usize = 32;

async fn throughput(stack: &TestStack, count: usize) -> anyhow::Result<(f64, Duration)> {
    for project in 0..THROUGHPUT_PROJECTS {
        let name = format!("Noop {project}");
        stack
            .create_project(
                &json!({ "name": name, "steps": [{ "name": "Nothing", "script": "true" }] }),
            )
            .await;
        stack.create_release(&name, "1.0.0").await;
    }
    let names: Vec<String> = (0..THROUGHPUT_PROJECTS)
        .map(|project| format!("Noop {project}"))
        .collect();
    let db = stack.db().await;
    let started = Instant::now();
    let mut in_flight = FuturesUnordered::new();
    let mut created = 0;
    while created < count || !in_flight.is_empty() {
        while created < count && in_flight.len() < IN_FLIGHT {
            in_flight.push(stack.deploy(&names[created % THROUGHPUT_PROJECTS], "1.0.0", "Dev"));
            created += 1;
        }
        in_flight.next().await;
    }
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let row = db
            .query_one(
                "SELECT count(*) FILTER (WHERE d.status = 'Success'), count(*) FILTER (WHERE d.status = 'Failed')
                 FROM deployments d JOIN projects p ON p.project_id = d.project_id WHERE p.name LIKE 'Noop %'",
                &[],
            )
            .await?;
        let (succeeded, failed): (i64, i64) = (row.get(0), row.get(1));
        anyhow::ensure!(failed == 0, "{failed} no-op deployments failed");
        if succeeded as usize == count {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {succeeded} of {count} finished in 10 minutes"
        );
        // Polling is the benchmark's own load on PostgreSQL: keep it light.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = started.elapsed();
    Ok((count as f64 / elapsed.as_secs_f64(), elapsed))
}
