//! Health checks and discoveries, jobs the API sends on the pool's job queue beside step jobs
//! (told apart by their AMQP type). A health check connects with the pinned key, reads the
//! target's facts (`ferry_ssh::facts`) and judges whether this worker can deploy to it; a
//! discovery reports the key a host presents and sends nothing. The answer goes back through
//! the pool's events exchange. Neither runs a script, so neither needs the start handshake: a
//! check run twice answers twice, and the API keeps the first answer.
//!
//! The verdict: *Unavailable* when the target cannot be reached (refused, timed out, the
//! connection broke: retryable errors); *Unhealthy* when it was reached but is wrong (a changed
//! host key, naming the key it presents now; a refused login; a key this worker cannot open;
//! facts it cannot read; an OS or architecture this worker carries no helper for, or no
//! helper at all; less than `FERRY_HEALTH_MIN_FREE_BYTES` (500 MiB) free in the login's
//! home, where deployments go: a deployment there would fail, as Calamari's free-space check
//! says); else *Healthy*.

use std::time::Duration;

use ferry_broker::{Delivery, Handled};
use ferry_contracts::target_checks::{
    TargetCheck, TargetCheckJob, TargetCheckOutcome, TargetCheckResult, TargetFacts,
};
use ferry_contracts::{MessageKind, TargetReach};
use ferry_domain::{HostName, TargetHealthStatus, TargetId, TargetName};
use ferry_ssh::Connection;
use uuid::Uuid;

use crate::target_connect::{connect_options, endpoint, open_private_key};
use crate::{WorkerContext, events};

/// How long the answer is tried (through reconnections) before the job goes back to its
/// queue for another try.
const RESULT_PATIENCE: Duration = Duration::from_secs(60);

/// Whether a delivery is a check job (by its AMQP type) rather than a step job.
pub(crate) fn is_check(delivery: &Delivery) -> bool {
    let kind = delivery
        .properties
        .kind()
        .as_ref()
        .map(|kind| kind.as_str());
    kind == Some(MessageKind::TargetCheck.as_str())
}

/// Runs a check job and sends its answer; the job is acknowledged once RabbitMQ has the
/// answer.
pub(crate) async fn handle(context: &WorkerContext, delivery: &Delivery) -> Handled {
    let job: TargetCheckJob = match serde_json::from_slice(&delivery.data) {
        Ok(job) => job,
        Err(error) => {
            return Handled::Reject {
                reason: format!("not a target check job: {error}"),
            };
        }
    };
    if context.shutdown.is_cancelled() {
        return Handled::Requeue {
            reason: "the worker is stopping".into(),
        };
    }
    let outcome = match &job.check {
        TargetCheck::Health {
            target_id,
            name,
            reach,
        } => health(context, *target_id, name, reach).await,
        TargetCheck::Discovery { host, port } => discovery(host, *port).await,
    };
    let result = TargetCheckResult {
        event_id: Uuid::now_v7(),
        check_id: job.check_id,
        worker: context.config.worker_name.clone(),
        outcome,
    };
    match events::publish_check_result(context, &result, RESULT_PATIENCE).await {
        Ok(()) => Handled::Done,
        Err(error) => Handled::Requeue {
            reason: format!("could not send the check's answer: {error}"),
        },
    }
}

fn verdict(
    status: TargetHealthStatus,
    reason: Option<String>,
    facts: Option<TargetFacts>,
) -> TargetCheckOutcome {
    TargetCheckOutcome::Health {
        status,
        reason,
        facts,
    }
}

fn unreached(error: &ferry_ssh::SshError) -> TargetCheckOutcome {
    let status = if error.is_retryable() {
        TargetHealthStatus::Unavailable
    } else {
        TargetHealthStatus::Unhealthy
    };
    verdict(status, Some(error.to_string()), None)
}

async fn health(
    context: &WorkerContext,
    target_id: TargetId,
    name: &TargetName,
    reach: &TargetReach,
) -> TargetCheckOutcome {
    let TargetReach::Ssh {
        host,
        port,
        user,
        host_key_fingerprint,
        sealed_private_key,
    } = reach
    else {
        // A local target is this worker's own host: its facts are read here, its home is the
        // one `local_target.rs` gives it under the work root.
        let facts = match local_facts(context).await {
            Ok(facts) => facts,
            Err(reason) => return verdict(TargetHealthStatus::Unhealthy, Some(reason), None),
        };
        return judged(context, facts).await;
    };
    let private_key = match open_private_key(
        &context.config.variables_key,
        target_id,
        name,
        sealed_private_key,
    ) {
        Ok(private_key) => private_key,
        Err(reason) => return verdict(TargetHealthStatus::Unhealthy, Some(reason), None),
    };
    let endpoint = endpoint(host, *port, user);
    let connection = match Connection::open(
        &endpoint,
        host_key_fingerprint,
        &private_key,
        &connect_options(),
    )
    .await
    {
        Ok(connection) => connection,
        Err(error) => return unreached(&error),
    };
    let read = ferry_ssh::facts(&connection).await;
    connection.close().await;
    let facts = match read {
        Ok(Ok(facts)) => facts,
        Ok(Err(reason)) => {
            return verdict(
                TargetHealthStatus::Unhealthy,
                Some(format!("the target's facts could not be read: {reason}")),
                None,
            );
        }
        Err(error) => return unreached(&error),
    };
    judged(context, facts).await
}

/// Healthy, or Unhealthy saying why this worker could not deploy there, with the facts.
async fn judged(context: &WorkerContext, facts: ferry_ssh::TargetFacts) -> TargetCheckOutcome {
    let problem = problem_with(context, &facts).await;
    let shown = TargetFacts {
        os: facts.os,
        architecture: facts.architecture,
        user: facts.user,
        free_bytes: facts.free_bytes,
    };
    match problem {
        Some(reason) => verdict(TargetHealthStatus::Unhealthy, Some(reason), Some(shown)),
        None => verdict(TargetHealthStatus::Healthy, None, Some(shown)),
    }
}

/// Why this worker could not deploy to a target with these facts, if it could not.
async fn problem_with(context: &WorkerContext, facts: &ferry_ssh::TargetFacts) -> Option<String> {
    let helper = match context.helper().await {
        Ok(helper) => helper,
        Err(reason) => return Some(reason.trim_end_matches(" (permanent)").to_owned()),
    };
    if !helper.runs_on(&facts.os, &facts.architecture) {
        return Some(format!(
            "the target runs {} {}; this worker carries ferry-helper for {} only",
            facts.os,
            facts.architecture,
            helper.platform()
        ));
    }
    let least = context.config.health_min_free_bytes;
    if facts.free_bytes < least {
        return Some(format!(
            "only {} MiB are free in {}; a deployment needs at least {} MiB",
            facts.free_bytes / (1024 * 1024),
            facts.home,
            least / (1024 * 1024)
        ));
    }
    None
}

async fn discovery(host: &HostName, port: u16) -> TargetCheckOutcome {
    match ferry_ssh::discover_key(host.as_str(), port, &connect_options()).await {
        Ok(key) => TargetCheckOutcome::Discovered {
            host_key_fingerprint: key.fingerprint,
            key_type: key.key_type,
        },
        Err(error) => TargetCheckOutcome::DiscoveryFailed {
            reason: error.to_string(),
        },
    }
}

/// The facts of this worker's host, as a local target sees them: the OS and architecture,
/// the script user, and the free space where local targets' homes live.
async fn local_facts(context: &WorkerContext) -> Result<ferry_ssh::TargetFacts, String> {
    let home = context.config.work_root.join("targets");
    let output = tokio::process::Command::new("df")
        .arg("-Pk")
        .arg(&context.config.work_root)
        .env_clear()
        .output()
        .await
        .map_err(|error| format!("reading the free space of the work root: {error}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let free_kib: u64 = text
        .lines()
        .nth(1)
        .and_then(|line| line.split_whitespace().nth(3))
        .and_then(|field| field.parse().ok())
        .ok_or_else(|| format!("`df -Pk` printed no free space: {}", text.trim()))?;
    let os = match std::env::consts::OS {
        "linux" => "Linux".to_owned(),
        other => other.to_owned(),
    };
    Ok(ferry_ssh::TargetFacts {
        os,
        architecture: std::env::consts::ARCH.to_owned(),
        user: context.script_user.name.clone(),
        home: home.display().to_string(),
        free_bytes: free_kib.saturating_mul(1024),
    })
}
