//! The messages a deployment's moves imply, written to the outbox in the caller's
//! transaction: a step's job (with its variables), the finished event, and the stop message
//! for a cancelled step.

use chrono::Utc;
use ferry_contracts::{
    DeploymentFinished, MessageKind, PackageReference, StepJob, StepSummary, StopStep,
};
use ferry_domain::{DeploymentStatus, StepKind, StepStatus};
use ferry_storage::deployments::{self, StepRun};
use ferry_storage::outbox::{self, NewMessage};
use ferry_storage::{GenericClient, StorageError};
use uuid::Uuid;

use super::{DeploymentContext, deployment_variables};
use crate::AppState;

/// Dispatches (or re-dispatches) a script step: a new attempt, its job in the outbox.
pub async fn dispatch(
    state: &AppState,
    client: &impl GenericClient,
    context: &DeploymentContext,
    step_runs: &mut [StepRun],
    index: usize,
) -> Result<(), StorageError> {
    let deployment_id = context.deployment.deployment_id;
    let attempt = deployments::dispatch_step(client, step_runs[index].step_run_id).await?;
    step_runs[index].status = StepStatus::Running;
    step_runs[index].attempt = attempt;
    let job = step_job(state, context, step_runs, index, attempt)?;
    let retry_note = if attempt > 1 {
        format!(" (attempt {attempt})")
    } else {
        String::new()
    };
    deployments::append_system_log(
        client,
        deployment_id,
        &format!(
            "Step \"{}\" dispatched to worker pool `{}`{retry_note}",
            step_runs[index].name, context.worker_pool
        ),
    )
    .await?;
    let payload = serde_json::to_value(&job).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let spec = state.topology().step_jobs(&context.worker_pool);
    outbox::enqueue(
        client,
        &NewMessage {
            message_id: job.job_id,
            exchange: spec.exchange,
            routing_key: spec.routing_key,
            kind: MessageKind::StepJob.as_str().to_owned(),
            payload,
        },
    )
    .await
}

/// Ends a deployment: its status and error, a closing log line, and the finished event.
/// `failed_step` is the step that failed (or was cancelled while running), if any.
pub async fn finish(
    state: &AppState,
    client: &impl GenericClient,
    context: &mut DeploymentContext,
    step_runs: &[StepRun],
    status: DeploymentStatus,
    failed_step: Option<usize>,
) -> Result<(), StorageError> {
    let deployment_id = context.deployment.deployment_id;
    let failed_step = failed_step.map(|index| &step_runs[index]);
    let error = match (status, failed_step) {
        (DeploymentStatus::Canceled, _) => Some("the deployment was cancelled".to_owned()),
        (_, Some(run)) => Some(format!(
            "Step \"{}\" failed: {}",
            run.name,
            run.error.as_deref().unwrap_or("failed")
        )),
        _ => None,
    };
    deployments::finish(client, deployment_id, status, error.as_deref()).await?;
    context.deployment.status = status;
    deployments::append_system_log(
        client,
        deployment_id,
        &format!(
            "Deployment of {} release {} to {} finished: {}",
            context.project_name, context.release.release_number, context.environment_name, status
        ),
    )
    .await?;
    let event = DeploymentFinished {
        event_id: Uuid::now_v7(),
        deployment_id,
        project_name: context.project_name.clone(),
        release_number: context.release.release_number.clone(),
        environment_name: context.environment_name.clone(),
        status: status.as_str().to_owned(),
        failed_step: failed_step.map(|run| run.name.clone()),
        exit_code: failed_step.and_then(|run| run.exit_code),
        error,
        status_url: status_url(state, deployment_id),
        recipients: context.notification_email.iter().cloned().collect(),
        steps: step_runs
            .iter()
            .map(|run| StepSummary {
                name: run.name.clone(),
                status: run.status.as_str().to_owned(),
            })
            .collect(),
        finished_at: Utc::now(),
    };
    let payload = serde_json::to_value(&event).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    let spec = state.topology().deployment_finished();
    outbox::enqueue(
        client,
        &NewMessage {
            message_id: event.event_id,
            exchange: spec.exchange,
            routing_key: spec.routing_key,
            kind: MessageKind::DeploymentFinished.as_str().to_owned(),
            payload,
        },
    )
    .await
}

/// Tells every worker to stop one attempt of a step (cancelling).
pub async fn stop_step(
    state: &AppState,
    client: &impl GenericClient,
    run: &StepRun,
) -> Result<(), StorageError> {
    let message = StopStep {
        message_id: Uuid::now_v7(),
        deployment_id: run.deployment_id,
        step_run_id: run.step_run_id,
        attempt: run.attempt,
    };
    let payload =
        serde_json::to_value(&message).map_err(|e| StorageError::Corrupt(e.to_string()))?;
    outbox::enqueue(
        client,
        &NewMessage {
            message_id: message.message_id,
            exchange: state.topology().control_exchange(),
            routing_key: String::new(),
            kind: MessageKind::StopStep.as_str().to_owned(),
            payload,
        },
    )
    .await
}

/// The page where people follow a deployment.
pub fn status_url(state: &AppState, deployment_id: Uuid) -> String {
    format!(
        "{}/deployments/{deployment_id}",
        state.config().public_url.trim_end_matches('/')
    )
}

fn step_job(
    state: &AppState,
    context: &DeploymentContext,
    step_runs: &[StepRun],
    index: usize,
    attempt: i32,
) -> Result<StepJob, StorageError> {
    let step = &context.release.process.steps()[index];
    let StepKind::RunScript { script, package_id } = &step.kind else {
        return Err(StorageError::Corrupt(format!(
            "step \"{}\" does not run on a worker",
            step.name
        )));
    };
    let package = match package_id {
        None => None,
        Some(package_id) => {
            let pinned = context
                .release
                .packages
                .get(package_id.as_str())
                .ok_or_else(|| {
                    StorageError::Corrupt(format!(
                        "release {} does not pin package {package_id}",
                        context.release.release_number
                    ))
                })?;
            Some(PackageReference {
                package_id: package_id.as_str().to_owned(),
                version: pinned.version.clone(),
                object_key: pinned.object_key.clone(),
                sha256: pinned.sha256.clone(),
                size_bytes: u64::try_from(pinned.size_bytes).unwrap_or_default(),
                format: pinned.format.clone(),
            })
        }
    };
    let variables = deployment_variables(state, context, step_runs, Some(index));
    Ok(StepJob {
        job_id: Uuid::now_v7(),
        deployment_id: context.deployment.deployment_id,
        step_run_id: step_runs[index].step_run_id,
        attempt,
        step_index: index as i32,
        step_name: step.name.as_str().to_owned(),
        script: script.clone(),
        variables: variables.plain.into_iter().collect(),
        sensitive_variables: variables.sensitive,
        lenient_templates: step.lenient_templates,
        package,
        timeout_seconds: state.config().step_timeout_seconds,
    })
}
