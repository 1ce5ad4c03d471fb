//! Which worker pool sent a step event, and whether that pool may speak for its step: each
//! pool's workers publish to an exchange of their own (`Topology::worker_events_exchange`,
//! which their RabbitMQ user alone may write to), so an event that arrived through pool
//! `dev`'s exchange about a step whose job was sent to pool `prod` is forged, and is parked
//! without being applied (ARCHITECTURE.md, "Threat model").
//!
//! Events that arrived another way (the default exchange after a retry or a replay, which
//! keep the first exchange in a header; the events exchange) come from the API itself or an
//! operator, whose users alone may publish there.

use std::collections::HashMap;
use std::sync::Mutex;

use ferry_broker::Delivery;
use ferry_contracts::StepEvent;
use ferry_domain::StepRunId;
use ferry_storage::{StorageError, deployments};

use crate::AppState;

/// Step runs whose pool was looked up, kept until there are this many.
const REMEMBERED: usize = 50_000;

#[derive(Default)]
pub struct Senders {
    /// The pool each attempt of a step run was sent to (a retry may go to another pool, when
    /// its project changed pools meanwhile).
    known: Mutex<HashMap<(StepRunId, i32), String>>,
}

impl Senders {
    /// Remembers the pool an attempt was sent to as it is sent (a chained job), so its first
    /// event costs no lookup.
    pub fn remember(&self, step_run_id: StepRunId, attempt: i32, pool: String) {
        if let Ok(mut known) = self.known.lock() {
            if known.len() >= REMEMBERED {
                known.clear();
            }
            known.insert((step_run_id, attempt), pool);
        }
    }

    /// `Ok(Ok(()))` when the event may be applied; `Ok(Err(why))` when it came from another
    /// pool than its step's.
    pub async fn check(
        &self,
        state: &AppState,
        delivery: &Delivery,
        event: &StepEvent,
    ) -> Result<Result<(), String>, StorageError> {
        let through = ferry_broker::arrived_through(delivery);
        let Some(sender) = state.topology().pool_of_worker_events(&through) else {
            return Ok(Ok(()));
        };
        let remembered = self
            .known
            .lock()
            .ok()
            .and_then(|known| known.get(&(event.step_run_id, event.attempt)).cloned());
        if remembered.as_deref() == Some(sender) {
            return Ok(Ok(()));
        }
        let client = state.db().await?;
        let dispatched = deployments::dispatched_pool(&client, event.step_run_id).await?;
        match dispatched {
            // An attempt not sent yet has no pool that may speak for it (remembering the
            // current pool for it would let that pool speak for a retry sent elsewhere).
            Some((current, _)) if event.attempt > current => Ok(Err(format!(
                "event {} arrived from worker pool `{sender}` about attempt {} of step run {}, which was never sent (the current attempt is {current})",
                event.event_id, event.attempt, event.step_run_id
            ))),
            // Only the current attempt's pool is known, so an earlier attempt's event (stale
            // anyway) is believed only from that pool, and only the current one is remembered.
            Some((current, pool)) if pool == sender => {
                if event.attempt == current
                    && let Ok(mut known) = self.known.lock()
                {
                    if known.len() >= REMEMBERED {
                        known.clear();
                    }
                    known.insert((event.step_run_id, event.attempt), pool);
                }
                Ok(Ok(()))
            }
            Some((_, pool)) => Ok(Err(format!(
                "event {} arrived from worker pool `{sender}`, but its step's job was sent to pool `{pool}`",
                event.event_id
            ))),
            None => Ok(Err(format!(
                "event {} arrived from worker pool `{sender}` about step run {}, which was never sent to a worker",
                event.event_id, event.step_run_id
            ))),
        }
    }
}
