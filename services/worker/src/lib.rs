//! Ferry's worker: takes step jobs from RabbitMQ, fetches and verifies packages from object
//! storage, runs the step's script, and streams its log and result back as events.
//!
//! Architecture invariant: a worker holds no database credentials. Everything it needs is in
//! the job message; everything it learns goes back as an event.
//!
//! The rule for a worker that dies mid-step: its unacknowledged job is redelivered by
//! RabbitMQ with the `redelivered` flag. A worker that receives a redelivered job does not
//! run the script again (scripts need not be idempotent, and the first run may have half
//! happened); it reports the step Failed with a reason saying the worker was lost, and the
//! deployment goes on by its normal rules (steps with run condition `failure` or `always`
//! still run). The script of the dead worker dies with it (`PR_SET_PDEATHSIG`).
//!
//! Sensitive variables arrive encrypted and are decrypted with `FERRY_VARIABLES_KEY` only
//! for the step that uses them; every line the worker sends is masked first.

pub mod config;
mod control;
mod events;
mod housekeeping;
pub mod isolation;
mod package;
mod prepare;
mod script;
mod variables;

use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use ferry_broker::{ConsumerOptions, Delivery, Handled, Publisher, Topology, run_consumer};
use ferry_contracts::{LogStream, StepJob, StepOutcome};
use ferry_domain::{DeploymentId, StepRunId};
use ferry_packages::store::PackageStore;
use tokio_util::sync::CancellationToken;

pub use config::Config;
pub use events::LogBudget;

use crate::events::EventSink;
use crate::isolation::ScriptUser;

/// What every job handler shares.
struct WorkerContext {
    config: Config,
    store: PackageStore,
    publisher: Publisher,
    topology: Topology,
    /// Who scripts run as.
    script_user: ScriptUser,
    /// The attempts running now, so a stop message can reach them.
    running: Mutex<HashMap<AttemptKey, (DeploymentId, CancellationToken)>>,
    /// Stop messages for attempts this worker was not running yet (their job may still be in
    /// its prefetch buffer or the queue), with when they came; such a job is not run.
    stopped: Mutex<HashMap<AttemptKey, std::time::Instant>>,
    /// Held while the worker runs (released with the file when it exits).
    _work_root_lock: std::fs::File,
}

/// One attempt of one step run, as jobs and stop messages name it.
type AttemptKey = (StepRunId, i32);

/// How long a stop message for an attempt not seen yet is remembered.
const REMEMBER_STOPS: Duration = Duration::from_secs(3600);

/// Removes a running attempt from the registry when its handler ends, however it ends.
struct RunningGuard<'a> {
    context: &'a WorkerContext,
    key: AttemptKey,
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut running) = self.context.running.lock() {
            running.remove(&self.key);
        }
    }
}

/// Consumes step jobs for the configured pool until `shutdown` is cancelled (finishing the
/// steps in progress) or the broker connection is lost.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let deployments = config.work_root.join("deployments");
    isolation::prepare_work_root(&config.work_root)
        .and_then(|()| isolation::create_passable(&config.work_root, &deployments))
        .and_then(|()| isolation::create_private(&config.work_root.join("packages")))
        .with_context(|| format!("creating the work folder {}", config.work_root.display()))?;
    let script_user = ScriptUser::lookup(&config.script_user)?;
    script_user.check(&deployments).await?;
    // Leftover scratch files (a worker that died mid-step) are swept only by a worker that
    // has the work root to itself: another worker sharing it may be running those steps.
    let work_root_lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(config.work_root.join(".worker.lock"))
        .with_context(|| format!("opening the lock file in {}", config.work_root.display()))?;
    let owns_work_root = match work_root_lock.try_lock() {
        Ok(()) => {
            script::sweep_scratch_files(&deployments);
            true
        }
        Err(_) => {
            tracing::info!(
                work_root = %config.work_root.display(),
                "another worker uses this work root; leaving its scratch files and old folders alone"
            );
            false
        }
    };
    let connection = ferry_broker::connect(
        config.amqp_url.expose(),
        &format!("ferry-worker {}", config.worker_name),
    )
    .await
    .context("connecting to RabbitMQ")?;
    let topology = Topology::new(&config.queue_prefix);
    {
        let channel = connection.create_channel().await?;
        topology
            .declare_queue(&channel, &topology.step_events())
            .await?;
        let _ = channel.close(200, "declared".into()).await;
    }
    let publisher = Publisher::open(&connection).await?;
    let spec = topology.step_jobs(&config.worker_pool);
    let options = ConsumerOptions::new(&config.worker_name, config.concurrency);
    let context = Arc::new(WorkerContext {
        store: PackageStore::new(&config.store),
        config,
        publisher,
        topology: topology.clone(),
        script_user,
        running: Mutex::new(HashMap::new()),
        stopped: Mutex::new(HashMap::new()),
        _work_root_lock: work_root_lock,
    });
    let control_channel = connection.create_channel().await?;
    let control_queue = topology.declare_control_queue(&control_channel).await?;
    let control_task = tokio::spawn(control::listen_for_stops(
        control_channel,
        control_queue,
        Arc::clone(&context),
        shutdown.clone(),
    ));
    let sweeper =
        owns_work_root.then(|| tokio::spawn(housekeeping::sweep_old_folders(Arc::clone(&context))));
    tracing::info!(queue = %spec.queue, "worker waiting for step jobs");
    let result = run_consumer(
        &connection,
        &topology,
        &spec,
        options,
        move |delivery: Arc<Delivery>| {
            let context = Arc::clone(&context);
            async move { handle(&context, &delivery).await }
        },
        shutdown,
    )
    .await;
    control_task.abort();
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    let _ = connection.close(200, "worker stopping".into()).await;
    Ok(result?)
}

async fn handle(context: &WorkerContext, delivery: &Delivery) -> Handled {
    let job: StepJob = match serde_json::from_slice(&delivery.data) {
        Ok(job) => job,
        Err(error) => {
            return Handled::Reject {
                reason: format!("not a step job: {error}"),
            };
        }
    };
    let span = tracing::info_span!("step", deployment_id = %job.deployment_id, step = %job.step_name, attempt = job.attempt);
    let _entered = span.enter();
    let mut sink = EventSink::new(
        &context.publisher,
        &context.topology,
        &job,
        context.config.log_budget,
    );
    let started_at = Utc::now();
    let outcome = if delivery.redelivered {
        let reason = "the worker running this step stopped before it reported a result; \
                      the script is not run again because it may have partly run";
        sink.line(LogStream::System, reason.to_owned());
        StepOutcome::Failed {
            exit_code: None,
            reason: reason.to_owned(),
        }
    } else if context
        .stopped
        .lock()
        .is_ok_and(|mut stopped| stopped.remove(&(job.step_run_id, job.attempt)).is_some())
    {
        let reason = "the deployment was cancelled before this step started; it was not run";
        sink.line(LogStream::System, reason.to_owned());
        StepOutcome::Failed {
            exit_code: None,
            reason: reason.to_owned(),
        }
    } else {
        let stop = CancellationToken::new();
        if let Ok(mut running) = context.running.lock() {
            running.insert(
                (job.step_run_id, job.attempt),
                (job.deployment_id, stop.clone()),
            );
        }
        let _guard = RunningGuard {
            context,
            key: (job.step_run_id, job.attempt),
        };
        run_step(context, &job, &mut sink, stop).await
    };
    drop(_entered);
    match sink.finish(outcome, started_at).await {
        Ok(()) => Handled::Done,
        Err(error) => {
            // The result could not be reported. The job goes back to RabbitMQ unacknowledged,
            // so it comes back as a redelivery, which reports the step as lost: the
            // deployment still ends, and the script is not run twice.
            tracing::error!(%error, "could not report the step's result");
            tokio::time::sleep(Duration::from_secs(1)).await;
            Handled::Requeue {
                reason: format!("reporting the result failed: {error}"),
            }
        }
    }
}

/// Prepares the step (package, variables, script), then runs the script. The step's timeout
/// covers both. Never returns an error: every failure becomes a failed step with a reason.
async fn run_step(
    context: &WorkerContext,
    job: &StepJob,
    sink: &mut EventSink<'_>,
    stop: CancellationToken,
) -> StepOutcome {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(job.timeout_seconds.max(1));
    let prepared =
        match tokio::time::timeout_at(deadline, prepare::prepare(context, job, sink)).await {
            Ok(Ok(prepared)) => prepared,
            Ok(Err(reason)) => return failed(sink, reason),
            Err(_) => {
                return failed(
                    sink,
                    format!(
                        "preparing the step (its package, variables and script) took longer than \
                     its timeout of {} seconds",
                        job.timeout_seconds
                    ),
                );
            }
        };
    let outcome = script::run(
        script::ScriptRun {
            job,
            script: &prepared.script,
            variables: &prepared.variables,
            working_directory: &prepared.working_directory,
            step_folder: &prepared.step_folder,
            inherited_environment: &context.config.inherited_environment,
            script_user: &context.script_user,
            deadline,
            stop,
        },
        sink,
    )
    .await;
    // A succeeded step without a package leaves nothing a later step may use: its folder
    // goes now. The others are kept for a while (`housekeeping`).
    if outcome == StepOutcome::Succeeded && job.package.is_none() {
        let folder = prepared.step_folder.clone();
        let _ = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(folder)).await;
    }
    outcome
}

fn failed(sink: &mut EventSink<'_>, reason: String) -> StepOutcome {
    sink.line(LogStream::System, reason.clone());
    StepOutcome::Failed {
        exit_code: None,
        reason,
    }
}
