//! Writing what the state machine decided: the rows of the new state that changed (in one
//! statement per table), then each effect in order — task-log lines (batched into one
//! insert), outbox messages, interruption rows. The caller's transaction commits them all
//! together, so there is never a state without its messages or its log.

use ferry_domain::InterruptionId;
use ferry_domain::deployment::{Deployment, Effect, NextQueued, Transition};
use ferry_storage::deployments::{self, DeploymentProgress, StepProgress};
use ferry_storage::{GenericClient, StorageError, interruptions, task_log};

use super::load::Loaded;
use super::messages::{self, Attempt};
use crate::AppState;

/// What persisting a transition left for the caller to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct Persisted {
    /// Messages were written to the outbox: wake the relay after commit.
    pub wrote_outbox: bool,
    /// The deployment gave up its project and environment: start the next queued one.
    pub next_queued: Option<NextQueued>,
}

pub async fn persist(
    state: &AppState,
    client: &impl GenericClient,
    loaded: &Loaded,
    transition: &Transition,
) -> Result<Persisted, StorageError> {
    let after = &transition.deployment;
    let deployment_id = loaded.deployment_id();
    save_state(client, loaded, after).await?;
    let mut persisted = Persisted::default();
    let mut lines = Vec::new();
    for effect in &transition.effects {
        match effect {
            Effect::Log(note) => lines.push(note.to_string()),
            Effect::Dispatch { step, attempt } => {
                let attempt = attempt_of(loaded, *step, *attempt)?;
                messages::dispatch(state, client, &loaded.context, after, attempt).await?;
                persisted.wrote_outbox = true;
            }
            Effect::StopStep { step, attempt } => {
                let attempt = attempt_of(loaded, *step, *attempt)?;
                messages::stop_step(state, client, deployment_id, attempt).await?;
                persisted.wrote_outbox = true;
            }
            Effect::Finished {
                status,
                failed_step,
            } => {
                messages::finished(state, client, &loaded.context, after, *status, *failed_step)
                    .await?;
                persisted.wrote_outbox = true;
            }
            Effect::OpenInterruption {
                step,
                kind,
                instructions,
                responsible_team,
            } => {
                interruptions::open(
                    client,
                    deployment_id,
                    loaded.step_run_ids[*step],
                    *kind,
                    instructions,
                    responsible_team.as_ref().map(|team| team.as_str()),
                )
                .await?;
            }
            Effect::TakeInterruption { taken_by, .. } => {
                interruptions::take(client, open_interruption(loaded)?, taken_by).await?;
            }
            Effect::ResolveInterruption {
                answer,
                note,
                answered_by,
            } => {
                interruptions::resolve(
                    client,
                    open_interruption(loaded)?,
                    answer.as_str(),
                    note.as_deref(),
                    answered_by,
                )
                .await?;
            }
            Effect::CloseInterruption { cancelled_by } => {
                interruptions::close_all(client, deployment_id, cancelled_by).await?;
            }
            Effect::StartNextQueued(next) => persisted.next_queued = Some(*next),
        }
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    task_log::append_system_logs(client, deployment_id, &lines).await?;
    Ok(persisted)
}

/// Writes the deployment's row and the step runs whose state changed.
async fn save_state(
    client: &impl GenericClient,
    loaded: &Loaded,
    after: &Deployment,
) -> Result<(), StorageError> {
    let before = &loaded.state;
    let progress_changed = before.status != after.status
        || before.error != after.error
        || before.started_at != after.started_at
        || before.finished_at != after.finished_at;
    if progress_changed {
        deployments::save_progress(
            client,
            loaded.deployment_id(),
            &DeploymentProgress {
                status: after.status,
                error: after.error.as_deref(),
                started_at: after.started_at,
                finished_at: after.finished_at,
            },
        )
        .await?;
    }
    let mut changed = Vec::new();
    for (index, (old, new)) in before.steps.iter().zip(&after.steps).enumerate() {
        if old == new {
            continue;
        }
        changed.push(StepProgress {
            step_run_id: loaded.step_run_ids[index],
            status: new.status,
            attempt: i32::try_from(new.attempt)
                .map_err(|_| StorageError::Corrupt(format!("attempt {}", new.attempt)))?,
            exit_code: new.exit_code,
            error: new.error.as_deref(),
            failure_ignored: new.failure_ignored,
            dispatched_at: new.dispatched_at,
            started_at: new.started_at,
            finished_at: new.finished_at,
            outputs: &new.outputs,
        });
    }
    deployments::save_step_progress(client, &changed).await
}

fn attempt_of(loaded: &Loaded, index: usize, attempt: u32) -> Result<Attempt, StorageError> {
    let step_run_id = *loaded.step_run_ids.get(index).ok_or_else(|| {
        StorageError::Corrupt(format!(
            "deployment {} has no step {index}",
            loaded.deployment_id()
        ))
    })?;
    Ok(Attempt {
        index,
        step_run_id,
        attempt,
    })
}

fn open_interruption(loaded: &Loaded) -> Result<InterruptionId, StorageError> {
    loaded.open_interruption_id.ok_or_else(|| {
        StorageError::Corrupt(format!(
            "deployment {} has no open interruption",
            loaded.deployment_id()
        ))
    })
}
