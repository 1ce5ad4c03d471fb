//! The consumer of step events: applies each event in one transaction (log lines, the step's
//! result, the next orchestration move and its outbox messages), then acknowledges it.
//!
//! Idempotency: an event whose id was already applied changes nothing; log lines are keyed by
//! step run, attempt and sequence; a result for a step that is no longer running, or for an
//! earlier attempt, is stale and ignored.

use std::sync::Arc;

use ferry_broker::{ConsumerOptions, Delivery, Handled, run_consumer};
use ferry_contracts::{StepEvent, StepEventBody, StepOutcome};
use ferry_domain::{DeploymentStatus, FailureAction, StepStatus, after_failure};
use ferry_storage::StorageError;
use ferry_storage::deployments::{self, StepResult};
use ferry_storage::interruptions::{self, InterruptionKind};
use tokio_util::sync::CancellationToken;

use crate::AppState;
use crate::orchestrator::{advance, dispatch, load_context};

/// The name under which applied events are recorded in `processed_messages`.
const CONSUMER: &str = "api.step-events";

pub async fn run(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let topology = state.topology().clone();
    let spec = topology.step_events();
    let options = ConsumerOptions::new("ferry-api", state.config().event_concurrency);
    let handler_state = state.clone();
    run_consumer(
        state.broker(),
        &topology,
        &spec,
        options,
        move |delivery: Arc<Delivery>| {
            let state = handler_state.clone();
            async move { handle(&state, &delivery).await }
        },
        shutdown,
    )
    .await?;
    Ok(())
}

async fn handle(state: &AppState, delivery: &Delivery) -> Handled {
    let event: StepEvent = match serde_json::from_slice(&delivery.data) {
        Ok(event) => event,
        Err(error) => {
            return Handled::Reject {
                reason: format!("not a step event: {error}"),
            };
        }
    };
    match apply(state, &event).await {
        Ok(wrote_outbox) => {
            if wrote_outbox {
                state.outbox_written();
            }
            Handled::Done
        }
        Err(StorageError::Missing(what)) => Handled::Reject {
            reason: format!(
                "event {} refers to {what}, which does not exist",
                event.event_id
            ),
        },
        Err(error) => Handled::RetryLater {
            reason: error.to_string(),
        },
    }
}

/// Applies one event; returns whether it wrote to the outbox.
pub async fn apply(state: &AppState, event: &StepEvent) -> Result<bool, StorageError> {
    let mut client = state.pool().get().await?;
    let transaction = client.transaction().await?;
    if !ferry_storage::processed::first_time(&transaction, CONSUMER, event.event_id).await? {
        tracing::debug!(event_id = %event.event_id, "duplicate step event ignored");
        transaction.commit().await?;
        return Ok(false);
    }
    if matches!(event.body, StepEventBody::Finished { .. }) {
        // A result may finish the deployment and start the next queued one: take the
        // project+environment lock first (the lock order is in `deployments::pair`).
        let (project_id, environment_id) = deployments::pair(&transaction, event.deployment_id)
            .await?
            .ok_or_else(|| StorageError::Missing(format!("deployment {}", event.deployment_id)))?;
        deployments::lock_project_environment(&transaction, project_id, environment_id).await?;
    }
    let deployment = deployments::lock(&transaction, event.deployment_id)
        .await?
        .ok_or_else(|| StorageError::Missing(format!("deployment {}", event.deployment_id)))?;
    let mut step_runs = deployments::step_runs(&transaction, event.deployment_id).await?;
    let index = step_runs
        .iter()
        .position(|run| run.step_run_id == event.step_run_id)
        .ok_or_else(|| StorageError::Missing(format!("step run {}", event.step_run_id)))?;

    let lines = match &event.body {
        StepEventBody::Log { lines } | StepEventBody::Finished { lines, .. } => lines,
    };
    deployments::append_step_log(
        &transaction,
        event.deployment_id,
        event.step_run_id,
        event.attempt,
        lines,
    )
    .await?;

    let mut wrote_outbox = false;
    if let StepEventBody::Finished {
        outcome, outputs, ..
    } = &event.body
    {
        let run = &step_runs[index];
        // While a person decides about a failure (guided failure), no worker runs the step:
        // a late or duplicated result for it is stale too.
        let current = run.status == StepStatus::Running
            && run.attempt == event.attempt
            && deployment.status != DeploymentStatus::WaitingForIntervention;
        if current && !deployment.status.is_terminal() {
            deployments::record_outputs(&transaction, event.step_run_id, outputs).await?;
            let mut context = load_context(&transaction, deployment).await?;
            step_runs[index].outputs.extend(outputs.clone());
            let step = context.release.process.steps()[index].clone();
            match outcome {
                StepOutcome::Succeeded => {
                    record_result(
                        &transaction,
                        event,
                        &mut step_runs[index],
                        StepStatus::Succeeded,
                        None,
                        None,
                    )
                    .await?;
                }
                StepOutcome::Failed { exit_code, reason } => {
                    let action = after_failure(
                        step.retries,
                        u32::try_from(event.attempt).unwrap_or(u32::MAX),
                        context.deployment.guided_failure,
                    );
                    match action {
                        FailureAction::Fail => {
                            record_result(
                                &transaction,
                                event,
                                &mut step_runs[index],
                                StepStatus::Failed,
                                *exit_code,
                                Some(reason),
                            )
                            .await?;
                        }
                        FailureAction::Retry => {
                            deployments::append_system_log(
                                &transaction,
                                event.deployment_id,
                                &format!(
                                    "Step \"{}\" attempt {} failed: {reason}; retrying ({} of {} retries)",
                                    step.name, event.attempt, event.attempt, step.retries
                                ),
                            )
                            .await?;
                            dispatch(state, &transaction, &context, &mut step_runs, index).await?;
                            transaction.commit().await?;
                            return Ok(true);
                        }
                        FailureAction::AskForGuidance => {
                            // The failure is recorded, the step stays Running (paused), and a
                            // person decides: retry, ignore or abort.
                            record_result(
                                &transaction,
                                event,
                                &mut step_runs[index],
                                StepStatus::Running,
                                *exit_code,
                                Some(reason),
                            )
                            .await?;
                            let question = format!(
                                "Step \"{}\" failed: {reason}. Guided failure is on: retry the step, ignore the failure and carry on, or abort.",
                                step.name
                            );
                            interruptions::open(
                                &transaction,
                                event.deployment_id,
                                event.step_run_id,
                                InterruptionKind::GuidedFailure,
                                &question,
                                None,
                            )
                            .await?;
                            deployments::set_status(
                                &transaction,
                                event.deployment_id,
                                DeploymentStatus::WaitingForIntervention,
                            )
                            .await?;
                            deployments::append_system_log(
                                &transaction,
                                event.deployment_id,
                                &question,
                            )
                            .await?;
                            transaction.commit().await?;
                            return Ok(false);
                        }
                    }
                }
            }
            wrote_outbox = advance(state, &transaction, &mut context, &mut step_runs)
                .await?
                .wrote_outbox;
        } else {
            tracing::info!(
                event_id = %event.event_id,
                step_run_id = %event.step_run_id,
                attempt = event.attempt,
                "stale step result ignored"
            );
        }
    }
    transaction.commit().await?;
    Ok(wrote_outbox)
}

/// Stores a worker's result for a step run and writes the summary line.
async fn record_result(
    client: &impl ferry_storage::GenericClient,
    event: &StepEvent,
    run: &mut ferry_storage::deployments::StepRun,
    status: StepStatus,
    exit_code: Option<i32>,
    error: Option<&str>,
) -> Result<(), StorageError> {
    let StepEventBody::Finished {
        started_at,
        finished_at,
        ..
    } = &event.body
    else {
        return Ok(());
    };
    deployments::finish_step(
        client,
        event.step_run_id,
        &StepResult {
            status,
            exit_code,
            error,
            started_at: *started_at,
            finished_at: *finished_at,
        },
    )
    .await?;
    if status != StepStatus::Running {
        let summary = match error {
            Some(reason) => format!("Step \"{}\" failed: {reason}", run.name),
            None => format!("Step \"{}\" {}", run.name, status),
        };
        deployments::append_system_log(client, event.deployment_id, &summary).await?;
    }
    run.status = status;
    run.exit_code = exit_code;
    run.error = error.map(str::to_owned);
    Ok(())
}
