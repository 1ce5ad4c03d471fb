//! `/api/deployments/{id}/cancel` and `/api/deployments/rollback`: stopping a deployment
//! cleanly, and redeploying the release an environment had before.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_domain::{DeploymentStatus, StepStatus};
use ferry_storage::{deployments, interruptions, releases};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::actor::Actor;
use crate::audit;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::orchestrator::{self, load_context};
use crate::routes::deployments::{
    NewDeployment, created_json, load_view, named_environment, named_project, start,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    project: String,
    environment: String,
}

/// Redeploys the last release that succeeded in the environment before the current one.
pub async fn rollback(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<RollbackBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut client = state.db().await?;
    let transaction = audit::begin(&mut client).await?;
    let project = named_project(&transaction, &body.project).await?;
    let environment = named_environment(&transaction, &body.environment).await?;
    let history = deployments::successful_history(
        &transaction,
        project.project_id,
        environment.environment_id,
    )
    .await?;
    let Some(current) = history.first().cloned() else {
        return Err(ApiError::Conflict(format!(
            "`{}` has never been deployed successfully to {}; there is nothing to roll back to",
            project.name, environment.name
        )));
    };
    // The newest success of a release older than the current one: rolling back twice goes
    // back twice, never forward again.
    let target_release = history
        .iter()
        .find(|earlier| earlier.release_created_at < current.release_created_at)
        .map(|earlier| earlier.release_id)
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "no release of `{}` older than {} succeeded in {}; there is nothing to roll back to",
                project.name, current.release_number, environment.name
            ))
        })?;
    let current_deployment = current.deployment_id;
    let current_number = current.release_number.clone();
    let release = releases::find_by_id(&transaction, target_release)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("release {target_release} does not exist")))?;
    let (deployment_id, wrote_outbox) = start(
        &state,
        &transaction,
        &actor,
        NewDeployment {
            project: &project,
            release: &release,
            environment: &environment,
            excluded_steps: Vec::new(),
            guided_failure: None,
            rollback_of: Some(current_deployment),
        },
    )
    .await?;
    audit::commit(transaction).await?;
    if wrote_outbox {
        state.outbox_written();
    }
    let mut created = created_json(&state, deployment_id, &project, &release, &environment);
    created["rollback_of"] = json!(current_deployment);
    created["rolled_back_from_release"] = json!(current_number);
    Ok((StatusCode::CREATED, Json(created)))
}

/// Cancels a queued or running deployment: the running step is told to stop, the rest is
/// abandoned, and the deployment ends `Canceled`.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::NotFound(format!("deployment `{raw_id}` does not exist"));
    let deployment_id = Uuid::parse_str(&raw_id).map_err(|_| not_found())?;
    let mut client = state.db().await?;
    let transaction = audit::begin(&mut client).await?;
    let existing = deployments::summary(&transaction, deployment_id)
        .await?
        .ok_or_else(not_found)?;
    let project_id = existing.deployment.project_id;
    let environment_id = existing.deployment.environment_id;
    deployments::lock_project_environment(&transaction, project_id, environment_id).await?;
    let deployment = deployments::lock(&transaction, deployment_id)
        .await?
        .ok_or_else(not_found)?;
    if deployment.status.is_terminal() {
        return Err(ApiError::Conflict(format!(
            "deployment {deployment_id} already finished: {}",
            deployment.status
        )));
    }
    let mut step_runs = deployments::step_runs(&transaction, deployment_id).await?;
    let statuses: Vec<_> = step_runs.iter().map(|run| run.status).collect();
    for (index, status) in ferry_domain::cancel(&statuses) {
        let run = &mut step_runs[index];
        if status == StepStatus::Canceled {
            orchestrator::stop_step(&state, &transaction, run).await?;
        }
        deployments::set_step_status(
            &transaction,
            run.step_run_id,
            status,
            Some(&format!("cancelled by {}", actor.name())),
        )
        .await?;
        run.status = status;
    }
    interruptions::close_all(&transaction, deployment_id, actor.name()).await?;
    deployments::append_system_log(
        &transaction,
        deployment_id,
        &format!("Cancelled by {}", actor.name()),
    )
    .await?;
    let mut context = load_context(&transaction, deployment).await?;
    let canceled_step = step_runs
        .iter()
        .position(|run| run.status == StepStatus::Canceled);
    orchestrator::finish(
        &state,
        &transaction,
        &mut context,
        &step_runs,
        DeploymentStatus::Canceled,
        canceled_step,
    )
    .await?;
    audit::record(
        &transaction,
        &actor,
        "deployment.canceled",
        Some(project_id),
        Some(environment_id),
        &format!(
            "{} release {} to {}",
            existing.project_name, existing.release_number, existing.environment_name
        ),
        json!({ "deployment_id": deployment_id }),
    )
    .await?;
    // Whatever was cancelled, if nothing of this project and environment is active now, the
    // oldest queued deployment starts.
    if deployments::active(&transaction, project_id, environment_id)
        .await?
        .is_none()
    {
        let next = deployments::next_queued(&transaction, project_id, environment_id).await?;
        let mut advanced = orchestrator::Advanced::default();
        orchestrator::start_queued(&state, &transaction, next, &mut advanced).await?;
    }
    audit::commit(transaction).await?;
    state.outbox_written();
    Ok(Json(load_view(&state, &client, &raw_id).await?))
}
