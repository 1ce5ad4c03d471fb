//! Deployments and their step runs: inserting them, loading and locking them, and writing the
//! new state the deployment state machine computed.

use std::collections::BTreeMap;

use crate::CachedQueries;
use chrono::{DateTime, Utc};
use ferry_domain::{
    DeploymentId, DeploymentStatus, EnvironmentId, EnvironmentName, ProjectId, ProjectName,
    ReleaseId, ReleaseNumber, StepName, StepRunId, StepStatus,
};
use uuid::Uuid;

use crate::{GenericClient, StorageError, id, optional_id, parsed};

pub use crate::deployment_queue::*;

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
     exit_code, error, dispatched_at, started_at, finished_at, failure_ignored, outputs";

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
    step_names: &[StepName],
) -> Result<Inserted, StorageError> {
    let excluded_steps: Vec<&str> = deployment
        .excluded_steps
        .iter()
        .map(StepName::as_str)
        .collect();
    let row = client
        .query_one_cached(
            "INSERT INTO deployments (deployment_id, release_id, project_id, environment_id, status,
                 created_at, guided_failure, excluded_steps, rollback_of, variables)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, r.variables FROM releases r WHERE r.release_id = $2
             RETURNING variables",
            &[
                deployment.deployment_id.as_uuid(),
                deployment.release_id.as_uuid(),
                deployment.project_id.as_uuid(),
                deployment.environment_id.as_uuid(),
                &deployment.status.as_str(),
                &deployment.created_at,
                &deployment.guided_failure,
                &excluded_steps,
                &deployment.rollback_of.map(DeploymentId::into_uuid),
            ],
        )
        .await?;
    let variables = crate::json_column(row.get(0), "deployment variables")?;
    let ids: Vec<Uuid> = step_names.iter().map(|_| Uuid::now_v7()).collect();
    let indexes: Vec<i32> = (0..step_names.len() as i32).collect();
    let names: Vec<&str> = step_names.iter().map(StepName::as_str).collect();
    client
        .execute_cached(
            "INSERT INTO step_runs (step_run_id, deployment_id, step_index, name, status)
             SELECT id, $2, step_index, name, 'Pending'
             FROM unnest($1::uuid[], $3::int4[], $4::text[]) AS s(id, step_index, name)",
            &[&ids, deployment.deployment_id.as_uuid(), &indexes, &names],
        )
        .await?;
    let step_runs = ids
        .iter()
        .zip(step_names)
        .zip(indexes)
        .map(|((step_run_id, name), index)| StepRun {
            step_run_id: StepRunId::from(*step_run_id),
            deployment_id: deployment.deployment_id,
            step_index: index,
            name: name.clone(),
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
    deployment_id: DeploymentId,
) -> Result<Option<Deployment>, StorageError> {
    client
        .query_opt_cached(
            &format!("SELECT {DEPLOYMENT_COLUMNS} FROM deployments d WHERE d.deployment_id = $1 FOR UPDATE"),
            &[deployment_id.as_uuid()],
        )
        .await?
        .as_ref()
        .map(deployment_from_row)
        .transpose()
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
                "SELECT {STEP_COLUMNS} FROM step_runs WHERE deployment_id = $1 ORDER BY step_index"
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

/// Ends a deployment that can never start (its stored data is broken), outside the state
/// machine, which needs that data: Failed with the reason, its unfinished steps Abandoned.
pub async fn fail_unreadable(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    reason: &str,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE deployments SET status = 'Failed', error = $2, finished_at = now()
             WHERE deployment_id = $1",
            &[deployment_id.as_uuid(), &reason],
        )
        .await?;
    client
        .execute_cached(
            "UPDATE step_runs SET status = 'Abandoned', error = $2, finished_at = now()
             WHERE deployment_id = $1 AND status IN ('Pending', 'Running')",
            &[deployment_id.as_uuid(), &reason],
        )
        .await?;
    Ok(())
}

/// Cancels a deployment that cannot be loaded, outside the state machine (which needs its
/// data): Canceled, its running step Canceled and pending ones Abandoned (each "cancelled by
/// …"), its open interruption closed.
pub async fn cancel_unreadable(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    cancelled_by: &str,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE deployments SET status = 'Canceled', error = 'the deployment was cancelled',
                 finished_at = now()
             WHERE deployment_id = $1",
            &[deployment_id.as_uuid()],
        )
        .await?;
    client
        .execute_cached(
            "UPDATE step_runs SET error = $2, finished_at = coalesce(finished_at, now()),
                 status = CASE status WHEN 'Running' THEN 'Canceled' ELSE 'Abandoned' END
             WHERE deployment_id = $1 AND status IN ('Pending', 'Running')",
            &[
                deployment_id.as_uuid(),
                &format!("cancelled by {cancelled_by}"),
            ],
        )
        .await?;
    crate::interruptions::close_all(client, deployment_id, cancelled_by).await
}

/// The part of a deployment that changes as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentProgress<'a> {
    pub status: DeploymentStatus,
    pub error: Option<&'a str>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Writes a deployment's new status, error and times.
pub async fn save_progress(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    progress: &DeploymentProgress<'_>,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE deployments SET status = $2, error = $3, started_at = $4, finished_at = $5
             WHERE deployment_id = $1",
            &[
                deployment_id.as_uuid(),
                &progress.status.as_str(),
                &progress.error,
                &progress.started_at,
                &progress.finished_at,
            ],
        )
        .await?;
    Ok(())
}

/// The part of a step run that changes as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepProgress<'a> {
    pub step_run_id: StepRunId,
    pub status: StepStatus,
    pub attempt: i32,
    pub exit_code: Option<i32>,
    pub error: Option<&'a str>,
    pub failure_ignored: bool,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outputs: &'a BTreeMap<String, String>,
}

/// Writes the new state of the step runs that changed, in one statement.
pub async fn save_step_progress(
    client: &impl GenericClient,
    steps: &[StepProgress<'_>],
) -> Result<(), StorageError> {
    if steps.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = steps
        .iter()
        .map(|step| step.step_run_id.into_uuid())
        .collect();
    let statuses: Vec<&str> = steps.iter().map(|step| step.status.as_str()).collect();
    let attempts: Vec<i32> = steps.iter().map(|step| step.attempt).collect();
    let exit_codes: Vec<Option<i32>> = steps.iter().map(|step| step.exit_code).collect();
    let errors: Vec<Option<&str>> = steps.iter().map(|step| step.error).collect();
    let ignored: Vec<bool> = steps.iter().map(|step| step.failure_ignored).collect();
    let dispatched: Vec<Option<DateTime<Utc>>> =
        steps.iter().map(|step| step.dispatched_at).collect();
    let started: Vec<Option<DateTime<Utc>>> = steps.iter().map(|step| step.started_at).collect();
    let finished: Vec<Option<DateTime<Utc>>> = steps.iter().map(|step| step.finished_at).collect();
    let outputs = steps
        .iter()
        .map(|step| serde_json::to_value(step.outputs))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| StorageError::Corrupt(error.to_string()))?;
    client
        .execute_cached(
            "UPDATE step_runs s SET status = u.status, attempt = u.attempt, exit_code = u.exit_code,
                 error = u.error, failure_ignored = u.failure_ignored,
                 dispatched_at = u.dispatched_at, started_at = u.started_at,
                 finished_at = u.finished_at, outputs = u.outputs
             FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::int4[], $5::text[], $6::bool[],
                         $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::jsonb[])
                 AS u(step_run_id, status, attempt, exit_code, error, failure_ignored,
                      dispatched_at, started_at, finished_at, outputs)
             WHERE s.step_run_id = u.step_run_id",
            &[
                &ids,
                &statuses,
                &attempts,
                &exit_codes,
                &errors,
                &ignored,
                &dispatched,
                &started,
                &finished,
                &outputs,
            ],
        )
        .await?;
    Ok(())
}
