//! The start handshake from the worker's side: a job runs only once the API grants its claim
//! (ARCHITECTURE.md, "Jobs, claims and leases"). The answer arrives on the worker's private
//! queue (`control.rs`).

use std::time::Duration;

use ferry_contracts::{ClaimAnswer, StepEventBody, StepJob};
use tokio::sync::oneshot;
use uuid::Uuid;

use crate::{WorkerContext, events};

/// How long a claim waits for its answer before it is sent again (same id).
const CLAIM_RESEND: Duration = Duration::from_secs(10);
/// How long a job waits for its claim to be answered at all before it goes back to its
/// queue (the API or its database is down).
const CLAIM_PATIENCE: Duration = Duration::from_secs(300);

/// What became of a claim.
pub(crate) enum Claimed {
    Granted,
    Refused(String),
    /// No answer: the job goes back to its queue.
    Unanswered,
}

/// The start handshake: asks the API for the attempt, sending the claim again (same id)
/// until it is answered, the worker stops, or the API stays silent too long.
pub(crate) async fn claim(context: &WorkerContext, job: &StepJob) -> Claimed {
    // The same job in this process claims with the same id: a handler stopped mid-claim (its
    // connection lost) and the job's redelivery get the answer the first claim had, so a
    // granted attempt is not lost to its own redelivery. Another process (a restarted
    // worker) claims anew, and is refused an attempt that may have partly run.
    let claim_id = Uuid::new_v5(&context.instance, job.job_id.as_bytes());
    claim_as(context, job, claim_id).await
}

/// [`claim`] under a given claim id (a chained job whose offer expired claims under the
/// offer's id, `chain.rs`).
pub(crate) async fn claim_as(context: &WorkerContext, job: &StepJob, claim_id: Uuid) -> Claimed {
    let (sender, mut answer) = oneshot::channel();
    if let Ok(mut claims) = context.claims.lock() {
        claims.insert(claim_id, sender);
    }
    struct Forget<'a>(&'a WorkerContext, Uuid);
    impl Drop for Forget<'_> {
        fn drop(&mut self) {
            if let Ok(mut claims) = self.0.claims.lock() {
                claims.remove(&self.1);
            }
        }
    }
    let _forget = Forget(context, claim_id);
    let mut give_up = tokio::time::Instant::now() + CLAIM_PATIENCE;
    loop {
        let reply_to = context
            .reply_queue
            .lock()
            .ok()
            .and_then(|queue| queue.clone());
        let sent = match reply_to {
            Some(reply_to) => {
                let body = StepEventBody::Claim {
                    worker: context.config.worker_name.clone(),
                    reply_to,
                };
                events::publish_event(context, job, claim_id, body)
                    .await
                    .is_ok()
            }
            None => false,
        };
        if context.shutdown.is_cancelled() {
            if !sent {
                return Claimed::Unanswered;
            }
            give_up = give_up.min(tokio::time::Instant::now() + CLAIM_RESEND);
        }
        let wait = if sent {
            CLAIM_RESEND
        } else {
            Duration::from_secs(1)
        };
        tokio::select! {
            answered = &mut answer => return match answered {
                Ok(ClaimAnswer { granted: true, .. }) => Claimed::Granted,
                Ok(ClaimAnswer { reason, .. }) => Claimed::Refused(reason.unwrap_or_default()),
                Err(_) => Claimed::Unanswered,
            },
            () = tokio::time::sleep(wait) => {}
        }
        if tokio::time::Instant::now() >= give_up {
            return Claimed::Unanswered;
        }
    }
}
