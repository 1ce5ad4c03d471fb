//! `/api/audit`: the audit log, newest first, optionally for one project.

use axum::Json;
use axum::extract::State;
use ferry_api_types::{AuditEventView, AuditLog};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::routes::projects::find_project;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Project id or name.
    project: Option<String>,
    /// At most this many events (default 100, at most 1000).
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "must be between 1 and 1000"));
    }
    let client = state.db().await?;
    let project_id = match &query.project {
        Some(project) => Some(find_project(&client, project).await?.project_id),
        None => None,
    };
    let events = ferry_storage::audit::list(&client, project_id, limit).await?;
    Ok(Json(AuditLog {
        events: events
            .into_iter()
            .map(|event| AuditEventView {
                occurred_at: event.occurred_at,
                actor: event.actor,
                action: event.action,
                project_id: event.project_id,
                environment_id: event.environment_id,
                subject: event.subject,
                details: event.details,
            })
            .collect(),
    }))
}
