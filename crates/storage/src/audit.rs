//! The audit log: an append-only record of every change and action, with its actor and time.

use chrono::{DateTime, Utc};
use ferry_domain::{AuditAction, EnvironmentId, ProjectId};

use crate::paging::{Page, PageRequest};
use crate::{CachedQueries, GenericClient, StorageError, optional_id};

/// One thing that happened.
#[derive(Debug, Clone)]
pub struct AuditEvent<'a> {
    /// Who did it, as the request named them.
    pub actor: &'a str,
    /// Stored as its dotted name (`release.variables_updated`, `interruption.proceed`).
    pub action: AuditAction,
    /// The project it concerns, so the log can be read per project.
    pub project_id: Option<ProjectId>,
    pub environment_id: Option<EnvironmentId>,
    /// What it happened to, as a person reads it (`Random Quotes release 1.0.3`).
    pub subject: &'a str,
    pub details: serde_json::Value,
}

pub async fn record(
    client: &impl GenericClient,
    event: &AuditEvent<'_>,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "INSERT INTO audit_events (actor, action, project_id, environment_id, subject, details)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                &event.actor,
                &event.action.as_str(),
                &event.project_id.map(ProjectId::into_uuid),
                &event.environment_id.map(EnvironmentId::into_uuid),
                &event.subject,
                &event.details,
            ],
        )
        .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct StoredAuditEvent {
    /// The event's place in the log (ever increasing); a page cursor.
    pub audit_event_id: i64,
    pub occurred_at: DateTime<Utc>,
    pub actor: String,
    /// The dotted name as stored (`AuditAction::as_str`), kept as text so that actions a
    /// newer version recorded still read.
    pub action: String,
    pub project_id: Option<ProjectId>,
    pub environment_id: Option<EnvironmentId>,
    pub subject: String,
    pub details: serde_json::Value,
}

/// A page of events, newest first, optionally only those about one project; the cursor is
/// the last event seen (a position, so any number is accepted).
pub async fn list(
    client: &impl GenericClient,
    project_id: Option<ProjectId>,
    page: &PageRequest<i64>,
) -> Result<Page<StoredAuditEvent>, StorageError> {
    let items = client
        .query_cached(
            "SELECT occurred_at, actor, action, project_id, environment_id, subject, details,
                    audit_event_id
             FROM audit_events WHERE ($1::uuid IS NULL OR project_id = $1)
               AND ($2::bigint IS NULL OR audit_event_id < $2)
             ORDER BY audit_event_id DESC LIMIT $3",
            &[
                &project_id.map(ProjectId::into_uuid),
                &page.after,
                &page.fetch(),
            ],
        )
        .await?
        .iter()
        .map(|row| StoredAuditEvent {
            audit_event_id: row.get(7),
            occurred_at: row.get(0),
            actor: row.get(1),
            action: row.get(2),
            project_id: optional_id(row, 3),
            environment_id: optional_id(row, 4),
            subject: row.get(5),
            details: row.get(6),
        })
        .collect();
    Ok(Page::from_rows(items, page))
}
