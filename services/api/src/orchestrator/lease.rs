//! Leases: a worker that claimed an attempt keeps it alive with heartbeats; the sweeper gives
//! up on running attempts whose job no worker took within the dispatch timeout, or whose
//! worker went silent for longer than the lease, through the machine's `Lost` command (the
//! step fails like any failed attempt; retries and guided failure apply).

use ferry_contracts::StepEvent;
use ferry_domain::deployment::{Command, LostAttempt, StopReason};
use ferry_storage::{StorageError, deployments, progress};

use super::drive::{CommandError, drive};
use super::load::{self, Locked};
use super::messages;
use crate::AppState;

/// Records a heartbeat from `worker` for the attempt it claimed. A heartbeat for an attempt
/// the worker does not hold changes nothing, and is answered with a stop: the one sent when
/// the attempt was given up or cancelled may never have reached that worker (a fanout
/// message is lost to a worker whose queue was being re-bound), and it must not go on
/// running alongside a retry.
pub async fn heartbeat(
    state: &AppState,
    event: &StepEvent,
    worker: &str,
) -> Result<(), StorageError> {
    let client = state.pool().get().await?;
    let held =
        progress::record_heartbeat(&client, event.step_run_id, event.attempt, worker).await?;
    if !held {
        tracing::info!(step_run_id = %event.step_run_id, attempt = event.attempt, %worker, "heartbeat for an attempt the worker does not hold: telling it to stop");
        messages::stop_step(
            state,
            &client,
            event.deployment_id,
            event.step_run_id,
            event.attempt,
            StopReason::NotHeld,
        )
        .await?;
        state.outbox_written();
    }
    Ok(())
}

/// What became of a lost attempt the sweeper found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// The machine judged it (given up, or found not lost after all).
    GivenUp { wrote_outbox: bool },
    /// Nothing could be done: its deployment is gone or unreadable (an operator cancels
    /// it), or the machine refused the loss. The sweeper leaves it out for a while.
    PassedOver,
}

/// Gives up on one lost attempt found by the sweeper.
pub async fn expire(
    state: &AppState,
    lost: &deployments::LostAttempt,
    dispatch_timeout_seconds: u64,
) -> Result<Expired, StorageError> {
    let mut client = state.pool().get().await?;
    let transaction = client.transaction().await?;
    let loaded = match load::lock(&transaction, state.known_states(), lost.deployment_id).await? {
        Some(Locked::Readable(loaded)) => loaded,
        _ => return Ok(Expired::PassedOver),
    };
    let Some((step, target)) = loaded.locate(lost.step_run_id) else {
        return Ok(Expired::PassedOver);
    };
    let silent_seconds = u64::try_from(lost.silent_seconds).unwrap_or(0);
    let why = match &lost.claimed_by {
        None => LostAttempt::NotTaken {
            waited_seconds: dispatch_timeout_seconds.max(silent_seconds),
        },
        Some(worker) => LostAttempt::Silent {
            worker: worker.clone(),
            silent_seconds,
        },
    };
    let command = Command::Lost {
        step,
        target,
        attempt: u32::try_from(lost.attempt).unwrap_or(u32::MAX),
        why,
    };
    let driven = match drive(state, &transaction, &loaded, command).await {
        Ok(driven) => driven,
        Err(CommandError::Storage(error)) => return Err(error),
        Err(CommandError::Refused(refusal)) => {
            tracing::warn!(deployment_id = %lost.deployment_id, %refusal, "a lost attempt could not be given up");
            return Ok(Expired::PassedOver);
        }
    };
    if driven.stale().is_none() {
        tracing::warn!(deployment_id = %lost.deployment_id, step_run_id = %lost.step_run_id, attempt = lost.attempt, "gave up on a lost attempt");
    }
    let wrote_outbox = driven.wrote_outbox;
    driven.commit(state, transaction).await?;
    Ok(Expired::GivenUp { wrote_outbox })
}
