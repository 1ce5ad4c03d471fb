//! The sweeper: no deployment stays Running for ever. Every few seconds it looks for running
//! attempts whose job no worker claimed within the dispatch timeout, or whose worker sent no
//! heartbeat for longer than the lease, and gives each up (`orchestrator::lease::expire`).
//!
//! Heartbeats reach the database only while RabbitMQ and PostgreSQL are both reachable from
//! here, so the sweeper gives up on nothing until both have been for a whole lease and the
//! longest retry delay: after an outage, the heartbeats and results held up by it (waiting
//! in the retry queue) arrive before any lease is judged.

use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::orchestrator::lease;

const SWEEP_INTERVAL: Duration = Duration::from_secs(2);
/// The step-event consumer's longest retry delay: a step event held up by an outage comes back
/// from its retry queue within it.
const LONGEST_RETRY_DELAY: Duration = Duration::from_secs(60);
/// Lost attempts given up per sweep (the rest wait for the next one).
const BATCH: i64 = 100;

pub async fn run(state: AppState, shutdown: CancellationToken) {
    let lease_seconds = state.config().lease_seconds;
    let dispatch_timeout = state.config().dispatch_timeout_seconds;
    let lease = Duration::from_secs(lease_seconds);
    let mut healthy_since: Option<Instant> = None;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(SWEEP_INTERVAL) => {}
        }
        let found = async {
            let client = state.db().await?;
            ferry_storage::deployments::lost_attempts(
                &client,
                dispatch_timeout as f64,
                lease_seconds as f64,
                BATCH,
            )
            .await
        }
        .await;
        let lost = match found {
            Ok(lost) if state.broker_connected() => lost,
            Ok(_) => {
                healthy_since = None;
                continue;
            }
            Err(error) => {
                tracing::debug!(%error, "sweeper cannot read the database");
                healthy_since = None;
                continue;
            }
        };
        let since = *healthy_since.get_or_insert_with(Instant::now);
        // A lease, and the longest retry delay (or a second lease, when leases are shorter).
        if since.elapsed() < lease + lease.min(LONGEST_RETRY_DELAY) {
            continue;
        }
        let mut wrote = false;
        for attempt in &lost {
            match lease::expire(&state, attempt, dispatch_timeout).await {
                Ok(outbox) => wrote |= outbox,
                Err(error) => {
                    tracing::warn!(%error, deployment_id = %attempt.deployment_id, "could not give up a lost attempt; will try again");
                }
            }
        }
        if wrote {
            state.outbox_written();
        }
    }
}
