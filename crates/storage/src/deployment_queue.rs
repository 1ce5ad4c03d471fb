//! The queue of deployments per project and environment (one runs at a time, the rest wait
//! in order), and the history lifecycles and rollbacks read: where a release succeeded, and
//! what succeeded in an environment before.

use ferry_domain::{DeploymentId, EnvironmentId, EnvironmentName, ProjectId, ReleaseId};

use crate::deployments::{DEPLOYMENT_COLUMNS, LockedRow, locked_row};
use crate::{CachedQueries, GenericClient, StorageError, id, parsed};

/// Serialises everything that decides which deployment of a project and environment runs:
/// creating one, finishing one and starting the next take this transaction-scoped lock.
pub async fn lock_project_environment(
    client: &impl GenericClient,
    project_id: ProjectId,
    environment_id: EnvironmentId,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "SELECT pg_advisory_xact_lock(hashtextextended(($1::uuid)::text || '/' || ($2::uuid)::text, 0))",
            &[project_id.as_uuid(), environment_id.as_uuid()],
        )
        .await?;
    Ok(())
}

/// The project and environment of a deployment (they never change), with their lock taken,
/// in one statement, before the caller locks the deployment's row (one round trip on every
/// result). `None` (and no lock) when the deployment does not exist. Lock order everywhere:
/// project+environment lock, deployment row, then its interruptions.
pub async fn lock_pair_of(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
) -> Result<Option<(ProjectId, EnvironmentId)>, StorageError> {
    Ok(client
        .query_opt_cached(
            "SELECT project_id, environment_id,
                    pg_advisory_xact_lock(hashtextextended(project_id::text || '/' || environment_id::text, 0))::text
             FROM deployments WHERE deployment_id = $1",
            &[deployment_id.as_uuid()],
        )
        .await?
        .map(|row| (id(&row, 0), id(&row, 1))))
}

/// The deployment of this project and environment that has started and not finished, if any
/// (at most one exists).
pub async fn active(
    client: &impl GenericClient,
    project_id: ProjectId,
    environment_id: EnvironmentId,
) -> Result<Option<DeploymentId>, StorageError> {
    Ok(client
        .query_opt_cached(
            "SELECT deployment_id FROM deployments
             WHERE project_id = $1 AND environment_id = $2
               AND status IN ('Running', 'WaitingForIntervention')
             LIMIT 1",
            &[project_id.as_uuid(), environment_id.as_uuid()],
        )
        .await?
        .map(|row| id(&row, 0)))
}

/// The oldest queued deployment of this project and environment, locked. Only its id is
/// read, so a queued deployment whose other columns are damaged still has its turn (and is
/// failed in it) instead of blocking the line.
pub async fn next_queued(
    client: &impl GenericClient,
    project_id: ProjectId,
    environment_id: EnvironmentId,
) -> Result<Option<DeploymentId>, StorageError> {
    Ok(client
        .query_opt_cached(
            "SELECT deployment_id FROM deployments
             WHERE project_id = $1 AND environment_id = $2 AND status = 'Queued'
             ORDER BY created_at, deployment_id LIMIT 1 FOR UPDATE",
            &[project_id.as_uuid(), environment_id.as_uuid()],
        )
        .await?
        .map(|row| id(&row, 0)))
}

/// A deployment that is still queued, locked; `None` when it is not queued any more.
pub async fn lock_queued(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
) -> Result<Option<LockedRow>, StorageError> {
    client
        .query_opt_cached(
            &format!(
                "SELECT {DEPLOYMENT_COLUMNS}, clock_timestamp(), d.state_version FROM deployments d
                 WHERE d.deployment_id = $1 AND d.status = 'Queued' FOR UPDATE"
            ),
            &[deployment_id.as_uuid()],
        )
        .await?
        .as_ref()
        .map(locked_row)
        .transpose()
}

/// Names of the environments where this release has a successful deployment.
pub async fn succeeded_environments(
    client: &impl GenericClient,
    release_id: ReleaseId,
) -> Result<Vec<EnvironmentName>, StorageError> {
    client
        .query_cached(
            "SELECT DISTINCT e.name FROM deployments d
             JOIN environments e ON e.environment_id = d.environment_id
             WHERE d.release_id = $1 AND d.status = 'Success'",
            &[release_id.as_uuid()],
        )
        .await?
        .iter()
        .map(|row| parsed(row, 0, "environments.name"))
        .collect()
}

pub use ferry_domain::deployment::rules::SuccessfulDeployment;

/// Successful deployments of a project to an environment, newest first.
pub async fn successful_history(
    client: &impl GenericClient,
    project_id: ProjectId,
    environment_id: EnvironmentId,
) -> Result<Vec<SuccessfulDeployment>, StorageError> {
    client
        .query_cached(
            "SELECT d.deployment_id, d.release_id, r.release_number, r.created_at FROM deployments d
             JOIN releases r ON r.release_id = d.release_id
             WHERE d.project_id = $1 AND d.environment_id = $2 AND d.status = 'Success'
             ORDER BY d.finished_at DESC, d.created_at DESC LIMIT 200",
            &[project_id.as_uuid(), environment_id.as_uuid()],
        )
        .await?
        .iter()
        .map(|row| {
            Ok(SuccessfulDeployment {
                deployment_id: id(row, 0),
                release_id: id(row, 1),
                release_number: parsed(row, 2, "releases.release_number")?,
                release_created_at: row.get(3),
            })
        })
        .collect()
}
