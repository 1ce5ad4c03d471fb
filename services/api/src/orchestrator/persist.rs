//! Writing what the state machine decided: the rows of the new state that changed (in one
//! statement per table), then each effect in order — task-log lines (batched into one
//! insert), outbox messages, interruption rows. The caller's transaction commits them all
//! together, so there is never a state without its messages or its log.

use std::collections::HashMap;

use ferry_domain::deployment::{Deployment, Effect, NextQueued, StepRun, TargetRun, Transition};
use ferry_domain::{ClaimId, InterruptionId, StepRunId, TargetId};
use ferry_storage::progress::{self, DeploymentProgress, NewInterruption, StepProgress};
use ferry_storage::targets::{self, Target};
use ferry_storage::{GenericClient, StorageError, task_log};

use super::load::Loaded;
use super::messages::{self, Attempt, ChainTo, ChainedMessage};
use crate::AppState;

/// What persisting a transition left for the caller to do.
#[derive(Debug, Clone, Default)]
pub struct Persisted {
    /// The chained job written for the worker whose offer was granted, to send at once.
    pub chained: Option<ChainedMessage>,
    /// Messages were written to the outbox: wake the relay after commit.
    pub wrote_outbox: bool,
    /// The deployment gave up its project and environment: start the next queued one.
    pub next_queued: Option<NextQueued>,
    /// The state version the write left, when it changed the state (`known.rs`).
    pub state_version: Option<i64>,
}

pub async fn persist(
    state: &AppState,
    client: &impl GenericClient,
    loaded: &Loaded,
    transition: &Transition,
    chain: Option<&ChainTo>,
) -> Result<Persisted, StorageError> {
    let after = &transition.deployment;
    let deployment_id = loaded.deployment_id();
    let targets = dispatched_targets(client, transition).await?;
    let mut persisted = Persisted {
        state_version: save_state(client, loaded, transition, &targets).await?,
        ..Persisted::default()
    };
    let mut lines = Vec::new();
    for effect in &transition.effects {
        match effect {
            Effect::Log(note) => lines.push(note.to_string()),
            Effect::Dispatch {
                step,
                target,
                attempt,
            } => {
                let attempt = attempt_of(loaded, *step, *target, *attempt)?;
                if let Some(chain) =
                    chain.filter(|chain| chain.step == *step && chain.attempt == attempt.attempt)
                    && target.is_none()
                {
                    persisted.chained = Some(
                        messages::dispatch_chained(
                            state,
                            client,
                            &loaded.context,
                            after,
                            attempt,
                            chain,
                        )
                        .await?,
                    );
                    // Not `wrote_outbox`: the committer sends it itself (`drive.rs`), and
                    // wakes the relay only if that fails.
                    continue;
                }
                let on = match target {
                    Some(position) => {
                        let id = after.steps[*step].targets[*position].target.id;
                        Some(targets.get(&id).ok_or_else(|| missing_target(id))?)
                    }
                    None => None,
                };
                messages::dispatch(state, client, &loaded.context, after, attempt, on).await?;
                persisted.wrote_outbox = true;
            }
            Effect::StopStep {
                step,
                target,
                attempt,
                why,
            } => {
                let attempt = attempt_of(loaded, *step, *target, *attempt)?;
                let wire_attempt = messages::to_wire(attempt.attempt)?;
                messages::stop_step(
                    state,
                    client,
                    deployment_id,
                    attempt.step_run_id,
                    wire_attempt,
                    *why,
                )
                .await?;
                persisted.wrote_outbox = true;
            }
            Effect::Finished { failed_step, .. } => {
                messages::finished(state, client, &loaded.context, after, *failed_step).await?;
                persisted.wrote_outbox = true;
            }
            Effect::OpenInterruption {
                step,
                kind,
                instructions,
                responsible_team,
            } => {
                let new = NewInterruption {
                    deployment_id,
                    step_run_id: loaded.step_run_ids[*step],
                    kind: *kind,
                    instructions,
                    responsible_team: responsible_team.as_ref(),
                };
                progress::open_interruption(client, &new).await?;
            }
            Effect::TakeInterruption { taken_by, .. } => {
                progress::take_interruption(client, open_interruption(loaded)?, taken_by).await?;
            }
            Effect::ResolveInterruption {
                answer,
                note,
                answered_by,
            } => {
                progress::resolve_interruption(
                    client,
                    open_interruption(loaded)?,
                    *answer,
                    note.as_deref(),
                    answered_by,
                )
                .await?;
            }
            Effect::CloseInterruption { cancelled_by } => {
                progress::close_interruptions(client, deployment_id, cancelled_by).await?;
            }
            Effect::StartNextQueued(next) => persisted.next_queued = Some(*next),
        }
    }
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    task_log::append_system_logs(client, deployment_id, &lines).await?;
    Ok(persisted)
}

/// The targets whose runs the transition dispatches, by id.
async fn dispatched_targets(
    client: &impl GenericClient,
    transition: &Transition,
) -> Result<HashMap<TargetId, Target>, StorageError> {
    let mut found = HashMap::new();
    for effect in &transition.effects {
        if let Effect::Dispatch {
            step,
            target: Some(position),
            ..
        } = effect
        {
            let id = transition.deployment.steps[*step].targets[*position]
                .target
                .id;
            if let std::collections::hash_map::Entry::Vacant(entry) = found.entry(id) {
                let target = targets::get(client, id)
                    .await?
                    .ok_or_else(|| missing_target(id))?;
                entry.insert(target);
            }
        }
    }
    Ok(found)
}

fn missing_target(id: TargetId) -> StorageError {
    StorageError::Missing(format!("target {id}"))
}

/// Writes the step runs whose state changed and, when anything did, the deployment's row
/// with its next state version, which it returns.
async fn save_state(
    client: &impl GenericClient,
    loaded: &Loaded,
    transition: &Transition,
    targets: &HashMap<TargetId, Target>,
) -> Result<Option<i64>, StorageError> {
    let after = &transition.deployment;
    let new = progress_of(after);
    let mut changed = Vec::new();
    for (index, (old, new)) in loaded.state.steps.iter().zip(&after.steps).enumerate() {
        if old != new {
            let mut progress = step_progress_of(loaded.step_run_ids[index], new)?;
            // Which queue this attempt's job goes to: events about it are taken from that
            // pool's workers only (`events.rs`).
            let dispatched = transition
                .effects
                .iter()
                .any(|effect| matches!(effect, Effect::Dispatch { step, .. } if *step == index));
            if dispatched {
                progress.dispatched_pool = Some(after.facts.worker_pool.as_str());
            }
            changed.push(progress);
        }
        for (position, (old, new)) in old.targets.iter().zip(&new.targets).enumerate() {
            if old == new {
                continue;
            }
            let id = loaded.target_run_ids[index][position];
            let mut progress = target_progress_of(id, new)?;
            // A target's run goes to the target's pool, and only its workers speak for it.
            let dispatched = transition.effects.iter().any(|effect| {
                matches!(effect, Effect::Dispatch { step, target: Some(at), .. }
                    if *step == index && *at == position)
            });
            if dispatched {
                progress.dispatched_pool = targets
                    .get(&new.target.id)
                    .map(|target| target.worker_pool.as_str());
            }
            changed.push(progress);
        }
    }
    if changed.is_empty() && progress_of(&loaded.state) == new {
        return Ok(None);
    }
    let version = progress::save_deployment(client, loaded.deployment_id(), &new, &changed).await?;
    Ok(Some(version))
}

/// The stored part of a deployment's state. Destructured whole, so a field added to the
/// machine's state is a compile error here until it is stored or said not to be.
fn progress_of(deployment: &Deployment) -> DeploymentProgress<'_> {
    let Deployment {
        facts: _,             // loaded from the release, project and environment
        guided_failure: _,    // fixed at creation
        steps: _,             // stored one by one, below
        open_interruption: _, // stored through the interruption effects
        awaiting: _,          // never stored: the shell answers before it persists
        status,
        error,
        started_at,
        finished_at,
    } = deployment;
    DeploymentProgress {
        status: *status,
        error: error.as_deref(),
        started_at: *started_at,
        finished_at: *finished_at,
    }
}

/// The stored part of a step run's state, destructured whole for the same reason.
fn step_progress_of(
    step_run_id: StepRunId,
    run: &StepRun,
) -> Result<StepProgress<'_>, StorageError> {
    let StepRun {
        spec: _, // the release's process, fixed
        status,
        attempt,
        exit_code,
        error,
        failure_ignored,
        dispatched_at,
        started_at,
        finished_at,
        outputs,
        claimed_by,
        claim_id,
        targets: _, // stored one by one, as rows of their own
    } = run;
    Ok(StepProgress {
        step_run_id,
        status: *status,
        attempt: i32::try_from(*attempt)
            .map_err(|_| StorageError::Corrupt(format!("attempt {attempt}")))?,
        exit_code: *exit_code,
        error: error.as_deref(),
        failure_ignored: *failure_ignored,
        dispatched_at: *dispatched_at,
        started_at: *started_at,
        finished_at: *finished_at,
        outputs,
        claimed_by: claimed_by.as_deref(),
        claim_id: claim_id.map(ClaimId::into_uuid),
        dispatched_pool: None,
    })
}

/// The stored part of a target's run, destructured whole for the same reason.
fn target_progress_of(
    step_run_id: StepRunId,
    run: &TargetRun,
) -> Result<StepProgress<'_>, StorageError> {
    let TargetRun {
        target: _, // fixed when the deployment was created
        status,
        attempt,
        exit_code,
        error,
        dispatched_at,
        claimed_by,
        claim_id,
        started_at,
        finished_at,
        outputs,
    } = run;
    Ok(StepProgress {
        step_run_id,
        status: *status,
        attempt: i32::try_from(*attempt)
            .map_err(|_| StorageError::Corrupt(format!("attempt {attempt}")))?,
        exit_code: *exit_code,
        error: error.as_deref(),
        failure_ignored: false,
        dispatched_at: *dispatched_at,
        started_at: *started_at,
        finished_at: *finished_at,
        outputs,
        claimed_by: claimed_by.as_deref(),
        claim_id: claim_id.map(ClaimId::into_uuid),
        dispatched_pool: None,
    })
}

fn attempt_of(
    loaded: &Loaded,
    index: usize,
    target: Option<usize>,
    attempt: u32,
) -> Result<Attempt, StorageError> {
    let step_run_id = loaded.run_id(index, target).ok_or_else(|| {
        StorageError::Corrupt(format!(
            "deployment {} has no step {index} (target {target:?})",
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
