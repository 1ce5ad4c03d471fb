//! Stop messages: the API's fanout of "stop attempt n of step run S" (a cancelled deployment),
//! heard by every worker and applied to the attempt if it runs here, or remembered for a while
//! if its job has not started yet.

use std::sync::Arc;

use ferry_contracts::StopStep;
use futures_util::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::{REMEMBER_STOPS, WorkerContext};

/// Hears stop messages (cancelled deployments) and stops the matching running attempt.
/// Control messages are not acknowledged one by one: a lost one only means a cancelled
/// script runs on until it ends, and its result is ignored as stale.
pub(crate) async fn listen_for_stops(
    channel: lapin::Channel,
    queue: String,
    context: Arc<WorkerContext>,
    shutdown: CancellationToken,
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
            tracing::error!(%error, "cannot listen for stop messages; cancelled steps will run to their end");
            return;
        }
    };
    loop {
        let delivery = tokio::select! {
            () = shutdown.cancelled() => return,
            delivery = consumer.next() => delivery,
        };
        let Some(Ok(delivery)) = delivery else {
            return;
        };
        let Ok(stop) = serde_json::from_slice::<StopStep>(&delivery.data) else {
            tracing::warn!("ignoring a control message that is not a stop message");
            continue;
        };
        let token = context.running.lock().ok().and_then(|running| {
            running
                .get(&(stop.step_run_id, stop.attempt))
                .map(|(_, token)| token.clone())
        });
        match token {
            Some(token) => {
                tracing::info!(step_run_id = %stop.step_run_id, attempt = stop.attempt, "stopping a cancelled step");
                token.cancel();
            }
            None => {
                if let Ok(mut stopped) = context.stopped.lock() {
                    stopped.retain(|_, heard| heard.elapsed() < REMEMBER_STOPS);
                    stopped.insert((stop.step_run_id, stop.attempt), std::time::Instant::now());
                }
            }
        }
    }
}
