//! A worker's log lines for a running step: stored under the deployment's row lock (so the
//! lines and results of one deployment are applied one after another), keyed by step run,
//! attempt and sequence so a redelivered batch inserts nothing twice. Log lines change no
//! state; lines of a stale attempt are kept too.

use ferry_contracts::{StepEvent, StepEventBody};
use ferry_storage::{StorageError, deployments, processed, task_log};

use super::step_result::CONSUMER;
use crate::AppState;

/// Applies a `Log` step event.
pub async fn append(state: &AppState, event: &StepEvent) -> Result<(), StorageError> {
    let StepEventBody::Log { lines } = &event.body else {
        return Err(StorageError::Corrupt(format!(
            "event {} is not a log event",
            event.event_id
        )));
    };
    let mut client = state.pool().get().await?;
    let transaction = client.transaction().await?;
    if !processed::first_time(&transaction, CONSUMER, event.event_id).await? {
        tracing::debug!(event_id = %event.event_id, "duplicate step event ignored");
        transaction.commit().await?;
        return Ok(());
    }
    let (deployment_id, step_run_id) = (event.deployment_id, event.step_run_id);
    deployments::lock(&transaction, deployment_id)
        .await?
        .ok_or_else(|| StorageError::Missing(format!("deployment {deployment_id}")))?;
    if !deployments::has_step_run(&transaction, deployment_id, step_run_id).await? {
        return Err(StorageError::Missing(format!("step run {step_run_id}")));
    }
    // Batches may be applied in another order than they were sent (the consumer applies
    // several at once): a batch after a gap waits for the one before it.
    if let Some(first) = lines.first() {
        task_log::check_next_sequence(&transaction, step_run_id, event.attempt, first.sequence)
            .await?;
    }
    task_log::append_step_log(
        &transaction,
        deployment_id,
        step_run_id,
        event.attempt,
        lines,
    )
    .await?;
    transaction.commit().await?;
    Ok(())
}
