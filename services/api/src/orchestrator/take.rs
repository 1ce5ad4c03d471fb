//! A person takes responsibility for an interruption (taking it over from whoever had it):
//! only they may answer it then.

use ferry_domain::AuditAction;
use ferry_domain::deployment::{Command, Effect};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::interruptions::{self, Interruption};
use ferry_storage::{Client, StorageError};
use serde_json::json;

use super::drive::drive;
use super::interruption::{NamedInterruption, lock_interruption, refusal_error};
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
    let NamedInterruption {
        interruption,
        loaded,
        ..
    } = lock_interruption(&transaction, state.known_states(), raw_id).await?;
    let command = Command::Take {
        taken_by: actor.name().to_owned(),
    };
    let driven = drive(state, &transaction, &loaded, command)
        .await
        .map_err(|error| refusal_error(error, &interruption))?;
    let previously_taken_by = driven
        .transition
        .effects
        .iter()
        .find_map(|effect| match effect {
            Effect::TakeInterruption {
                previously_taken_by,
                ..
            } => previously_taken_by.clone(),
            _ => None,
        });
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::InterruptionTaken,
            project_id: Some(loaded.context.project_id),
            environment_id: Some(loaded.context.environment_id),
            subject: &format!("interruption {}", interruption.interruption_id),
            details: json!({ "deployment_id": interruption.deployment_id, "previously_taken_by": previously_taken_by }),
        },
    )
    .await?;
    let taken = interruptions::find(&transaction, interruption.interruption_id)
        .await?
        .ok_or_else(|| StorageError::Missing(format!("interruption {raw_id}")))?;
    driven.commit(state, transaction).await?;
    Ok(taken)
}
