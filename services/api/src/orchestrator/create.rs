//! Creating a deployment: the request's names are looked up, the excluded steps and the
//! lifecycle checked, the deployment recorded with one pending run per step, and the state
//! machine starts it — or queues it behind the deployment of the same project and
//! environment that is still going — all in one transaction with its audit record.

use ferry_domain::deployment::rules::{self, ExclusionError, GuidedFailureSettings};
use ferry_domain::deployment::{
    Command, EnvironmentTarget, Purpose, TargetRef, targets_with_roles,
};
use ferry_domain::{AuditAction, DeploymentId, DeploymentStatus, StepName};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::deployment_queue;
use ferry_storage::deployments::Deployment;
use ferry_storage::{Client, GenericClient, StorageError, progress};
use serde_json::json;
use uuid::Uuid;

use super::drive::{CommandError, commit, drive};
use super::load;
use super::queue::start_stranded;
use crate::AppState;
use crate::actor::Actor;
use crate::context::DeploymentContext;
use crate::error::ApiError;
use crate::lookup::{self, DeploymentTarget};

/// What a person or CI asks to deploy.
#[derive(Debug, Clone)]
pub struct DeploymentRequest {
    /// Project id or name.
    pub project: String,
    pub release_number: String,
    /// Environment id or name.
    pub environment: String,
    /// Steps to leave out (not allowed for required steps).
    pub excluded_steps: Vec<String>,
    /// Overrides the project's and environment's guided-failure setting.
    pub guided_failure: Option<bool>,
}

/// A deployment just recorded.
pub struct Created {
    pub deployment_id: DeploymentId,
    pub target: DeploymentTarget,
}

/// Creates a deployment and starts or queues it.
pub async fn create(
    state: &AppState,
    client: &mut Client,
    actor: &Actor,
    request: DeploymentRequest,
) -> Result<Created, ApiError> {
    let transaction = client.transaction().await?;
    let target = lookup::deployment_target(
        &transaction,
        &request.project,
        &request.release_number,
        &request.environment,
    )
    .await?;
    let recorded = record(
        state,
        &transaction,
        actor,
        NewDeployment {
            target: &target,
            excluded_steps: &request.excluded_steps,
            guided_failure: request.guided_failure,
            purpose: Purpose::Deploy,
            rollback_of: None,
        },
    )
    .await?;
    commit(state, transaction, recorded.wrote_outbox).await?;
    Ok(Created {
        deployment_id: recorded.deployment_id,
        target,
    })
}

/// A deployment to record, whatever asked for it.
pub(super) struct NewDeployment<'a> {
    pub target: &'a DeploymentTarget,
    pub excluded_steps: &'a [String],
    pub guided_failure: Option<bool>,
    pub purpose: Purpose,
    /// The deployment a rollback rolls back from.
    pub rollback_of: Option<DeploymentId>,
}

pub(super) struct Recorded {
    pub deployment_id: DeploymentId,
    pub wrote_outbox: bool,
}

/// Records a deployment in the caller's transaction and hands it to the state machine.
pub(super) async fn record(
    state: &AppState,
    client: &impl GenericClient,
    actor: &Actor,
    new: NewDeployment<'_>,
) -> Result<Recorded, ApiError> {
    let DeploymentTarget {
        project,
        release,
        environment,
    } = new.target;
    let excluded = rules::exclusions(&release.process, new.excluded_steps).map_err(|error| {
        let problem = match &error {
            ExclusionError::UnknownStep { .. } => {
                format!("release {} {error}", release.release_number)
            }
            ExclusionError::Required { .. } => error.to_string(),
        };
        ApiError::invalid("excluded_steps", problem)
    })?;
    lookup::check_lifecycle(client, new.target).await?;
    let (project_id, environment_id) = (project.project_id, environment.environment_id);
    deployment_queue::lock_project_environment(client, project_id, environment_id).await?;
    let active = deployment_queue::active(client, project_id, environment_id).await?;
    let oldest_queued = match active {
        Some(_) => None,
        None => deployment_queue::next_queued(client, project_id, environment_id).await?,
    };
    let admission = rules::admit(active, oldest_queued);
    let now = ferry_storage::database_now(client).await?;
    let row = Deployment {
        deployment_id: DeploymentId::from(Uuid::now_v7()),
        release_id: release.release_id,
        project_id,
        environment_id,
        status: DeploymentStatus::Queued,
        error: None,
        created_at: now,
        started_at: None,
        finished_at: None,
        guided_failure: rules::guided_failure(GuidedFailureSettings {
            deployment: new.guided_failure,
            project: project.guided_failure,
            environment: environment.guided_failure,
        }),
        excluded_steps: excluded,
        rollback_of: new.rollback_of,
    };
    let deployment_id = row.deployment_id;
    // Steps with roles run on the environment's targets that have them, as they are now.
    let targets = environment_targets(client, environment_id).await?;
    let steps: Vec<(StepName, Vec<TargetRef>)> = release
        .process
        .steps()
        .iter()
        .map(|step| {
            (
                step.name.clone(),
                targets_with_roles(&step.target_roles, &targets),
            )
        })
        .collect();
    let inserted = progress::insert_deployment(client, &row, &steps).await?;
    let action = match new.purpose {
        Purpose::Deploy => AuditAction::DeploymentCreated,
        Purpose::Rollback => AuditAction::DeploymentRollback,
    };
    audit::record(
        client,
        &AuditEvent {
            actor: actor.name(),
            action,
            project_id: Some(project_id),
            environment_id: Some(environment_id),
            subject: &format!(
                "{} release {} to {}",
                project.name, release.release_number, environment.name
            ),
            details: json!({ "deployment_id": deployment_id, "rollback_of": new.rollback_of }),
        },
    )
    .await?;
    // The deployment runs with the variables it took in the insert.
    let mut release = release.clone();
    release.variables = inserted.variables;
    let context = DeploymentContext::new(Some(deployment_id), project, release, environment);
    let loaded = load::assemble(context, row, inserted.step_runs, None, now, 0)?;
    let command = Command::Create {
        requested_by: actor.name().to_owned(),
        purpose: new.purpose,
        ahead: admission.ahead,
    };
    let driven = drive(state, client, &loaded, command)
        .await
        .map_err(|error| match error {
            CommandError::Storage(error) => ApiError::from(error),
            CommandError::Refused(refusal) => {
                ApiError::Conflict(format!("deployment {deployment_id} {refusal}"))
            }
        })?;
    let mut wrote_outbox = driven.wrote_outbox;
    // A deployment left queued with nothing active goes first (the admission said so; the new
    // one waits behind it, so it cannot have started the line itself).
    if let Some(stranded) = admission.start_first {
        wrote_outbox |= start_stranded(state, client, project_id, environment_id, stranded).await?;
    }
    Ok(Recorded {
        deployment_id,
        wrote_outbox,
    })
}

/// The targets of an environment, for matching steps' roles.
pub(super) async fn environment_targets(
    client: &impl GenericClient,
    environment_id: ferry_domain::EnvironmentId,
) -> Result<Vec<EnvironmentTarget>, StorageError> {
    Ok(
        ferry_storage::targets::in_environment(client, environment_id)
            .await?
            .into_iter()
            .map(|target| EnvironmentTarget {
                target: TargetRef {
                    id: target.target_id,
                    name: target.name,
                },
                roles: target.roles,
            })
            .collect(),
    )
}
