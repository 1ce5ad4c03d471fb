//! The sweeper: no deployment stays Running for ever. Every few seconds it looks for running
//! attempts whose job no worker claimed within the dispatch timeout, or whose worker sent no
//! heartbeat for longer than the lease, and gives each up (`orchestrator::lease::expire`);
//! and it ends the health checks and discoveries no worker answered in time
//! (`target_checks::expire_overdue`).
//!
//! Heartbeats reach the database only while RabbitMQ and PostgreSQL are both reachable from
//! here, so the sweeper gives up on nothing until both have been for a whole lease and the
//! longest retry delay: after an outage, the heartbeats and results held up by it (waiting
//! in the retry queue) arrive before any lease is judged.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferry_storage::deployments::LostAttemptsQuery;
use uuid::Uuid;

use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::orchestrator::lease::{self, Expired};

const SWEEP_INTERVAL: Duration = Duration::from_secs(2);
/// The step-event consumer's longest retry delay: a step event held up by an outage comes back
/// from its retry queue within it.
const LONGEST_RETRY_DELAY: Duration = Duration::from_secs(60);
/// Lost attempts given up per sweep (the rest wait for the next one).
const BATCH: i64 = 100;
/// How long an attempt the sweeper could not act on (its deployment unreadable, its loss
/// refused) is left out of the sweeps before it is looked at again.
const PASS_OVER: Duration = Duration::from_secs(600);

pub async fn run(state: AppState, shutdown: CancellationToken) {
    let lease_seconds = state.config().lease_seconds;
    let dispatch_timeout = state.config().dispatch_timeout_seconds;
    let lease = Duration::from_secs(lease_seconds);
    let mut healthy_since: Option<Instant> = None;
    let mut passed_over: HashMap<Uuid, Instant> = HashMap::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(SWEEP_INTERVAL) => {}
        }
        passed_over.retain(|_, since| since.elapsed() < PASS_OVER);
        let left_out: Vec<Uuid> = passed_over.keys().copied().collect();
        let found = async {
            let client = state.db().await?;
            let query = LostAttemptsQuery {
                dispatch_timeout_seconds: dispatch_timeout as f64,
                lease_seconds: lease_seconds as f64,
                passed_over: &left_out,
                limit: BATCH,
            };
            ferry_storage::deployments::lost_attempts(&client, &query).await
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
        // Health checks and discoveries no worker answered in time end Unavailable.
        if let Err(error) = crate::target_checks::expire_overdue(&state).await {
            tracing::warn!(%error, "could not end overdue health checks; will try again");
        }
        let mut wrote = false;
        for attempt in &lost {
            match lease::expire(&state, attempt, dispatch_timeout).await {
                Ok(Expired::GivenUp { wrote_outbox }) => wrote |= wrote_outbox,
                Ok(Expired::PassedOver) => {
                    passed_over.insert(attempt.step_run_id.into_uuid(), Instant::now());
                }
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
