//! `/api/environments`: create, list and configure environments.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_domain::{AuditAction, EnvironmentName};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::environments::{self, Environment};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::JsonBody;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    name: String,
    /// Whether a failed step pauses for a person's decision here by default.
    #[serde(default)]
    guided_failure: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateEnvironment {
    guided_failure: bool,
}

fn environment_json(environment: &Environment) -> Value {
    json!({
        "environment_id": environment.environment_id,
        "name": environment.name,
        "guided_failure": environment.guided_failure,
    })
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<CreateEnvironment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let name = EnvironmentName::parse(&body.name)?;
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let environment = environments::insert(&transaction, &name, body.guided_failure).await?;
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::EnvironmentCreated,
            project_id: None,
            environment_id: Some(environment.environment_id),
            subject: &format!("environment {}", environment.name),
            details: environment_json(&environment),
        },
    )
    .await?;
    transaction.commit().await?;
    Ok((StatusCode::CREATED, Json(environment_json(&environment))))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(environment): Path<String>,
    JsonBody(body): JsonBody<UpdateEnvironment>,
) -> Result<Json<Value>, ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let mut existing = environments::find(&transaction, &environment)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("environment `{environment}` does not exist")))?;
    environments::set_guided_failure(&transaction, existing.environment_id, body.guided_failure)
        .await?;
    existing.guided_failure = body.guided_failure;
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::EnvironmentUpdated,
            project_id: None,
            environment_id: Some(existing.environment_id),
            subject: &format!("environment {}", existing.name),
            details: environment_json(&existing),
        },
    )
    .await?;
    transaction.commit().await?;
    Ok(Json(environment_json(&existing)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let client = state.db().await?;
    let environments = environments::list(&client).await?;
    Ok(Json(json!({
        "environments": environments.iter().map(environment_json).collect::<Vec<_>>()
    })))
}
