//! Workers in processes of their own, for the phases that measure the API with a busy worker
//! beside it (so the bench process's memory is the API's) or with several workers.
//!
//! The worker process is this very program started again with [`WORKER_MODE`] set: it then
//! does exactly what `ferry-test-worker` does (configure from `FERRY_…` variables, stop on
//! SIGTERM, run). `infra/dev bench` builds only `ferry-bench`, so a `ferry-test-worker` found
//! beside it could be stale or missing; the program itself (`/proc/self/exe`, which a rebuild
//! during the run does not replace) is always the code being measured.

use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_broker::{FieldTable, Topology};
use ferry_tests::TestStack;
use lapin::options::QueueDeclareOptions;
use tokio_util::sync::CancellationToken;

/// Set in a worker process's environment (to the bench's pid): the program runs as a worker,
/// not as the bench.
pub const WORKER_MODE: &str = "FERRY_BENCH_RUN_AS_WORKER";

/// The worker process's whole program (see the module's documentation), plus a watch on the
/// bench: a worker whose bench is gone (killed, so nothing killed its children) stops too.
pub async fn run_as_worker() -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,lapin=error".into()),
        )
        .with_writer(std::io::stderr)
        .try_init();
    let config = ferry_worker::Config::from_env()?;
    let shutdown = CancellationToken::new();
    tokio::spawn(ferry_worker::stop_on_signal(shutdown.clone()));
    let bench: u32 = crate::config::variable(WORKER_MODE)
        .with_context(|| format!("{WORKER_MODE} is not set"))?
        .parse()
        .with_context(|| format!("{WORKER_MODE}: the bench's pid"))?;
    tokio::spawn(stop_when_orphaned(bench, shutdown.clone()));
    ferry_worker::run(config, shutdown).await
}

/// Cancels `shutdown` once this process's parent is no longer `bench` (it was re-parented).
async fn stop_when_orphaned(bench: u32, shutdown: CancellationToken) {
    while std::os::unix::process::parent_id() == bench {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
    }
    tracing::warn!("the bench (pid {bench}) is gone: stopping");
    shutdown.cancel();
}

/// One worker process. Killed when dropped (an error or panic in the bench included);
/// [`WorkerProcess::stop`] stops it gently first.
pub struct WorkerProcess {
    child: tokio::process::Child,
    pid: u32,
    _work_root: tempfile::TempDir,
}

impl WorkerProcess {
    /// Starts a worker for `stack` running `concurrency` steps at once, named `name`.
    pub fn start(stack: &TestStack, name: &str, concurrency: usize) -> anyhow::Result<Self> {
        // The running program's own file even if a build replaced it meanwhile (then the
        // path `current_exe` names is another program, or none).
        let program = std::path::Path::new("/proc/self/exe");
        let work_root = tempfile::tempdir()?;
        let concurrency = u16::try_from(concurrency).context("worker concurrency above 65535")?;
        let child = tokio::process::Command::new(program)
            .envs(stack.worker_environment(work_root.path()))
            .env(WORKER_MODE, std::process::id().to_string())
            // Stopped idle; a bench that is gone leaves nothing worth waiting for.
            .env("FERRY_SHUTDOWN_GRACE_SECONDS", "5")
            .env("FERRY_WORKER_CONCURRENCY", concurrency.to_string())
            .env("FERRY_WORKER_NAME", name)
            .env("FERRY_HEALTH_MIN_FREE_BYTES", "1")
            .env("RUST_LOG", "warn,lapin=error")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting a worker process")?;
        let pid = child.id().context("the worker process has a pid")?;
        Ok(WorkerProcess {
            child,
            pid,
            _work_root: work_root,
        })
    }

    /// Stops the worker with SIGTERM (it finishes nothing: the bench stops it idle), and
    /// kills it if it is not gone within 10 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        tokio::process::Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()
            .await?;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }
}

/// A stack whose workers run in processes of their own (`start_workers`): no in-process
/// worker or notifier, the API's pool and event concurrency as `ferry-bench` sets them, and
/// the production lease (a backlog of step events under load must not cost leases the test
/// stacks' 8 s would give up).
pub async fn stack_for_worker_processes() -> TestStack {
    TestStack::start_with(ferry_tests::StackOptions {
        worker: false,
        notifier: false,
        database_max_connections: 32,
        event_concurrency: 32,
        lease_seconds: 60,
        ..ferry_tests::StackOptions::default()
    })
    .await
}

/// Starts `count` workers of `concurrency` each and waits until all consume the stack's job
/// queue, so no measurement includes a worker starting up.
pub async fn start_workers(
    stack: &TestStack,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<WorkerProcess>> {
    let mut workers = (1..=count)
        .map(|n| WorkerProcess::start(stack, &format!("bench-worker-{n}"), concurrency))
        .collect::<anyhow::Result<Vec<_>>>()?;
    wait_for_consumers(stack, &mut workers, count).await?;
    Ok(workers)
}

/// Stops every worker, each even if another could not be stopped.
pub async fn stop_workers(workers: Vec<WorkerProcess>) -> anyhow::Result<()> {
    let mut outcome = Ok(());
    for worker in workers {
        if let Err(error) = worker.stop().await {
            outcome = Err(error);
        }
    }
    outcome
}

async fn wait_for_consumers(
    stack: &TestStack,
    workers: &mut [WorkerProcess],
    count: usize,
) -> anyhow::Result<()> {
    let connection = ferry_broker::connect(&stack.servers.amqp_url, "ferry-bench-watch").await?;
    let queue = Topology::new(&stack.queue_prefix)
        .step_jobs("default")
        .queue;
    let deadline = Instant::now() + Duration::from_secs(60);
    let outcome = loop {
        // A passive declare of a queue that does not exist yet closes its channel: one each.
        let consumers = match connection.create_channel().await {
            Ok(channel) => {
                let declared = channel
                    .queue_declare(
                        queue.clone().into(),
                        QueueDeclareOptions {
                            passive: true,
                            ..QueueDeclareOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await;
                let consumers = declared.map_or(0, |queue| queue.consumer_count());
                let _ = channel.close(200, "done".into()).await;
                consumers
            }
            Err(_) => 0,
        };
        if consumers as usize >= count {
            break Ok(());
        }
        if Instant::now() > deadline {
            break Err(anyhow::anyhow!(
                "{consumers} of {count} worker processes consume {queue} after 60 s"
            ));
        }
        if let Some(status) = workers
            .iter_mut()
            .find_map(|worker| worker.child.try_wait().ok().flatten())
        {
            break Err(anyhow::anyhow!("a worker process ended on start: {status}"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = connection.close(200, "done".into()).await;
    outcome
}
