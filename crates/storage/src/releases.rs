//! Releases: immutable snapshots of a project's process, variables and package versions.

use crate::CachedQueries;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_domain::Process;
use ferry_domain::variables::VariableSet;
use ferry_domain::{
    DeploymentId, EmailAddress, EnvironmentName, PackageId, PackageVersion, ProjectId, ProjectName,
    ReleaseId, ReleaseNumber, WorkerPool,
};
use serde::{Deserialize, Serialize};

use crate::paging::{Page, PageRequest};
use crate::{GenericClient, StorageError, id, json_column, optional_parsed, parsed};

/// The package version a release pinned for one package id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasePackage {
    pub version: PackageVersion,
    pub format: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub object_key: String,
}

#[derive(Debug, Clone)]
pub struct Release {
    pub release_id: ReleaseId,
    pub project_id: ProjectId,
    pub release_number: ReleaseNumber,
    pub notes: Option<String>,
    pub process: Process,
    /// The project's scoped variables when the release was created (or last re-snapshotted);
    /// sensitive values hold ciphertext.
    pub variables: VariableSet<String>,
    /// package id -> pinned version.
    pub packages: BTreeMap<PackageId, ReleasePackage>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "release_id, project_id, release_number, notes, process, variables, packages, created_at";

fn from_row(row: &tokio_postgres::Row) -> Result<Release, StorageError> {
    Ok(Release {
        release_id: id(row, 0),
        project_id: id(row, 1),
        release_number: parsed(row, 2, "releases.release_number")?,
        notes: row.get(3),
        process: json_column(row.get(4), "release process")?,
        variables: json_column(row.get(5), "release variables")?,
        packages: json_column(row.get(6), "release packages")?,
        created_at: row.get(7),
    })
}

pub async fn insert(
    client: &impl GenericClient,
    release: &Release,
    project_name: &ProjectName,
) -> Result<(), StorageError> {
    let to_json = |value: serde_json::Result<serde_json::Value>| {
        value.map_err(|error| StorageError::Corrupt(error.to_string()))
    };
    let process = to_json(serde_json::to_value(&release.process))?;
    let variables = to_json(serde_json::to_value(&release.variables))?;
    let packages = to_json(serde_json::to_value(&release.packages))?;
    client
        .execute_cached(
            &format!("INSERT INTO releases ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
            &[
                release.release_id.as_uuid(),
                release.project_id.as_uuid(),
                &release.release_number.to_string(),
                &release.notes,
                &process,
                &variables,
                &packages,
                &release.created_at,
            ],
        )
        .await
        .map_err(|error| {
            StorageError::conflict_or(error, || {
                format!(
                    "release {} of project `{project_name}`",
                    release.release_number
                )
            })
        })?;
    Ok(())
}

pub async fn find(
    client: &impl GenericClient,
    project_id: ProjectId,
    release_number: &ReleaseNumber,
) -> Result<Option<Release>, StorageError> {
    client
        .query_opt_cached(
            &format!(
                "SELECT {COLUMNS} FROM releases WHERE project_id = $1 AND release_number = $2"
            ),
            &[project_id.as_uuid(), &release_number.to_string()],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn find_by_id(
    client: &impl GenericClient,
    release_id: ReleaseId,
) -> Result<Option<Release>, StorageError> {
    client
        .query_opt_cached(
            &format!("SELECT {COLUMNS} FROM releases WHERE release_id = $1"),
            &[release_id.as_uuid()],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// What the orchestration needs about a deployment besides its own row, in one query: its
/// release (with the variables the deployment took at creation), and the names of its
/// project and environment.
#[derive(Debug, Clone)]
pub struct DeploymentRelease {
    pub release: Release,
    pub project_name: ProjectName,
    pub notification_email: Option<EmailAddress>,
    pub worker_pool: WorkerPool,
    pub environment_name: EnvironmentName,
}

pub async fn of_deployment(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
) -> Result<Option<DeploymentRelease>, StorageError> {
    let row = client
        .query_opt_cached(
            "SELECT r.release_id, r.project_id, r.release_number, r.notes, r.process, d.variables,
                    r.packages, r.created_at, p.name, p.notification_email, p.worker_pool, e.name
             FROM deployments d
             JOIN releases r ON r.release_id = d.release_id
             JOIN projects p ON p.project_id = d.project_id
             JOIN environments e ON e.environment_id = d.environment_id
             WHERE d.deployment_id = $1",
            &[deployment_id.as_uuid()],
        )
        .await?;
    row.map(|row| {
        Ok(DeploymentRelease {
            release: from_row(&row)?,
            project_name: parsed(&row, 8, "projects.name")?,
            notification_email: optional_parsed(&row, 9, "projects.notification_email")?,
            worker_pool: parsed(&row, 10, "projects.worker_pool")?,
            environment_name: parsed(&row, 11, "environments.name")?,
        })
    })
    .transpose()
}

/// A page of a project's releases, newest first; `None` when the cursor names no release
/// of that project.
pub async fn list(
    client: &impl GenericClient,
    project_id: ProjectId,
    page: &PageRequest<ReleaseId>,
) -> Result<Option<Page<Release>>, StorageError> {
    let after: Option<(DateTime<Utc>, uuid::Uuid)> = match page.after {
        None => None,
        Some(cursor) => match client
            .query_opt_cached(
                "SELECT created_at, release_id FROM releases
                 WHERE release_id = $1 AND project_id = $2",
                &[cursor.as_uuid(), project_id.as_uuid()],
            )
            .await?
        {
            Some(row) => Some((row.get(0), row.get(1))),
            None => return Ok(None),
        },
    };
    let (created_at, release_id) = after.unzip();
    let items = client
        .query_cached(
            &format!(
                "SELECT {COLUMNS} FROM releases WHERE project_id = $1
                 AND ($2::timestamptz IS NULL OR (created_at, release_id) < ($2, $3::uuid))
                 ORDER BY created_at DESC, release_id DESC LIMIT $4"
            ),
            &[
                project_id.as_uuid(),
                &created_at,
                &release_id,
                &page.fetch(),
            ],
        )
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Page::from_rows(items, page)))
}

/// Replaces a release's variable snapshot with the project's current variables (Octopus's
/// *update variables*). The process and packages stay as they were.
pub async fn update_variables(
    client: &impl GenericClient,
    release_id: ReleaseId,
    variables: &VariableSet<String>,
) -> Result<(), StorageError> {
    let variables = serde_json::to_value(variables)
        .map_err(|error| StorageError::Corrupt(error.to_string()))?;
    client
        .execute_cached(
            "UPDATE releases SET variables = $2, variables_updated_at = now() WHERE release_id = $1",
            &[release_id.as_uuid(), &variables],
        )
        .await?;
    Ok(())
}
