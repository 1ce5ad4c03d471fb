//! `TestStack`: one isolated Ferry installation on the shared servers (its own database,
//! queue prefix, bucket, recipient and work folder), the services it runs in-process, and
//! direct access to its database and bucket for assertions.

use std::path::Path;

use ferry_packages::store::{PackageStore, StoreConfig};
use reqwest::StatusCode;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::cleanup::Cleanup;
use crate::config::{self, Servers};
use crate::database::create_test_database;
use crate::services;
use crate::waiting::{Patience, Progress, poll_until};

/// Which services a test wants running in-process, and how big.
#[derive(Debug, Clone)]
pub struct StackOptions {
    pub worker: bool,
    pub notifier: bool,
    pub max_package_bytes: u64,
    /// Steps the in-process worker runs at once.
    pub worker_concurrency: u16,
    /// Connections in the API's database pool.
    pub database_max_connections: usize,
    /// Step events the API applies at once.
    pub event_concurrency: u16,
    /// The API's lease: a running attempt without a heartbeat for this long is given up
    /// (short, so tests that kill workers end quickly; workers beat every quarter).
    pub lease_seconds: u64,
    /// How long a job may wait for a worker's claim.
    pub dispatch_timeout_seconds: u64,
    /// How long a health check or discovery may wait for a worker's answer.
    pub target_check_timeout_seconds: u64,
    /// The free space below which the in-process worker finds a target Unhealthy: 1 byte, so
    /// that no test depends on how full the machine's disk is.
    pub health_min_free_bytes: u64,
    /// Package uploads the API receives at once, and how long one more waits for a turn.
    pub max_concurrent_uploads: usize,
    pub upload_turn_wait: std::time::Duration,
    /// How long an upload may send nothing.
    pub upload_idle: std::time::Duration,
    /// The ferry-helper the in-process worker carries to targets; `None`: the workspace's
    /// build (`config::helper_path`).
    pub helper_path: Option<std::path::PathBuf>,
}

impl Default for StackOptions {
    fn default() -> Self {
        StackOptions {
            worker: true,
            notifier: true,
            max_package_bytes: 64 * 1024 * 1024,
            worker_concurrency: 8,
            database_max_connections: 8,
            event_concurrency: 16,
            lease_seconds: 8,
            dispatch_timeout_seconds: 3600,
            target_check_timeout_seconds: 120,
            health_min_free_bytes: 1,
            max_concurrent_uploads: 4,
            upload_turn_wait: std::time::Duration::from_secs(30),
            upload_idle: std::time::Duration::from_secs(60),
            helper_path: None,
        }
    }
}

/// One isolated Ferry installation: its API, worker and notifier, its database, queues,
/// bucket and email recipient.
pub struct TestStack {
    pub servers: Servers,
    pub base_url: String,
    pub database_url: String,
    pub database_name: String,
    pub queue_prefix: String,
    pub bucket: String,
    pub recipient: String,
    pub work_root: tempfile::TempDir,
    /// A folder step scripts may write (it belongs to the script user), for files a test
    /// and a script exchange; the work root is closed to scripts.
    pub scripts_folder: tempfile::TempDir,
    pub http: reqwest::Client,
    /// This stack's key for sensitive variables (base64), as API and workers are given it.
    pub variables_key: String,
    /// Stops every service this stack started.
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: Vec<JoinHandle<anyhow::Result<()>>>,
    /// Taken by `stop` (or by `Drop` when a test panicked before it).
    pub(crate) cleanup: Option<Cleanup>,
}

/// The account test workers run scripts as: `FERRY_SCRIPT_USER`, by default `ferry-script`
/// (`infra/dev up` creates it).
pub fn script_user() -> String {
    ferry_config::variable("FERRY_SCRIPT_USER").unwrap_or_else(|| "ferry-script".to_owned())
}

/// A temporary folder that belongs to the [`script_user`].
fn scripts_folder() -> tempfile::TempDir {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let user = ferry_worker::isolation::ScriptUser::lookup(&script_user())
        .expect("the script user exists (infra/dev up creates it)");
    std::os::unix::fs::chown(folder.path(), Some(user.uid), Some(user.gid))
        .expect("giving the scripts' folder to the script user");
    folder
}

/// Starts a worker in a process of its own (for tests that kill it, or look at its memory or
/// its environment from a script), configured by `environment` (usually
/// [`TestStack::worker_environment`] and a setting or two). `binary` is the test worker:
/// `env!("CARGO_BIN_EXE_ferry-test-worker")`, which only integration tests can name. The
/// process is killed when the handle is dropped.
pub fn spawn_worker_process(
    binary: &str,
    environment: impl IntoIterator<Item = (String, String)>,
) -> tokio::process::Child {
    tokio::process::Command::new(binary)
        .envs(environment)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the worker process")
}

/// Sends the services' logs to the test's output (once per process).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(config::log_filter())
        .with_test_writer()
        .try_init();
}

impl TestStack {
    pub async fn start() -> Self {
        Self::start_with(StackOptions::default()).await
    }

    pub async fn start_with(options: StackOptions) -> Self {
        Self::start_with_servers(Servers::from_env(), options).await
    }

    /// Starts a stack against explicitly given servers (for tests that point a service at a
    /// server of their own).
    pub async fn start_with_servers(servers: Servers, options: StackOptions) -> Self {
        init_tracing();
        let database = create_test_database(&servers)
            .await
            .expect("creating the test database");
        let short = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding port 0");
        let address = listener.local_addr().expect("a local address");
        let queue_prefix = format!("test-{short}");
        // From here on, a panic drops the stack, and with it what it made on the servers.
        let bucket = format!("ferry-test-{short}");
        let cleanup = Cleanup {
            store: StoreConfig {
                bucket: bucket.clone(),
                ..servers.s3.clone()
            },
            servers: servers.clone(),
            database_name: database.name.clone(),
            queue_prefix: queue_prefix.clone(),
            worker_pools: vec!["default".to_owned()],
            rabbitmq_users: Vec::new(),
        };
        let mut stack = TestStack {
            servers,
            base_url: format!("http://{address}"),
            database_url: database.url,
            database_name: database.name,
            queue_prefix,
            bucket,
            recipient: format!("team-{short}@example.org"),
            work_root: tempfile::tempdir().expect("a temporary folder"),
            scripts_folder: scripts_folder(),
            http: reqwest::Client::new(),
            variables_key: ferry_secrets::SecretKey::generate_base64()
                .expect("random bytes for a key"),
            shutdown: CancellationToken::new(),
            tasks: Vec::new(),
            cleanup: Some(cleanup),
        };
        let api = services::api_config(&stack, address, &options);
        stack.spawn(ferry_api::run(api, listener, stack.shutdown.clone()));
        // The API declares the queues and exchanges a worker only checks and binds to (it
        // waits and retries meanwhile): start it once they exist, as a test expects workers
        // to be listening from the first deployment on.
        stack.wait_until_healthy().await;
        if options.worker {
            let worker = services::worker_config(&stack, stack.work_root.path(), &options);
            stack.spawn(ferry_worker::run(worker, stack.shutdown.clone()));
        }
        if options.notifier {
            let notifier = services::notifier_config(&stack);
            stack.spawn(ferry_notifier::run(notifier, stack.shutdown.clone()));
        }
        stack.wait_until_healthy().await;
        stack
    }

    fn spawn(
        &mut self,
        service: impl std::future::Future<Output = anyhow::Result<()>> + Send + 'static,
    ) {
        self.tasks.push(tokio::spawn(service));
    }

    async fn wait_until_healthy(&self) {
        let health = format!("{}/health", self.base_url);
        poll_until(
            "the API to answer /health with 200",
            Patience::within(std::time::Duration::from_secs(30)),
            || async {
                let response = self.http.get(&health).send().await;
                if let Ok(response) = &response
                    && response.status() == StatusCode::OK
                {
                    return Progress::Done(());
                }
                assert!(
                    self.tasks.iter().all(|task| !task.is_finished()),
                    "a Ferry service stopped during start-up"
                );
                Progress::NotYet(match response {
                    Ok(response) => format!("status {}", response.status()),
                    Err(error) => error.to_string(),
                })
            },
        )
        .await;
    }

    /// Environment variables that configure a worker process for this stack.
    pub fn worker_environment(&self, work_root: &Path) -> Vec<(String, String)> {
        vec![
            ("FERRY_AMQP_URL".into(), self.servers.amqp_url.clone()),
            ("FERRY_QUEUE_PREFIX".into(), self.queue_prefix.clone()),
            ("FERRY_S3_ENDPOINT".into(), self.servers.s3.endpoint.clone()),
            ("FERRY_S3_REGION".into(), self.servers.s3.region.clone()),
            (
                "FERRY_S3_ACCESS_KEY".into(),
                self.servers.s3.access_key.clone(),
            ),
            (
                "FERRY_S3_SECRET_KEY".into(),
                self.servers.s3.secret_key.expose().to_owned(),
            ),
            ("FERRY_S3_BUCKET".into(), self.bucket.clone()),
            ("FERRY_WORK_ROOT".into(), work_root.display().to_string()),
            ("FERRY_VARIABLES_KEY".into(), self.variables_key.clone()),
        ]
    }

    /// Records that a test uses another worker pool, so its queues are removed at the end.
    pub fn uses_worker_pool(&mut self, pool: &str) {
        if let Some(cleanup) = &mut self.cleanup {
            cleanup.worker_pools.push(pool.to_owned());
        }
    }

    /// Records a RabbitMQ user a test made, so it is removed at the end.
    pub(crate) fn uses_rabbitmq_user(&mut self, user: &str) {
        if let Some(cleanup) = &mut self.cleanup {
            cleanup.rabbitmq_users.push(user.to_owned());
        }
    }

    /// Starts an in-process worker (for tests that started without one).
    pub fn start_worker(&mut self, work_root: &Path) {
        let config = services::worker_config(self, work_root, &StackOptions::default());
        self.spawn(ferry_worker::run(config, self.shutdown.clone()));
    }

    /// The S3 settings of this stack's bucket.
    pub fn store_config(&self) -> StoreConfig {
        StoreConfig {
            bucket: self.bucket.clone(),
            ..self.servers.s3.clone()
        }
    }

    pub fn store(&self) -> PackageStore {
        PackageStore::new(&self.store_config())
    }

    /// A direct connection to this test's database, for assertions.
    pub async fn db(&self) -> tokio_postgres::Client {
        let (client, connection) =
            tokio_postgres::connect(&self.database_url, tokio_postgres::NoTls)
                .await
                .expect("connecting to the test database");
        tokio::spawn(connection);
        client
    }

    /// The number of rows in one of this test's tables.
    pub async fn count(&self, table: &str) -> i64 {
        self.db()
            .await
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("counting rows")
            .get(0)
    }

    /// Stops the services and removes the database and queues.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for task in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
        }
        if let Some(cleanup) = self.cleanup.take() {
            cleanup.run().await;
        }
    }
}
