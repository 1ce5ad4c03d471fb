//! The API's configuration: defaults that point at the stack `infra/dev up` starts, each
//! overridable by a `FERRY_…` environment variable. This is the only file that reads the
//! environment.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use ferry_packages::store::StoreConfig;

/// A value that must never be printed (API keys, passwords).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("*****")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP server listens (`FERRY_API_LISTEN`).
    pub listen: SocketAddr,
    /// The address people and emails use to reach this API (`FERRY_PUBLIC_URL`); status page
    /// links are built from it.
    pub public_url: String,
    pub database_url: String,
    pub database_max_connections: usize,
    pub amqp_url: String,
    /// Prefix of every exchange and queue name (`FERRY_QUEUE_PREFIX`).
    pub queue_prefix: String,
    pub store: StoreConfig,
    /// The largest package accepted, in bytes (`FERRY_MAX_PACKAGE_BYTES`).
    pub max_package_bytes: u64,
    /// The key every API call must present (`FERRY_API_KEY`). There is no default: an API
    /// without a key refuses to start.
    pub api_key: Secret,
    /// How long a script may run before its worker kills it (`FERRY_STEP_TIMEOUT_SECONDS`).
    pub step_timeout_seconds: u64,
    /// How many step events are applied at once (`FERRY_EVENT_CONCURRENCY`).
    pub event_concurrency: u16,
    /// Encrypts sensitive variables at rest and in step jobs (`FERRY_VARIABLES_KEY`, base64
    /// of 32 random bytes: `openssl rand -base64 32`). Workers need the same key. There is
    /// no default.
    pub variables_key: ferry_secrets::SecretKey,
}

/// Reads `FERRY_VARIABLES_KEY`, shared with the worker's configuration.
pub fn variables_key_from_env() -> anyhow::Result<ferry_secrets::SecretKey> {
    let raw = variable("FERRY_VARIABLES_KEY").context(
        "FERRY_VARIABLES_KEY is not set: it encrypts sensitive variables; create one with `openssl rand -base64 32` and give the API and every worker the same key",
    )?;
    ferry_secrets::SecretKey::from_base64(&raw)
        .map_err(|error| anyhow::anyhow!("FERRY_VARIABLES_KEY: {error}"))
}

pub(crate) fn variable(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

pub(crate) fn parsed<T: std::str::FromStr>(name: &str, default: T) -> anyhow::Result<T>
where
    T::Err: std::fmt::Display,
{
    match variable(name) {
        None => Ok(default),
        Some(raw) => raw
            .parse()
            .map_err(|error| anyhow::anyhow!("{name}=`{raw}` is not valid: {error}")),
    }
}

/// Object-store settings shared with the worker's configuration.
pub fn store_from_env() -> StoreConfig {
    StoreConfig {
        endpoint: variable("FERRY_S3_ENDPOINT").unwrap_or_else(|| "http://127.0.0.1:55900".into()),
        region: variable("FERRY_S3_REGION").unwrap_or_else(|| "us-east-1".into()),
        access_key: variable("FERRY_S3_ACCESS_KEY").unwrap_or_else(|| "ferry-dev-access".into()),
        secret_key: variable("FERRY_S3_SECRET_KEY")
            .unwrap_or_else(|| "ferry-dev-secret-key".into()),
        bucket: variable("FERRY_S3_BUCKET").unwrap_or_else(|| "ferry-packages".into()),
    }
}

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        let listen: SocketAddr = parsed(
            "FERRY_API_LISTEN",
            SocketAddr::from(([127, 0, 0, 1], 58080)),
        )?;
        let api_key = variable("FERRY_API_KEY")
            .context("FERRY_API_KEY is not set: choose a long random key; CI tools and the ferry CLI present it")?;
        if api_key.len() < 16 {
            bail!("FERRY_API_KEY must be at least 16 characters");
        }
        Ok(Config {
            listen,
            public_url: variable("FERRY_PUBLIC_URL").unwrap_or_else(|| format!("http://{listen}")),
            database_url: variable("FERRY_DATABASE_URL")
                .unwrap_or_else(|| "postgres://postgres@127.0.0.1:55432/ferry".into()),
            database_max_connections: parsed("FERRY_DATABASE_MAX_CONNECTIONS", 16)?,
            amqp_url: variable("FERRY_AMQP_URL")
                .unwrap_or_else(|| "amqp://guest:guest@127.0.0.1:55672/%2f".into()),
            queue_prefix: variable("FERRY_QUEUE_PREFIX").unwrap_or_else(|| "ferry".into()),
            store: store_from_env(),
            max_package_bytes: parsed("FERRY_MAX_PACKAGE_BYTES", 256 * 1024 * 1024)?,
            api_key: Secret::new(api_key),
            step_timeout_seconds: parsed("FERRY_STEP_TIMEOUT_SECONDS", 3600)?,
            event_concurrency: parsed("FERRY_EVENT_CONCURRENCY", 32)?,
            variables_key: variables_key_from_env()?,
        })
    }
}
