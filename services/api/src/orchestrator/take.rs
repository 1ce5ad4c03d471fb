//! A person takes responsibility for an interruption (taking it over from whoever had it):
//! only they may answer it then.

use ferry_domain::AuditAction;
use ferry_domain::deployment::Command;
use ferry_storage::Client;
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::interruptions::Interruption;
use serde_json::json;

use super::answer::{lock_interruption, refusal_error};
use super::drive::drive;
use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;

/// Takes an interruption; returns it as it is now.
pub async fn take(
    state: &AppState,
    client: &mut Client,
    actor: &Actor,
    raw_id: &str,
) -> Result<Interruption, ApiError> {
    let transaction = client.transaction().await?;
    let (mut interruption, loaded, _) = lock_interruption(&transaction, raw_id).await?;
    let command = Command::Take {
        taken_by: actor.name().to_owned(),
    };
    drive(state, &transaction, &loaded, command)
        .await
        .map_err(|error| refusal_error(error, &interruption))?;
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::InterruptionTaken,
            project_id: Some(loaded.context.project_id),
            environment_id: Some(loaded.context.environment_id),
            subject: &format!("interruption {}", interruption.interruption_id),
            details: json!({ "deployment_id": interruption.deployment_id, "previously_taken_by": interruption.taken_by }),
        },
    )
    .await?;
    transaction.commit().await?;
    interruption.taken_by = Some(actor.name().to_owned());
    Ok(interruption)
}
