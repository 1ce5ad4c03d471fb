//! Deployments, their step runs, and their task logs.

use std::collections::BTreeMap;

use crate::CachedQueries;
use chrono::{DateTime, Utc};
use ferry_contracts::LogLine;
use ferry_domain::{DeploymentStatus, StepStatus};
use uuid::Uuid;

use crate::{GenericClient, StorageError};

pub use crate::deployment_queue::*;

#[derive(Debug, Clone)]
pub struct Deployment {
    pub deployment_id: Uuid,
    pub release_id: Uuid,
    pub project_id: Uuid,
    pub environment_id: Uuid,
    pub status: DeploymentStatus,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Whether a failed step pauses for a person's decision (fixed at creation).
    pub guided_failure: bool,
    /// Names of the steps the creator excluded.
    pub excluded_steps: Vec<String>,
    /// The deployment this one rolls back from, if it is a rollback.
    pub rollback_of: Option<Uuid>,
}

/// A deployment with the names a person reads.
#[derive(Debug, Clone)]
pub struct DeploymentSummary {
    pub deployment: Deployment,
    pub project_name: String,
    pub release_number: String,
    pub environment_name: String,
}

#[derive(Debug, Clone)]
pub struct StepRun {
    pub step_run_id: Uuid,
    pub deployment_id: Uuid,
    pub step_index: i32,
    pub name: String,
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
}

/// One line of a deployment's task log as stored.
#[derive(Debug, Clone)]
pub struct StoredLogLine {
    pub step_run_id: Option<Uuid>,
    pub attempt: i32,
    pub stream: String,
    pub logged_at: DateTime<Utc>,
    pub text: String,
}

pub(crate) const DEPLOYMENT_COLUMNS: &str = "d.deployment_id, d.release_id, d.project_id, d.environment_id, \
     d.status, d.error, d.created_at, d.started_at, d.finished_at, d.guided_failure, \
     d.excluded_steps, d.rollback_of";

pub(crate) fn deployment_from_row(row: &tokio_postgres::Row) -> Result<Deployment, StorageError> {
    let status: String = row.get(4);
    Ok(Deployment {
        deployment_id: row.get(0),
        release_id: row.get(1),
        project_id: row.get(2),
        environment_id: row.get(3),
        status: status
            .parse()
            .map_err(|error| StorageError::Corrupt(format!("deployment status: {error}")))?,
        error: row.get(5),
        created_at: row.get(6),
        started_at: row.get(7),
        finished_at: row.get(8),
        guided_failure: row.get(9),
        excluded_steps: row.get(10),
        rollback_of: row.get(11),
    })
}

const STEP_COLUMNS: &str = "step_run_id, deployment_id, step_index, name, status, attempt, \
     exit_code, error, dispatched_at, started_at, finished_at, failure_ignored, outputs";

fn step_from_row(row: &tokio_postgres::Row) -> Result<StepRun, StorageError> {
    let status: String = row.get(4);
    Ok(StepRun {
        step_run_id: row.get(0),
        deployment_id: row.get(1),
        step_index: row.get(2),
        name: row.get(3),
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
    })
}

/// A deployment just inserted: its step runs, and the variables it took from its release
/// (read in the same statement, so no later *update variables* can come between).
#[derive(Debug, Clone)]
pub struct Inserted {
    pub step_runs: Vec<StepRun>,
    pub variables: ferry_domain::variables::VariableSet<String>,
}

/// Inserts a queued deployment with one pending step run per step name.
pub async fn insert(
    client: &impl GenericClient,
    deployment: &Deployment,
    step_names: &[&str],
) -> Result<Inserted, StorageError> {
    let row = client
        .query_one_cached(
            "INSERT INTO deployments (deployment_id, release_id, project_id, environment_id, status,
                 created_at, guided_failure, excluded_steps, rollback_of, variables)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, r.variables FROM releases r WHERE r.release_id = $2
             RETURNING variables",
            &[
                &deployment.deployment_id,
                &deployment.release_id,
                &deployment.project_id,
                &deployment.environment_id,
                &deployment.status.as_str(),
                &deployment.created_at,
                &deployment.guided_failure,
                &deployment.excluded_steps,
                &deployment.rollback_of,
            ],
        )
        .await?;
    let variables = crate::json_column(row.get(0), "deployment variables")?;
    let ids: Vec<Uuid> = step_names.iter().map(|_| Uuid::now_v7()).collect();
    let indexes: Vec<i32> = (0..step_names.len() as i32).collect();
    client
        .execute_cached(
            "INSERT INTO step_runs (step_run_id, deployment_id, step_index, name, status)
             SELECT id, $2, step_index, name, 'Pending'
             FROM unnest($1::uuid[], $3::int4[], $4::text[]) AS s(id, step_index, name)",
            &[&ids, &deployment.deployment_id, &indexes, &step_names],
        )
        .await?;
    let step_runs = ids
        .iter()
        .zip(step_names)
        .zip(indexes)
        .map(|((id, name), index)| StepRun {
            step_run_id: *id,
            deployment_id: deployment.deployment_id,
            step_index: index,
            name: (*name).to_owned(),
            status: StepStatus::Pending,
            attempt: 0,
            exit_code: None,
            error: None,
            dispatched_at: None,
            started_at: None,
            finished_at: None,
            failure_ignored: false,
            outputs: BTreeMap::new(),
        })
        .collect();
    Ok(Inserted {
        step_runs,
        variables,
    })
}

/// Loads a deployment and locks its row until the transaction ends, so that events for the
/// same deployment are applied one after another.
pub async fn lock(
    client: &impl GenericClient,
    deployment_id: Uuid,
) -> Result<Option<Deployment>, StorageError> {
    client
        .query_opt_cached(
            &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE d.deployment_id = $1 FOR UPDATE"),
            &[&deployment_id],
        )
        .await?
        .as_ref()
        .map(deployment_from_row)
        .transpose()
}

pub async fn summary(
    client: &impl GenericClient,
    deployment_id: Uuid,
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
            &[&deployment_id],
        )
        .await?;
    row.map(|row| {
        Ok(DeploymentSummary {
            deployment: deployment_from_row(&row)?,
            project_name: row.get(12),
            release_number: row.get(13),
            environment_name: row.get(14),
        })
    })
    .transpose()
}

pub async fn step_runs(
    client: &impl GenericClient,
    deployment_id: Uuid,
) -> Result<Vec<StepRun>, StorageError> {
    client
        .query_cached(
            &format!(
                "SELECT {STEP_COLUMNS} FROM step_runs WHERE deployment_id = $1 ORDER BY step_index"
            ),
            &[&deployment_id],
        )
        .await?
        .iter()
        .map(step_from_row)
        .collect()
}

/// Marks a deployment running (first dispatch).
pub async fn mark_running(
    client: &impl GenericClient,
    deployment_id: Uuid,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE deployments SET status = 'Running', started_at = coalesce(started_at, now())
             WHERE deployment_id = $1",
            &[&deployment_id],
        )
        .await?;
    Ok(())
}

pub async fn finish(
    client: &impl GenericClient,
    deployment_id: Uuid,
    status: DeploymentStatus,
    error: Option<&str>,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE deployments SET status = $2, error = $3, finished_at = now() WHERE deployment_id = $1",
            &[&deployment_id, &status.as_str(), &error],
        )
        .await?;
    Ok(())
}

/// Marks a step run dispatched: Running, with its attempt counter incremented. Returns the
/// new attempt number.
pub async fn dispatch_step(
    client: &impl GenericClient,
    step_run_id: Uuid,
) -> Result<i32, StorageError> {
    let row = client
        .query_one_cached(
            "UPDATE step_runs SET status = 'Running', attempt = attempt + 1, dispatched_at = now(),
                 exit_code = NULL, error = NULL
             WHERE step_run_id = $1 RETURNING attempt",
            &[&step_run_id],
        )
        .await?;
    Ok(row.get(0))
}

pub async fn skip_steps(
    client: &impl GenericClient,
    step_run_ids: &[Uuid],
) -> Result<(), StorageError> {
    if step_run_ids.is_empty() {
        return Ok(());
    }
    client
        .execute_cached(
            "UPDATE step_runs SET status = 'Skipped' WHERE step_run_id = ANY($1)",
            &[&step_run_ids],
        )
        .await?;
    Ok(())
}

/// What a worker reported about a finished step.
#[derive(Debug, Clone)]
pub struct StepResult<'a> {
    pub status: StepStatus,
    pub exit_code: Option<i32>,
    pub error: Option<&'a str>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

pub async fn finish_step(
    client: &impl GenericClient,
    step_run_id: Uuid,
    result: &StepResult<'_>,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE step_runs SET status = $2, exit_code = $3, error = $4, started_at = $5, finished_at = $6
             WHERE step_run_id = $1",
            &[
                &step_run_id,
                &result.status.as_str(),
                &result.exit_code,
                &result.error,
                &result.started_at,
                &result.finished_at,
            ],
        )
        .await?;
    Ok(())
}

/// Appends a worker's log lines; lines already stored (same step run, attempt and sequence)
/// are left as they are.
pub async fn append_step_log(
    client: &impl GenericClient,
    deployment_id: Uuid,
    step_run_id: Uuid,
    attempt: i32,
    lines: &[LogLine],
) -> Result<(), StorageError> {
    if lines.is_empty() {
        return Ok(());
    }
    let sequences: Vec<i64> = lines.iter().map(|line| line.sequence).collect();
    let streams: Vec<&str> = lines.iter().map(|line| line.stream.as_str()).collect();
    let times: Vec<DateTime<Utc>> = lines.iter().map(|line| line.logged_at).collect();
    let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    client
        .execute_cached(
            "INSERT INTO log_lines (deployment_id, step_run_id, attempt, sequence, stream, logged_at, text)
             SELECT $1, $2, $3, sequence, stream, logged_at, text
             FROM unnest($4::int8[], $5::text[], $6::timestamptz[], $7::text[])
                 AS l(sequence, stream, logged_at, text)
             ORDER BY sequence
             ON CONFLICT (step_run_id, attempt, sequence) WHERE step_run_id IS NOT NULL DO NOTHING",
            &[&deployment_id, &step_run_id, &attempt, &sequences, &streams, &times, &texts],
        )
        .await?;
    Ok(())
}

/// Appends a line Ferry writes about the deployment itself.
pub async fn append_system_log(
    client: &impl GenericClient,
    deployment_id: Uuid,
    text: &str,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "INSERT INTO log_lines (deployment_id, stream, logged_at, text) VALUES ($1, 'system', now(), $2)",
            &[&deployment_id, &text],
        )
        .await?;
    Ok(())
}

/// The whole task log of a deployment, in the order it was written.
pub async fn task_log(
    client: &impl GenericClient,
    deployment_id: Uuid,
) -> Result<Vec<StoredLogLine>, StorageError> {
    let rows = client
        .query_cached(
            "SELECT step_run_id, attempt, stream, logged_at, text FROM log_lines
             WHERE deployment_id = $1 ORDER BY log_line_id",
            &[&deployment_id],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| StoredLogLine {
            step_run_id: row.get(0),
            attempt: row.get(1),
            stream: row.get(2),
            logged_at: row.get(3),
            text: row.get(4),
        })
        .collect())
}

/// Records a worker's output variables for a step run.
pub async fn record_outputs(
    client: &impl GenericClient,
    step_run_id: Uuid,
    outputs: &BTreeMap<String, String>,
) -> Result<(), StorageError> {
    if outputs.is_empty() {
        return Ok(());
    }
    let outputs =
        serde_json::to_value(outputs).map_err(|error| StorageError::Corrupt(error.to_string()))?;
    client
        .execute_cached(
            "UPDATE step_runs SET outputs = outputs || $2 WHERE step_run_id = $1",
            &[&step_run_id, &outputs],
        )
        .await?;
    Ok(())
}

/// Sets a step run's status (and error), for decisions made by people or by cancelling.
pub async fn set_step_status(
    client: &impl GenericClient,
    step_run_id: Uuid,
    status: StepStatus,
    error: Option<&str>,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE step_runs SET status = $2, error = coalesce($3, error),
                 finished_at = CASE WHEN $2 IN ('Running', 'Pending') THEN finished_at ELSE coalesce(finished_at, now()) END
             WHERE step_run_id = $1",
            &[&step_run_id, &status.as_str(), &error],
        )
        .await?;
    Ok(())
}

/// Marks a failed step as ignored under guided failure: it counts as succeeded.
pub async fn ignore_failure(
    client: &impl GenericClient,
    step_run_id: Uuid,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE step_runs SET status = 'Succeeded', failure_ignored = true WHERE step_run_id = $1",
            &[&step_run_id],
        )
        .await?;
    Ok(())
}

/// Sets the status of a deployment that has not finished.
pub async fn set_status(
    client: &impl GenericClient,
    deployment_id: Uuid,
    status: DeploymentStatus,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE deployments SET status = $2, started_at = CASE WHEN $2 = 'Queued' THEN started_at ELSE coalesce(started_at, now()) END
             WHERE deployment_id = $1",
            &[&deployment_id, &status.as_str()],
        )
        .await?;
    Ok(())
}
