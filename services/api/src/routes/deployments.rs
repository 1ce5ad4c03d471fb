//! `/api/deployments`: deploy a release to an environment (checked against the project's
//! lifecycle, queued behind a running deployment of the same project and environment), and
//! read a deployment with its steps, interruptions and task log. Cancelling and rolling back
//! are in `deployment_actions`, the preview in `preview`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use ferry_domain::lifecycle::may_deploy;
use ferry_domain::{DeploymentStatus, EnvironmentName};
use ferry_storage::deployments::{self, Deployment};
use ferry_storage::environments::Environment;
use ferry_storage::projects::Project;
use ferry_storage::releases::Release;
use ferry_storage::{GenericClient, environments, interruptions, projects, releases};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::actor::Actor;
use crate::audit;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::orchestrator::{self, Advanced, DeploymentContext, advance, status_url};
use crate::routes::lifecycles::effective_lifecycle;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    /// Project id or name.
    project: String,
    release_number: String,
    /// Environment id or name.
    environment: String,
    /// Steps to leave out of this deployment (not allowed for required steps).
    #[serde(default)]
    excluded_steps: Vec<String>,
    /// Overrides the project's and environment's guided-failure setting.
    guided_failure: Option<bool>,
}

/// The project a request names in its `project` field, or a 422 saying it does not exist.
pub(crate) async fn named_project(
    client: &impl GenericClient,
    project: &str,
) -> Result<Project, ApiError> {
    projects::find(client, project)
        .await?
        .ok_or_else(|| ApiError::invalid("project", format!("project `{project}` does not exist")))
}

/// The environment a request names in its `environment` field, or a 422 saying it does not
/// exist.
pub(crate) async fn named_environment(
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

/// Loads what a deployment request names, answering 422 for what does not exist.
pub(crate) async fn load_target(
    client: &impl GenericClient,
    project: &str,
    release_number: &str,
    environment: &str,
) -> Result<(Project, Release, Environment), ApiError> {
    let project = named_project(client, project).await?;
    let release = releases::find(client, project.project_id, release_number)
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
    Ok((project, release, environment))
}

/// Refuses a deployment the project's lifecycle does not allow yet, naming the phase.
pub(crate) async fn check_lifecycle(
    client: &impl GenericClient,
    project: &Project,
    release: &Release,
    environment: &Environment,
) -> Result<(), ApiError> {
    let lifecycle = effective_lifecycle(client, project.lifecycle_id).await?;
    let succeeded = deployments::succeeded_environments(client, release.release_id)
        .await?
        .iter()
        .map(|name| EnvironmentName::parse(name))
        .collect::<Result<Vec<_>, _>>()?;
    may_deploy(&lifecycle, &environment.name, &succeeded).map_err(|refusal| {
        ApiError::Conflict(format!(
            "release {} of `{}` cannot be deployed to {} yet: {refusal}",
            release.release_number, project.name, environment.name
        ))
    })
}

pub(crate) struct NewDeployment<'a> {
    pub(crate) project: &'a Project,
    pub(crate) release: &'a Release,
    pub(crate) environment: &'a Environment,
    pub(crate) excluded_steps: Vec<String>,
    pub(crate) guided_failure: Option<bool>,
    pub(crate) rollback_of: Option<Uuid>,
}

/// Records a deployment and starts it, or queues it behind the deployment of the same
/// project and environment that is still going. Returns its id and whether the outbox was
/// written.
pub(crate) async fn start(
    state: &AppState,
    client: &impl GenericClient,
    actor: &Actor,
    new: NewDeployment<'_>,
) -> Result<(Uuid, bool), ApiError> {
    let NewDeployment {
        project,
        release,
        environment,
        excluded_steps,
        guided_failure,
        rollback_of,
    } = new;
    let steps = release.process.steps();
    let mut excluded = Vec::new();
    for name in excluded_steps {
        let step = steps
            .iter()
            .find(|step| step.name.as_str().eq_ignore_ascii_case(&name))
            .ok_or_else(|| {
                ApiError::invalid(
                    "excluded_steps",
                    format!(
                        "release {} has no step named `{name}`",
                        release.release_number
                    ),
                )
            })?;
        if step.required {
            return Err(ApiError::invalid(
                "excluded_steps",
                format!("step `{}` is required and cannot be excluded", step.name),
            ));
        }
        excluded.push(step.name.as_str().to_owned());
    }
    check_lifecycle(client, project, release, environment).await?;
    deployments::lock_project_environment(client, project.project_id, environment.environment_id)
        .await?;
    let active =
        deployments::active(client, project.project_id, environment.environment_id).await?;
    // Nothing runs but a deployment waits: one left behind by a failure. It goes first.
    let stranded = match active {
        Some(_) => None,
        None => {
            deployments::next_queued(client, project.project_id, environment.environment_id).await?
        }
    };
    let ahead = active.or(stranded.as_ref().map(|queued| queued.deployment_id));
    let deployment = Deployment {
        deployment_id: Uuid::now_v7(),
        release_id: release.release_id,
        project_id: project.project_id,
        environment_id: environment.environment_id,
        status: DeploymentStatus::Queued,
        error: None,
        created_at: Utc::now(),
        started_at: None,
        finished_at: None,
        guided_failure: guided_failure
            .or(project.guided_failure)
            .unwrap_or(environment.guided_failure),
        excluded_steps: excluded,
        rollback_of,
    };
    let step_names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    let inserted = deployments::insert(client, &deployment, &step_names).await?;
    let mut step_runs = inserted.step_runs;
    let deployment_id = deployment.deployment_id;
    deployments::append_system_log(
        client,
        deployment_id,
        &format!(
            "{} release {} to {} requested by {}",
            if rollback_of.is_some() {
                "Rolling back to"
            } else {
                "Deploying"
            },
            release.release_number,
            environment.name,
            actor.name()
        ),
    )
    .await?;
    audit::record(
        client,
        actor,
        if rollback_of.is_some() {
            "deployment.rollback"
        } else {
            "deployment.created"
        },
        Some(project.project_id),
        Some(environment.environment_id),
        &format!(
            "{} release {} to {}",
            project.name, release.release_number, environment.name
        ),
        json!({ "deployment_id": deployment_id, "rollback_of": rollback_of }),
    )
    .await?;
    if let Some(ahead) = ahead {
        deployments::append_system_log(
            client,
            deployment_id,
            &format!("Queued behind deployment {ahead} of the same project and environment"),
        )
        .await?;
        let mut advanced = Advanced::default();
        orchestrator::start_queued(state, client, stranded, &mut advanced).await?;
        return Ok((deployment_id, advanced.wrote_outbox));
    }
    // Everything the orchestration needs is loaded already, with the variables the
    // deployment took.
    let mut release = release.clone();
    release.variables = inserted.variables;
    let mut context = DeploymentContext {
        deployment,
        release,
        project_name: project.name.clone(),
        notification_email: project.notification_email.clone(),
        worker_pool: project.worker_pool.clone(),
        environment_name: environment.name.clone(),
    };
    let advanced = advance(state, client, &mut context, &mut step_runs).await?;
    Ok((deployment_id, advanced.wrote_outbox))
}

pub(crate) fn created_json(
    state: &AppState,
    deployment_id: Uuid,
    project: &Project,
    release: &Release,
    environment: &Environment,
) -> Value {
    json!({
        "deployment_id": deployment_id,
        "project": project.name,
        "release_number": release.release_number,
        "environment": environment.name,
        "status_url": status_url(state, deployment_id),
    })
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<CreateDeployment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut client = state.db().await?;
    let transaction = audit::begin(&mut client).await?;
    let (project, release, environment) = load_target(
        &transaction,
        &body.project,
        &body.release_number,
        &body.environment,
    )
    .await?;
    let (deployment_id, wrote_outbox) = start(
        &state,
        &transaction,
        &actor,
        NewDeployment {
            project: &project,
            release: &release,
            environment: &environment,
            excluded_steps: body.excluded_steps,
            guided_failure: body.guided_failure,
            rollback_of: None,
        },
    )
    .await?;
    audit::commit(transaction).await?;
    if wrote_outbox {
        state.outbox_written();
    }
    Ok((
        StatusCode::CREATED,
        Json(created_json(
            &state,
            deployment_id,
            &project,
            &release,
            &environment,
        )),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    Path(deployment_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let client = state.db().await?;
    let view = load_view(&state, &client, &deployment_id).await?;
    Ok(Json(view))
}

/// A deployment as the API and the status page show it.
pub async fn load_view(
    state: &AppState,
    client: &impl GenericClient,
    raw_id: &str,
) -> Result<Value, ApiError> {
    let not_found = || ApiError::NotFound(format!("deployment `{raw_id}` does not exist"));
    let deployment_id = Uuid::parse_str(raw_id).map_err(|_| not_found())?;
    let summary = deployments::summary(client, deployment_id)
        .await?
        .ok_or_else(not_found)?;
    let steps = deployments::step_runs(client, deployment_id).await?;
    let log = deployments::task_log(client, deployment_id).await?;
    let interruptions = interruptions::of_deployment(client, deployment_id).await?;
    let step_name = |id: Option<Uuid>| {
        id.and_then(|id| {
            steps
                .iter()
                .find(|s| s.step_run_id == id)
                .map(|s| s.name.clone())
        })
    };
    let d = &summary.deployment;
    Ok(json!({
        "deployment_id": d.deployment_id,
        "project": summary.project_name,
        "release_number": summary.release_number,
        "environment": summary.environment_name,
        "status": d.status,
        "error": d.error,
        "created_at": d.created_at,
        "started_at": d.started_at,
        "finished_at": d.finished_at,
        "guided_failure": d.guided_failure,
        "excluded_steps": d.excluded_steps,
        "rollback_of": d.rollback_of,
        "status_url": status_url(state, d.deployment_id),
        "steps": steps.iter().map(|s| json!({
            "name": s.name,
            "status": s.status,
            "attempt": s.attempt,
            "exit_code": s.exit_code,
            "error": s.error,
            "failure_ignored": s.failure_ignored,
            "started_at": s.started_at,
            "finished_at": s.finished_at,
        })).collect::<Vec<_>>(),
        "interruptions": interruptions.iter().map(|i| crate::routes::interruptions::interruption_json(i, step_name(Some(i.step_run_id)))).collect::<Vec<_>>(),
        "log": log.iter().map(|line| json!({
            "step": step_name(line.step_run_id),
            "attempt": line.attempt,
            "stream": line.stream,
            "logged_at": line.logged_at,
            "text": line.text,
        })).collect::<Vec<_>>(),
    }))
}
