//! Health checks and discoveries from the API's side (the API never touches hosts): a check
//! is a row and a job for a worker of the target's pool, written in one transaction (the job
//! through the outbox); the worker's answer arrives on the step-events queue as a
//! `target_check_result` and is believed only from the pool the check was sent to (the
//! exchange it arrived through says which pool sent it, as `senders.rs` does for steps) and
//! only once (`processed_messages`); a check no worker answered within
//! `FERRY_TARGET_CHECK_TIMEOUT_SECONDS` ends Unavailable (a discovery Failed), saying no
//! worker of the pool took it (`expire_overdue`, called by the sweeper).

use ferry_broker::{Delivery, Handled};
use ferry_contracts::target_checks::{
    TargetCheck, TargetCheckJob, TargetCheckOutcome, TargetCheckResult,
};
use ferry_contracts::{MessageKind, TargetReach};
use ferry_domain::{TargetCheckId, TargetHealthStatus, WorkerPool};
use ferry_storage::outbox::{self, NewMessage};
use ferry_storage::target_checks::{self, CheckAnswer, CheckSubject, Discovered};
use ferry_storage::targets::{HealthFacts, Reach};
use ferry_storage::{GenericClient, StorageError, processed};

use crate::AppState;

/// The name results are recorded under in `processed_messages`.
const CONSUMER: &str = "ferry-api.target-checks";
/// Overdue checks ended per sweep (the rest wait for the next one).
const BATCH: i64 = 100;

/// How a worker reaches a target, as a job carries it (the private key still sealed).
pub(crate) fn reach_of(reach: &Reach) -> TargetReach {
    match reach {
        Reach::Local => TargetReach::Local,
        Reach::Ssh(ssh) => TargetReach::Ssh {
            host: ssh.host.clone(),
            port: ssh.port,
            user: ssh.user.clone(),
            host_key_fingerprint: ssh.host_key_fingerprint.clone(),
            sealed_private_key: ssh.sealed_private_key.clone(),
        },
    }
}

/// Records a check and puts its job in the outbox for `worker_pool`, in the caller's
/// transaction (the caller wakes the relay after committing).
pub(crate) async fn request(
    state: &AppState,
    client: &impl GenericClient,
    subject: &CheckSubject,
    check: TargetCheck,
    worker_pool: &WorkerPool,
) -> Result<TargetCheckId, StorageError> {
    let check_id = TargetCheckId::from(uuid::Uuid::now_v7());
    target_checks::insert(client, check_id, subject, worker_pool).await?;
    let spec = state.topology().step_jobs(worker_pool.as_str());
    let job = TargetCheckJob { check_id, check };
    let payload =
        serde_json::to_value(&job).map_err(|error| StorageError::Corrupt(error.to_string()))?;
    outbox::enqueue(
        client,
        &NewMessage {
            message_id: check_id.into_uuid(),
            exchange: spec.exchange,
            routing_key: spec.routing_key,
            kind: MessageKind::TargetCheck.as_str().to_owned(),
            payload,
        },
    )
    .await?;
    Ok(check_id)
}

/// Applies a worker's answer to a check: parked when it cannot be believed (another pool
/// sent it, it names no check, it answers another kind of check), nothing written when it
/// was applied before or the check had answered already.
pub(crate) async fn apply(state: &AppState, delivery: &Delivery) -> Handled {
    let result: TargetCheckResult = match serde_json::from_slice(&delivery.data) {
        Ok(result) => storable(result),
        Err(error) => {
            return Handled::Reject {
                reason: format!("not a target check result: {error}"),
            };
        }
    };
    let through = ferry_broker::arrived_through(delivery);
    let sender = state.topology().pool_of_worker_events(&through);
    match record(state, sender, result).await {
        Ok(Ok(())) => Handled::Done,
        Ok(Err(reason)) => Handled::Reject { reason },
        Err(error) if error.is_permanent() => Handled::Reject {
            reason: error.to_string(),
        },
        Err(error) => Handled::RetryLater {
            reason: error.to_string(),
        },
    }
}

/// `Ok(Err(why))`: the result is not to be believed.
async fn record(
    state: &AppState,
    sender: Option<&str>,
    result: TargetCheckResult,
) -> Result<Result<(), String>, StorageError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let Some(check) = target_checks::get(&transaction, result.check_id).await? else {
        return Ok(Err(format!(
            "result {} is about check {}, which does not exist",
            result.event_id, result.check_id
        )));
    };
    // Results that came another way (a retry or replay through the default exchange keeps
    // the first exchange in a header; the events exchange) come from the API or an operator.
    if let Some(sender) = sender
        && sender != check.worker_pool.as_str()
    {
        return Ok(Err(format!(
            "result {} arrived from worker pool `{sender}`, but check {} was sent to pool `{}`",
            result.event_id, result.check_id, check.worker_pool
        )));
    }
    let answer = match (&check.subject, result.outcome) {
        (
            CheckSubject::Health { .. },
            TargetCheckOutcome::Health {
                status,
                reason,
                facts,
            },
        ) if status != TargetHealthStatus::Unknown => CheckAnswer::Health {
            status,
            reason,
            facts: facts.map(|facts| HealthFacts {
                os: facts.os,
                architecture: facts.architecture,
                user: facts.user,
                free_bytes: i64::try_from(facts.free_bytes).unwrap_or(i64::MAX),
            }),
        },
        (
            CheckSubject::Discovery { .. },
            TargetCheckOutcome::Discovered {
                host_key_fingerprint,
                key_type,
            },
        ) => CheckAnswer::Discovery(Discovered::Found {
            host_key_fingerprint,
            key_type,
        }),
        (CheckSubject::Discovery { .. }, TargetCheckOutcome::DiscoveryFailed { reason }) => {
            CheckAnswer::Discovery(Discovered::Failed { reason })
        }
        _ => {
            return Ok(Err(format!(
                "result {} does not answer check {} (another kind of check, or no verdict)",
                result.event_id, result.check_id
            )));
        }
    };
    if processed::first_time(&transaction, CONSUMER, result.event_id).await? {
        target_checks::finish(&transaction, check.check_id, &answer, Some(&result.worker)).await?;
    }
    transaction.commit().await?;
    Ok(Ok(()))
}

/// Ends the checks no worker answered in time: a health check Unavailable, a discovery
/// Failed, each saying that no worker of its pool took it. Returns how many.
pub(crate) async fn expire_overdue(state: &AppState) -> Result<usize, StorageError> {
    let timeout = state.config().target_check_timeout_seconds;
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let overdue = target_checks::lock_overdue(&transaction, timeout as f64, BATCH).await?;
    for check in &overdue {
        let why = format!(
            "no worker of pool `{}` took the check within {timeout} seconds",
            check.worker_pool
        );
        let answer = match check.subject {
            CheckSubject::Health { .. } => CheckAnswer::Health {
                status: TargetHealthStatus::Unavailable,
                reason: Some(why),
                facts: None,
            },
            CheckSubject::Discovery { .. } => {
                CheckAnswer::Discovery(Discovered::Failed { reason: why })
            }
        };
        target_checks::finish(&transaction, check.check_id, &answer, None).await?;
    }
    transaction.commit().await?;
    Ok(overdue.len())
}

/// A result whose texts PostgreSQL can store (a NUL character becomes U+FFFD), as
/// `events::storable` does for step events.
fn storable(mut result: TargetCheckResult) -> TargetCheckResult {
    fn clean(text: &mut String) {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{FFFD}");
        }
    }
    clean(&mut result.worker);
    match &mut result.outcome {
        TargetCheckOutcome::Health { reason, facts, .. } => {
            if let Some(reason) = reason {
                clean(reason);
            }
            if let Some(facts) = facts {
                clean(&mut facts.os);
                clean(&mut facts.architecture);
                clean(&mut facts.user);
            }
        }
        TargetCheckOutcome::Discovered { key_type, .. } => clean(key_type),
        TargetCheckOutcome::DiscoveryFailed { reason } => clean(reason),
    }
    result
}
