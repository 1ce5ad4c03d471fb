//! The test harness: starts Ferry's real services in-process against the real PostgreSQL,
//! RabbitMQ, S3 and SMTP servers that `infra/dev up` runs, each test isolated by its own
//! database (cloned from a migrated template), queue prefix, bucket and email recipient, so
//! tests run in parallel without seeing each other.

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_packages::store::{PackageStore, StoreConfig};
use reqwest::StatusCode;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use ferry_api;
pub use ferry_worker;

/// The API key every test stack uses.
pub const API_KEY: &str = "test-api-key-0123456789abcdef";

/// Addresses of the shared servers, from the variables `infra/dev up` writes to
/// `.ferry-dev/env.sh`.
#[derive(Debug, Clone)]
pub struct Servers {
    /// A superuser URL of the PostgreSQL server (any database).
    pub database_url: String,
    pub amqp_url: String,
    pub s3: StoreConfig,
    pub smtp_url: String,
    pub maildir: PathBuf,
}

fn required(name: &str) -> String {
    ferry_config::variable(name).unwrap_or_else(|| {
        panic!("{name} is not set: run the tests with `infra/dev test`, which starts the servers and sets it")
    })
}

impl Servers {
    pub fn from_env() -> Self {
        Servers {
            database_url: required("FERRY_DATABASE_URL"),
            amqp_url: required("FERRY_AMQP_URL"),
            s3: StoreConfig {
                endpoint: required("FERRY_S3_ENDPOINT"),
                region: required("FERRY_S3_REGION"),
                access_key: required("FERRY_S3_ACCESS_KEY"),
                secret_key: required("FERRY_S3_SECRET_KEY").into(),
                bucket: String::new(),
            },
            smtp_url: required("FERRY_SMTP_URL"),
            maildir: PathBuf::from(required("FERRY_TEST_MAILDIR")),
        }
    }
}

/// Replaces the database name at the end of a PostgreSQL URL.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let slash = base.rfind('/').expect("a database URL has a path");
    format!("{}/{database}{query}", &base[..slash])
}

async fn admin_client(servers: &Servers) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) =
        tokio_postgres::connect(&servers.database_url, tokio_postgres::NoTls)
            .await
            .context("connecting to PostgreSQL")?;
    tokio::spawn(connection);
    Ok(client)
}

/// Creates a fresh database for one test, cloned from a template migrated once per migration
/// fingerprint. Returns its URL.
pub async fn create_test_database(servers: &Servers) -> anyhow::Result<(String, String)> {
    let admin = admin_client(servers).await?;
    let template = format!(
        "ferry_template_{}",
        ferry_storage::migrations::fingerprint()
    );
    admin
        .execute("SELECT pg_advisory_lock(727272)", &[])
        .await?;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await?
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {template}"))
            .await?;
        let pool = ferry_storage::connect(&with_database(&servers.database_url, &template), 1)?;
        ferry_storage::migrations::migrate(&pool).await?;
        pool.close();
    }
    admin
        .execute("SELECT pg_advisory_unlock(727272)", &[])
        .await?;
    let name = format!("ferry_test_{}", Uuid::new_v4().simple());
    let mut attempts = 0;
    loop {
        match admin
            .batch_execute(&format!("CREATE DATABASE {name} TEMPLATE {template}"))
            .await
        {
            Ok(()) => break,
            // Two clones of one template at the same instant collide; try again.
            Err(error) if attempts < 20 => {
                attempts += 1;
                tracing::debug!(%error, "retrying database creation");
                tokio::time::sleep(Duration::from_millis(50 * attempts)).await;
            }
            Err(error) => return Err(error.into()),
        }
    }
    Ok((with_database(&servers.database_url, &name), name))
}

/// Which services a test wants running in-process.
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
    pub http: reqwest::Client,
    /// This stack's key for sensitive variables (base64), as API and workers are given it.
    pub variables_key: String,
    shutdown: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// Taken by `stop` (or by `Drop` when a test panicked before it).
    cleanup: Option<Cleanup>,
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,lapin=error".into()),
        )
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
        let (database_url, database_name) = create_test_database(&servers)
            .await
            .expect("creating the test database");
        let short = Uuid::new_v4().simple().to_string()[..12].to_owned();
        let queue_prefix = format!("test-{short}");
        let bucket = format!("ferry-test-{short}");
        let recipient = format!("team-{short}@example.org");
        let variables_key =
            ferry_secrets::SecretKey::generate_base64().expect("random bytes for a key");
        let work_root = tempfile::tempdir().expect("a temporary folder");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding port 0");
        let address = listener.local_addr().expect("a local address");
        let base_url = format!("http://{address}");
        let mut s3 = servers.s3.clone();
        s3.bucket = bucket.clone();
        let shutdown = CancellationToken::new();
        let api_config = ferry_api::Config {
            listen: address,
            public_url: base_url.clone(),
            database_url: database_url.clone().into(),
            database_max_connections: options.database_max_connections,
            amqp_url: servers.amqp_url.clone().into(),
            queue_prefix: queue_prefix.clone(),
            store: s3.clone(),
            max_package_bytes: options.max_package_bytes,
            api_key: ferry_api::Secret::new(API_KEY),
            step_timeout_seconds: 120,
            event_concurrency: options.event_concurrency,
            variables_key: ferry_secrets::SecretKey::from_base64(&variables_key)
                .expect("a generated key is valid"),
        };
        let mut tasks = vec![tokio::spawn(ferry_api::run(
            api_config,
            listener,
            shutdown.clone(),
        ))];
        if options.worker {
            let mut worker_config = worker_config(
                &servers,
                &queue_prefix,
                &s3,
                work_root.path(),
                &variables_key,
            );
            worker_config.concurrency = options.worker_concurrency;
            tasks.push(tokio::spawn(ferry_worker::run(
                worker_config,
                shutdown.clone(),
            )));
        }
        if options.notifier {
            let notifier_config = ferry_notifier::Config {
                amqp_url: servers.amqp_url.clone().into(),
                queue_prefix: queue_prefix.clone(),
                smtp_url: servers.smtp_url.clone().into(),
                from: "Ferry <ferry@example.org>".into(),
                concurrency: 2,
            };
            tasks.push(tokio::spawn(ferry_notifier::run(
                notifier_config,
                shutdown.clone(),
            )));
        }
        let cleanup = Cleanup {
            servers: servers.clone(),
            database_name: database_name.clone(),
            queue_prefix: queue_prefix.clone(),
            worker_pools: vec!["default".to_owned()],
        };
        let stack = TestStack {
            servers,
            base_url,
            database_url,
            database_name,
            queue_prefix,
            bucket,
            recipient,
            work_root,
            http: reqwest::Client::new(),
            variables_key,
            cleanup: Some(cleanup),
            shutdown,
            tasks,
        };
        stack.wait_until_healthy().await;
        stack
    }

    async fn wait_until_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let response = self
                .http
                .get(format!("{}/health", self.base_url))
                .send()
                .await;
            if response.is_ok_and(|response| response.status() == StatusCode::OK) {
                return;
            }
            for task in &self.tasks {
                assert!(
                    !task.is_finished(),
                    "a Ferry service stopped during start-up"
                );
            }
            assert!(
                Instant::now() < deadline,
                "the API did not become healthy within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
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

    /// Starts an in-process worker (for tests that started without one).
    pub fn start_worker(&mut self, work_root: &Path) {
        let mut s3 = self.servers.s3.clone();
        s3.bucket = self.bucket.clone();
        let config = worker_config(
            &self.servers,
            &self.queue_prefix,
            &s3,
            work_root,
            &self.variables_key,
        );
        self.tasks.push(tokio::spawn(ferry_worker::run(
            config,
            self.shutdown.clone(),
        )));
    }

    pub fn store(&self) -> PackageStore {
        let mut s3 = self.servers.s3.clone();
        s3.bucket = self.bucket.clone();
        PackageStore::new(&s3)
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

    pub async fn count(&self, table: &str) -> i64 {
        self.db()
            .await
            .query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .await
            .expect("counting rows")
            .get(0)
    }

    pub async fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let request = self.http.post(format!("{}{path}", self.base_url));
        send(request.header("x-ferry-apikey", API_KEY).json(body)).await
    }

    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        let request = self.http.post(format!("{}{path}", self.base_url));
        send(
            request
                .header("x-ferry-apikey", API_KEY)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let request = self.http.get(format!("{}{path}", self.base_url));
        send(request.header("x-ferry-apikey", API_KEY)).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let request = self.http.put(format!("{}{path}", self.base_url));
        send(request.header("x-ferry-apikey", API_KEY).json(body)).await
    }

    /// Calls the API as a named person (HTTP Basic: the user name is the actor).
    pub async fn post_as(&self, user: &str, path: &str, body: &Value) -> (StatusCode, Value) {
        let request = self.http.post(format!("{}{path}", self.base_url));
        send(request.basic_auth(user, Some(API_KEY)).json(body)).await
    }

    /// Polls a deployment until its status is `wanted`; fails on a different final state.
    pub async fn wait_for_status(
        &self,
        deployment_id: &str,
        wanted: &str,
        timeout: Duration,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get(&format!("/api/deployments/{deployment_id}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if body["status"] == wanted {
                return body;
            }
            assert!(
                !matches!(
                    body["status"].as_str(),
                    Some("Success" | "Failed" | "Canceled")
                ),
                "deployment ended {} while waiting for {wanted}: {body:#}",
                body["status"]
            );
            assert!(
                Instant::now() < deadline,
                "deployment did not reach {wanted} within {timeout:?}: {body:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The open interruption of a deployment, from the list of pending ones.
    pub async fn pending_interruption(&self, deployment_id: &str) -> Value {
        let (status, body) = self.get("/api/interruptions").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["interruptions"]
            .as_array()
            .expect("a list")
            .iter()
            .find(|i| i["deployment_id"] == deployment_id)
            .cloned()
            .unwrap_or_else(|| panic!("no pending interruption for {deployment_id}: {body:#}"))
    }

    /// Creates an environment, asserting success.
    pub async fn create_environment(&self, name: &str) -> Value {
        let (status, body) = self
            .post("/api/environments", &serde_json::json!({ "name": name }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Creates a project, asserting success.
    pub async fn create_project(&self, project: &Value) -> Value {
        let (status, body) = self.post("/api/projects", project).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Pushes a package, asserting success.
    pub async fn push_package(&self, package_id: &str, version: &str, bytes: Vec<u8>) -> Value {
        let (status, body) = self
            .post_raw(
                &format!("/api/packages/{package_id}/{version}"),
                "application/octet-stream",
                bytes,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn create_release(&self, project: &str, release_number: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/api/projects/{project}/releases"),
                &serde_json::json!({ "release_number": release_number }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Starts a deployment, asserting it was accepted; returns its id.
    pub async fn deploy(&self, project: &str, release_number: &str, environment: &str) -> String {
        let (status, body) = self
            .post(
                "/api/deployments",
                &serde_json::json!({ "project": project, "release_number": release_number, "environment": environment }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["deployment_id"]
            .as_str()
            .expect("a deployment id")
            .to_owned()
    }

    /// Polls a deployment until it reaches a final state.
    pub async fn wait_for_deployment(&self, deployment_id: &str, timeout: Duration) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let (status, body) = self.get(&format!("/api/deployments/{deployment_id}")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            if matches!(
                body["status"].as_str(),
                Some("Success" | "Failed" | "Canceled")
            ) {
                return body;
            }
            assert!(
                Instant::now() < deadline,
                "deployment did not finish within {timeout:?}: {body:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Polls until the task log has a line containing `needle`.
    pub async fn wait_for_log_line(&self, deployment_id: &str, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            let (_, body) = self.get(&format!("/api/deployments/{deployment_id}")).await;
            if log_text(&body).contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no log line with {needle:?} within {timeout:?}: {body:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Emails the SMTP server received for this stack's recipient.
    pub fn emails(&self) -> Vec<String> {
        emails_to(&self.servers.maildir, &self.recipient)
    }

    /// Waits for `count` emails to this stack's recipient.
    pub async fn wait_for_emails(&self, count: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let emails = self.emails();
            if emails.len() >= count {
                return emails;
            }
            assert!(
                Instant::now() < deadline,
                "expected {count} emails to {}, got {}",
                self.recipient,
                emails.len()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the services and removes the database and queues.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        for task in std::mem::take(&mut self.tasks) {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        if let Some(cleanup) = self.cleanup.take() {
            cleanup.run().await;
        }
    }
}

/// A test that panics never reaches `stop`: its database and queues are removed anyway, from
/// a thread of its own (the test's runtime may be unwinding).
impl Drop for TestStack {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(cleanup) = self.cleanup.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    runtime.block_on(cleanup.run());
                }
            })
            .join();
        }
    }
}

/// What a stack leaves on the shared servers: its database, exchanges and queues.
struct Cleanup {
    servers: Servers,
    database_name: String,
    queue_prefix: String,
    /// The worker pools whose queues exist (`default`, and any a test adds).
    worker_pools: Vec<String>,
}

impl Cleanup {
    async fn run(self) {
        if let Ok(admin) = admin_client(&self.servers).await {
            let _ = admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    self.database_name
                ))
                .await;
        }
        if let Ok(connection) =
            ferry_broker::connect(&self.servers.amqp_url, "ferry-test-cleanup").await
        {
            if let Ok(channel) = connection.create_channel().await {
                let topology = ferry_broker::Topology::new(&self.queue_prefix);
                let pools = self
                    .worker_pools
                    .iter()
                    .map(|pool| topology.step_jobs(pool));
                for spec in [topology.step_events(), topology.deployment_finished()]
                    .into_iter()
                    .chain(pools)
                {
                    for queue in [
                        spec.queue.clone(),
                        spec.retry_queue(),
                        spec.dead_letter_queue(),
                    ] {
                        let _ = channel
                            .queue_delete(
                                queue.into(),
                                lapin::options::QueueDeleteOptions::default(),
                            )
                            .await;
                    }
                }
                for exchange in [
                    topology.jobs_exchange(),
                    topology.events_exchange(),
                    topology.control_exchange(),
                ] {
                    let _ = channel
                        .exchange_delete(
                            exchange.into(),
                            lapin::options::ExchangeDeleteOptions::default(),
                        )
                        .await;
                }
            }
            let _ = connection.close(200, "done".into()).await;
        }
    }
}

fn worker_config(
    servers: &Servers,
    queue_prefix: &str,
    s3: &StoreConfig,
    work_root: &Path,
    variables_key: &str,
) -> ferry_worker::Config {
    ferry_worker::Config {
        amqp_url: servers.amqp_url.clone().into(),
        queue_prefix: queue_prefix.to_owned(),
        worker_pool: "default".into(),
        store: s3.clone(),
        work_root: work_root.to_path_buf(),
        concurrency: 8,
        worker_name: "test-worker".into(),
        variables_key: ferry_secrets::SecretKey::from_base64(variables_key)
            .expect("a generated key is valid"),
        inherited_environment: ferry_worker::config::inherited_environment_from_env(),
    }
}

/// Sends a request to the stack's API and reads the answer.
async fn send(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    read(request.send().await.expect("calling the API")).await
}

async fn read(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("reading the response");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// The task log of a deployment as one string, one line per log line.
pub fn log_text(deployment: &Value) -> String {
    deployment["log"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .map(|line| line["text"].as_str().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// Every message in a maildir addressed to `recipient`, raw.
pub fn emails_to(maildir: &Path, recipient: &str) -> Vec<String> {
    let mut emails = Vec::new();
    for folder in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(folder)) else {
            continue;
        };
        for entry in entries.flatten() {
            if let Ok(text) = std::fs::read_to_string(entry.path()) {
                let to_line = text
                    .lines()
                    .take_while(|line| !line.is_empty())
                    .any(|line| {
                        line.to_ascii_lowercase().starts_with("to:") && line.contains(recipient)
                    });
                if to_line {
                    emails.push(decode_soft_line_breaks(&text));
                }
            }
        }
    }
    emails
}

/// Undoes quoted-printable soft line breaks, as a mail client does before showing a message,
/// so a long URL reads as one piece.
fn decode_soft_line_breaks(message: &str) -> String {
    let quoted_printable = message
        .lines()
        .take_while(|line| !line.is_empty())
        .any(|line| line.eq_ignore_ascii_case("Content-Transfer-Encoding: quoted-printable"));
    if quoted_printable {
        message.replace("=\r\n", "").replace("=\n", "")
    } else {
        message.to_owned()
    }
}

/// A zip archive built in memory from `(path, contents)` pairs.
pub fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (path, contents) in files {
        writer
            .start_file(*path, zip::write::SimpleFileOptions::default())
            .expect("adding a file");
        writer
            .write_all(contents.as_bytes())
            .expect("writing a file");
    }
    writer.finish().expect("finishing the zip").into_inner()
}

/// The lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ferry_packages::sha256_hex(bytes)
}
