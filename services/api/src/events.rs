//! The consumer of step events: parses each event and hands it to the orchestrator
//! (`orchestrator::step_log` for log lines, `orchestrator::step_result` for a result), which
//! applies it in one transaction; then acknowledges it. A message that can never apply (not
//! a step event, about a deployment that does not exist, or whose stored data cannot be read)
//! is parked in the dead-letter queue; anything else is retried.

use std::sync::Arc;

use ferry_broker::{ConsumerOptions, Delivery, Handled, run_consumer};
use ferry_contracts::{StepEvent, StepEventBody, StepOutcome};
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
        Ok(event) => storable(event),
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

/// A step event whose texts PostgreSQL can store: a NUL character (which a script can print)
/// becomes U+FFFD in log lines, the failure reason and outputs, instead of failing the
/// event's transaction for ever and stranding its deployment.
fn storable(mut event: StepEvent) -> StepEvent {
    fn clean(text: &mut String) {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{FFFD}");
        }
    }
    match &mut event.body {
        StepEventBody::Log { lines } => lines.iter_mut().for_each(|line| clean(&mut line.text)),
        StepEventBody::Finished {
            lines,
            outcome,
            outputs,
            ..
        } => {
            lines.iter_mut().for_each(|line| clean(&mut line.text));
            if let StepOutcome::Failed { reason, .. } = outcome {
                clean(reason);
            }
            if outputs
                .keys()
                .chain(outputs.values())
                .any(|text| text.contains('\0'))
            {
                *outputs = std::mem::take(outputs)
                    .into_iter()
                    .map(|(mut name, mut value)| {
                        clean(&mut name);
                        clean(&mut value);
                        (name, value)
                    })
                    .collect();
            }
        }
    }
    event
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::Utc;
    use ferry_contracts::{LogLine, LogStream};
    use ferry_domain::{DeploymentId, StepRunId};
    use uuid::Uuid;

    #[test]
    fn nul_characters_from_a_script_become_replacement_characters() {
        let line = LogLine {
            sequence: 0,
            stream: LogStream::Stdout,
            logged_at: Utc::now(),
            text: "a\0b".into(),
        };
        let event = StepEvent {
            event_id: Uuid::nil(),
            deployment_id: DeploymentId::from(Uuid::nil()),
            step_run_id: StepRunId::from(Uuid::nil()),
            attempt: 1,
            body: StepEventBody::Finished {
                lines: vec![line],
                outcome: StepOutcome::Failed {
                    exit_code: Some(1),
                    reason: "bad\0reason".into(),
                },
                started_at: Utc::now(),
                finished_at: Utc::now(),
                outputs: [("k\0".to_owned(), "v\0".to_owned())].into(),
            },
        };
        let StepEventBody::Finished {
            lines,
            outcome,
            outputs,
            ..
        } = storable(event).body
        else {
            unreachable!()
        };
        assert_eq!(lines[0].text, "a\u{FFFD}b");
        assert_eq!(
            outcome,
            StepOutcome::Failed {
                exit_code: Some(1),
                reason: "bad\u{FFFD}reason".into()
            }
        );
        assert_eq!(outputs["k\u{FFFD}"], "v\u{FFFD}");
    }
}
