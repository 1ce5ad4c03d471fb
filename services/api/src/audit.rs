//! Writing the audit log from request handlers: every change commits together with its
//! audit record, so there is never a change without one.

use ferry_domain::{EnvironmentId, ProjectId};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::{Client, StorageError, Transaction};

use crate::actor::Actor;

pub async fn begin(client: &mut Client) -> Result<Transaction<'_>, StorageError> {
    Ok(client.transaction().await?)
}

pub async fn commit(transaction: Transaction<'_>) -> Result<(), StorageError> {
    Ok(transaction.commit().await?)
}

pub async fn record(
    client: &impl ferry_storage::GenericClient,
    actor: &Actor,
    action: &str,
    project_id: Option<ProjectId>,
    environment_id: Option<EnvironmentId>,
    subject: &str,
    details: serde_json::Value,
) -> Result<(), StorageError> {
    audit::record(
        client,
        &AuditEvent {
            actor: actor.name(),
            action,
            project_id,
            environment_id,
            subject,
            details,
        },
    )
    .await
}
