//! `/api/deployments`: deploy a release to an environment, and read a deployment with its
//! steps and task log.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use ferry_domain::DeploymentStatus;
use ferry_storage::deployments::{self, Deployment};
use ferry_storage::{environments, projects, releases};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::orchestrator::{advance, load_context, status_url};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    /// Project id or name.
    project: String,
    release_number: String,
    /// Environment id or name.
    environment: String,
}

pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateDeployment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut client = state.db().await?;
    let transaction = client
        .transaction()
        .await
        .map_err(ferry_storage::StorageError::from)?;
    let project = projects::find(&transaction, &body.project)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "project",
                format!("project `{}` does not exist", body.project),
            )
        })?;
    let release = releases::find(&transaction, project.project_id, &body.release_number)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "release_number",
                format!(
                    "release {} of project `{}` does not exist",
                    body.release_number, project.name
                ),
            )
        })?;
    let environment = environments::find(&transaction, &body.environment)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "environment",
                format!("environment `{}` does not exist", body.environment),
            )
        })?;
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
    };
    let step_names: Vec<&str> = release
        .process
        .steps()
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    let mut step_runs = deployments::insert(&transaction, &deployment, &step_names).await?;
    deployments::append_system_log(
        &transaction,
        deployment.deployment_id,
        &format!(
            "Deploying {} release {} to {}",
            project.name, release.release_number, environment.name
        ),
    )
    .await?;
    let deployment_id = deployment.deployment_id;
    let context = load_context(&transaction, deployment).await?;
    let wrote_outbox = advance(&state, &transaction, &context, &mut step_runs).await?;
    transaction
        .commit()
        .await
        .map_err(ferry_storage::StorageError::from)?;
    if wrote_outbox {
        state.outbox_written();
    }
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "deployment_id": deployment_id,
            "project": project.name,
            "release_number": release.release_number,
            "environment": environment.name,
            "status_url": status_url(&state, deployment_id),
        })),
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
    client: &impl ferry_storage::GenericClient,
    raw_id: &str,
) -> Result<Value, ApiError> {
    let not_found = || ApiError::NotFound(format!("deployment `{raw_id}` does not exist"));
    let deployment_id = Uuid::parse_str(raw_id).map_err(|_| not_found())?;
    let summary = deployments::summary(client, deployment_id)
        .await?
        .ok_or_else(not_found)?;
    let steps = deployments::step_runs(client, deployment_id).await?;
    let log = deployments::task_log(client, deployment_id).await?;
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
        "status_url": status_url(state, d.deployment_id),
        "steps": steps.iter().map(|s| json!({
            "name": s.name,
            "status": s.status,
            "attempt": s.attempt,
            "exit_code": s.exit_code,
            "error": s.error,
            "started_at": s.started_at,
            "finished_at": s.finished_at,
        })).collect::<Vec<_>>(),
        "log": log.iter().map(|line| json!({
            "step": step_name(line.step_run_id),
            "attempt": line.attempt,
            "stream": line.stream,
            "logged_at": line.logged_at,
            "text": line.text,
        })).collect::<Vec<_>>(),
    }))
}
