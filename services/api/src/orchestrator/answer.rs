//! A person answers the interruption they took: a manual intervention with *proceed* or
//! *abort*, a guided failure with *retry*, *ignore* or *abort*, with an optional note. The
//! state machine applies the answer and takes the deployment on; the answer, the note and
//! the actor are kept on the interruption, in the task log and in the audit log.

use ferry_domain::AuditAction;
use ferry_domain::deployment::{Answer, Command, not_an_answer};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::interruptions::{self, Interruption};
use ferry_storage::{Client, StorageError};
use serde_json::json;

use super::drive::drive;
use super::interruption::{NamedInterruption, lock_interruption, refusal_error};
use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;

/// What a person answered.
#[derive(Debug, Clone)]
pub struct Submission {
    /// `proceed` or `abort` (manual intervention); `retry`, `ignore` or `abort` (guided
    /// failure).
    pub result: String,
    pub note: Option<String>,
}

/// Answers an interruption; returns it as it is now.
pub async fn answer(
    state: &AppState,
    client: &mut Client,
    actor: &Actor,
    raw_id: &str,
    submission: Submission,
) -> Result<Interruption, ApiError> {
    let transaction = client.transaction().await?;
    let NamedInterruption {
        interruption,
        loaded,
        step: step_index,
    } = lock_interruption(&transaction, state.known_states(), raw_id).await?;
    let answer = Answer::parse(&submission.result).ok_or_else(|| {
        ApiError::invalid(
            "result",
            not_an_answer(interruption.kind, &submission.result),
        )
    })?;
    let command = Command::Answer {
        answered_by: actor.name().to_owned(),
        answer,
        note: submission.note.clone(),
    };
    let driven = drive(state, &transaction, &loaded, command)
        .await
        .map_err(|error| refusal_error(error, &interruption))?;
    let step = loaded.state.steps[step_index].name();
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::InterruptionAnswered(answer),
            project_id: Some(loaded.context.project_id),
            environment_id: Some(loaded.context.environment_id),
            subject: &format!("step \"{step}\" of deployment {}", loaded.deployment_id()),
            details: json!({ "interruption_id": interruption.interruption_id, "note": submission.note }),
        },
    )
    .await?;
    let answered = interruptions::find(&transaction, interruption.interruption_id)
        .await?
        .ok_or_else(|| StorageError::Missing(format!("interruption {raw_id}")))?;
    driven.commit(state, transaction).await?;
    Ok(answered)
}
