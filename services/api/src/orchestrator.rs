//! Applies the domain's orchestration decision to a deployment inside the caller's
//! transaction: skipped steps are recorded, the next step's job and the finished event go to
//! the outbox. The rules themselves live in `ferry_domain::decide`.

use std::collections::BTreeMap;

use chrono::Utc;
use ferry_contracts::{DeploymentFinished, MessageKind, PackageReference, StepJob, StepSummary};
use ferry_domain::{DeploymentStatus, Next, Outcome, StepKind, StepStatus, decide};
use ferry_storage::deployments::{self, Deployment, StepRun};
use ferry_storage::outbox::{self, NewMessage};
use ferry_storage::releases::Release;
use ferry_storage::{GenericClient, StorageError, environments, projects};
use uuid::Uuid;

use crate::AppState;

/// Everything [`advance`] needs about a deployment, loaded once.
pub struct DeploymentContext {
    pub deployment: Deployment,
    pub release: Release,
    pub project_name: String,
    pub notification_email: Option<String>,
    pub worker_pool: String,
    pub environment_name: String,
}

pub async fn load_context(
    client: &impl GenericClient,
    deployment: Deployment,
) -> Result<DeploymentContext, StorageError> {
    let release = ferry_storage::releases::find_by_id(client, deployment.release_id)
        .await?
        .ok_or_else(|| StorageError::Missing(format!("release {}", deployment.release_id)))?;
    let project = projects::find(client, &deployment.project_id.to_string())
        .await?
        .ok_or_else(|| StorageError::Missing(format!("project {}", deployment.project_id)))?;
    let environment = environments::find(client, &deployment.environment_id.to_string())
        .await?
        .ok_or_else(|| {
            StorageError::Missing(format!("environment {}", deployment.environment_id))
        })?;
    Ok(DeploymentContext {
        deployment,
        release,
        project_name: project.name,
        notification_email: project.notification_email,
        worker_pool: project.worker_pool,
        environment_name: environment.name,
    })
}

/// Takes the deployment one move forward: records skips, then dispatches the next step or
/// finishes the deployment. Returns whether anything was written to the outbox.
pub async fn advance(
    state: &AppState,
    client: &impl GenericClient,
    context: &DeploymentContext,
    step_runs: &mut [StepRun],
) -> Result<bool, StorageError> {
    let steps = context.release.process.steps();
    if steps.len() != step_runs.len() {
        return Err(StorageError::Corrupt(format!(
            "deployment {} has {} step runs for {} steps",
            context.deployment.deployment_id,
            step_runs.len(),
            steps.len()
        )));
    }
    let conditions: Vec<_> = steps.iter().map(|step| step.run_condition).collect();
    let statuses: Vec<_> = step_runs.iter().map(|run| run.status).collect();
    let decision = decide(&conditions, &statuses);
    let deployment_id = context.deployment.deployment_id;

    let skipped: Vec<Uuid> = decision
        .skip
        .iter()
        .map(|&i| step_runs[i].step_run_id)
        .collect();
    deployments::skip_steps(client, &skipped).await?;
    for &index in &decision.skip {
        step_runs[index].status = StepStatus::Skipped;
        deployments::append_system_log(
            client,
            deployment_id,
            &format!(
                "Step \"{}\" skipped: its run condition does not hold",
                step_runs[index].name
            ),
        )
        .await?;
    }

    match decision.next {
        Next::Wait => Ok(false),
        Next::Start(index) => {
            if context.deployment.status == DeploymentStatus::Queued {
                deployments::mark_running(client, deployment_id).await?;
            }
            let run = &mut step_runs[index];
            let attempt = deployments::dispatch_step(client, run.step_run_id).await?;
            run.status = StepStatus::Running;
            run.attempt = attempt;
            let job = step_job(state, context, index, run.step_run_id, attempt)?;
            deployments::append_system_log(
                client,
                deployment_id,
                &format!(
                    "Step \"{}\" dispatched to worker pool `{}`",
                    run.name, context.worker_pool
                ),
            )
            .await?;
            let payload =
                serde_json::to_value(&job).map_err(|e| StorageError::Corrupt(e.to_string()))?;
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
            .await?;
            Ok(true)
        }
        Next::Finish(outcome) => {
            let (status, failed_step, error) = match outcome {
                Outcome::Success => (DeploymentStatus::Success, None, None),
                Outcome::Failed { step } => {
                    let run = &step_runs[step];
                    let reason = run.error.clone().unwrap_or_else(|| "failed".to_owned());
                    let error = format!("Step \"{}\" failed: {reason}", run.name);
                    (DeploymentStatus::Failed, Some(run), Some(error))
                }
            };
            deployments::finish(client, deployment_id, status, error.as_deref()).await?;
            deployments::append_system_log(
                client,
                deployment_id,
                &format!(
                    "Deployment of {} release {} to {} finished: {}",
                    context.project_name,
                    context.release.release_number,
                    context.environment_name,
                    status
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
            let payload =
                serde_json::to_value(&event).map_err(|e| StorageError::Corrupt(e.to_string()))?;
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
            .await?;
            Ok(true)
        }
    }
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
    index: usize,
    step_run_id: Uuid,
    attempt: i32,
) -> Result<StepJob, StorageError> {
    let step = &context.release.process.steps()[index];
    let StepKind::RunScript { script, package_id } = &step.kind;
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
    let mut variables: BTreeMap<String, String> = context.release.variables.clone();
    let deployment_id = context.deployment.deployment_id.to_string();
    let system = [
        ("Environment.Name", context.environment_name.clone()),
        (
            "Environment.Id",
            context.deployment.environment_id.to_string(),
        ),
        ("Project.Name", context.project_name.clone()),
        ("Project.Id", context.deployment.project_id.to_string()),
        ("Release.Number", context.release.release_number.clone()),
        (
            "Release.Notes",
            context.release.notes.clone().unwrap_or_default(),
        ),
        ("Deployment.Id", deployment_id),
        ("Step.Name", step.name.as_str().to_owned()),
        ("Action.Name", step.name.as_str().to_owned()),
        ("Web.ServerUri", state.config().public_url.clone()),
    ];
    for prefix in ["Ferry", "Octopus"] {
        for (name, value) in &system {
            variables.insert(format!("{prefix}.{name}"), value.clone());
        }
        if let Some(package) = &package {
            variables.insert(
                format!("{prefix}.Action.Package.PackageId"),
                package.package_id.clone(),
            );
            variables.insert(
                format!("{prefix}.Action.Package.PackageVersion"),
                package.version.clone(),
            );
        }
    }
    Ok(StepJob {
        job_id: Uuid::now_v7(),
        deployment_id: context.deployment.deployment_id,
        step_run_id,
        attempt,
        step_index: index as i32,
        step_name: step.name.as_str().to_owned(),
        script: script.clone(),
        variables,
        package,
        timeout_seconds: state.config().step_timeout_seconds,
    })
}
