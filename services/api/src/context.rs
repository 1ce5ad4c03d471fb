//! What a deployment involves besides its own state: its release (with the variables the
//! deployment took), its project, environment and worker pool. A leaf module: it knows
//! storage rows, and nothing of orchestration or variables, which both use it.

use ferry_domain::deployment::Facts;
use ferry_domain::{
    DeploymentId, EmailAddress, EnvironmentId, EnvironmentName, ProjectId, ProjectName, WorkerPool,
};
use ferry_storage::environments::Environment;
use ferry_storage::projects::Project;
use ferry_storage::releases::Release;
use ferry_storage::{GenericClient, StorageError};

/// Everything a command on a deployment needs besides its state, loaded once.
#[derive(Debug, Clone)]
pub struct DeploymentContext {
    /// `None` for a preview, which stores nothing.
    pub deployment_id: Option<DeploymentId>,
    pub project_id: ProjectId,
    pub environment_id: EnvironmentId,
    /// The release, with the variables the deployment took when it was created (a later
    /// *update variables* does not reach a deployment already made).
    pub release: Release,
    pub project_name: ProjectName,
    pub notification_email: Option<EmailAddress>,
    pub worker_pool: WorkerPool,
    pub environment_name: EnvironmentName,
}

impl DeploymentContext {
    /// The context of a deployment about to be created (or previewed), from what the request
    /// named.
    pub fn new(
        deployment_id: Option<DeploymentId>,
        project: &Project,
        release: Release,
        environment: &Environment,
    ) -> Self {
        DeploymentContext {
            deployment_id,
            project_id: project.project_id,
            environment_id: environment.environment_id,
            release,
            project_name: project.name.clone(),
            notification_email: project.notification_email.clone(),
            worker_pool: project.worker_pool.clone(),
            environment_name: environment.name.clone(),
        }
    }

    /// The context of a stored deployment, in one query.
    pub async fn load(
        client: &impl GenericClient,
        deployment_id: DeploymentId,
        project_id: ProjectId,
        environment_id: EnvironmentId,
    ) -> Result<Self, StorageError> {
        let found = ferry_storage::releases::of_deployment(client, deployment_id)
            .await?
            .ok_or_else(|| StorageError::Missing(format!("deployment {deployment_id}")))?;
        Ok(DeploymentContext {
            deployment_id: Some(deployment_id),
            project_id,
            environment_id,
            release: found.release,
            project_name: found.project_name,
            notification_email: found.notification_email,
            worker_pool: found.worker_pool,
            environment_name: found.environment_name,
        })
    }

    /// The names the state machine writes in the task log.
    pub fn facts(&self) -> Facts {
        Facts {
            project_name: self.project_name.clone(),
            release_number: self.release.release_number.clone(),
            environment_name: self.environment_name.clone(),
            worker_pool: self.worker_pool.clone(),
        }
    }
}

/// The page where people follow a deployment.
pub fn status_url(public_url: &str, deployment_id: DeploymentId) -> String {
    format!(
        "{}/deployments/{deployment_id}",
        public_url.trim_end_matches('/')
    )
}
