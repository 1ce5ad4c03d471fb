//! The interruption a request names, for taking and answering it: locked with its deployment
//! in the order every writer uses, and the HTTP errors for what the machine refuses about it.

use ferry_domain::InterruptionId;
use ferry_domain::deployment::{Answer, Refusal};
use ferry_storage::interruptions::{self, Interruption};
use ferry_storage::{GenericClient, StorageError};

use super::drive::CommandError;
use super::load::{self, Loaded, Locked};
use crate::error::ApiError;

/// The open interruption a request names, with its deployment locked and loaded.
pub(super) struct NamedInterruption {
    /// As read before the locks: only the fields that never change are used.
    pub interruption: Interruption,
    pub loaded: Loaded,
    /// The index of the step it is about.
    pub step: usize,
}

/// Loads the interruption a request names and its deployment, locked in the order every
/// writer uses (project+environment, deployment, interruption). An interruption that was
/// answered already is a 409 naming the answer.
pub(super) async fn lock_interruption(
    client: &impl GenericClient,
    known: &super::known::KnownStates,
    raw_id: &str,
) -> Result<NamedInterruption, ApiError> {
    let not_found = || ApiError::NotFound(format!("interruption `{raw_id}` does not exist"));
    let interruption_id: InterruptionId = raw_id.parse().map_err(|_| not_found())?;
    let named = interruptions::find(client, interruption_id)
        .await?
        .ok_or_else(not_found)?;
    let deployment_id = named.deployment_id;
    let loaded = match load::lock(client, known, deployment_id).await? {
        Some(Locked::Readable(loaded)) => *loaded,
        Some(Locked::Unreadable { why, .. }) => {
            return Err(ApiError::from(StorageError::Corrupt(why)));
        }
        None => {
            return Err(ApiError::NotFound(format!(
                "deployment {deployment_id} does not exist"
            )));
        }
    };
    if loaded.open_interruption_id != Some(interruption_id) {
        // Not the open one: it was answered (read again now that the deployment is locked).
        let answered = interruptions::find(client, interruption_id)
            .await?
            .ok_or_else(not_found)?;
        return Err(ApiError::Conflict(format!(
            "interruption {raw_id} was already answered: {} by {}",
            answered.resolution.map_or("closed", Answer::as_str),
            answered.resolved_by.as_deref().unwrap_or("nobody")
        )));
    }
    let step_index = loaded
        .step_run_ids
        .iter()
        .position(|id| *id == named.step_run_id)
        .ok_or_else(|| {
            StorageError::Corrupt(format!(
                "interruption {raw_id} is about a step run deployment {deployment_id} does not have"
            ))
        })?;
    Ok(NamedInterruption {
        interruption: named,
        loaded,
        step: step_index,
    })
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
