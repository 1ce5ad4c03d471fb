//! `/api/lifecycles`: create, read, replace and list lifecycles.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_api_types::{LifecycleList, LifecycleView};
use ferry_domain::lifecycle::{Lifecycle, Phase};
use ferry_domain::{AuditAction, LifecycleName, ValidationError};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::lifecycles::{self, StoredLifecycle};
use ferry_storage::{GenericClient, environments};
use serde::Deserialize;

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::routes::audit_details;
use crate::routes::paging::{PageQuery, not_a_cursor};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LifecycleBody {
    name: String,
    phases: Vec<Phase>,
}

/// Validates a lifecycle, including that every environment it names exists (spelled as
/// stored).
async fn parse_lifecycle(
    client: &impl GenericClient,
    body: LifecycleBody,
) -> Result<Lifecycle, ApiError> {
    let name = LifecycleName::parse(&body.name)?;
    let known = environments::all(client).await?;
    let mut phases = body.phases;
    for (index, phase) in phases.iter_mut().enumerate() {
        for environment in &mut phase.environments {
            let stored = known
                .iter()
                .find(|e| e.name.as_str().eq_ignore_ascii_case(environment.as_str()))
                .ok_or_else(|| {
                    ValidationError::new(
                        format!("phases[{index}].environments"),
                        format!("there is no environment named `{environment}`"),
                    )
                })?;
            *environment = stored.name.clone();
        }
    }
    Ok(Lifecycle::new(name, phases)?)
}

fn lifecycle_view(stored: &StoredLifecycle) -> LifecycleView {
    LifecycleView {
        lifecycle_id: stored.lifecycle_id,
        name: stored.lifecycle.name.clone(),
        phases: stored.lifecycle.phases().to_vec(),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<LifecycleBody>,
) -> Result<(StatusCode, Json<LifecycleView>), ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let lifecycle = parse_lifecycle(&transaction, body).await?;
    let stored = lifecycles::insert(&transaction, &lifecycle).await?;
    let shown = lifecycle_view(&stored);
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::LifecycleCreated,
            project_id: None,
            environment_id: None,
            subject: &format!("lifecycle {}", lifecycle.name),
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
    Path(lifecycle): Path<String>,
    JsonBody(body): JsonBody<LifecycleBody>,
) -> Result<Json<LifecycleView>, ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let existing = find_lifecycle(&transaction, &lifecycle).await?;
    let lifecycle = parse_lifecycle(&transaction, body).await?;
    lifecycles::update(&transaction, existing.lifecycle_id, &lifecycle).await?;
    let stored = StoredLifecycle {
        lifecycle_id: existing.lifecycle_id,
        lifecycle,
    };
    let shown = lifecycle_view(&stored);
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::LifecycleUpdated,
            project_id: None,
            environment_id: None,
            subject: &format!("lifecycle {}", stored.lifecycle.name),
            details: audit_details(&shown)?,
        },
    )
    .await?;
    transaction.commit().await?;
    Ok(Json(shown))
}

pub async fn show(
    State(state): State<AppState>,
    Path(lifecycle): Path<String>,
) -> Result<Json<LifecycleView>, ApiError> {
    let client = state.db().await?;
    Ok(Json(lifecycle_view(
        &find_lifecycle(&client, &lifecycle).await?,
    )))
}

pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<LifecycleList>, ApiError> {
    let page = query.request("lifecycle", |raw| raw.parse().ok())?;
    let client = state.db().await?;
    let page = lifecycles::list(&client, &page)
        .await?
        .ok_or_else(|| not_a_cursor("lifecycle"))?;
    Ok(Json(LifecycleList {
        next: page.next(|last| last.lifecycle_id.to_string()),
        lifecycles: page.items.iter().map(lifecycle_view).collect(),
    }))
}

pub async fn find_lifecycle(
    client: &impl GenericClient,
    id_or_name: &str,
) -> Result<StoredLifecycle, ApiError> {
    lifecycles::find(client, id_or_name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("lifecycle `{id_or_name}` does not exist")))
}
