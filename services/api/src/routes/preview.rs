//! `/api/projects/{project}/releases/{release}/preview?environment=…`: what deploying a
//! release to an environment would do, without deploying. The handler parses and shapes;
//! the preview is `orchestrator::preview`.

use axum::Json;
use axum::extract::{Path, State};
use ferry_api_types::{LifecycleAdmission, ReleasePreview, StepKindName, StepPreview};
use ferry_domain::deployment::Planned;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::orchestrator::preview as previewing;

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
) -> Result<Json<ReleasePreview>, ApiError> {
    let client = state.db().await?;
    let preview = previewing::preview(
        &state,
        &client,
        &project,
        &release_number,
        &query.environment,
    )
    .await?;
    let target = &preview.target;
    let lifecycle = match &preview.lifecycle {
        Ok(()) => LifecycleAdmission::allowed(),
        Err(reason) => LifecycleAdmission::refused(reason.clone()),
    };
    let steps = target
        .release
        .process
        .steps()
        .iter()
        .zip(&preview.steps)
        .map(|(step, planned)| {
            let kind = StepKindName::from(&step.kind);
            let runs_on = match kind {
                StepKindName::RunScript | StepKindName::DeployPackage
                    if !step.target_roles.is_empty() =>
                {
                    let roles: Vec<&str> =
                        step.target_roles.iter().map(|role| role.as_str()).collect();
                    format!(
                        "every target of {} with the role {}",
                        target.environment.name,
                        roles.join(" or ")
                    )
                }
                StepKindName::RunScript | StepKindName::DeployPackage => format!(
                    "a worker of pool `{}` (its local host)",
                    target.project.worker_pool
                ),
                StepKindName::ManualIntervention => {
                    "no target: the deployment waits for a person".to_owned()
                }
            };
            let (runs, reason, condition_error) = match planned {
                Planned::Runs => (true, None, None),
                Planned::Skipped(reason) => (false, Some(reason.describe().to_owned()), None),
                Planned::Fails(reason) => (false, Some(reason.clone()), Some(reason.clone())),
            };
            StepPreview {
                name: step.name.clone(),
                kind,
                target: runs_on,
                runs,
                reason,
                condition_error,
            }
        })
        .collect();
    Ok(Json(ReleasePreview {
        project: target.project.name.clone(),
        release_number: target.release.release_number.clone(),
        environment: target.environment.name.clone(),
        lifecycle,
        assumes: "every step that runs succeeds and every manual intervention proceeds".to_owned(),
        steps,
    }))
}
