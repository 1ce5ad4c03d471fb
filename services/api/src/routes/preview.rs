//! `/api/projects/{project}/releases/{release}/preview?environment=…`: what deploying a
//! release to an environment would do, without deploying.

use axum::Json;
use axum::extract::{Path, State};
use chrono::Utc;
use ferry_domain::{DeploymentStatus, Planned, StepKind, preview as preview_plan};
use ferry_storage::deployments::Deployment;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::orchestrator::{load_context, step_plan};
use crate::routes::deployments::{check_lifecycle, load_target};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    environment: String,
}

/// What deploying a release to an environment would do, without deploying: whether the
/// lifecycle allows it, and per step where it would run and whether it runs or is skipped,
/// and why.
pub async fn preview(
    State(state): State<AppState>,
    Path((project, release_number)): Path<(String, String)>,
    QueryParams(query): QueryParams<PreviewQuery>,
) -> Result<Json<Value>, ApiError> {
    let client = state.db().await?;
    let (project, release, environment) =
        load_target(&client, &project, &release_number, &query.environment).await?;
    let lifecycle = match check_lifecycle(&client, &project, &release, &environment).await {
        Ok(()) => json!({ "allowed": true }),
        Err(ApiError::Conflict(reason)) => json!({ "allowed": false, "reason": reason }),
        Err(other) => return Err(other),
    };
    // Variables as they would be when the deployment starts (no step has run yet).
    let placeholder = Deployment {
        deployment_id: Uuid::nil(),
        release_id: release.release_id,
        project_id: project.project_id,
        environment_id: environment.environment_id,
        status: DeploymentStatus::Queued,
        error: None,
        created_at: Utc::now(),
        started_at: None,
        finished_at: None,
        guided_failure: false,
        excluded_steps: Vec::new(),
        rollback_of: None,
    };
    let context = load_context(&client, placeholder).await?;
    let steps = release.process.steps();
    let (plan, condition_errors): (Vec<_>, Vec<_>) = steps
        .iter()
        .enumerate()
        .map(|(index, step)| step_plan(&state, &context, &[], index, step))
        .unzip();
    let planned = preview_plan(&plan);
    let steps_json: Vec<Value> = steps
        .iter()
        .zip(&planned)
        .enumerate()
        .map(|(index, (step, planned))| {
            let target = match &step.kind {
                StepKind::RunScript { .. } => {
                    format!("a worker of pool `{}` (its local host)", project.worker_pool)
                }
                StepKind::ManualIntervention { .. } => {
                    "no target: the deployment waits for a person".to_owned()
                }
            };
            let (runs, reason) = match planned {
                Planned::Runs => (true, None),
                Planned::Skipped(reason) => (false, Some(reason.describe())),
            };
            let error = condition_errors[index].clone();
            json!({
                "name": step.name,
                "kind": match step.kind { StepKind::RunScript { .. } => "run_script", StepKind::ManualIntervention { .. } => "manual_intervention" },
                "target": target,
                "runs": runs,
                "reason": reason,
                "condition_error": error,
            })
        })
        .collect();
    Ok(Json(json!({
        "project": project.name,
        "release_number": release.release_number,
        "environment": environment.name,
        "lifecycle": lifecycle,
        "assumes": "every step that runs succeeds and every manual intervention proceeds",
        "steps": steps_json,
    })))
}
