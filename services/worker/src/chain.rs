//! Chained claims from the worker's side (ARCHITECTURE.md, "Chained claims"): with the result
//! of a step it ran on its own host, the worker offers to run the next step (of that
//! deployment, or the first of the next one queued for its project and environment) and
//! keeps the finished step's slot for it. The API grants the offer in the result's own
//! transaction and sends the next job to this worker's private queue, where it starts at
//! once, without a claim of its own; or it declines, and the slot is freed.
//!
//! An offer is spent by the first job or refusal that names it, so a copy of a chained job
//! (the relay sending one the API had sent already) never runs a step twice. A stop heard
//! for the attempt a chained job brings, before it arrived, keeps it from running (a cancel
//! can commit between the grant and the job's arrival). An offer nobody answers frees its
//! slot after [`OFFER_PATIENCE`] and is kept as expired: a job granted to it later (its
//! result was applied late: an outage, a backlog) is claimed again under the offer's claim
//! id, which the machine grants again only while that claim still holds the attempt, and runs
//! when a slot is free.

use std::collections::{HashMap, VecDeque};
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
    expired: Mutex<VecDeque<Uuid>>,
    stops: Mutex<VecDeque<(AttemptKey, Instant)>>,
}

/// Stops remembered for chained jobs still to arrive (they go to every worker), for
/// [`STOPS_KEPT_FOR`] and at most this many.
const STOPS_REMEMBERED: usize = 65_536;
const STOPS_KEPT_FOR: Duration = Duration::from_secs(120);

/// Expired offers remembered, so a late job for one is claimed rather than dropped.
const EXPIRED_REMEMBERED: usize = 4096;

struct Offer {
    /// The finished step's slot, kept for the next one.
    permit: OwnedSemaphorePermit,
    made: Instant,
}

/// What a chained job's offer says about running it.
enum Found {
    /// Open: run it in the slot kept for it.
    Open(OwnedSemaphorePermit),
    /// Expired unanswered: claim it again before running it.
    Expired,
    /// Spent already, or never made here: drop it.
    Unknown,
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
        self.expire();
        self.open_offer(claim_id, permit, Instant::now());
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

    /// A stop for `attempt`: a chained job that brings it later is not run.
    pub(crate) fn stop(&self, attempt: AttemptKey) {
        if let Ok(mut stops) = self.stops.lock() {
            while stops.len() >= STOPS_REMEMBERED
                || stops
                    .front()
                    .is_some_and(|(_, at)| at.elapsed() > STOPS_KEPT_FOR)
            {
                stops.pop_front();
            }
            stops.push_back((attempt, Instant::now()));
        }
    }

    fn stopped(&self, attempt: AttemptKey) -> bool {
        self.stops
            .lock()
            .is_ok_and(|stops| stops.iter().any(|(stopped, _)| *stopped == attempt))
    }

    /// Frees the slots of offers nobody answered in time (they are kept as expired).
    pub(crate) fn expire(&self) {
        let Ok(mut open) = self.open.lock() else {
            return;
        };
        let late: Vec<Uuid> = open
            .iter()
            .filter(|(_, offer)| offer.made.elapsed() >= OFFER_PATIENCE)
            .map(|(claim_id, _)| *claim_id)
            .collect();
        for claim_id in late {
            open.remove(&claim_id);
            self.remember_expired(claim_id);
        }
    }

    /// Frees every open offer's slot (the private queue their answers go to is going away);
    /// they are kept as expired.
    pub(crate) fn clear(&self) {
        let drained: Vec<Uuid> = match self.open.lock() {
            Ok(mut open) => open.drain().map(|(claim_id, _)| claim_id).collect(),
            Err(_) => return,
        };
        for claim_id in drained {
            self.remember_expired(claim_id);
        }
    }

    /// Waits, at most `patience`, until every open offer was answered (a stopping worker
    /// hears the job an offer it made brings).
    pub(crate) async fn settle(&self, patience: Duration) {
        let until = tokio::time::Instant::now() + patience;
        while self.open.lock().is_ok_and(|open| !open.is_empty())
            && tokio::time::Instant::now() < until
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn open_offer(&self, claim_id: Uuid, permit: OwnedSemaphorePermit, made: Instant) {
        if let Ok(mut open) = self.open.lock() {
            open.insert(claim_id, Offer { permit, made });
        }
    }

    fn remember_expired(&self, claim_id: Uuid) {
        if let Ok(mut expired) = self.expired.lock() {
            if expired.len() >= EXPIRED_REMEMBERED {
                expired.pop_front();
            }
            expired.push_back(claim_id);
        }
    }

    fn find(&self, claim_id: Uuid) -> Found {
        if let Some(offer) = self
            .open
            .lock()
            .ok()
            .and_then(|mut open| open.remove(&claim_id))
        {
            return Found::Open(offer.permit);
        }
        let Ok(mut expired) = self.expired.lock() else {
            return Found::Unknown;
        };
        match expired.iter().position(|id| *id == claim_id) {
            Some(position) => {
                expired.remove(position);
                Found::Expired
            }
            None => Found::Unknown,
        }
    }
}

/// A chained job arrived: run it in the slot its offer kept, or claim it again if its offer
/// expired, unless its attempt was stopped meanwhile.
pub(crate) fn start(context: &Arc<WorkerContext>, chained: ChainedJob) {
    let job = chained.job;
    let key = (job.step_run_id, job.attempt);
    let found = context.offers.find(chained.claim_id);
    if matches!(found, Found::Unknown) {
        tracing::info!(step_run_id = %job.step_run_id, attempt = job.attempt, "a chained job for an offer this worker no longer holds; dropped");
        return;
    }
    if context.offers.stopped(key) {
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
    match found {
        Found::Open(permit) => crate::spawn_step(context, job, stop, permit),
        Found::Expired => {
            let context = Arc::clone(context);
            tokio::spawn(async move { claim_late(&context, job, chained.claim_id, stop).await });
        }
        Found::Unknown => {}
    }
}

/// A job granted to an offer that had expired: claimed again under the offer's claim id (the
/// machine grants it again only while that claim holds the attempt), then run in a free slot.
async fn claim_late(context: &Arc<WorkerContext>, job: StepJob, claim_id: Uuid, stop: Stop) {
    let key = (job.step_run_id, job.attempt);
    let mut held = crate::HeldGuard {
        context,
        key,
        armed: true,
    };
    let permit = tokio::select! {
        () = context.shutdown.cancelled() => None,
        permit = Arc::clone(&context.slots).acquire_owned() => permit.ok(),
    };
    let Some(permit) = permit else {
        tracing::info!(step_run_id = %job.step_run_id, "a late chained job not run: the worker is stopping");
        return;
    };
    match crate::claim::claim_as(context, &job, claim_id).await {
        crate::claim::Claimed::Granted => {
            held.armed = false;
            crate::spawn_step(context, job, stop, permit);
        }
        crate::claim::Claimed::Refused(reason) => {
            tracing::info!(step_run_id = %job.step_run_id, %reason, "a late chained job not run: its claim was refused");
        }
        crate::claim::Claimed::Unanswered => {
            tracing::warn!(step_run_id = %job.step_run_id, "a late chained job not run: its claim was not answered; the attempt's lease gives it up");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use tokio::sync::Semaphore;

    fn permit(slots: &Arc<Semaphore>) -> OwnedSemaphorePermit {
        Arc::clone(slots).try_acquire_owned().unwrap()
    }

    #[test]
    fn an_offer_is_spent_by_the_first_job_and_its_slot_comes_back() {
        let slots = Arc::new(Semaphore::new(1));
        let offers = Offers::default();
        let id = Uuid::now_v7();
        offers.open_offer(id, permit(&slots), Instant::now());
        assert_eq!(slots.available_permits(), 0, "the offer keeps the slot");
        let Found::Open(kept) = offers.find(id) else {
            panic!("an open offer is found open");
        };
        drop(kept);
        assert_eq!(slots.available_permits(), 1);
        assert!(
            matches!(offers.find(id), Found::Unknown),
            "a copy finds it spent"
        );
        offers.open_offer(id, permit(&slots), Instant::now());
        assert!(offers.withdraw(id), "a refusal spends it");
        assert_eq!(slots.available_permits(), 1);
        assert!(matches!(offers.find(id), Found::Unknown));
    }

    #[test]
    fn an_unanswered_offer_frees_its_slot_and_a_late_job_is_claimed_once() {
        let slots = Arc::new(Semaphore::new(1));
        let offers = Offers::default();
        let id = Uuid::now_v7();
        let long_ago = Instant::now() - OFFER_PATIENCE - Duration::from_secs(1);
        offers.open_offer(id, permit(&slots), long_ago);
        offers.expire();
        assert_eq!(
            slots.available_permits(),
            1,
            "an expired offer frees its slot"
        );
        assert!(
            matches!(offers.find(id), Found::Expired),
            "a late job is claimed again"
        );
        assert!(matches!(offers.find(id), Found::Unknown), "and only once");
        let other = Uuid::now_v7();
        offers.open_offer(other, permit(&slots), Instant::now());
        offers.clear();
        assert_eq!(
            slots.available_permits(),
            1,
            "a lost queue frees every slot"
        );
        assert!(matches!(offers.find(other), Found::Expired));
    }

    #[test]
    fn a_stop_heard_before_its_chained_job_is_remembered() {
        let offers = Offers::default();
        let attempt = (ferry_domain::StepRunId::from(Uuid::now_v7()), 1);
        assert!(!offers.stopped(attempt));
        offers.stop(attempt);
        assert!(offers.stopped(attempt));
        assert!(
            !offers.stopped((attempt.0, 2)),
            "another attempt of the step is not"
        );
    }
}
