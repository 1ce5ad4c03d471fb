//! Projects: a name, a deployment process, variables and where status emails go.

use crate::CachedQueries;

use ferry_domain::variables::VariableSet;
use ferry_domain::{EmailAddress, LifecycleId, Process, ProjectId, ProjectName, WorkerPool};
use uuid::Uuid;

use crate::paging::{Page, PageRequest};
use crate::{GenericClient, StorageError, id, json_column, optional_id, optional_parsed, parsed};

#[derive(Debug, Clone)]
pub struct Project {
    pub project_id: ProjectId,
    pub name: ProjectName,
    pub process: Process,
    /// Scoped values; sensitive ones hold ciphertext.
    pub variables: VariableSet<String>,
    pub notification_email: Option<EmailAddress>,
    pub worker_pool: WorkerPool,
    /// `None`: the default lifecycle.
    pub lifecycle_id: Option<LifecycleId>,
    /// `None`: follow the environment's guided-failure setting.
    pub guided_failure: Option<bool>,
}

/// A validated project, ready to insert.
#[derive(Debug, Clone)]
pub struct NewProject {
    pub name: ProjectName,
    pub process: Process,
    /// Scoped values; sensitive ones already encrypted.
    pub variables: VariableSet<String>,
    pub notification_email: Option<EmailAddress>,
    pub worker_pool: WorkerPool,
    pub lifecycle_id: Option<LifecycleId>,
    pub guided_failure: Option<bool>,
}

pub async fn insert(
    client: &impl GenericClient,
    project: &NewProject,
) -> Result<Project, StorageError> {
    let project_id = ProjectId::from(Uuid::now_v7());
    let process = serde_json::to_value(&project.process)
        .map_err(|error| StorageError::Corrupt(error.to_string()))?;
    let variables = serde_json::to_value(&project.variables)
        .map_err(|error| StorageError::Corrupt(error.to_string()))?;
    let email = project
        .notification_email
        .as_ref()
        .map(EmailAddress::as_str);
    client
        .execute_cached(
            "INSERT INTO projects (project_id, name, process, variables, notification_email, worker_pool,
                 lifecycle_id, guided_failure)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                project_id.as_uuid(),
                &project.name.as_str(),
                &process,
                &variables,
                &email,
                &project.worker_pool.as_str(),
                &project.lifecycle_id.map(LifecycleId::into_uuid),
                &project.guided_failure,
            ],
        )
        .await
        .map_err(|error| StorageError::conflict_or(error, || format!("project `{}`", project.name)))?;
    Ok(Project {
        project_id,
        name: project.name.clone(),
        process: project.process.clone(),
        variables: project.variables.clone(),
        notification_email: project.notification_email.clone(),
        worker_pool: project.worker_pool.clone(),
        lifecycle_id: project.lifecycle_id,
        guided_failure: project.guided_failure,
    })
}

/// Replaces a project's process, variables and settings. Existing releases keep their
/// snapshots.
pub async fn update(
    client: &impl GenericClient,
    project_id: ProjectId,
    project: &NewProject,
) -> Result<(), StorageError> {
    let process = serde_json::to_value(&project.process)
        .map_err(|error| StorageError::Corrupt(error.to_string()))?;
    let variables = serde_json::to_value(&project.variables)
        .map_err(|error| StorageError::Corrupt(error.to_string()))?;
    let email = project
        .notification_email
        .as_ref()
        .map(EmailAddress::as_str);
    let updated = client
        .execute_cached(
            "UPDATE projects SET name = $2, process = $3, variables = $4, notification_email = $5,
                 worker_pool = $6, lifecycle_id = $7, guided_failure = $8, updated_at = now()
             WHERE project_id = $1",
            &[
                project_id.as_uuid(),
                &project.name.as_str(),
                &process,
                &variables,
                &email,
                &project.worker_pool.as_str(),
                &project.lifecycle_id.map(LifecycleId::into_uuid),
                &project.guided_failure,
            ],
        )
        .await
        .map_err(|error| {
            StorageError::conflict_or(error, || format!("project `{}`", project.name))
        })?;
    if updated == 0 {
        return Err(StorageError::Missing(format!("project {project_id}")));
    }
    Ok(())
}

const COLUMNS: &str = "project_id, name, process, variables, notification_email, worker_pool, \
     lifecycle_id, guided_failure";

fn from_row(row: &tokio_postgres::Row) -> Result<Project, StorageError> {
    Ok(Project {
        project_id: id(row, 0),
        name: parsed(row, 1, "projects.name")?,
        process: json_column(row.get(2), "project process")?,
        variables: json_column(row.get(3), "project variables")?,
        notification_email: optional_parsed(row, 4, "projects.notification_email")?,
        worker_pool: parsed(row, 5, "projects.worker_pool")?,
        lifecycle_id: optional_id(row, 6),
        guided_failure: row.get(7),
    })
}

/// Finds a project by id or by name (case-insensitive).
pub async fn find(
    client: &impl GenericClient,
    id_or_name: &str,
) -> Result<Option<Project>, StorageError> {
    if let Ok(project_id) = id_or_name.parse::<ProjectId>() {
        return find_by_id(client, project_id).await;
    }
    client
        .query_opt_cached(
            &format!("SELECT {COLUMNS} FROM projects WHERE lower(name) = lower($1)"),
            &[&id_or_name],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn find_by_id(
    client: &impl GenericClient,
    project_id: ProjectId,
) -> Result<Option<Project>, StorageError> {
    client
        .query_opt_cached(
            &format!("SELECT {COLUMNS} FROM projects WHERE project_id = $1"),
            &[project_id.as_uuid()],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A page of projects by name; `None` when the cursor names no project.
pub async fn list(
    client: &impl GenericClient,
    page: &PageRequest<ProjectId>,
) -> Result<Option<Page<Project>>, StorageError> {
    let after: Option<String> = match page.after {
        None => None,
        Some(cursor) => match client
            .query_opt_cached(
                "SELECT name FROM projects WHERE project_id = $1",
                &[cursor.as_uuid()],
            )
            .await?
        {
            Some(row) => Some(row.get(0)),
            None => return Ok(None),
        },
    };
    let items = client
        .query_cached(
            &format!(
                "SELECT {COLUMNS} FROM projects WHERE $1::text IS NULL OR name > $1
                 ORDER BY name LIMIT $2"
            ),
            &[&after, &page.fetch()],
        )
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Page::from_rows(items, page)))
}

/// Every worker pool a project names (the API declares each one's queue and exchange).
pub async fn worker_pools(client: &impl GenericClient) -> Result<Vec<String>, StorageError> {
    Ok(client
        .query_cached("SELECT DISTINCT worker_pool FROM projects", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect())
}
