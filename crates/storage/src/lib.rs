//! PostgreSQL storage: the connection pool, migrations, and one module of queries per
//! concept. Every function takes a client or transaction from the caller, so the caller
//! decides what commits together.
//!
//! Architecture invariant: storage knows SQL and the domain types, nothing about HTTP or
//! RabbitMQ. The outbox table is here because it is written in the same transaction as the
//! state; publishing it is the broker crate's job.

pub mod audit;
pub mod deployment_queue;
pub mod deployments;
pub mod environments;
pub mod interruptions;
pub mod lifecycles;
pub mod migrations;
pub mod outbox;
pub mod packages;
pub mod paging;
pub mod processed;
pub mod progress;
pub mod projects;
pub mod releases;
pub mod target_checks;
pub mod targets;
pub mod task_log;

pub use deadpool_postgres::{Client, GenericClient, Pool, Transaction};

use deadpool_postgres::{ManagerConfig, PoolConfig, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{NoTls, Row};
use uuid::Uuid;

/// Storage failures, classified so callers can answer 409 for conflicts and retry the rest.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A unique constraint refused the write: the thing already exists.
    #[error("{0} already exists")]
    Conflict(String),
    /// A row that must exist does not (a broken reference, not a user error).
    #[error("{0} does not exist")]
    Missing(String),
    /// Stored data this version cannot read.
    #[error("stored data is not readable: {0}")]
    Corrupt(String),
    #[error("PostgreSQL: {0}")]
    Postgres(#[source] tokio_postgres::Error),
    #[error("PostgreSQL connection pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    /// An event that must wait for an earlier one (log lines after a gap): tried again later.
    #[error("{0}")]
    NotYet(String),
}

impl From<tokio_postgres::Error> for StorageError {
    fn from(error: tokio_postgres::Error) -> Self {
        StorageError::Postgres(error)
    }
}

impl StorageError {
    /// Whether the same write would fail again however often it is tried: unreadable or
    /// missing data, or a value PostgreSQL refuses (a data exception such as a NUL character,
    /// or an integrity violation). A lost connection or a timeout is not permanent.
    pub fn is_permanent(&self) -> bool {
        match self {
            StorageError::Corrupt(_) | StorageError::Missing(_) | StorageError::Conflict(_) => true,
            StorageError::Postgres(error) => error
                .code()
                .is_some_and(|code| matches!(&code.code()[..2], "22" | "23")),
            StorageError::Pool(_) | StorageError::NotYet(_) => false,
        }
    }

    /// Maps a unique violation to [`StorageError::Conflict`] naming `what`.
    pub fn conflict_or(error: tokio_postgres::Error, what: impl FnOnce() -> String) -> Self {
        if error.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StorageError::Conflict(what())
        } else {
            StorageError::Postgres(error)
        }
    }
}

/// Creates a connection pool. Connections are opened lazily.
pub fn connect(database_url: &str, max_connections: usize) -> Result<Pool, StorageError> {
    let mut config = deadpool_postgres::Config::new();
    config.url = Some(database_url.to_owned());
    config.manager = Some(ManagerConfig {
        recycling_method: RecyclingMethod::Fast,
    });
    // A request waits at most this long for a connection, then fails (503 "the database is
    // unavailable") instead of hanging while PostgreSQL is away or the pool is exhausted.
    let mut pool = PoolConfig::new(max_connections);
    pool.timeouts.wait = Some(std::time::Duration::from_secs(5));
    pool.timeouts.create = Some(std::time::Duration::from_secs(5));
    config.pool = Some(pool);
    config
        .create_pool(Some(Runtime::Tokio1), NoTls)
        .map_err(|error| StorageError::Corrupt(format!("database configuration: {error}")))
}

/// Reads an id column as its typed id (`DeploymentId`, `StepRunId`, …). The domain's ids know
/// nothing of PostgreSQL (the domain crate does no I/O), so storage converts at its edge:
/// this on the way out, `id.as_uuid()` for parameters on the way in.
pub(crate) fn id<T: From<Uuid>>(row: &Row, index: usize) -> T {
    T::from(row.get::<_, Uuid>(index))
}

/// Reads a nullable id column as its typed id.
pub(crate) fn optional_id<T: From<Uuid>>(row: &Row, index: usize) -> Option<T> {
    row.get::<_, Option<Uuid>>(index).map(T::from)
}

/// Reads a text column holding a value the domain validates (a name, a release number, an
/// email address, an answer) as its domain type. Every such value was validated before it
/// was written, so one that does not parse is damaged data: [`StorageError::Corrupt`] naming
/// the column. Writing goes the other way through the type's `as_str()` (or `to_string()`
/// for versions).
pub(crate) fn parsed<T>(row: &Row, index: usize, column: &str) -> Result<T, StorageError>
where
    T: TryFrom<String>,
    T::Error: std::fmt::Display,
{
    let raw: String = row.get(index);
    T::try_from(raw).map_err(|error| corrupt_column(column, error))
}

/// Reads a nullable text column as its domain type, like [`parsed`].
pub(crate) fn optional_parsed<T>(
    row: &Row,
    index: usize,
    column: &str,
) -> Result<Option<T>, StorageError>
where
    T: TryFrom<String>,
    T::Error: std::fmt::Display,
{
    row.get::<_, Option<String>>(index)
        .map(T::try_from)
        .transpose()
        .map_err(|error| corrupt_column(column, error))
}

/// A stored value of `column` that does not read as its type.
pub(crate) fn corrupt_column(column: &str, error: impl std::fmt::Display) -> StorageError {
    StorageError::Corrupt(format!("column {column}: {error}"))
}

/// The database's clock, read now (`clock_timestamp()`, not the transaction's start: a command
/// reads it after taking its locks, so a deployment created behind another one, or started
/// when another ends, is stamped later than it). Every time a command stamps on a deployment
/// comes from here, so several API instances with different clocks still write one history
/// on the same clock the database stamps log lines and interruptions with.
pub async fn database_now(
    client: &impl GenericClient,
) -> Result<chrono::DateTime<chrono::Utc>, StorageError> {
    Ok(client
        .query_one_cached("SELECT clock_timestamp()", &[])
        .await?
        .get(0))
}

pub(crate) fn json_column<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
    what: &str,
) -> Result<T, StorageError> {
    serde_json::from_value(value).map_err(|error| StorageError::Corrupt(format!("{what}: {error}")))
}

/// Queries through the connection's prepared-statement cache: after a connection's first
/// use of a statement, running it again costs one round trip and no parsing or planning.
/// Every hot-path query in this crate goes through these.
pub(crate) trait CachedQueries: GenericClient + Sync {
    fn query_cached<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Vec<Row>, tokio_postgres::Error>> + Send + 'a {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.query(&statement, params).await
        }
    }

    fn query_one_cached<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Row, tokio_postgres::Error>> + Send + 'a {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.query_one(&statement, params).await
        }
    }

    fn query_opt_cached<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<Option<Row>, tokio_postgres::Error>> + Send + 'a {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.query_opt(&statement, params).await
        }
    }

    fn execute_cached<'a>(
        &'a self,
        sql: &'a str,
        params: &'a [&'a (dyn ToSql + Sync)],
    ) -> impl Future<Output = Result<u64, tokio_postgres::Error>> + Send + 'a {
        async move {
            let statement = self.prepare_cached(sql).await?;
            self.execute(&statement, params).await
        }
    }
}

impl<T: GenericClient + Sync> CachedQueries for T {}
