//! `ferry-faults`: the fault script. For each fault it starts a Ferry stack with two worker
//! processes, puts 100 deployments in flight (one project each, one step that records its
//! run and sleeps), injects the fault while they run, waits for every deployment to end, and
//! prints one line:
//!
//! `fault <name>: accepted A, finished F (success S, failed X), lost L, stuck K, ran twice R`
//!
//! - *accepted*: deployments the API answered 201 for;
//! - *finished*: those that reached a final status; *lost*: accepted ones the API no longer
//!   knows; *stuck*: those not final when the deadline passed;
//! - *ran twice*: deployments whose script ran more often than the API started it (each
//!   start is a "started on worker" line in its log: a retry is a start, a duplicate is not).
//!
//! followed by why the failed ones failed. It exits with an error when lost, stuck or ran
//! twice is not 0 for any fault. A killed worker's running steps fail ("worker … was lost")
//! once their lease (Ferry's default, 60 s) runs out: failed, finished, never run twice.
//!
//! Run with `infra/dev faults [--pg-outage-seconds N]` (default 180): it stops and starts the
//! dev PostgreSQL and RabbitMQ itself, through `infra/dev stop-service` and `infra/dev up`,
//! so nothing else may use them meanwhile.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use ferry_broker::{FieldTable, OutgoingMessage, Publisher, Topology};
use ferry_tests::{StackOptions, TestStack, log_text};
use lapin::options::{BasicAckOptions, BasicGetOptions};
use serde_json::json;

const DEPLOYMENTS: usize = 100;
/// How long every deployment has to end once the fault is over.
const DEADLINE: Duration = Duration::from_secs(600);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    RabbitMqRestart,
    WorkerSigterm,
    WorkerKill,
    PostgresOutage,
    DuplicateJobs,
}

impl Fault {
    const ALL: [Fault; 5] = [
        Fault::DuplicateJobs,
        Fault::WorkerSigterm,
        Fault::WorkerKill,
        Fault::RabbitMqRestart,
        Fault::PostgresOutage,
    ];

    fn name(self) -> &'static str {
        match self {
            Fault::RabbitMqRestart => "rabbitmq-restart",
            Fault::WorkerSigterm => "worker-sigterm",
            Fault::WorkerKill => "worker-kill",
            Fault::PostgresOutage => "postgresql-outage",
            Fault::DuplicateJobs => "duplicate-jobs",
        }
    }
}

#[derive(Debug, Default)]
struct Tally {
    accepted: usize,
    success: usize,
    failed: usize,
    lost: usize,
    stuck: usize,
    ran_twice: usize,
    /// Why the failed ones failed, with how many.
    why_failed: std::collections::BTreeMap<String, usize>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut pg_outage = Duration::from_secs(180);
    let mut only: Option<String> = None;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--pg-outage-seconds" => {
                pg_outage = Duration::from_secs(
                    args.next()
                        .context("--pg-outage-seconds takes a number")?
                        .parse()?,
                );
            }
            "--only" => only = Some(args.next().context("--only takes a fault's name")?),
            other => bail!("unknown argument `{other}` (--pg-outage-seconds N, --only FAULT)"),
        }
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error,lapin=off".into()),
        )
        .try_init();
    let worker_binary = std::env::current_exe()?
        .parent()
        .context("the binary's folder")?
        .join("ferry-test-worker");
    let logs = tempfile::Builder::new()
        .prefix("ferry-faults-")
        .tempdir()?
        .keep();
    println!("workers' logs: {}", logs.display());
    let mut failures = 0;
    for fault in Fault::ALL {
        if only.as_deref().is_some_and(|only| only != fault.name()) {
            continue;
        }
        let tally = run(fault, &worker_binary, pg_outage, &logs).await?;
        println!(
            "fault {}: accepted {}, finished {} (success {}, failed {}), lost {}, stuck {}, ran twice {}",
            fault.name(),
            tally.accepted,
            tally.success + tally.failed,
            tally.success,
            tally.failed,
            tally.lost,
            tally.stuck,
            tally.ran_twice
        );
        for (why, count) in &tally.why_failed {
            println!("  {count} failed: {why}");
        }
        if tally.lost + tally.stuck + tally.ran_twice > 0 {
            failures += 1;
        }
    }
    if failures > 0 {
        bail!("{failures} fault(s) lost, stranded or ran a deployment twice");
    }
    Ok(())
}

async fn run(
    fault: Fault,
    worker_binary: &Path,
    pg_outage: Duration,
    logs: &Path,
) -> anyhow::Result<Tally> {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        // Ferry's default lease, not the tests' short one: a worker rides out a broker
        // restart of a few seconds without giving its steps up.
        lease_seconds: 60,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    let runs = stack.scripts_folder.path().to_path_buf();
    for index in 0..DEPLOYMENTS {
        let name = format!("Faulty {index}");
        stack
            .create_project(&json!({
                "name": name,
                "steps": [{
                    "name": "Work",
                    "script": format!("echo ran >> {}\nsleep 3\necho done", runs.join(format!("p{index}")).display()),
                }],
            }))
            .await;
        stack.create_release(&name, "1.0.0").await;
    }
    let roots = [
        tempfile::tempdir()?,
        tempfile::tempdir()?,
        tempfile::tempdir()?,
    ];
    let worker = |index: usize| {
        let mut environment = stack.worker_environment(roots[index].path());
        environment.push(("FERRY_WORKER_NAME".into(), format!("faults-worker-{index}")));
        // Each worker's log (warnings and errors) is kept, for a fault that goes wrong.
        let log = std::fs::File::create(logs.join(format!("{}-worker-{index}.log", fault.name())))
            .map(std::process::Stdio::from)
            .unwrap_or_else(|_| std::process::Stdio::null());
        tokio::process::Command::new(worker_binary)
            .envs(environment)
            .env("RUST_LOG", "warn,lapin=off")
            .stdout(log)
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("starting a worker process")
    };
    // Duplicates are made before any worker runs: every job is put in the queue twice more.
    let mut workers = if fault == Fault::DuplicateJobs {
        Vec::new()
    } else {
        vec![worker(0), worker(1)]
    };
    let mut tally = Tally::default();
    let mut ids = Vec::new();
    for index in 0..DEPLOYMENTS {
        let (status, answer) = stack
            .try_deploy(&format!("Faulty {index}"), "1.0.0", "Dev")
            .await;
        if status.is_success()
            && let Some(id) = answer["deployment_id"].as_str()
        {
            tally.accepted += 1;
            ids.push((index, id.to_owned()));
        }
    }
    // Let the first steps start, then break something.
    tokio::time::sleep(Duration::from_secs(1)).await;
    match fault {
        Fault::DuplicateJobs => {
            duplicate_jobs(&stack, DEPLOYMENTS).await?;
            workers = vec![worker(0), worker(1)];
        }
        Fault::WorkerSigterm => {
            signal(&workers[0], "-TERM")?;
            workers.push(worker(2));
        }
        Fault::WorkerKill => {
            signal(&workers[0], "-KILL")?;
            workers.push(worker(2));
        }
        Fault::RabbitMqRestart => {
            infra_dev(&["stop-service", "rabbitmq"])?;
            tokio::time::sleep(Duration::from_secs(5)).await;
            infra_dev(&["up"])?;
        }
        Fault::PostgresOutage => {
            infra_dev(&["stop-service", "postgresql"])?;
            tokio::time::sleep(pg_outage).await;
            infra_dev(&["up"])?;
        }
    }
    let deadline = Instant::now() + DEADLINE;
    let mut last: Vec<(usize, String, serde_json::Value)> = Vec::new();
    loop {
        last.clear();
        let mut open = 0;
        for (index, id) in &ids {
            let (status, deployment) = stack
                .get(&format!("/api/deployments/{id}?include=log"))
                .await;
            let done = status.is_success()
                && matches!(
                    deployment["status"].as_str(),
                    Some("Success" | "Failed" | "Canceled")
                );
            if !done {
                open += 1;
            }
            last.push((*index, status.as_u16().to_string(), deployment));
        }
        if open == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    // Scripts still running past their step's end would write late: give them a moment.
    tokio::time::sleep(Duration::from_secs(4)).await;
    for (index, status, deployment) in &last {
        if status == "404" {
            tally.lost += 1;
            continue;
        }
        match deployment["status"].as_str() {
            Some("Success") => tally.success += 1,
            Some("Failed" | "Canceled") => {
                tally.failed += 1;
                *tally
                    .why_failed
                    .entry(deployment["error"].as_str().unwrap_or("?").to_owned())
                    .or_default() += 1;
            }
            _ => tally.stuck += 1,
        }
        let ran = run_count(&runs.join(format!("p{index}")));
        let started = log_text(deployment).matches("started on worker").count();
        if ran > started {
            tally.ran_twice += 1;
        }
    }
    drop(workers);
    stack.stop().await;
    Ok(tally)
}

fn run_count(path: &PathBuf) -> usize {
    std::fs::read_to_string(path).map_or(0, |runs| runs.lines().count())
}

fn signal(worker: &tokio::process::Child, signal: &str) -> anyhow::Result<()> {
    let pid = worker.id().context("the worker's pid")?;
    std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()?;
    Ok(())
}

fn infra_dev(args: &[&str]) -> anyhow::Result<()> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = std::process::Command::new(root.join("infra/dev"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running infra/dev")?;
    if !status.success() {
        bail!("infra/dev {} failed", args.join(" "));
    }
    Ok(())
}

/// Takes every job waiting in the default queue and puts it back three times, as a relay that
/// crashed between publishing and committing twice would.
async fn duplicate_jobs(stack: &TestStack, expected: usize) -> anyhow::Result<()> {
    let connection = ferry_broker::connect(&stack.servers.amqp_url, "ferry-faults").await?;
    let queue = Topology::new(&stack.queue_prefix)
        .step_jobs("default")
        .queue;
    let channel = connection.create_channel().await?;
    let mut jobs = Vec::new();
    let give_up = Instant::now() + Duration::from_secs(30);
    while jobs.len() < expected && Instant::now() < give_up {
        match channel
            .basic_get(queue.as_str().into(), BasicGetOptions::default())
            .await?
        {
            Some(message) => {
                jobs.push(message.delivery.data.clone());
                message.delivery.ack(BasicAckOptions::default()).await?;
            }
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let publisher = Publisher::open(&connection).await?;
    for (index, job) in jobs.iter().enumerate() {
        for copy in 0..3 {
            publisher
                .publish(OutgoingMessage {
                    exchange: "",
                    routing_key: &queue,
                    message_id: &format!("job-{index}-copy-{copy}"),
                    kind: "step_job",
                    payload: job,
                    headers: FieldTable::default(),
                    expiration_ms: None,
                })
                .await?;
        }
    }
    let _ = connection.close(200, "duplicated".into()).await;
    Ok(())
}
