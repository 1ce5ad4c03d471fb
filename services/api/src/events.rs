//! The consumer of step events: parses each event and hands it to the orchestrator
//! (`orchestrator::step_log` for log lines, `orchestrator::step_result` for a result), which
//! applies it in one transaction; then acknowledges it. A message that can never apply (not
//! a step event, about a deployment that does not exist, or whose stored data cannot be read)
//! is parked in the dead-letter queue; anything else is retried.

use std::sync::Arc;

use ferry_broker::{ConsumerOptions, Delivery, Handled, run_consumer};
use ferry_contracts::{StepEvent, StepEventBody};
use ferry_storage::StorageError;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::orchestrator::{step_log, step_result};

pub async fn run(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let topology = state.topology().clone();
    let spec = topology.step_events();
    let options = ConsumerOptions::new("ferry-api", state.config().event_concurrency);
    let handler_state = state.clone();
    run_consumer(
        state.broker(),
        &topology,
        &spec,
        options,
        move |delivery: Arc<Delivery>| {
            let state = handler_state.clone();
            async move { handle(&state, &delivery).await }
        },
        shutdown,
    )
    .await?;
    Ok(())
}

async fn handle(state: &AppState, delivery: &Delivery) -> Handled {
    let event: StepEvent = match serde_json::from_slice(&delivery.data) {
        Ok(event) => event,
        Err(error) => {
            return Handled::Reject {
                reason: format!("not a step event: {error}"),
            };
        }
    };
    let applied = match &event.body {
        StepEventBody::Log { .. } => step_log::append(state, &event).await.map(|()| false),
        StepEventBody::Finished { .. } => step_result::apply(state, &event).await,
    };
    match applied {
        Ok(wrote_outbox) => {
            if wrote_outbox {
                state.outbox_written();
            }
            Handled::Done
        }
        Err(StorageError::Missing(what)) => Handled::Reject {
            reason: format!(
                "event {} refers to {what}, which does not exist",
                event.event_id
            ),
        },
        // Stored data that cannot be read stays unreadable however often the event is tried.
        Err(StorageError::Corrupt(why)) => Handled::Reject {
            reason: format!(
                "event {} cannot be applied: stored data is not readable: {why}",
                event.event_id
            ),
        },
        Err(error) => Handled::RetryLater {
            reason: error.to_string(),
        },
    }
}
