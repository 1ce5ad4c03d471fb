//! A worker's result for one attempt of a step: its last log lines are stored, then the state
//! machine decides (record it, retry, ask a person, go on, finish) and the next job or the
//! finish is written, in one transaction. A duplicated event changes nothing; a late or
//! stale result only adds its log lines.

use chrono::SubsecRound;
use ferry_contracts::{StepEvent, StepEventBody};
use ferry_domain::deployment::{Command, StepReport};
use ferry_storage::{StorageError, deployments, processed, task_log};

use super::drive::{CommandError, Offer, drive_offered};
use super::load::{self, Locked};
use super::messages::ChainedMessage;
use crate::AppState;

/// The name under which applied step events are recorded in `processed_messages`.
pub(crate) const CONSUMER: &str = "api.step-events";

/// What applying a result left for the consumer to do after commit.
#[derive(Debug, Default)]
pub struct Applied {
    /// Messages were written to the outbox for the relay: wake it.
    pub wrote_outbox: bool,
    pub offer: OfferOutcome,
}

/// What became of the worker's offer to run the next step.
#[derive(Debug, Default)]
pub enum OfferOutcome {
    /// None was made, or the event was a duplicate (whose first application may have
    /// granted it): nothing to say.
    #[default]
    Unanswered,
    /// Granted: send the next step's job to the worker now.
    Granted(ChainedMessage),
    /// Not taken: tell the worker, so it frees the slot it kept.
    Declined,
}

/// Applies a `Finished` step event. `offer` is the worker's offer to run the next step, with
/// the pool it came from (`None` for an event that arrived another way).
pub async fn apply(
    state: &AppState,
    event: &StepEvent,
    offer: Option<&Offer>,
) -> Result<Applied, StorageError> {
    let StepEventBody::Finished {
        lines,
        outcome,
        started_at,
        finished_at,
        outputs,
        lines_before,
        next: _,
    } = &event.body
    else {
        return Err(StorageError::Corrupt(format!(
            "event {} is not a result",
            event.event_id
        )));
    };
    let mut client = state.pool().get().await?;
    let transaction = client.transaction().await?;
    // A result may finish the deployment and start the next queued one: `lock` takes the
    // project+environment lock first. The event's id is recorded in the same breath (the two
    // statements travel together; a duplicate then only held the locks a moment).
    let (deployment_id, step_run_id) = (event.deployment_id, event.step_run_id);
    let (first_time, locked) = tokio::join!(
        processed::first_time(&transaction, CONSUMER, event.event_id),
        load::lock(&transaction, state.known_states(), deployment_id),
    );
    if !first_time? {
        tracing::debug!(event_id = %event.event_id, "duplicate step event ignored");
        transaction.commit().await?;
        return Ok(Applied::default());
    }
    let locked =
        locked?.ok_or_else(|| StorageError::Missing(format!("deployment {deployment_id}")))?;
    let belongs = match &locked {
        Locked::Readable(loaded) => loaded.locate(step_run_id).is_some(),
        Locked::Unreadable { .. } => {
            deployments::has_step_run(&transaction, deployment_id, step_run_id).await?
        }
    };
    if !belongs {
        return Err(StorageError::Missing(format!("step run {step_run_id}")));
    }
    // The result waits for the log lines sent before it, so the log reads in order.
    let first = lines.first().map(|line| line.sequence).or(*lines_before);
    if let Some(first) = first {
        task_log::check_next_sequence(&transaction, step_run_id, event.attempt, first).await?;
    }
    // The lines are kept whatever the result means (even when it is stale).
    task_log::append_step_log(
        &transaction,
        deployment_id,
        step_run_id,
        event.attempt,
        lines,
    )
    .await?;
    let loaded = match locked {
        Locked::Readable(loaded) => loaded,
        // A deployment that ended although its data cannot be read (cancelled as damaged):
        // the result is stale; only its lines were worth keeping.
        Locked::Unreadable { standing, .. } if standing.status.is_terminal() => {
            tracing::info!(%deployment_id, %step_run_id, "result for a finished deployment with damaged data: lines kept");
            transaction.commit().await?;
            return Ok(Applied {
                wrote_outbox: false,
                offer: declined(offer),
            });
        }
        // A running deployment that cannot be read cannot take its result: parked for an
        // operator (retrying cannot help).
        Locked::Unreadable { why, .. } => return Err(StorageError::Corrupt(why)),
    };
    let (step, target) = loaded
        .locate(step_run_id)
        .ok_or_else(|| StorageError::Missing(format!("step run {step_run_id}")))?;
    let report = StepReport {
        step,
        target,
        // An attempt no dispatch ever had (negative) is simply stale.
        attempt: u32::try_from(event.attempt).unwrap_or(u32::MAX),
        outcome: outcome.clone(),
        // To the microsecond PostgreSQL keeps: the state kept after this command is then the
        // one a fresh read gives (`known.rs`).
        started_at: started_at.trunc_subsecs(6),
        finished_at: finished_at.trunc_subsecs(6),
        outputs: outputs.clone(),
    };
    let command = Command::StepFinished(report);
    let driven = match drive_offered(state, &transaction, &loaded, command, offer).await {
        Ok(driven) => driven,
        Err(CommandError::Storage(error)) => return Err(error),
        Err(CommandError::Refused(refusal)) => {
            return Err(StorageError::Corrupt(format!(
                "the result for step run {} was refused: deployment {refusal}",
                event.step_run_id
            )));
        }
    };
    if let Some(stale) = driven.stale() {
        tracing::info!(
            event_id = %event.event_id,
            step_run_id = %event.step_run_id,
            attempt = event.attempt,
            ?stale,
            "stale step result ignored"
        );
    }
    let applied = Applied {
        wrote_outbox: driven.wrote_outbox,
        offer: match &driven.chained {
            Some(chained) => OfferOutcome::Granted(chained.clone()),
            None => declined(offer),
        },
    };
    driven.commit(state, transaction).await?;
    Ok(applied)
}

fn declined(offer: Option<&Offer>) -> OfferOutcome {
    match offer {
        Some(_) => OfferOutcome::Declined,
        None => OfferOutcome::Unanswered,
    }
}
