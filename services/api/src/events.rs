//! The consumer of step events (and of health check results, `target_checks.rs`): parses
//! each event and hands it to the orchestrator
//! (`orchestrator::claim` for a claim, answered on the worker's private queue,
//! `orchestrator::lease` for a heartbeat, `orchestrator::step_log` for log lines,
//! `orchestrator::step_result` for a result), which applies it in one transaction; then
//! acknowledges it. A message that can never apply (not
//! a step event, about a deployment that does not exist, or whose stored data cannot be read)
//! is parked in the dead-letter queue; anything else is retried.

use std::sync::Arc;

use ferry_broker::{ConsumerOptions, Delivery, FieldTable, Handled, OutgoingMessage, run_consumer};
use ferry_contracts::{ClaimAnswer, MessageKind, NextClaim, StepEvent, StepEventBody, StepOutcome};
use ferry_domain::ClaimId;
use ferry_storage::StorageError;
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::orchestrator::step_result::OfferOutcome;
use crate::orchestrator::{Offer, claim, lease, step_log, step_result};
use crate::senders::Senders;

/// Attempts of a step event before it is parked: with the doubling delay capped at a
/// minute, about a quarter of an hour, so a database outage of that long loses no result.
const EVENT_ATTEMPTS: u32 = 20;

/// Consumes step events until `shutdown` is cancelled, reconnecting whenever the broker
/// connection is lost.
pub async fn run(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let topology = state.topology().clone();
    let spec = topology.step_events();
    let senders = Arc::new(Senders::default());
    while let Some(linked) = state.link().get(&shutdown).await {
        let mut options = ConsumerOptions::new("ferry-api", state.config().event_concurrency);
        options.max_attempts = EVENT_ATTEMPTS;
        let handler_state = state.clone();
        let senders = Arc::clone(&senders);
        let result = run_consumer(
            &linked.connection,
            &topology,
            &spec,
            options,
            move |delivery: Arc<Delivery>| {
                let state = handler_state.clone();
                let senders = Arc::clone(&senders);
                async move { handle(&state, &senders, &delivery).await }
            },
            shutdown.clone(),
        )
        .await;
        match result {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(%error, "lost RabbitMQ; the step-event consumer reconnects");
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    Ok(())
}

async fn handle(state: &AppState, senders: &Senders, delivery: &Delivery) -> Handled {
    // A health check's or discovery's answer travels the same way as step events, told
    // apart by its AMQP type.
    let kind = delivery
        .properties
        .kind()
        .as_ref()
        .map(|kind| kind.as_str());
    if kind == Some(MessageKind::TargetCheckResult.as_str()) {
        return crate::target_checks::apply(state, delivery).await;
    }
    let event: StepEvent = match serde_json::from_slice(&delivery.data) {
        Ok(event) => storable(event),
        Err(error) => {
            return Handled::Reject {
                reason: format!("not a step event: {error}"),
            };
        }
    };
    match senders.check(state, delivery, &event).await {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => return Handled::Reject { reason },
        Err(error) => return settled(state, &event, Err(error)),
    }
    let applied = match &event.body {
        StepEventBody::Claim { worker, reply_to } => {
            return answer_claim(state, &event, worker, reply_to).await;
        }
        StepEventBody::Heartbeat { worker } => lease::heartbeat(state, &event, worker)
            .await
            .map(|()| false),
        StepEventBody::Log { .. } => step_log::append(state, &event).await.map(|()| false),
        StepEventBody::Finished { next, .. } => {
            let offer = next
                .as_ref()
                .and_then(|next| offer_of(state, delivery, &event, next));
            return apply_result(state, senders, &event, offer).await;
        }
    };
    settled(state, &event, applied)
}

/// A worker's offer to run the next step, when it can be taken: a valid worker name, a
/// private queue to answer on, and a result that came through a pool's own exchange.
fn offer_of(
    state: &AppState,
    delivery: &Delivery,
    event: &StepEvent,
    next: &NextClaim,
) -> Option<Offer> {
    let through = ferry_broker::arrived_through(delivery);
    let pool = state.topology().pool_of_worker_events(&through)?;
    if !is_private_queue(&next.reply_to) || claim::worker_name_problem(&next.worker).is_some() {
        tracing::info!(event_id = %event.event_id, "ignoring an offer to run the next step that names no private queue or a bad worker name");
        return None;
    }
    Some(Offer {
        claim_id: ClaimId::from_uuid(next.claim_id),
        worker: next.worker.clone(),
        reply_to: next.reply_to.clone(),
        pool: pool.to_owned(),
    })
}

/// Applies a result; then sends the chained job to the worker whose offer was granted, or
/// tells an offering worker there is none, so it frees the slot it kept.
async fn apply_result(
    state: &AppState,
    senders: &Senders,
    event: &StepEvent,
    offer: Option<Offer>,
) -> Handled {
    let applied = match step_result::apply(state, event, offer.as_ref()).await {
        Ok(applied) => applied,
        Err(error) => return settled(state, event, Err(error)),
    };
    if let OfferOutcome::Granted(chained) = &applied.offer {
        let (step_run_id, attempt) = chained.attempt;
        senders.remember(step_run_id, attempt, chained.pool.clone());
        let sent = send_private(
            state,
            &chained.reply_to,
            &chained.message_id.to_string(),
            MessageKind::ChainedJob,
            &chained.payload,
        )
        .await;
        match sent {
            Ok(()) => mark_sent(state, chained.outbox_id),
            Err(error) => {
                // The outbox keeps it: the relay sends it (or drops it if the worker's queue
                // is gone, and the attempt's lease gives it up).
                tracing::info!(%error, "could not send a chained job at once; the relay sends it");
                state.outbox_written();
            }
        }
    } else if let OfferOutcome::Declined = applied.offer
        && let Some(offer) = &offer
    {
        let answer = ClaimAnswer {
            claim_id: offer.claim_id.into_uuid(),
            granted: false,
            reason: Some("the deployment has no next step for this worker".into()),
        };
        if let Ok(payload) = serde_json::to_vec(&answer) {
            let message_id = uuid::Uuid::now_v7().to_string();
            // Best effort: an offer never answered expires in the worker.
            let _ = send_private(
                state,
                &offer.reply_to,
                &message_id,
                MessageKind::ClaimAnswer,
                &payload,
            )
            .await;
        }
    }
    settled(state, event, Ok(applied.wrote_outbox))
}

/// Stamps a chained job the committer sent as published, off the consumer's path; if this
/// fails, the relay sends it again and the worker ignores the copy (its offer is spent).
fn mark_sent(state: &AppState, outbox_id: i64) {
    let state = state.clone();
    tokio::spawn(async move {
        let marked = async {
            let client = state.db().await?;
            ferry_storage::outbox::mark_published(&client, &[outbox_id]).await
        }
        .await;
        if let Err(error) = marked {
            tracing::debug!(%error, outbox_id, "could not stamp a chained job published");
        }
    });
}

/// Whether `queue` is a server-named private queue (`amq.gen-…`): the only kind of queue a
/// worker may ask the API to publish to.
fn is_private_queue(queue: &str) -> bool {
    queue.starts_with("amq.gen-") && queue.len() <= 255
}

/// Publishes straight to a worker's private queue (not through the outbox), with the link's
/// publisher of the moment; answers expire after a minute.
async fn send_private(
    state: &AppState,
    queue: &str,
    message_id: &str,
    kind: MessageKind,
    payload: &[u8],
) -> Result<(), ferry_broker::BrokerError> {
    let publisher = state.link().publisher().await?;
    publisher
        .publish(OutgoingMessage {
            exchange: "",
            routing_key: queue,
            message_id,
            kind: kind.as_str(),
            payload,
            headers: FieldTable::default(),
            expiration_ms: Some(60_000),
        })
        .await
}

/// Applies a claim and sends its answer to the worker's private queue. A reply that cannot
/// be delivered (the worker reconnected, its queue is gone) is dropped: the worker sends the
/// claim again, with the same id, and gets the same answer.
async fn answer_claim(
    state: &AppState,
    event: &StepEvent,
    worker: &str,
    reply_to: &str,
) -> Handled {
    // Only a server-named private queue: a claim must not make the API publish anywhere else.
    if !is_private_queue(reply_to) {
        return Handled::Reject {
            reason: format!(
                "claim {} names `{reply_to}` for its answer, which is not a private queue",
                event.event_id
            ),
        };
    }
    let answer = match claim::apply(state, event, worker).await {
        Ok(answer) => answer,
        Err(error) => return settled(state, event, Err(error)),
    };
    let payload = match serde_json::to_vec(&answer) {
        Ok(payload) => payload,
        Err(error) => {
            return Handled::RetryLater {
                reason: error.to_string(),
            };
        }
    };
    let message_id = uuid::Uuid::now_v7().to_string();
    let sent = send_private(
        state,
        reply_to,
        &message_id,
        MessageKind::ClaimAnswer,
        &payload,
    )
    .await;
    if let Err(error) = sent {
        tracing::info!(%error, claim_id = %event.event_id, "could not answer a claim; the worker asks again");
    }
    Handled::Done
}

/// What the consumer does with an event once applied (or not).
fn settled(state: &AppState, event: &StepEvent, applied: Result<bool, StorageError>) -> Handled {
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
        StepEventBody::Claim { worker, .. } | StepEventBody::Heartbeat { worker } => clean(worker),
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
                lines_before: None,
                next: None,
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
