//! The worker's configuration: defaults for the local dev stack, overridable by `FERRY_…`
//! environment variables. This is the only file that reads the environment. Note what is
//! absent: a worker has no database settings at all.

use std::path::PathBuf;

use anyhow::anyhow;
use ferry_packages::store::StoreConfig;
use ferry_secrets::SecretKey;

#[derive(Debug, Clone)]
pub struct Config {
    pub amqp_url: String,
    pub queue_prefix: String,
    /// The pool whose step jobs this worker takes (`FERRY_WORKER_POOL`, default `default`).
    pub worker_pool: String,
    pub store: StoreConfig,
    /// Where packages are cached and extracted (`FERRY_WORK_ROOT`).
    pub work_root: PathBuf,
    /// How many steps this worker runs at once (`FERRY_WORKER_CONCURRENCY`).
    pub concurrency: u16,
    /// Name shown in logs and RabbitMQ (`FERRY_WORKER_NAME`, default the host name); also
    /// the `Octopus.Machine.Name` scripts see.
    pub worker_name: String,
    /// Decrypts the sensitive variables in step jobs (`FERRY_VARIABLES_KEY`, the API's key).
    pub variables_key: SecretKey,
}

fn variable(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let concurrency = match variable("FERRY_WORKER_CONCURRENCY") {
            None => 8,
            Some(raw) => raw.parse().map_err(|error| {
                anyhow!("FERRY_WORKER_CONCURRENCY=`{raw}` is not valid: {error}")
            })?,
        };
        let worker_pool = variable("FERRY_WORKER_POOL").unwrap_or_else(|| "default".into());
        ferry_domain::WorkerPool::parse(&worker_pool)
            .map_err(|error| anyhow!("FERRY_WORKER_POOL: {error}"))?;
        Ok(Config {
            amqp_url: variable("FERRY_AMQP_URL")
                .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:55672/%2f".into()),
            queue_prefix: variable("FERRY_QUEUE_PREFIX").unwrap_or_else(|| "ferry".into()),
            worker_pool,
            store: StoreConfig {
                endpoint: variable("FERRY_S3_ENDPOINT")
                    .unwrap_or_else(|| "http://127.0.0.1:55900".into()),
                region: variable("FERRY_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
                access_key: variable("FERRY_S3_ACCESS_KEY")
                    .unwrap_or_else(|| "ferry-dev-access".into()),
                secret_key: variable("FERRY_S3_SECRET_KEY")
                    .unwrap_or_else(|| "ferry-dev-secret-key".into()),
                bucket: variable("FERRY_S3_BUCKET").unwrap_or_else(|| "ferry-packages".into()),
            },
            work_root: variable("FERRY_WORK_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("ferry-worker")),
            concurrency,
            worker_name: variable("FERRY_WORKER_NAME")
                .or_else(|| variable("HOSTNAME"))
                .or_else(|| {
                    std::fs::read_to_string("/etc/hostname")
                        .ok()
                        .map(|name| name.trim().to_owned())
                        .filter(|name| !name.is_empty())
                })
                .unwrap_or_else(|| "worker".into()),
            variables_key: SecretKey::from_base64(&variable("FERRY_VARIABLES_KEY").ok_or_else(|| {
                anyhow!("FERRY_VARIABLES_KEY is not set: give the worker the API's key for sensitive variables")
            })?)
            .map_err(|error| anyhow!("FERRY_VARIABLES_KEY: {error}"))?,
        })
    }
}
