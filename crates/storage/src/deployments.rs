//! Deployments and their step runs: inserting them, loading and locking them, and writing the
//! new state the deployment state machine computed.

use std::collections::BTreeMap;

use crate::CachedQueries;
use chrono::{DateTime, Utc};
use ferry_domain::{
    ClaimId, DeploymentId, DeploymentStatus, EnvironmentId, EnvironmentName, ProjectId,
    ProjectName, ReleaseId, ReleaseNumber, StepName, StepRunId, StepStatus, TargetId, TargetName,
};

use uuid::Uuid;

use crate::{GenericClient, StorageError, id, optional_id, parsed};

#[derive(Debug, Clone)]
pub struct Deployment {
    pub deployment_id: DeploymentId,
    pub release_id: ReleaseId,
    pub project_id: ProjectId,
    pub environment_id: EnvironmentId,
    pub status: DeploymentStatus,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Whether a failed step pauses for a person's decision (fixed at creation).
    pub guided_failure: bool,
    /// Names of the steps the creator excluded, spelled as the process spells them.
    pub excluded_steps: Vec<StepName>,
    /// The deployment this one rolls back from, if it is a rollback.
    pub rollback_of: Option<DeploymentId>,
}

/// A deployment with the names a person reads.
#[derive(Debug, Clone)]
pub struct DeploymentSummary {
    pub deployment: Deployment,
    pub project_name: ProjectName,
    pub release_number: ReleaseNumber,
    pub environment_name: EnvironmentName,
}

#[derive(Debug, Clone)]
pub struct StepRun {
    pub step_run_id: StepRunId,
    pub deployment_id: DeploymentId,
    pub step_index: i32,
    pub name: StepName,
    pub status: StepStatus,
    pub attempt: i32,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// A failure a person chose to ignore: the step counts as succeeded.
    pub failure_ignored: bool,
    /// Output variables the worker reported.
    pub outputs: BTreeMap<String, String>,
    /// The worker that claimed the current attempt.
    pub claimed_by: Option<String>,
    /// The claim that won the current attempt.
    pub claim_id: Option<ClaimId>,
    /// For one target's run of a step on targets: which.
    pub target: Option<RunTarget>,
}

/// The target a step run is about, and its place among the step's targets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunTarget {
    pub position: i32,
    pub target_id: TargetId,
    pub name: TargetName,
}

pub(crate) const DEPLOYMENT_COLUMNS: &str = "d.deployment_id, d.release_id, d.project_id, d.environment_id, \
     d.status, d.error, d.created_at, d.started_at, d.finished_at, d.guided_failure, \
     d.excluded_steps, d.rollback_of";

pub(crate) fn deployment_from_row(row: &tokio_postgres::Row) -> Result<Deployment, StorageError> {
    let status: String = row.get(4);
    Ok(Deployment {
        deployment_id: id(row, 0),
        release_id: id(row, 1),
        project_id: id(row, 2),
        environment_id: id(row, 3),
        status: status
            .parse()
            .map_err(|error| StorageError::Corrupt(format!("deployment status: {error}")))?,
        error: row.get(5),
        created_at: row.get(6),
        started_at: row.get(7),
        finished_at: row.get(8),
        guided_failure: row.get(9),
        excluded_steps: row
            .get::<_, Vec<String>>(10)
            .into_iter()
            .map(StepName::try_from)
            .collect::<Result<_, _>>()
            .map_err(|error| crate::corrupt_column("deployments.excluded_steps", error))?,
        rollback_of: optional_id(row, 11),
    })
}

const STEP_COLUMNS: &str = "step_run_id, deployment_id, step_index, name, status, attempt, \
     exit_code, error, dispatched_at, started_at, finished_at, failure_ignored, outputs, claimed_by, \
     claim_id, target_position, target_id, target_name";

fn step_from_row(row: &tokio_postgres::Row) -> Result<StepRun, StorageError> {
    let status: String = row.get(4);
    Ok(StepRun {
        step_run_id: id(row, 0),
        deployment_id: id(row, 1),
        step_index: row.get(2),
        name: parsed(row, 3, "step_runs.name")?,
        status: status
            .parse()
            .map_err(|error| StorageError::Corrupt(format!("step status: {error}")))?,
        attempt: row.get(5),
        exit_code: row.get(6),
        error: row.get(7),
        dispatched_at: row.get(8),
        started_at: row.get(9),
        finished_at: row.get(10),
        failure_ignored: row.get(11),
        outputs: crate::json_column(row.get(12), "step outputs")?,
        claimed_by: row.get(13),
        claim_id: row.get::<_, Option<Uuid>>(14).map(ClaimId::from_uuid),
        target: match row.get::<_, Option<i32>>(15) {
            None => None,
            Some(position) => Some(RunTarget {
                position,
                target_id: TargetId::from_uuid(
                    row.get::<_, Option<Uuid>>(16)
                        .ok_or_else(|| crate::corrupt_column("step_runs.target_id", "NULL"))?,
                ),
                name: crate::optional_parsed(row, 17, "step_runs.target_name")?
                    .ok_or_else(|| crate::corrupt_column("step_runs.target_name", "NULL"))?,
            }),
        },
    })
}

/// Where a deployment stands, from the columns only Ferry writes: enough to act on it even
/// when the rest of its data is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub project_id: ProjectId,
    pub environment_id: EnvironmentId,
    pub status: DeploymentStatus,
}

/// A deployment's row, locked until the transaction ends.
#[derive(Debug)]
pub struct LockedRow {
    pub standing: Standing,
    /// The whole row, or why it cannot be read (damaged data: the caller decides what that
    /// means; the lock is held either way).
    pub row: Result<Deployment, StorageError>,
    /// The database's clock once the row was locked (see `database_now`).
    pub now: DateTime<Utc>,
    /// Moved on by every write of the deployment's state (`progress::save_deployment`).
    pub state_version: i64,
}

/// Loads a deployment and locks its row until the transaction ends, so that commands and
/// events for the same deployment are applied one after another.
pub async fn lock(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
) -> Result<Option<LockedRow>, StorageError> {
    let Some(found) = client
        .query_opt_cached(
            &format!(
                "SELECT {DEPLOYMENT_COLUMNS}, clock_timestamp(), d.state_version FROM deployments d
                 WHERE d.deployment_id = $1 FOR UPDATE"
            ),
            &[deployment_id.as_uuid()],
        )
        .await?
    else {
        return Ok(None);
    };
    Ok(Some(locked_row(&found)?))
}

/// A row read with `{DEPLOYMENT_COLUMNS}, clock_timestamp(), d.state_version`.
pub(crate) fn locked_row(found: &tokio_postgres::Row) -> Result<LockedRow, StorageError> {
    let status: String = found.get(4);
    let standing = Standing {
        project_id: id(found, 2),
        environment_id: id(found, 3),
        status: status
            .parse()
            .map_err(|error| StorageError::Corrupt(format!("deployment status: {error}")))?,
    };
    Ok(LockedRow {
        standing,
        row: deployment_from_row(found),
        now: found.get(12),
        state_version: found.get(13),
    })
}

pub async fn summary(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
) -> Result<Option<DeploymentSummary>, StorageError> {
    let row = client
        .query_opt_cached(
            &format!(
                "SELECT {DEPLOYMENT_COLUMNS}, p.name, r.release_number, e.name
                 FROM deployments d
                 JOIN projects p ON p.project_id = d.project_id
                 JOIN releases r ON r.release_id = d.release_id
                 JOIN environments e ON e.environment_id = d.environment_id
                 WHERE d.deployment_id = $1"
            ),
            &[deployment_id.as_uuid()],
        )
        .await?;
    row.map(|row| {
        Ok(DeploymentSummary {
            deployment: deployment_from_row(&row)?,
            project_name: parsed(&row, 12, "projects.name")?,
            release_number: parsed(&row, 13, "releases.release_number")?,
            environment_name: parsed(&row, 14, "environments.name")?,
        })
    })
    .transpose()
}

pub async fn step_runs(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
) -> Result<Vec<StepRun>, StorageError> {
    client
        .query_cached(
            &format!(
                "SELECT {STEP_COLUMNS} FROM step_runs WHERE deployment_id = $1
                 ORDER BY step_index, target_position NULLS FIRST"
            ),
            &[deployment_id.as_uuid()],
        )
        .await?
        .iter()
        .map(step_from_row)
        .collect()
}

/// Whether a step run belongs to a deployment.
pub async fn has_step_run(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    step_run_id: StepRunId,
) -> Result<bool, StorageError> {
    Ok(client
        .query_opt_cached(
            "SELECT 1 FROM step_runs WHERE step_run_id = $1 AND deployment_id = $2",
            &[step_run_id.as_uuid(), deployment_id.as_uuid()],
        )
        .await?
        .is_some())
}

/// A running attempt that nobody will report on: its job waited longer than the dispatch
/// timeout without a claim, or its worker sent no heartbeat for longer than the lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LostAttempt {
    pub deployment_id: DeploymentId,
    pub step_run_id: StepRunId,
    pub attempt: i32,
    /// `None`: nobody claimed it.
    pub claimed_by: Option<String>,
    /// Seconds since the dispatch (not claimed) or the last heartbeat (claimed), by the
    /// database's clock.
    pub silent_seconds: i64,
}

/// How the sweeper asks for lost attempts.
#[derive(Debug, Clone, Copy)]
pub struct LostAttemptsQuery<'a> {
    pub dispatch_timeout_seconds: f64,
    pub lease_seconds: f64,
    /// Step runs the sweeper passed over lately (it could not act on them): left out, so
    /// they cannot fill every batch and starve the rest.
    pub passed_over: &'a [Uuid],
    pub limit: i64,
}

/// The running attempts of running deployments that are lost (see [`LostAttempt`]), oldest
/// first, at most `limit`.
pub async fn lost_attempts(
    client: &impl GenericClient,
    query: &LostAttemptsQuery<'_>,
) -> Result<Vec<LostAttempt>, StorageError> {
    Ok(client
        .query_cached(
            "SELECT s.deployment_id, s.step_run_id, s.attempt, s.claimed_by,
                 extract(epoch FROM now() - coalesce(s.heartbeat_at, s.dispatched_at))::int8
             FROM step_runs s JOIN deployments d ON d.deployment_id = s.deployment_id
             WHERE s.status = 'Running' AND d.status = 'Running'
               AND ((s.claimed_by IS NULL
                     AND s.dispatched_at < now() - make_interval(secs => $1))
                 OR (s.claimed_by IS NOT NULL
                     AND coalesce(s.heartbeat_at, s.dispatched_at) < now() - make_interval(secs => $2)))
               AND NOT (s.step_run_id = ANY($4))
             ORDER BY s.dispatched_at LIMIT $3",
            &[
                &query.dispatch_timeout_seconds,
                &query.lease_seconds,
                &query.limit,
                &query.passed_over,
            ],
        )
        .await?
        .iter()
        .map(|row| LostAttempt {
            deployment_id: id(row, 0),
            step_run_id: id(row, 1),
            attempt: row.get(2),
            claimed_by: row.get(3),
            silent_seconds: row.get(4),
        })
        .collect())
}

/// The current attempt of a step run and the worker pool it was sent to, if it was sent.
pub async fn dispatched_pool(
    client: &impl GenericClient,
    step_run_id: StepRunId,
) -> Result<Option<(i32, String)>, StorageError> {
    Ok(client
        .query_opt_cached(
            "SELECT attempt, dispatched_pool FROM step_runs WHERE step_run_id = $1",
            &[step_run_id.as_uuid()],
        )
        .await?
        .and_then(|row| Some((row.get(0), row.get::<_, Option<String>>(1)?))))
}
