//! A person answers the interruption they took: a manual intervention with *proceed* or
//! *abort*, a guided failure with *retry*, *ignore* or *abort*, with an optional note. The
//! state machine applies the answer and takes the deployment on; the answer, the note and
//! the actor are kept on the interruption, in the task log and in the audit log.

use ferry_domain::deployment::{Answer, Command, Refusal, not_an_answer};
use ferry_domain::{AuditAction, InterruptionId};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::interruptions::{self, Interruption};
use ferry_storage::{Client, GenericClient, StorageError};
use serde_json::json;

use super::drive::{CommandError, drive};
use super::load::Loaded;
use super::queue::start_next;
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
    let (interruption, loaded, step_index) = lock_interruption(&transaction, raw_id).await?;
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
    let mut wrote_outbox = driven.persisted.wrote_outbox;
    if let Some(when) = driven.persisted.next_queued {
        wrote_outbox |= start_next(
            state,
            &transaction,
            loaded.context.project_id,
            loaded.context.environment_id,
            when,
        )
        .await?;
    }
    transaction.commit().await?;
    if wrote_outbox {
        state.outbox_written();
    }
    let mut answered = interruption;
    answered.resolution = Some(submission.result);
    answered.note = submission.note;
    answered.resolved_by = Some(actor.name().to_owned());
    Ok(answered)
}

/// Loads the interruption a request names and its deployment, locked in the order every
/// writer uses (project+environment, deployment, interruption), with the index of the step it
/// is about. An interruption that was answered already is a 409 naming the answer.
pub(super) async fn lock_interruption(
    client: &impl GenericClient,
    raw_id: &str,
) -> Result<(Interruption, Loaded, usize), ApiError> {
    let not_found = || ApiError::NotFound(format!("interruption `{raw_id}` does not exist"));
    let interruption_id: InterruptionId = raw_id.parse().map_err(|_| not_found())?;
    let named = interruptions::find(client, interruption_id)
        .await?
        .ok_or_else(not_found)?;
    let deployment_id = named.deployment_id;
    let loaded = super::load::lock(client, deployment_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("deployment {deployment_id} does not exist")))?;
    if loaded.open_interruption_id != Some(interruption_id) {
        // Not the open one: it was answered (read again now that the deployment is locked).
        let answered = interruptions::find(client, interruption_id)
            .await?
            .ok_or_else(not_found)?;
        return Err(ApiError::Conflict(format!(
            "interruption {raw_id} was already answered: {} by {}",
            answered.resolution.as_deref().unwrap_or("closed"),
            answered.resolved_by.as_deref().unwrap_or("nobody")
        )));
    }
    let step_index = loaded.step_index(named.step_run_id).ok_or_else(|| {
        StorageError::Corrupt(format!(
            "interruption {raw_id} is about a step run deployment {deployment_id} does not have"
        ))
    })?;
    Ok((named, loaded, step_index))
}

/// The HTTP error for a refused take or answer, naming the interruption.
pub(super) fn refusal_error(error: CommandError, interruption: &Interruption) -> ApiError {
    let id = interruption.interruption_id;
    match error {
        CommandError::Storage(error) => ApiError::from(error),
        CommandError::Refused(refusal) => match refusal {
            Refusal::AnswerDoesNotFit { .. } => ApiError::invalid("result", refusal.to_string()),
            Refusal::NotTaken => ApiError::Conflict(format!(
                "take responsibility for interruption {id} first (POST /api/interruptions/{id}/take)"
            )),
            Refusal::TakenBySomeoneElse { owner } => ApiError::Conflict(format!(
                "{owner} has taken responsibility for interruption {id}; take it over first"
            )),
            Refusal::NotWaitingForIntervention { status } => ApiError::Conflict(format!(
                "deployment {} is {status}, not waiting for an intervention",
                interruption.deployment_id
            )),
            other => {
                ApiError::Conflict(format!("deployment {} {other}", interruption.deployment_id))
            }
        },
    }
}
