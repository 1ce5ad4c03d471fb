//! Deployments whose stored data cannot be read (a bug or a bad migration damaged it): the
//! state machine needs that data, so the two ways out are taken here, outside it, and said
//! in the task log. A deployment that can never start is failed (with its status email when
//! the project and release it names can be read); a person may still cancel one (no email:
//! what it would say cannot be read).

use ferry_domain::deployment::{NextQueued, StopReason};
use ferry_domain::{AuditAction, DeploymentId, DeploymentStatus, EnvironmentId, ProjectId};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::deployments::{self, Standing};
use ferry_storage::{GenericClient, StorageError, progress, task_log};
use serde_json::json;

use super::drive::CommandError;
use super::messages;
use super::queue::start_next;
use crate::AppState;
use crate::actor::Actor;
use crate::context::DeploymentContext;
use crate::error::ApiError;

/// Fails a queued deployment that can never start: Failed with the reason, its steps
/// Abandoned, a line in its task log, and the status email when what it says can be read (the
/// project's address and the release's names). Returns whether the outbox was written.
pub async fn cannot_start(
    state: &AppState,
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    (project_id, environment_id): (ProjectId, EnvironmentId),
    error: &CommandError,
) -> Result<bool, StorageError> {
    tracing::error!(%error, %deployment_id, "a queued deployment could not start");
    let reason = format!("the deployment could not start: {error}");
    progress::fail_unreadable(client, deployment_id, &reason).await?;
    task_log::append_system_log(client, deployment_id, &reason).await?;
    // Read under a savepoint of its own: damaged data that PostgreSQL refuses to read
    // costs the email, not the transaction.
    client
        .batch_execute("SAVEPOINT ferry_email_context")
        .await?;
    match DeploymentContext::load(client, deployment_id, project_id, environment_id).await {
        Ok(context) => {
            client
                .batch_execute("RELEASE SAVEPOINT ferry_email_context")
                .await?;
            messages::could_not_start(state, client, &context, &reason).await?;
            Ok(true)
        }
        Err(error) => {
            client
                .batch_execute("ROLLBACK TO SAVEPOINT ferry_email_context")
                .await?;
            tracing::warn!(%error, %deployment_id, "no status email for a deployment that could not start: what it says cannot be read");
            Ok(false)
        }
    }
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
