//! `/api/deployments`: deploy a release to an environment, and read a deployment with its
//! steps, interruptions and task log. The handlers parse and shape; creating is
//! `orchestrator::create`. Cancelling and rolling back are in `deployment_actions`, the
//! preview in `preview`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_api_types::{
    CreateDeployment, CreatedDeployment, DeploymentView, StepRunView, TargetRunView, TaskLogLine,
    TaskLogPage,
};
use ferry_domain::{DeploymentId, StepRunId};
use ferry_storage::{GenericClient, deployments, interruptions, task_log};
use serde::Deserialize;

use crate::AppState;
use crate::actor::Actor;
use crate::context::status_url;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShowQuery {
    /// `log`: include the whole task log.
    include: Option<String>,
}

pub async fn show(
    State(state): State<AppState>,
    Path(deployment_id): Path<String>,
    QueryParams(query): QueryParams<ShowQuery>,
) -> Result<Json<DeploymentView>, ApiError> {
    let with_log = match query.include.as_deref() {
        None => false,
        Some("log") => true,
        Some(_) => return Err(ApiError::invalid("include", "the only choice is `log`")),
    };
    let client = state.db().await?;
    let view = load_view(&state, &client, &deployment_id, with_log).await?;
    Ok(Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Lines after this cursor (default 0: from the start).
    after: Option<i64>,
    /// At most this many lines (default 1000, at most 5000).
    limit: Option<i64>,
}

/// The most text one page of the log carries (at least one line is always sent).
const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// `GET /api/deployments/{id}/log?after=<cursor>&limit=<n>`: the task log in pages.
pub async fn log(
    State(state): State<AppState>,
    Path(raw_id): Path<String>,
    QueryParams(query): QueryParams<LogQuery>,
) -> Result<Json<TaskLogPage>, ApiError> {
    let not_found = || ApiError::NotFound(format!("deployment `{raw_id}` does not exist"));
    let deployment_id: DeploymentId = raw_id.parse().map_err(|_| not_found())?;
    let client = state.db().await?;
    let steps = deployments::step_runs(&client, deployment_id).await?;
    if steps.is_empty()
        && deployments::summary(&client, deployment_id)
            .await?
            .is_none()
    {
        return Err(not_found());
    }
    let after = query.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::invalid(
            "after",
            "must be a cursor of the log (0 or more)",
        ));
    }
    let limit = query.limit.unwrap_or(1000);
    if !(1..=5000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 5000"));
    }
    // One line more than asked says whether there are more.
    let mut lines = task_log::page(&client, deployment_id, after, limit + 1).await?;
    let mut more = lines.len() as i64 > limit;
    lines.truncate(limit as usize);
    // A page also ends after MAX_PAGE_BYTES of text (a line may be 16 KiB).
    let mut bytes = 0;
    if let Some(cut) = lines.iter().position(|line| {
        bytes += line.text.len();
        bytes > MAX_PAGE_BYTES
    }) {
        lines.truncate(cut.max(1));
        more = true;
    }
    let next_cursor = lines.last().map_or(after, |line| line.log_line_id);
    Ok(Json(TaskLogPage {
        lines: log_lines(lines, &steps),
        next_cursor,
        more,
    }))
}

/// Stored log lines as the API shows them, with their steps' names.
pub(crate) fn log_lines(
    lines: Vec<task_log::StoredLogLine>,
    steps: &[deployments::StepRun],
) -> Vec<TaskLogLine> {
    lines
        .into_iter()
        .map(|line| TaskLogLine {
            cursor: line.log_line_id,
            step: line.step_run_id.and_then(|id| {
                steps
                    .iter()
                    .find(|s| s.step_run_id == id)
                    .map(|s| s.name.clone())
            }),
            attempt: line.attempt,
            stream: line.stream.as_str().to_owned(),
            logged_at: line.logged_at,
            text: line.text,
        })
        .collect()
}

/// A deployment as the API and the status page show it; with its whole task log when asked.
pub async fn load_view(
    state: &AppState,
    client: &impl GenericClient,
    raw_id: &str,
    with_log: bool,
) -> Result<DeploymentView, ApiError> {
    let not_found = || ApiError::NotFound(format!("deployment `{raw_id}` does not exist"));
    let deployment_id: DeploymentId = raw_id.parse().map_err(|_| not_found())?;
    let summary = deployments::summary(client, deployment_id)
        .await?
        .ok_or_else(not_found)?;
    let steps = deployments::step_runs(client, deployment_id).await?;
    let log = if with_log {
        Some(log_lines(
            task_log::task_log(client, deployment_id).await?,
            &steps,
        ))
    } else {
        None
    };
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
            .filter(|s| s.target.is_none())
            .map(|s| StepRunView {
                name: s.name.clone(),
                status: s.status,
                attempt: s.attempt,
                exit_code: s.exit_code,
                error: s.error.clone(),
                failure_ignored: s.failure_ignored,
                started_at: s.started_at,
                finished_at: s.finished_at,
                targets: steps
                    .iter()
                    .filter(|run| run.step_index == s.step_index)
                    .filter_map(|run| {
                        let on = run.target.as_ref()?;
                        Some(TargetRunView {
                            target: on.name.clone(),
                            status: run.status,
                            attempt: run.attempt,
                            exit_code: run.exit_code,
                            error: run.error.clone(),
                            started_at: run.started_at,
                            finished_at: run.finished_at,
                        })
                    })
                    .collect(),
            })
            .collect(),
        interruptions,
        log,
    })
}
