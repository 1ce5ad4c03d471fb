//! Cancelling a queued, running or paused deployment: the state machine stops the running
//! step (its worker is told to stop), abandons the rest, closes the open question and ends
//! the deployment `Canceled`; the next queued deployment of the pair starts if nothing else
//! runs. One transaction, with its audit record.

use ferry_domain::deployment::{Command, Refusal};
use ferry_domain::{AuditAction, DeploymentId};
use ferry_storage::Client;
use ferry_storage::audit::{self, AuditEvent};
use serde_json::json;

use super::drive::{CommandError, commit, drive};
use super::load::{self, Locked};
use super::unreadable;
use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;

pub async fn cancel(
    state: &AppState,
    client: &mut Client,
    actor: &Actor,
    deployment_id: DeploymentId,
) -> Result<(), ApiError> {
    let not_found = || ApiError::NotFound(format!("deployment `{deployment_id}` does not exist"));
    let transaction = client.transaction().await?;
    let loaded = match load::lock(&transaction, state.known_states(), deployment_id).await? {
        Some(Locked::Readable(loaded)) => loaded,
        None => return Err(not_found()),
        // Damaged data must not keep a deployment (and the line behind it) going for ever.
        Some(Locked::Unreadable { standing, why }) => {
            let cancel = unreadable::Cancel {
                deployment_id,
                standing,
                why_unreadable: &why,
            };
            let wrote_outbox = unreadable::cancel(state, &transaction, actor, cancel).await?;
            commit(state, transaction, wrote_outbox).await?;
            return Ok(());
        }
    };
    let command = Command::Cancel {
        cancelled_by: actor.name().to_owned(),
    };
    let driven =
        drive(state, &transaction, &loaded, command)
            .await
            .map_err(|error| match error {
                CommandError::Refused(Refusal::AlreadyFinished { status }) => ApiError::Conflict(
                    format!("deployment {deployment_id} already finished: {status}"),
                ),
                CommandError::Refused(refusal) => {
                    ApiError::Conflict(format!("deployment {deployment_id} {refusal}"))
                }
                CommandError::Storage(error) => ApiError::from(error),
            })?;
    let context = &loaded.context;
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::DeploymentCanceled,
            project_id: Some(context.project_id),
            environment_id: Some(context.environment_id),
            subject: &format!(
                "{} release {} to {}",
                context.project_name, context.release.release_number, context.environment_name
            ),
            details: json!({ "deployment_id": deployment_id }),
        },
    )
    .await?;
    driven.commit(state, transaction).await?;
    Ok(())
}
