//! `/api/environments`: create, list and configure environments.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_api_types::{CreateEnvironment, EnvironmentList, EnvironmentView, UpdateEnvironment};
use ferry_domain::{AuditAction, EnvironmentName};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::environments::{self, Environment};

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::routes::audit_details;
use crate::routes::paging::{PageQuery, not_a_cursor};

fn environment_view(environment: &Environment) -> EnvironmentView {
    EnvironmentView {
        environment_id: environment.environment_id,
        name: environment.name.clone(),
        guided_failure: environment.guided_failure,
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<CreateEnvironment>,
) -> Result<(StatusCode, Json<EnvironmentView>), ApiError> {
    let name = EnvironmentName::parse(&body.name)?;
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let environment = environments::insert(&transaction, &name, body.guided_failure).await?;
    let shown = environment_view(&environment);
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::EnvironmentCreated,
            project_id: None,
            environment_id: Some(environment.environment_id),
            subject: &format!("environment {}", environment.name),
            details: audit_details(&shown)?,
        },
    )
    .await?;
    transaction.commit().await?;
    Ok((StatusCode::CREATED, Json(shown)))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(environment): Path<String>,
    JsonBody(body): JsonBody<UpdateEnvironment>,
) -> Result<Json<EnvironmentView>, ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let mut existing = environments::find(&transaction, &environment)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("environment `{environment}` does not exist")))?;
    environments::set_guided_failure(&transaction, existing.environment_id, body.guided_failure)
        .await?;
    existing.guided_failure = body.guided_failure;
    let shown = environment_view(&existing);
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::EnvironmentUpdated,
            project_id: None,
            environment_id: Some(existing.environment_id),
            subject: &format!("environment {}", existing.name),
            details: audit_details(&shown)?,
        },
    )
    .await?;
    transaction.commit().await?;
    Ok(Json(shown))
}

pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<EnvironmentList>, ApiError> {
    let page = query.request("environment", |raw| raw.parse().ok())?;
    let client = state.db().await?;
    let page = environments::list(&client, &page)
        .await?
        .ok_or_else(|| not_a_cursor("environment"))?;
    Ok(Json(EnvironmentList {
        next: page.next(|last| last.environment_id.to_string()),
        environments: page.items.iter().map(environment_view).collect(),
    }))
}
