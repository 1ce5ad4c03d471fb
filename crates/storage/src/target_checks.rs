//! Health checks and discoveries, from the request to the worker's answer: one row each in
//! `target_checks`, and a health check's verdict written on its target too (the check the
//! target shows is the newest one asked for that has answered).

use chrono::{DateTime, Utc};
use ferry_domain::{
    HostKeyFingerprint, HostName, TargetCheckId, TargetHealthStatus, TargetId, WorkerPool,
};

use crate::targets::HealthFacts;
use crate::{
    CachedQueries, GenericClient, StorageError, corrupt_column, id, optional_parsed, parsed,
};

/// What a check is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckSubject {
    /// A registered target's health.
    Health { target_id: TargetId },
    /// The key a host presents.
    Discovery { host: HostName, port: u16 },
}

/// A discovery's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Discovered {
    Found {
        host_key_fingerprint: HostKeyFingerprint,
        key_type: String,
    },
    Failed {
        reason: String,
    },
}

/// How a check ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckAnswer {
    Health {
        status: TargetHealthStatus,
        reason: Option<String>,
        facts: Option<HealthFacts>,
    },
    Discovery(Discovered),
}

/// One check as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetCheck {
    pub check_id: TargetCheckId,
    pub subject: CheckSubject,
    /// The pool it was sent to: only that pool's workers may answer it.
    pub worker_pool: WorkerPool,
    pub requested_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// `None` while no answer came.
    pub answer: Option<CheckAnswer>,
    /// The worker that answered.
    pub worker: Option<String>,
}

const COLUMNS: &str = "check_id, kind, target_id, host, port, worker_pool, requested_at, \
     finished_at, status, reason, worker, host_key_fingerprint, key_type";

fn from_row(row: &tokio_postgres::Row) -> Result<TargetCheck, StorageError> {
    let kind: String = row.get(1);
    let subject = match kind.as_str() {
        "health" => CheckSubject::Health {
            target_id: row
                .get::<_, Option<uuid::Uuid>>(2)
                .map(TargetId::from)
                .ok_or_else(|| corrupt_column("target_checks.target_id", "NULL"))?,
        },
        "discovery" => {
            let port: Option<i32> = row.get(4);
            CheckSubject::Discovery {
                host: optional_parsed(row, 3, "target_checks.host")?
                    .ok_or_else(|| corrupt_column("target_checks.host", "NULL"))?,
                port: port
                    .and_then(|port| u16::try_from(port).ok())
                    .ok_or_else(|| corrupt_column("target_checks.port", format!("{port:?}")))?,
            }
        }
        other => return Err(corrupt_column("target_checks.kind", other)),
    };
    let status: Option<String> = row.get(8);
    let reason: Option<String> = row.get(9);
    let answer = match (status, &subject) {
        (None, _) => None,
        (Some(status), CheckSubject::Health { .. }) => Some(CheckAnswer::Health {
            status: TargetHealthStatus::try_from(status)
                .map_err(|error| corrupt_column("target_checks.status", error))?,
            reason,
            // Facts are kept on the target, for the check it shows.
            facts: None,
        }),
        (Some(status), CheckSubject::Discovery { .. }) => {
            Some(CheckAnswer::Discovery(match status.as_str() {
                "Found" => Discovered::Found {
                    host_key_fingerprint: optional_parsed(
                        row,
                        11,
                        "target_checks.host_key_fingerprint",
                    )?
                    .ok_or_else(|| corrupt_column("target_checks.host_key_fingerprint", "NULL"))?,
                    key_type: row.get::<_, Option<String>>(12).unwrap_or_default(),
                },
                "Failed" => Discovered::Failed {
                    reason: reason.unwrap_or_default(),
                },
                other => return Err(corrupt_column("target_checks.status", other)),
            }))
        }
    };
    Ok(TargetCheck {
        check_id: id(row, 0),
        subject,
        worker_pool: parsed(row, 5, "target_checks.worker_pool")?,
        requested_at: row.get(6),
        finished_at: row.get(7),
        answer,
        worker: row.get(10),
    })
}

/// Records a check asked for (written with its job, in the caller's transaction).
pub async fn insert(
    client: &impl GenericClient,
    check_id: TargetCheckId,
    subject: &CheckSubject,
    worker_pool: &WorkerPool,
) -> Result<(), StorageError> {
    let (kind, target_id, host, port) = match subject {
        CheckSubject::Health { target_id } => ("health", Some(target_id.into_uuid()), None, None),
        CheckSubject::Discovery { host, port } => (
            "discovery",
            None,
            Some(host.as_str()),
            Some(i32::from(*port)),
        ),
    };
    client
        .execute_cached(
            "INSERT INTO target_checks (check_id, kind, target_id, host, port, worker_pool)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                check_id.as_uuid(),
                &kind,
                &target_id,
                &host,
                &port,
                &worker_pool.as_str(),
            ],
        )
        .await?;
    Ok(())
}

/// A check by id.
pub async fn get(
    client: &impl GenericClient,
    check_id: TargetCheckId,
) -> Result<Option<TargetCheck>, StorageError> {
    client
        .query_opt_cached(
            &format!("SELECT {COLUMNS} FROM target_checks WHERE check_id = $1"),
            &[check_id.as_uuid()],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Checks asked for more than `timeout_seconds` ago that no worker answered, locked (others
/// sweeping skip them) until the caller's transaction ends.
pub async fn lock_overdue(
    client: &impl GenericClient,
    timeout_seconds: f64,
    limit: i64,
) -> Result<Vec<TargetCheck>, StorageError> {
    client
        .query_cached(
            &format!(
                "SELECT {COLUMNS} FROM target_checks WHERE finished_at IS NULL
                   AND requested_at < clock_timestamp() - make_interval(secs => $1)
                 ORDER BY requested_at LIMIT $2 FOR UPDATE SKIP LOCKED"
            ),
            &[&timeout_seconds, &limit],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// Records a check's answer, and a health check's verdict on its target unless the target
/// shows a newer check already. Returns `false`, writing nothing, when the check had
/// answered before (a second worker's answer, or one after the timeout): the first answer
/// stands.
pub async fn finish(
    client: &impl GenericClient,
    check_id: TargetCheckId,
    answer: &CheckAnswer,
    worker: Option<&str>,
) -> Result<bool, StorageError> {
    let (status, reason, fingerprint, key_type) = match answer {
        CheckAnswer::Health { status, reason, .. } => {
            (status.as_str(), reason.as_deref(), None, None)
        }
        CheckAnswer::Discovery(Discovered::Found {
            host_key_fingerprint,
            key_type,
        }) => (
            "Found",
            None,
            Some(host_key_fingerprint.as_str()),
            Some(key_type.as_str()),
        ),
        CheckAnswer::Discovery(Discovered::Failed { reason }) => {
            ("Failed", Some(reason.as_str()), None, None)
        }
    };
    let finished = client
        .query_opt_cached(
            "UPDATE target_checks SET finished_at = clock_timestamp(), status = $2, reason = $3,
                 worker = $4, host_key_fingerprint = $5, key_type = $6
             WHERE check_id = $1 AND finished_at IS NULL
             RETURNING target_id, requested_at, finished_at",
            &[
                check_id.as_uuid(),
                &status,
                &reason,
                &worker,
                &fingerprint,
                &key_type,
            ],
        )
        .await?;
    let Some(finished) = finished else {
        return Ok(false);
    };
    let CheckAnswer::Health { facts, .. } = answer else {
        return Ok(true);
    };
    let Some(target_id) = finished.get::<_, Option<uuid::Uuid>>(0) else {
        return Err(corrupt_column("target_checks.target_id", "NULL"));
    };
    let requested_at: DateTime<Utc> = finished.get(1);
    let finished_at: DateTime<Utc> = finished.get(2);
    client
        .execute_cached(
            "UPDATE targets SET health_status = $2, health_reason = $3, health_checked_at = $4,
                 health_check_id = $5, health_os = $6, health_architecture = $7,
                 health_user = $8, health_free_bytes = $9
             WHERE target_id = $1 AND NOT EXISTS (
                 SELECT 1 FROM target_checks shown
                 WHERE shown.check_id = targets.health_check_id AND shown.requested_at > $10)",
            &[
                &target_id,
                &status,
                &reason,
                &finished_at,
                check_id.as_uuid(),
                &facts.as_ref().map(|facts| facts.os.as_str()),
                &facts.as_ref().map(|facts| facts.architecture.as_str()),
                &facts.as_ref().map(|facts| facts.user.as_str()),
                &facts.as_ref().map(|facts| facts.free_bytes),
                &requested_at,
            ],
        )
        .await?;
    Ok(true)
}
