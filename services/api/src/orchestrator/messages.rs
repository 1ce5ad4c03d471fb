//! The messages a deployment's effects imply, written to the outbox in the caller's
//! transaction: a step's job (with its variables), the finished event, and the stop message
//! for a cancelled step.

use chrono::Utc;
use ferry_contracts::{
    ChainedJob, DeploymentFinished, MessageKind, PackageReference, StepJob, StepSummary, StopStep,
    TargetJob,
};
use ferry_domain::deployment::{Deployment, StopReason};
use ferry_domain::{DeploymentId, StepKind, StepRunId};
use ferry_storage::outbox::{self, NewMessage};
use ferry_storage::targets::Target;
use ferry_storage::{GenericClient, StorageError};
use serde::Serialize;
use uuid::Uuid;

use super::replies::deployment_variables_on;
use crate::AppState;
use crate::context::{DeploymentContext, status_url};
use crate::variables::OnTarget;

/// Which attempt of which step run a job or a stop is about.
#[derive(Debug, Clone, Copy)]
pub struct Attempt {
    pub index: usize,
    pub step_run_id: StepRunId,
    pub attempt: u32,
}

/// Puts the job for one attempt of a worker step in the outbox for the project's pool.
pub async fn dispatch(
    state: &AppState,
    client: &impl GenericClient,
    context: &DeploymentContext,
    deployment: &Deployment,
    attempt: Attempt,
    target: Option<&Target>,
) -> Result<(), StorageError> {
    let job = step_job(state, context, deployment, attempt, target)?;
    // A target's run goes to the target's pool; a step on the worker's host to the project's.
    let pool = target.map_or(&context.worker_pool, |target| &target.worker_pool);
    let spec = state.topology().step_jobs(pool.as_str());
    enqueue(
        client,
        job.job_id,
        spec.exchange,
        spec.routing_key,
        MessageKind::StepJob,
        &job,
    )
    .await
    .map(|_| ())
}

/// Where a chained step's job goes instead of its pool: the private queue of the worker
/// whose offer the command granted (ARCHITECTURE.md, "Chained claims").
#[derive(Debug, Clone)]
pub struct ChainTo {
    pub step: usize,
    pub attempt: u32,
    pub claim_id: Uuid,
    pub reply_to: String,
}

/// A chained job written to the outbox, for the committer to send at once.
#[derive(Debug, Clone)]
pub struct ChainedMessage {
    pub outbox_id: i64,
    pub message_id: Uuid,
    pub reply_to: String,
    pub payload: Vec<u8>,
    /// The attempt it runs and the pool it was sent to (the sender check's answer for it).
    pub attempt: (StepRunId, i32),
    pub pool: String,
}

/// Puts the job for one attempt, already granted to the worker that offered for it, in the
/// outbox for that worker's private queue (through the default exchange).
pub async fn dispatch_chained(
    state: &AppState,
    client: &impl GenericClient,
    context: &DeploymentContext,
    deployment: &Deployment,
    attempt: Attempt,
    chain: &ChainTo,
) -> Result<ChainedMessage, StorageError> {
    let job = step_job(state, context, deployment, attempt, None)?;
    let message_id = job.job_id;
    let run = (job.step_run_id, job.attempt);
    let chained = ChainedJob {
        claim_id: chain.claim_id,
        job,
    };
    let payload =
        serde_json::to_vec(&chained).map_err(|error| StorageError::Corrupt(error.to_string()))?;
    let outbox_id = enqueue(
        client,
        message_id,
        String::new(),
        chain.reply_to.clone(),
        MessageKind::ChainedJob,
        &chained,
    )
    .await?;
    Ok(ChainedMessage {
        outbox_id,
        message_id,
        reply_to: chain.reply_to.clone(),
        payload,
        attempt: run,
        pool: context.worker_pool.as_str().to_owned(),
    })
}

/// Puts the finished event (the status email) of a deployment that just ended in the outbox.
/// `failed_step` is the first step that failed, or the one cancelled while running.
pub async fn finished(
    state: &AppState,
    client: &impl GenericClient,
    context: &DeploymentContext,
    deployment: &Deployment,
    failed_step: Option<usize>,
) -> Result<(), StorageError> {
    let status = deployment.status;
    let deployment_id = deployment_id(context)?;
    let failed = failed_step.map(|index| &deployment.steps[index]);
    let event = DeploymentFinished {
        event_id: Uuid::now_v7(),
        deployment_id,
        project_name: context.project_name.clone(),
        release_number: context.release.release_number.clone(),
        environment_name: context.environment_name.clone(),
        status,
        failed_step: failed.map(|run| run.name().clone()),
        exit_code: failed.and_then(|run| run.exit_code),
        error: deployment.error.clone(),
        status_url: status_url(&state.config().public_url, deployment_id),
        recipients: context.notification_email.iter().cloned().collect(),
        steps: deployment
            .steps
            .iter()
            .map(|run| StepSummary {
                name: run.name().clone(),
                status: run.status,
            })
            .collect(),
        // Stamped by the machine when the deployment ended.
        finished_at: deployment.finished_at.unwrap_or_else(Utc::now),
    };
    enqueue_finished(state, client, &event).await
}

/// Tells every worker to stop one attempt of a step, saying why.
pub async fn stop_step(
    state: &AppState,
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    step_run_id: StepRunId,
    attempt: i32,
    why: StopReason,
) -> Result<(), StorageError> {
    let message = StopStep {
        message_id: Uuid::now_v7(),
        deployment_id,
        step_run_id,
        attempt,
        reason: Some(why.describe().to_owned()),
    };
    enqueue(
        client,
        message.message_id,
        state.topology().control_exchange(),
        String::new(),
        MessageKind::StopStep,
        &message,
    )
    .await
    .map(|_| ())
}

/// The status email of a deployment that could not start (its steps cannot be read, so it
/// lists none).
pub async fn could_not_start(
    state: &AppState,
    client: &impl GenericClient,
    context: &DeploymentContext,
    reason: &str,
) -> Result<(), StorageError> {
    let deployment_id = deployment_id(context)?;
    let event = DeploymentFinished {
        event_id: Uuid::now_v7(),
        deployment_id,
        project_name: context.project_name.clone(),
        release_number: context.release.release_number.clone(),
        environment_name: context.environment_name.clone(),
        status: ferry_domain::DeploymentStatus::Failed,
        failed_step: None,
        exit_code: None,
        error: Some(reason.to_owned()),
        status_url: status_url(&state.config().public_url, deployment_id),
        recipients: context.notification_email.iter().cloned().collect(),
        steps: Vec::new(),
        finished_at: Utc::now(),
    };
    enqueue_finished(state, client, &event).await
}

/// Puts a finished event (the status email) in the outbox for the notifier.
async fn enqueue_finished(
    state: &AppState,
    client: &impl GenericClient,
    event: &DeploymentFinished,
) -> Result<(), StorageError> {
    let spec = state.topology().deployment_finished();
    enqueue(
        client,
        event.event_id,
        spec.exchange,
        spec.routing_key,
        MessageKind::DeploymentFinished,
        event,
    )
    .await
    .map(|_| ())
}

async fn enqueue(
    client: &impl GenericClient,
    message_id: Uuid,
    exchange: String,
    routing_key: String,
    kind: MessageKind,
    message: &impl Serialize,
) -> Result<i64, StorageError> {
    let payload =
        serde_json::to_value(message).map_err(|error| StorageError::Corrupt(error.to_string()))?;
    outbox::enqueue(
        client,
        &NewMessage {
            message_id,
            exchange,
            routing_key,
            kind: kind.as_str().to_owned(),
            payload,
        },
    )
    .await
}

fn deployment_id(context: &DeploymentContext) -> Result<DeploymentId, StorageError> {
    context
        .deployment_id
        .ok_or_else(|| StorageError::Corrupt("a preview sends no messages".into()))
}

pub(super) fn to_wire(attempt: u32) -> Result<i32, StorageError> {
    i32::try_from(attempt).map_err(|_| StorageError::Corrupt(format!("attempt {attempt}")))
}

fn step_job(
    state: &AppState,
    context: &DeploymentContext,
    deployment: &Deployment,
    attempt: Attempt,
    target: Option<&Target>,
) -> Result<StepJob, StorageError> {
    let index = attempt.index;
    let step = &context.release.process.steps()[index];
    let (script, package_id, deploy) = match &step.kind {
        StepKind::RunScript { script, package_id } => (script.clone(), package_id.as_ref(), None),
        StepKind::DeployPackage(deploy) => (
            String::new(),
            Some(&deploy.package_id),
            Some(deploy.clone()),
        ),
        StepKind::ManualIntervention { .. } => {
            return Err(StorageError::Corrupt(format!(
                "step \"{}\" does not run on a worker",
                step.name
            )));
        }
    };
    let package = match package_id {
        None => None,
        Some(package_id) => {
            let pinned = context.release.packages.get(package_id).ok_or_else(|| {
                StorageError::Corrupt(format!(
                    "release {} does not pin package {package_id}",
                    context.release.release_number
                ))
            })?;
            Some(PackageReference {
                package_id: package_id.clone(),
                version: pinned.version.clone(),
                object_key: pinned.object_key.clone(),
                sha256: pinned.sha256.clone(),
                size_bytes: u64::try_from(pinned.size_bytes).unwrap_or_default(),
                format: pinned.format.clone(),
            })
        }
    };
    let id = target.map(|target| target.target_id.to_string());
    let roles: Vec<&str> = target
        .map(|target| target.roles.iter().map(|role| role.as_str()).collect())
        .unwrap_or_default();
    let on = target.zip(id.as_deref()).map(|(target, id)| OnTarget {
        id,
        name: target.name.as_str(),
        roles: &roles,
    });
    let variables = deployment_variables_on(state, context, deployment, Some(index), on);
    Ok(StepJob {
        job_id: Uuid::now_v7(),
        deployment_id: deployment_id(context)?,
        step_run_id: attempt.step_run_id,
        attempt: to_wire(attempt.attempt)?,
        step_index: i32::try_from(index)
            .map_err(|_| StorageError::Corrupt(format!("step index {index}")))?,
        step_name: step.name.clone(),
        script,
        variables: variables.plain.into_iter().collect(),
        sensitive_variables: variables.sensitive,
        lenient_templates: step.lenient_templates,
        package,
        timeout_seconds: state.config().step_timeout_seconds,
        heartbeat_seconds: (state.config().lease_seconds / 4).max(1),
        target: target.map(target_job),
        deploy,
        project_name: Some(context.project_name.clone()),
        environment_name: Some(context.environment_name.clone()),
    })
}

fn target_job(target: &Target) -> TargetJob {
    let conventions = &target.conventions;
    TargetJob {
        target_id: target.target_id,
        name: target.name.clone(),
        reach: crate::target_checks::reach_of(&target.reach),
        applications_root: conventions.applications_root.clone(),
        nginx_config_folder: conventions.nginx_config_folder.clone(),
        nginx_validate_command: conventions.nginx_validate_command.clone(),
        nginx_reload_command: conventions.nginx_reload_command.clone(),
    }
}
