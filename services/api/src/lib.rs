//! Ferry's API: the HTTP endpoints and status pages, the orchestration of deployments, the
//! consumer of step events and the outbox relay. It owns PostgreSQL.

mod actor;
pub mod config;
mod context;
pub mod dead_letters;
mod error;
mod events;
mod extract;
mod lookup;
mod orchestrator;
mod relay;
mod routes;
mod senders;
mod sweeper;
mod target_checks;
mod variables;

use std::sync::Arc;

use anyhow::Context;
use ferry_broker::{Link, Topology};
use ferry_packages::store::PackageStore;
use ferry_storage::Pool;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub use config::{Config, Secret};
pub use routes::router;

/// What every request handler and background task shares.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    config: Config,
    pool: Pool,
    store: PackageStore,
    topology: Topology,
    /// RabbitMQ, reconnected by whoever finds it gone (the relay, the event consumer).
    link: Arc<Link>,
    /// Woken after every commit that wrote to the outbox, so the relay publishes at once
    /// instead of at its next poll.
    outbox_written: Notify,
    /// Turns for package uploads (`max_concurrent_uploads`): each holds a file and a
    /// verification thread, so their number is bounded.
    uploads: tokio::sync::Semaphore,
    /// The state each deployment was left in by this process's last command for it.
    known_states: orchestrator::known::KnownStates,
}

impl AppState {
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn pool(&self) -> &Pool {
        &self.inner.pool
    }

    pub(crate) fn known_states(&self) -> &orchestrator::known::KnownStates {
        &self.inner.known_states
    }

    /// A pooled database connection.
    pub async fn db(&self) -> Result<ferry_storage::Client, ferry_storage::StorageError> {
        Ok(self.inner.pool.get().await?)
    }

    pub fn store(&self) -> &PackageStore {
        &self.inner.store
    }

    pub fn topology(&self) -> &Topology {
        &self.inner.topology
    }

    pub fn link(&self) -> &Link {
        &self.inner.link
    }

    /// Whether the RabbitMQ connection is up.
    pub fn broker_connected(&self) -> bool {
        self.inner.link.is_up()
    }

    /// Package upload turns (see `StateInner::uploads`).
    pub fn uploads(&self) -> &tokio::sync::Semaphore {
        &self.inner.uploads
    }

    /// Tells the relay that new outbox rows are committed.
    pub fn outbox_written(&self) {
        self.inner.outbox_written.notify_one();
    }
}

/// Creates the folder uploads are written to, readable by this service's user alone (a
/// package may hold secrets of its own).
fn prepare_upload_folder(folder: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
        .with_context(|| format!("creating the upload folder {}", folder.display()))?;
    // A folder someone else made (or a link to one) in a shared temporary folder would let
    // them read or swap uploads: it must be a real folder of this service's own.
    let found = std::fs::symlink_metadata(folder)
        .with_context(|| format!("reading the upload folder {}", folder.display()))?;
    let own = std::fs::metadata("/proc/self").is_ok_and(|me| me.uid() == found.uid());
    if !found.is_dir() || !own {
        anyhow::bail!(
            "the upload folder {} must be a folder owned by this service's user (set FERRY_UPLOAD_FOLDER)",
            folder.display()
        );
    }
    std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making the upload folder {} private", folder.display()))?;
    // Uploads a crashed API left behind: older than the longest an upload may take, so
    // no other instance sharing the folder is still receiving them.
    let abandoned = std::time::Duration::from_secs(3600);
    for entry in std::fs::read_dir(folder)?.flatten() {
        let old = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > abandoned));
        if old && entry.file_name().to_string_lossy().starts_with(".upload-") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Connects to PostgreSQL (applying migrations), RabbitMQ and the object store, then serves
/// HTTP on `listener`, consumes step events, relays the outbox and sweeps lost attempts until
/// `shutdown` is cancelled. Returns an error when a dependency is unreachable at start; a
/// broker connection lost later is reconnected (meanwhile `/health` says so, outbox rows wait
/// and unacknowledged events are redelivered: nothing accepted is lost).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let pool = ferry_storage::connect(
        config.database_url.expose(),
        config.database_max_connections,
    )
    .context("configuring the database pool")?;
    ferry_storage::migrations::migrate(&pool)
        .await
        .with_context(|| format!("migrating the database at {}", config.database_url))?;
    // Named with the prefix, so an operator (or a test) can tell installations apart.
    let link = Link::new(
        config.amqp_url.expose(),
        &format!("ferry-api {}", config.queue_prefix),
    );
    let linked = link
        .connect()
        .await
        .with_context(|| format!("connecting to RabbitMQ at {}", config.amqp_url))?;
    let topology = Topology::new(&config.queue_prefix);
    declare_topology(&topology, &linked.connection, &pool).await?;
    let store = PackageStore::new(&config.store);
    if let Err(error) = store.ensure_bucket().await {
        tracing::warn!(%error, bucket = store.bucket(), "object store not reachable at start; package uploads will fail until it is");
    }
    prepare_upload_folder(&config.upload_folder)?;
    let state = AppState {
        inner: Arc::new(StateInner {
            uploads: tokio::sync::Semaphore::new(config.max_concurrent_uploads),
            known_states: Default::default(),
            config,
            pool,
            store,
            topology,
            link,
            outbox_written: Notify::new(),
        }),
    };

    let relay_task = tokio::spawn(relay::run(state.clone(), shutdown.clone()));
    let events_task = tokio::spawn(events::run(state.clone(), shutdown.clone()));
    let sweeper_task = tokio::spawn(sweeper::run(state.clone(), shutdown.clone()));
    tracing::info!(address = %listener.local_addr()?, "Ferry API listening");
    let server = axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let server_result = server.await.context("serving HTTP");
    shutdown.cancel();
    let relay_result = relay_task.await.context("relay task panicked")?;
    let events_result = events_task.await.context("event consumer panicked")?;
    sweeper_task.await.context("sweeper panicked")?;
    server_result?;
    relay_result?;
    events_result?;
    Ok(())
}

/// Declares what the API publishes to and consumes from, and every pool a project names
/// (also after every reconnection, in case the broker lost its definitions, and so that the
/// queues of an older Ferry get what this one needs). Idempotent.
pub(crate) async fn declare_topology(
    topology: &Topology,
    connection: &ferry_broker::Connection,
    database: &Pool,
) -> anyhow::Result<()> {
    let mut pools = vec!["default".to_owned()];
    let client = database
        .get()
        .await
        .context("reading the projects' worker pools")?;
    pools.extend(ferry_storage::projects::worker_pools(&client).await?);
    drop(client);
    pools.sort();
    pools.dedup();
    let channel = connection
        .create_channel()
        .await
        .context("opening a RabbitMQ channel")?;
    topology
        .declare_queue(connection, &topology.step_events())
        .await?;
    topology
        .declare_queue(connection, &topology.deployment_finished())
        .await?;
    for pool in &pools {
        topology.declare_pool(connection, pool).await?;
    }
    topology.declare_control_exchange(&channel).await?;
    let _ = channel.close(200, "declared".into()).await;
    Ok(())
}
