//! Chained claims from the worker's side (ARCHITECTURE.md, "Chained claims"): with the result
//! of a step it ran on its own host, the worker offers to run the next step (of that
//! deployment, or the first of the next one queued for its project and environment) and
//! keeps the finished step's slot for it. The API grants the offer in the result's own
//! transaction and sends the next job to this worker's private queue, where it starts at
//! once, without a claim of its own; or it declines, and the slot is freed.
//!
//! An offer is spent by the first job or refusal that names it, so a copy of a chained job
//! (the relay sending one the API had sent already) never runs a step twice. A stop heard
//! while an offer is open, for the attempt its job then brings, keeps that job from running
//! (a cancel can commit between the grant and the job's arrival). An offer nobody answers
//! frees its slot after [`OFFER_PATIENCE`]; one whose private queue was lost (a reconnection)
//! is forgotten at once, since its answer went to a queue that no longer exists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_contracts::{ChainedJob, NextClaim, StepJob};
use tokio::sync::OwnedSemaphorePermit;
use uuid::Uuid;

use crate::control::Stop;
use crate::{AttemptKey, WorkerContext};

/// How long an offer keeps its slot without an answer (the API down, an answer lost).
const OFFER_PATIENCE: Duration = Duration::from_secs(30);

/// The offers this worker made and nobody answered yet, by claim id.
#[derive(Default)]
pub(crate) struct Offers {
    open: Mutex<HashMap<Uuid, Offer>>,
}

/// The most stops an open offer remembers (stops go to every worker; an offer is open for
/// milliseconds). Past it, the job the offer brings is not run, to be safe.
const STOPS_REMEMBERED: usize = 1024;

struct Offer {
    /// The finished step's slot, kept for the next one.
    permit: OwnedSemaphorePermit,
    made: Instant,
    /// The attempts stopped while the offer was open.
    stops: Vec<AttemptKey>,
}

impl Offers {
    /// Offers to run the next step of `job`'s deployment, keeping `permit` for it; `None`
    /// (and the slot freed) for a run on a target, while stopping, or without a private
    /// queue.
    pub(crate) fn make(
        &self,
        context: &WorkerContext,
        job: &StepJob,
        permit: OwnedSemaphorePermit,
    ) -> Option<NextClaim> {
        if job.target.is_some() || context.shutdown.is_cancelled() {
            return None;
        }
        let reply_to = context.reply_queue.lock().ok()?.clone()?;
        let claim_id = Uuid::now_v7();
        let mut open = self.open.lock().ok()?;
        open.retain(|_, offer| offer.made.elapsed() < OFFER_PATIENCE);
        open.insert(
            claim_id,
            Offer {
                permit,
                made: Instant::now(),
                stops: Vec::new(),
            },
        );
        Some(NextClaim {
            claim_id,
            worker: context.config.worker_name.clone(),
            reply_to,
        })
    }

    /// Spends an offer (refused, or its result could not be sent): its slot is freed.
    /// Whether it was open.
    pub(crate) fn withdraw(&self, claim_id: Uuid) -> bool {
        self.open
            .lock()
            .ok()
            .and_then(|mut open| open.remove(&claim_id))
            .is_some()
    }

    /// A stop for `attempt`: if an open offer's job brings it, it is not run.
    pub(crate) fn stop(&self, attempt: AttemptKey) {
        if let Ok(mut open) = self.open.lock() {
            for offer in open.values_mut() {
                if offer.stops.len() <= STOPS_REMEMBERED {
                    offer.stops.push(attempt);
                }
            }
        }
    }

    /// Frees the slots of offers nobody answered in time.
    pub(crate) fn expire(&self) {
        if let Ok(mut open) = self.open.lock() {
            open.retain(|_, offer| offer.made.elapsed() < OFFER_PATIENCE);
        }
    }

    /// Forgets every offer: their answers went to a private queue that is gone.
    pub(crate) fn clear(&self) {
        if let Ok(mut open) = self.open.lock() {
            open.clear();
        }
    }

    fn take(&self, claim_id: Uuid) -> Option<Offer> {
        self.open.lock().ok()?.remove(&claim_id)
    }
}

/// A chained job arrived: run it in the slot its offer kept, if the offer is still open and
/// nothing stopped the deployment meanwhile.
pub(crate) fn start(context: &Arc<WorkerContext>, chained: ChainedJob) {
    let job = chained.job;
    let Some(offer) = context.offers.take(chained.claim_id) else {
        tracing::info!(step_run_id = %job.step_run_id, attempt = job.attempt, "a chained job for an offer this worker no longer holds; dropped");
        return;
    };
    let key = (job.step_run_id, job.attempt);
    if offer.stops.contains(&key) || offer.stops.len() > STOPS_REMEMBERED {
        tracing::info!(step_run_id = %job.step_run_id, attempt = job.attempt, "a chained job stopped before it arrived; not run");
        return;
    }
    let stop = Stop::default();
    {
        let Ok(mut running) = context.running.lock() else {
            return;
        };
        if running.contains_key(&key) {
            return;
        }
        running.insert(key, (job.deployment_id, stop.clone()));
    }
    crate::spawn_step(context, job, stop, offer.permit);
}
