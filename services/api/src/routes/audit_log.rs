//! `/api/audit`: the audit log, newest first, optionally for one project.

use axum::Json;
use axum::extract::State;
use ferry_api_types::{AuditEventView, AuditLog};
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::routes::paging::page_request;
use crate::routes::projects::find_project;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Project id or name.
    project: Option<String>,
    /// At most this many events (default 100, at most 1000).
    limit: Option<i64>,
    /// The `next` of the page before.
    after: Option<String>,
}

pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<AuditQuery>,
) -> Result<Json<AuditLog>, ApiError> {
    let page = page_request(query.limit, query.after.as_deref(), "audit event", |raw| {
        raw.parse::<i64>().ok()
    })?;
    let client = state.db().await?;
    let project_id = match &query.project {
        Some(project) => Some(find_project(&client, project).await?.project_id),
        None => None,
    };
    let page = ferry_storage::audit::list(&client, project_id, &page).await?;
    Ok(Json(AuditLog {
        next: page.next(|last| last.audit_event_id.to_string()),
        events: page
            .items
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
