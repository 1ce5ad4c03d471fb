//! The start handshake: a worker asks to run the attempt its job names, and runs it only if
//! the machine grants it (ARCHITECTURE.md, "Jobs, claims and leases"). The first claim of the
//! running attempt wins; a cancelled, superseded or duplicated job is refused and never runs.
//! A claim re-sent with the same event id (its answer was lost) is granted again while it
//! holds the attempt; a claim of another process is refused even if it has the same worker
//! name (the machine compares claim ids, `StepRun::claim_id`).

use ferry_contracts::{ClaimAnswer, StepEvent};
use ferry_domain::ClaimId;
use ferry_domain::deployment::Command;
use ferry_storage::StorageError;

use super::drive::{CommandError, drive};
use super::load::{self, Locked};
use crate::AppState;

/// The longest worker name a claim may carry (it is written to the task log).
const MAX_WORKER_NAME: usize = 100;

/// What is wrong with a worker's name, if anything (it is written to the task log).
pub(crate) fn worker_name_problem(worker: &str) -> Option<String> {
    (worker.is_empty() || worker.len() > MAX_WORKER_NAME || worker.chars().any(char::is_control))
        .then(|| {
            format!("a worker name has 1 to {MAX_WORKER_NAME} characters and no control characters")
        })
}

/// Applies a claim by `worker` and returns the answer to send back.
pub async fn apply(
    state: &AppState,
    event: &StepEvent,
    worker: &str,
) -> Result<ClaimAnswer, StorageError> {
    let answer = |granted: bool, reason: Option<String>| ClaimAnswer {
        claim_id: event.event_id,
        granted,
        reason,
    };
    if let Some(problem) = worker_name_problem(worker) {
        return Ok(answer(false, Some(problem)));
    }
    let mut client = state.pool().get().await?;
    let transaction = client.transaction().await?;
    let deployment_id = event.deployment_id;
    let loaded = match load::lock_row(&transaction, state.known_states(), deployment_id).await? {
        // A job for a deployment that does not exist (a restored database, a forged job):
        // refused, so its worker drops it instead of asking for ever.
        None => {
            return Ok(answer(
                false,
                Some(format!("deployment {deployment_id} does not exist")),
            ));
        }
        Some(Locked::Unreadable { .. }) => {
            transaction.commit().await?;
            return Ok(answer(
                false,
                Some("the deployment's stored data cannot be read".to_owned()),
            ));
        }
        Some(Locked::Readable(loaded)) => loaded,
    };
    let Some((step, target)) = loaded.locate(event.step_run_id) else {
        transaction.commit().await?;
        return Ok(answer(
            false,
            Some(format!(
                "deployment {deployment_id} has no step run {}",
                event.step_run_id
            )),
        ));
    };
    // The machine decides a re-sent claim too: granted again if it is the claim that won.
    let command = Command::Claim {
        step,
        target,
        attempt: u32::try_from(event.attempt).unwrap_or(u32::MAX),
        worker: worker.to_owned(),
        claim_id: ClaimId::from_uuid(event.event_id),
    };
    let driven = match drive(state, &transaction, &loaded, command).await {
        Ok(driven) => driven,
        Err(CommandError::Storage(error)) => return Err(error),
        Err(CommandError::Refused(refusal)) => {
            return Err(StorageError::Corrupt(format!(
                "the claim for step run {} was refused: deployment {refusal}",
                event.step_run_id
            )));
        }
    };
    let granted = match driven.stale() {
        None => answer(true, None),
        Some(stale) => answer(false, Some(stale.to_string())),
    };
    driven.commit(state, transaction).await?;
    Ok(granted)
}
