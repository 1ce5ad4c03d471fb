//! Ferry's worker: takes step jobs from RabbitMQ, fetches and verifies packages from object
//! storage, runs the step's script, and streams its log and result back as events.
//!
//! Architecture invariant: a worker holds no database credentials. Everything it needs is in
//! the job message; everything it learns goes back as an event.
//!
//! A job runs only after the start handshake (ARCHITECTURE.md, "Jobs, claims and leases"):
//! the worker claims the attempt from the API and runs it only if the claim is granted, so a
//! cancelled, superseded or duplicated job never runs. The job is acknowledged as soon as it
//! is granted; from then on the worker keeps the attempt alive with heartbeats, and an
//! attempt whose worker dies is given up by the API when its lease runs out. The script of a
//! dead worker dies with it (`script.rs`).
//!
//! Sensitive variables arrive encrypted and are decrypted with `FERRY_VARIABLES_KEY` only
//! for the step that uses them; every line the worker sends is masked first.

mod chain;
mod claim;
pub mod config;
mod control;
mod events;
mod helper_binary;
mod helper_events;
mod housekeeping;
pub mod isolation;
mod launch;
mod local_target;
mod package;
mod prepare;
mod script;
mod shutdown;
mod ssh_command;
mod ssh_target;
mod step;
mod target_check;
mod target_connect;
mod target_run;
mod target_settings;
mod variables;

use std::collections::HashMap;
use std::os::unix::fs::OpenOptionsExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use ferry_broker::{
    ConsumerOptions, Delivery, Handled, Link, Linked, QueueSpec, Rights, Topology, run_consumer,
};
use ferry_contracts::{ClaimAnswer, StepJob};
use ferry_domain::{DeploymentId, StepRunId};
use ferry_packages::store::PackageStore;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use uuid::Uuid;

pub use config::Config;
pub use events::LogBudget;
pub use shutdown::stop_on_signal;

use crate::control::Stop;
use crate::isolation::ScriptUser;

/// What every job handler shares.
struct WorkerContext {
    config: Config,
    store: PackageStore,
    link: Arc<Link>,
    topology: Topology,
    /// Who scripts run as.
    script_user: ScriptUser,
    /// The attempts this worker holds (claiming or running), so a stop message reaches them.
    running: Mutex<HashMap<AttemptKey, (DeploymentId, Stop)>>,
    /// Claims waiting for their answer, by claim id.
    claims: Mutex<HashMap<Uuid, oneshot::Sender<ClaimAnswer>>>,
    /// Offers to run a deployment's next step, each keeping a slot (`chain.rs`).
    offers: chain::Offers,
    /// The private queue of the current connection, where claim answers and stop messages
    /// arrive; `None` while reconnecting.
    reply_queue: Mutex<Option<String>>,
    /// One permit per step this worker may run at once.
    slots: Arc<Semaphore>,
    /// The steps running now, detached from the delivery that brought them.
    steps: TaskTracker,
    shutdown: CancellationToken,
    /// This process's identity, from which its claim ids are made (`claim.rs`).
    instance: Uuid,
    /// Held while the worker runs (released with the file when it exits).
    _work_root_lock: std::fs::File,
    /// The helper brought to targets, read at the first run on a target.
    helper: tokio::sync::OnceCell<Result<std::sync::Arc<helper_binary::HelperBinary>, String>>,
}

impl WorkerContext {
    /// The helper this worker brings to targets.
    async fn helper(&self) -> Result<std::sync::Arc<helper_binary::HelperBinary>, String> {
        let path = self.config.helper_path.clone();
        self.helper
            .get_or_init(|| async move {
                tokio::task::spawn_blocking(move || helper_binary::HelperBinary::load(&path))
                    .await
                    .map_err(|error| error.to_string())
                    .and_then(|loaded| loaded.map(std::sync::Arc::new))
            })
            .await
            .clone()
    }
}

/// One attempt of one step run, as jobs and stop messages name it.
type AttemptKey = (StepRunId, i32);

/// Forgets an attempt this worker held when its handler or step ends, however it ends
/// (unless disarmed: the handler hands the attempt over to its step).
struct HeldGuard<'a> {
    context: &'a WorkerContext,
    key: AttemptKey,
    armed: bool,
}

impl Drop for HeldGuard<'_> {
    fn drop(&mut self) {
        if self.armed
            && let Ok(mut running) = self.context.running.lock()
        {
            running.remove(&self.key);
        }
    }
}

/// Consumes step jobs for the configured pool until `shutdown` is cancelled, reconnecting
/// whenever the broker connection is lost. On shutdown it stops taking jobs, gives back
/// those it has not started, and lets running steps finish within the grace period.
pub async fn run(config: Config, shutdown: CancellationToken) -> anyhow::Result<()> {
    let deployments = config.work_root.join("deployments");
    isolation::prepare_work_root(&config.work_root)
        .and_then(|()| isolation::create_passable(&config.work_root, &deployments))
        .and_then(|()| isolation::create_private(&config.work_root.join("packages")))
        .with_context(|| format!("creating the work folder {}", config.work_root.display()))?;
    let script_user = ScriptUser::lookup(&config.script_user)?
        .launched_by(isolation::trusted_launcher(&config.helper_path)?);
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
    let link = Link::new(
        config.amqp_url.expose(),
        &format!(
            "ferry-worker {} {}",
            config.worker_name, config.queue_prefix
        ),
    );
    link.connect().await.context("connecting to RabbitMQ")?;
    let topology = Topology::new(&config.queue_prefix);
    let spec = topology.step_jobs(&config.worker_pool);
    let context = Arc::new(WorkerContext {
        store: PackageStore::new(&config.store),
        slots: Arc::new(Semaphore::new(usize::from(config.concurrency))),
        config,
        link: Arc::clone(&link),
        topology,
        script_user,
        running: Mutex::new(HashMap::new()),
        claims: Mutex::new(HashMap::new()),
        offers: chain::Offers::default(),
        reply_queue: Mutex::new(None),
        steps: TaskTracker::new(),
        shutdown: shutdown.clone(),
        instance: Uuid::new_v4(),
        _work_root_lock: work_root_lock,
        helper: tokio::sync::OnceCell::new(),
    });
    let sweeper =
        owns_work_root.then(|| tokio::spawn(housekeeping::sweep_old_folders(Arc::clone(&context))));
    while let Some(linked) = link.get(&shutdown).await {
        match serve(&context, &linked, &spec).await {
            Ok(()) if shutdown.is_cancelled() => break,
            Ok(()) => tracing::warn!("the control queue closed; reconnecting"),
            Err(error) => tracing::warn!(%error, "lost RabbitMQ; reconnecting"),
        }
        // A connection that keeps failing (the API's exchanges gone) must not keep a
        // stopping worker trying for ever.
        if shutdown.is_cancelled() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    shutdown::finish_running_steps(&context).await;
    if let Some(sweeper) = sweeper {
        sweeper.abort();
    }
    link.close("worker stopping").await;
    Ok(())
}

/// Takes jobs on one connection until it is lost or the worker stops.
async fn serve(
    context: &Arc<WorkerContext>,
    linked: &Linked,
    spec: &QueueSpec,
) -> anyhow::Result<()> {
    let topology = &context.topology;
    let control_channel = linked.connection.create_channel().await?;
    // The worker declares nothing but its private queue: the API declares the pool's queue,
    // its events exchange and the control exchange (and a pool's RabbitMQ user may do no
    // more; see `Topology::worker_permissions`).
    let queue = topology
        .bind_control_queue(&control_channel)
        .await
        .context(
            "binding the worker's private queue to the control exchange (does the API run?)",
        )?;
    // The private queue stays heard until the consumer has stopped (claims still in flight
    // at a SIGTERM get their answers); it ending early (`queue_lost`) stops the consumer too,
    // so the worker reconnects.
    let queue_lost = CancellationToken::new();
    let listener = tokio::spawn(control::listen(
        control_channel,
        queue.clone(),
        Arc::clone(context),
        queue_lost.clone(),
    ));
    let stop_consuming = CancellationToken::new();
    let watcher = {
        let (shutdown, queue_lost, stop_consuming) = (
            context.shutdown.clone(),
            queue_lost.clone(),
            stop_consuming.clone(),
        );
        tokio::spawn(async move {
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = queue_lost.cancelled() => {}
            }
            stop_consuming.cancel();
        })
    };
    if let Ok(mut reply_queue) = context.reply_queue.lock() {
        *reply_queue = Some(queue);
    }
    tracing::info!(queue = %spec.queue, "worker waiting for step jobs");
    let handler_context = Arc::clone(context);
    let result = run_consumer(
        &linked.connection,
        topology,
        spec,
        ConsumerOptions {
            rights: Rights::ReadOnly,
            ..ConsumerOptions::new(&context.config.worker_name, context.config.concurrency)
        },
        move |delivery: Arc<Delivery>| {
            let context = Arc::clone(&handler_context);
            async move { handle(&context, &delivery).await }
        },
        stop_consuming.clone(),
    )
    .await;
    // Stopping: the running steps get their grace period with the private queue still
    // heard, so a cancel sent meanwhile stops its step at once.
    if context.shutdown.is_cancelled() {
        shutdown::finish_running_steps(context).await;
    }
    watcher.abort();
    queue_lost.cancel();
    listener.abort();
    if let Ok(mut reply_queue) = context.reply_queue.lock() {
        *reply_queue = None;
    }
    Ok(result?)
}

async fn handle(context: &Arc<WorkerContext>, delivery: &Delivery) -> Handled {
    // Health checks and discoveries share the pool's queue, told apart by their AMQP type.
    if target_check::is_check(delivery) {
        return target_check::handle(context, delivery).await;
    }
    let job: StepJob = match serde_json::from_slice(&delivery.data) {
        Ok(job) => job,
        Err(error) => {
            return Handled::Reject {
                reason: format!("not a step job: {error}"),
            };
        }
    };
    let key = (job.step_run_id, job.attempt);
    let stop = Stop::default();
    {
        let Ok(mut running) = context.running.lock() else {
            return Handled::Requeue {
                reason: "the worker's registry is poisoned".into(),
            };
        };
        if running.contains_key(&key) {
            tracing::info!(step_run_id = %job.step_run_id, attempt = job.attempt, "a second delivery of a job this worker holds; dropped");
            return Handled::Done;
        }
        running.insert(key, (job.deployment_id, stop.clone()));
    }
    let mut held = HeldGuard {
        context,
        key,
        armed: true,
    };
    let permit = tokio::select! {
        () = context.shutdown.cancelled() => {
            return Handled::Requeue { reason: "the worker is stopping".into() };
        }
        permit = Arc::clone(&context.slots).acquire_owned() => match permit {
            Ok(permit) => permit,
            Err(_) => return Handled::Requeue { reason: "the worker is stopping".into() },
        },
    };
    match claim::claim(context, &job).await {
        claim::Claimed::Granted => {}
        claim::Claimed::Refused(reason) => {
            tracing::info!(step_run_id = %job.step_run_id, attempt = job.attempt, %reason, "job not run: its claim was refused");
            return Handled::Done;
        }
        claim::Claimed::Unanswered => {
            return Handled::Requeue {
                reason: "the claim was not answered".into(),
            };
        }
    }
    held.armed = false;
    spawn_step(context, job, stop, permit);
    // Acknowledged only once the step runs on its own: a redelivery (this ack lost) is
    // refused at its claim.
    if let Err(error) = delivery
        .ack(lapin::options::BasicAckOptions::default())
        .await
    {
        tracing::warn!(%error, "could not acknowledge a started job; its redelivery will be refused");
    }
    Handled::Settled
}

/// Runs a granted attempt on its own, holding it in `running` (which the caller filled)
/// until it ends.
fn spawn_step(
    context: &Arc<WorkerContext>,
    job: StepJob,
    stop: Stop,
    permit: OwnedSemaphorePermit,
) {
    let step_context = Arc::clone(context);
    let key = (job.step_run_id, job.attempt);
    context.steps.spawn(async move {
        let _held = HeldGuard {
            context: &step_context,
            key,
            armed: true,
        };
        step::run_claimed(&step_context, job, stop, permit).await;
    });
}
