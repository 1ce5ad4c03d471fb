//! Finding what a request names — a project, a release, an environment — and answering 422
//! naming the field when it does not exist; and the lifecycle check every deployment and
//! preview goes through (the rule itself is `ferry_domain::lifecycle::may_deploy`).

use ferry_domain::lifecycle::{Lifecycle, may_deploy};
use ferry_domain::{EnvironmentName, LifecycleId, ProjectId, ReleaseNumber};
use ferry_storage::environments::Environment;
use ferry_storage::projects::Project;
use ferry_storage::releases::Release;
use ferry_storage::{
    GenericClient, StorageError, deployment_queue, environments, lifecycles, projects, releases,
};

use crate::error::ApiError;

/// The project a request names in its `project` field, or a 422 saying it does not exist.
pub async fn named_project(
    client: &impl GenericClient,
    project: &str,
) -> Result<Project, ApiError> {
    projects::find(client, project)
        .await?
        .ok_or_else(|| ApiError::invalid("project", format!("project `{project}` does not exist")))
}

/// The environment a request names in its `environment` field, or a 422 saying it does not
/// exist.
pub async fn named_environment(
    client: &impl GenericClient,
    environment: &str,
) -> Result<Environment, ApiError> {
    environments::find(client, environment)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "environment",
                format!("environment `{environment}` does not exist"),
            )
        })
}

/// What a deployment request names: its project, release and environment.
pub struct DeploymentTarget {
    pub project: Project,
    pub release: Release,
    pub environment: Environment,
}

/// Loads what a deployment request names, answering 422 for what does not exist.
pub async fn deployment_target(
    client: &impl GenericClient,
    project: &str,
    release_number: &str,
    environment: &str,
) -> Result<DeploymentTarget, ApiError> {
    let project = named_project(client, project).await?;
    let release = release_numbered(client, project.project_id, release_number)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "release_number",
                format!(
                    "release {release_number} of project `{}` does not exist",
                    project.name
                ),
            )
        })?;
    let environment = named_environment(client, environment).await?;
    Ok(DeploymentTarget {
        project,
        release,
        environment,
    })
}

/// Refuses a deployment the project's lifecycle does not allow yet, naming the phase.
pub async fn check_lifecycle(
    client: &impl GenericClient,
    target: &DeploymentTarget,
) -> Result<(), ApiError> {
    let DeploymentTarget {
        project,
        release,
        environment,
    } = target;
    let lifecycle = effective_lifecycle(client, project.lifecycle_id).await?;
    let succeeded = deployment_queue::succeeded_environments(client, release.release_id).await?;
    may_deploy(&lifecycle, environment.name.as_str(), &succeeded).map_err(|refusal| {
        ApiError::Conflict(format!(
            "release {} of `{}` cannot be deployed to {} yet: {refusal}",
            release.release_number, project.name, environment.name
        ))
    })
}

/// The lifecycle a project follows: its own, or the default one over every environment.
pub async fn effective_lifecycle(
    client: &impl GenericClient,
    lifecycle_id: Option<LifecycleId>,
) -> Result<Lifecycle, ApiError> {
    match lifecycle_id {
        Some(id) => Ok(lifecycles::find_by_id(client, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("lifecycle `{id}` does not exist")))?
            .lifecycle),
        None => {
            let names: Vec<EnvironmentName> = environments::all(client)
                .await?
                .into_iter()
                .map(|environment| environment.name)
                .collect();
            Ok(Lifecycle::default_for(&names))
        }
    }
}

/// A project's release by the number a request gave, `None` when it has none; also when the
/// text is not a release number at all, since no release can be numbered so.
pub async fn release_numbered(
    client: &impl GenericClient,
    project_id: ProjectId,
    release_number: &str,
) -> Result<Option<Release>, StorageError> {
    match ReleaseNumber::parse(release_number) {
        Ok(release_number) => releases::find(client, project_id, &release_number).await,
        Err(_) => Ok(None),
    }
}
