//! `/api/deployments/{id}/cancel` and `/api/deployments/rollback`: stopping a deployment
//! cleanly, and redeploying the release an environment had before. The handlers parse and
//! shape; the work is `orchestrator::cancel` and `orchestrator::rollback`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_api_types::{DeploymentView, RollbackRequest, RolledBack};
use ferry_domain::DeploymentId;

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::orchestrator::{cancel as cancelling, rollback as rolling_back};
use crate::routes::deployments::{created_deployment, load_view};

/// Redeploys the last release that succeeded in the environment before the current one.
pub async fn rollback(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<RollbackRequest>,
) -> Result<(StatusCode, Json<RolledBack>), ApiError> {
    let mut client = state.db().await?;
    let rolled = rolling_back::rollback(
        &state,
        &mut client,
        &actor,
        &body.project,
        &body.environment,
    )
    .await?;
    let answer = RolledBack {
        deployment: created_deployment(&state, rolled.deployment_id, &rolled.target),
        rollback_of: rolled.rollback_of,
        rolled_back_from_release: rolled.rolled_back_from_release,
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

/// Cancels a queued, running or paused deployment: the running step is told to stop, the
/// rest is abandoned, and the deployment ends `Canceled`.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(raw_id): Path<String>,
) -> Result<Json<DeploymentView>, ApiError> {
    let not_found = || ApiError::NotFound(format!("deployment `{raw_id}` does not exist"));
    let deployment_id: DeploymentId = raw_id.parse().map_err(|_| not_found())?;
    let mut client = state.db().await?;
    cancelling::cancel(&state, &mut client, &actor, deployment_id).await?;
    Ok(Json(load_view(&state, &client, &raw_id, false).await?))
}
