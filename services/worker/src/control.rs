//! The worker's private queue, one per connection: the API's answers to its claims, and
//! stop messages (a cancelled deployment, an attempt given up as lost) from the control
//! fanout, applied to the attempt if this worker holds it.

use std::sync::{Arc, OnceLock};

use ferry_contracts::{ChainedJob, ClaimAnswer, MessageKind, StopStep};
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::WorkerContext;

/// A request to stop one attempt, with why.
#[derive(Debug, Clone, Default)]
pub(crate) struct Stop {
    token: CancellationToken,
    why: Arc<OnceLock<String>>,
}

impl Stop {
    pub(crate) fn request(&self, why: &str) {
        let _ = self.why.set(why.to_owned());
        self.token.cancel();
    }

    /// Why the attempt was asked to stop, if it was.
    pub(crate) fn requested(&self) -> Option<&str> {
        self.token
            .is_cancelled()
            .then(|| self.why.get().map_or("it was stopped", String::as_str))
    }

    pub(crate) async fn cancelled(&self) {
        self.token.cancelled().await;
    }
}

/// Hears claim answers and stop messages until `lost` is cancelled or the queue closes
/// (then cancels `lost`, so the worker reconnects). Messages on this queue are not
/// acknowledged one by one: a lost answer is asked again, a lost stop only means a stopped
/// script runs on until it ends, and its result is ignored as stale.
pub(crate) async fn listen(
    channel: lapin::Channel,
    queue: String,
    context: Arc<WorkerContext>,
    lost: CancellationToken,
) {
    let consumer = channel
        .basic_consume(
            queue.into(),
            "ferry-worker-control".into(),
            lapin::options::BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            ferry_broker::FieldTable::default(),
        )
        .await;
    let mut consumer = match consumer {
        Ok(consumer) => consumer,
        Err(error) => {
            tracing::error!(%error, "cannot listen on the worker's private queue");
            lost.cancel();
            return;
        }
    };
    let mut expiry = tokio::time::interval(std::time::Duration::from_secs(5));
    loop {
        let delivery = tokio::select! {
            () = lost.cancelled() => break,
            delivery = consumer.next() => delivery,
            _ = expiry.tick() => {
                context.offers.expire();
                continue;
            }
        };
        let Some(Ok(delivery)) = delivery else {
            lost.cancel();
            break;
        };
        let kind = delivery
            .properties
            .kind()
            .as_ref()
            .map(|kind| kind.as_str().to_owned());
        if kind.as_deref() == Some(MessageKind::ClaimAnswer.as_str()) {
            let Ok(answer) = serde_json::from_slice::<ClaimAnswer>(&delivery.data) else {
                tracing::warn!("ignoring a claim answer that does not parse");
                continue;
            };
            let waiting = context
                .claims
                .lock()
                .ok()
                .and_then(|mut claims| claims.remove(&answer.claim_id));
            match waiting {
                Some(waiting) => {
                    let _ = waiting.send(answer);
                }
                // Or the refusal of an offer to run a next step: its slot is freed.
                None => {
                    context.offers.withdraw(answer.claim_id);
                }
            }
            continue;
        }
        if kind.as_deref() == Some(MessageKind::ChainedJob.as_str()) {
            match serde_json::from_slice::<ChainedJob>(&delivery.data) {
                Ok(chained) => crate::chain::start(&context, chained),
                Err(error) => tracing::warn!(%error, "ignoring a chained job that does not parse"),
            }
            continue;
        }
        let Ok(stop) = serde_json::from_slice::<StopStep>(&delivery.data) else {
            tracing::warn!("ignoring a control message that is not a stop message");
            continue;
        };
        context.offers.stop((stop.step_run_id, stop.attempt));
        let held = context.running.lock().ok().and_then(|running| {
            running
                .get(&(stop.step_run_id, stop.attempt))
                .map(|(_, stop)| stop.clone())
        });
        if let Some(held) = held {
            tracing::info!(step_run_id = %stop.step_run_id, attempt = stop.attempt, reason = stop.reason.as_deref().unwrap_or("cancelled"), "stopping a step");
            held.request(
                stop.reason
                    .as_deref()
                    .unwrap_or("the deployment was cancelled"),
            );
        }
    }
    // Answers to open offers went to this queue, which is going away.
    context.offers.clear();
}
