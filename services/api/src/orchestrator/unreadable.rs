//! Deployments whose stored data cannot be read (a bug or a bad migration damaged it): the
//! state machine needs that data, so the two ways out are taken here, outside it, and said
//! in the task log. A deployment that can never start is failed; a person may still cancel
//! one. No status email is sent for either: what the email says cannot be read.

use ferry_domain::deployment::{NextQueued, StopReason};
use ferry_domain::{AuditAction, DeploymentId, DeploymentStatus};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::deployments::{self, Standing};
use ferry_storage::{GenericClient, StorageError, progress, task_log};
use serde_json::json;

use super::drive::CommandError;
use super::messages;
use super::queue::start_next;
use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;

/// Fails a queued deployment that can never start: Failed with the reason, its steps
/// Abandoned, a line in its task log.
pub async fn cannot_start(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    error: &CommandError,
) -> Result<(), StorageError> {
    tracing::error!(%error, %deployment_id, "a queued deployment could not start");
    let reason = format!("the deployment could not start: {error}");
    progress::fail_unreadable(client, deployment_id, &reason).await?;
    task_log::append_system_log(client, deployment_id, &reason).await
}

/// A cancel of a deployment that cannot be loaded.
pub struct Cancel<'a> {
    pub deployment_id: DeploymentId,
    /// Where it stands, read from the columns only Ferry writes.
    pub standing: Standing,
    pub why_unreadable: &'a str,
}

/// Cancels a deployment that cannot be loaded (the caller holds its locks): Canceled, its
/// unfinished steps Canceled or Abandoned, its open question closed, the line behind it
/// started, the worker running a step told to stop. Returns whether the outbox was written.
pub async fn cancel(
    state: &AppState,
    client: &impl GenericClient,
    actor: &Actor,
    cancel: Cancel<'_>,
) -> Result<bool, ApiError> {
    let Cancel {
        deployment_id,
        standing:
            Standing {
                project_id,
                environment_id,
                status,
            },
        why_unreadable,
    } = cancel;
    if status.is_terminal() {
        return Err(ApiError::Conflict(format!(
            "deployment {deployment_id} already finished: {status}"
        )));
    }
    tracing::error!(%deployment_id, reason = why_unreadable, "cancelling a deployment whose stored data cannot be read");
    let running = progress::cancel_unreadable(client, deployment_id, actor.name()).await?;
    // Whatever still runs is told to stop, as the machine would have it told.
    for (step_run_id, attempt) in &running {
        messages::stop_step(
            state,
            client,
            deployment_id,
            *step_run_id,
            *attempt,
            StopReason::Cancelled,
        )
        .await?;
    }
    task_log::append_system_log(
        client,
        deployment_id,
        &format!(
            "Cancelled by {} (its stored data cannot be read: {why_unreadable})",
            actor.name()
        ),
    )
    .await?;
    // The names, when they can be read; the id otherwise.
    let subject = match deployments::summary(client, deployment_id).await {
        Ok(Some(found)) => format!(
            "{} release {} to {}",
            found.project_name, found.release_number, found.environment_name
        ),
        Ok(None) | Err(StorageError::Corrupt(_)) => format!("deployment {deployment_id}"),
        Err(other) => return Err(other.into()),
    };
    audit::record(
        client,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::DeploymentCanceled,
            project_id: Some(project_id),
            environment_id: Some(environment_id),
            subject: &subject,
            details: json!({ "deployment_id": deployment_id }),
        },
    )
    .await?;
    let when = match status {
        DeploymentStatus::Queued => NextQueued::IfIdle,
        _ => NextQueued::Start,
    };
    let started = start_next(state, client, project_id, environment_id, when).await?;
    Ok(started || !running.is_empty())
}
