//! `/api/deployments`: deploy a release to an environment, and read a deployment with its
//! steps, interruptions and task log. The handlers parse and shape; creating is
//! `orchestrator::create`. Cancelling and rolling back are in `deployment_actions`, the
//! preview in `preview`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_api_types::{
    CreateDeployment, CreatedDeployment, DeploymentView, StepRunView, TaskLogLine,
};
use ferry_domain::{DeploymentId, StepRunId};
use ferry_storage::{GenericClient, deployments, interruptions, task_log};

use crate::AppState;
use crate::actor::Actor;
use crate::context::status_url;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::lookup::DeploymentTarget;
use crate::orchestrator::create::{self, DeploymentRequest};
use crate::routes::interruptions::interruption_view;

pub(crate) fn created_deployment(
    state: &AppState,
    deployment_id: DeploymentId,
    target: &DeploymentTarget,
) -> CreatedDeployment {
    CreatedDeployment {
        deployment_id,
        project: target.project.name.clone(),
        release_number: target.release.release_number.clone(),
        environment: target.environment.name.clone(),
        status_url: status_url(&state.config().public_url, deployment_id),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<CreateDeployment>,
) -> Result<(StatusCode, Json<CreatedDeployment>), ApiError> {
    let mut client = state.db().await?;
    let request = DeploymentRequest {
        project: body.project,
        release_number: body.release_number,
        environment: body.environment,
        excluded_steps: body.excluded_steps,
        guided_failure: body.guided_failure,
    };
    let created = create::create(&state, &mut client, &actor, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(created_deployment(
            &state,
            created.deployment_id,
            &created.target,
        )),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    Path(deployment_id): Path<String>,
) -> Result<Json<DeploymentView>, ApiError> {
    let client = state.db().await?;
    let view = load_view(&state, &client, &deployment_id).await?;
    Ok(Json(view))
}

/// A deployment as the API and the status page show it.
pub async fn load_view(
    state: &AppState,
    client: &impl GenericClient,
    raw_id: &str,
) -> Result<DeploymentView, ApiError> {
    let not_found = || ApiError::NotFound(format!("deployment `{raw_id}` does not exist"));
    let deployment_id: DeploymentId = raw_id.parse().map_err(|_| not_found())?;
    let summary = deployments::summary(client, deployment_id)
        .await?
        .ok_or_else(not_found)?;
    let steps = deployments::step_runs(client, deployment_id).await?;
    let log = task_log::task_log(client, deployment_id).await?;
    let interruptions = interruptions::of_deployment(client, deployment_id).await?;
    let step_name = |id: Option<StepRunId>| {
        id.and_then(|id| {
            steps
                .iter()
                .find(|s| s.step_run_id == id)
                .map(|s| s.name.clone())
        })
    };
    let interruptions = interruptions
        .iter()
        .map(|i| interruption_view(i, step_name(Some(i.step_run_id))))
        .collect();
    let log = log
        .into_iter()
        .map(|line| TaskLogLine {
            step: step_name(line.step_run_id),
            attempt: line.attempt,
            stream: line.stream.as_str().to_owned(),
            logged_at: line.logged_at,
            text: line.text,
        })
        .collect();
    let d = summary.deployment;
    Ok(DeploymentView {
        deployment_id: d.deployment_id,
        project: summary.project_name,
        release_number: summary.release_number,
        environment: summary.environment_name,
        status: d.status,
        error: d.error,
        created_at: d.created_at,
        started_at: d.started_at,
        finished_at: d.finished_at,
        guided_failure: d.guided_failure,
        excluded_steps: d.excluded_steps,
        rollback_of: d.rollback_of,
        status_url: status_url(&state.config().public_url, d.deployment_id),
        steps: steps
            .iter()
            .map(|s| StepRunView {
                name: s.name.clone(),
                status: s.status,
                attempt: s.attempt,
                exit_code: s.exit_code,
                error: s.error.clone(),
                failure_ignored: s.failure_ignored,
                started_at: s.started_at,
                finished_at: s.finished_at,
            })
            .collect(),
        interruptions,
        log,
    })
}
