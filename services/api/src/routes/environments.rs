//! `/api/environments`: create and list environments.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use ferry_domain::EnvironmentName;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::JsonBody;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<CreateEnvironment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = EnvironmentName::parse(&body.name)?;
    let client = state.db().await?;
    let environment = ferry_storage::environments::insert(&client, &name).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "environment_id": environment.environment_id, "name": environment.name })),
    ))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let client = state.db().await?;
    let environments = ferry_storage::environments::list(&client).await?;
    Ok(Json(json!({
        "environments": environments
            .iter()
            .map(|e| json!({ "environment_id": e.environment_id, "name": e.name }))
            .collect::<Vec<_>>()
    })))
}
