//! Locking and loading a deployment for a command. Every writer takes the locks in one
//! order — the project+environment lock, the deployment's row, then its open interruption —
//! so a result, a cancel and an answer never deadlock, and a finishing deployment always sees
//! the one queued behind it.

use std::sync::Arc;

use ferry_domain::deployment::{
    self, OpenInterruption, StepRun, StepSpec, TargetRef, TargetRun, Timestamp, Transition,
};
use ferry_domain::{DeploymentId, DeploymentStatus, InterruptionId, StepRunId};
use ferry_storage::deployments::{self, Deployment, Standing};
use ferry_storage::interruptions::{self, Interruption};
use ferry_storage::{GenericClient, StorageError, deployment_queue};

use super::known::{Known, KnownStates};
use super::persist::Persisted;
use crate::context::DeploymentContext;

/// A deployment loaded for a command: its state for the machine, and what the shell needs
/// to write the machine's answer back.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub context: Arc<DeploymentContext>,
    pub row: Deployment,
    /// The row's state version when it was locked (`known.rs`).
    pub state_version: i64,
    /// The id of each step run, by step index.
    pub step_run_ids: Vec<StepRunId>,
    /// For each step, the ids of its target runs, by position.
    pub target_run_ids: Vec<Vec<StepRunId>>,
    /// The state as stored, before the command.
    pub state: deployment::Deployment,
    /// The open interruption's id, when one is open.
    pub open_interruption_id: Option<InterruptionId>,
    /// The database's clock for this transaction: the time the command happens at.
    pub now: Timestamp,
}

impl Loaded {
    pub fn deployment_id(&self) -> DeploymentId {
        self.row.deployment_id
    }

    /// Which step, and which target's run of it, a step run of this deployment is.
    pub fn locate(&self, step_run_id: StepRunId) -> Option<(usize, Option<usize>)> {
        if let Some(index) = self.step_run_ids.iter().position(|id| *id == step_run_id) {
            return Some((index, None));
        }
        self.target_run_ids
            .iter()
            .enumerate()
            .find_map(|(index, runs)| {
                let position = runs.iter().position(|id| *id == step_run_id)?;
                Some((index, Some(position)))
            })
    }

    /// What to keep of this deployment once a command's transaction commits: its state after
    /// `transition`, as of the version `persisted` left (`known.rs`); `None` once it ended
    /// (nothing changes it any more).
    pub fn known_after(&self, transition: &Transition, persisted: &Persisted) -> Option<Known> {
        let after = &transition.deployment;
        (!after.status.is_terminal()).then(|| Known {
            state_version: persisted.state_version.unwrap_or(self.state_version),
            step_run_ids: self.step_run_ids.clone(),
            target_run_ids: self.target_run_ids.clone(),
            steps: after.steps.to_vec(),
        })
    }

    /// The step run row of a step, or of one target's run of it.
    pub fn run_id(&self, index: usize, target: Option<usize>) -> Option<StepRunId> {
        match target {
            None => self.step_run_ids.get(index).copied(),
            Some(position) => self.target_run_ids.get(index)?.get(position).copied(),
        }
    }
}

/// A deployment locked for a command.
#[derive(Debug)]
pub enum Locked {
    /// Its state, ready for the machine.
    Readable(Box<Loaded>),
    /// Its stored data cannot be read (damaged by a bug or a bad migration): where it stands
    /// and why, for the few things still possible (`unreadable.rs`).
    Unreadable { standing: Standing, why: String },
}

/// Takes the project+environment lock of a deployment, then locks and loads it. `None` when
/// it does not exist.
pub async fn lock(
    client: &impl GenericClient,
    known: &KnownStates,
    deployment_id: DeploymentId,
) -> Result<Option<Locked>, StorageError> {
    // The pair never changes, so it is read (and locked) before the row is.
    if deployment_queue::lock_pair_of(client, deployment_id)
        .await?
        .is_none()
    {
        return Ok(None);
    }
    lock_row(client, known, deployment_id).await
}

/// Locks and loads a deployment without its project+environment lock: only for a command
/// that can never end the deployment (a claim), so never starts the next queued one. The
/// state the API last wrote is used when the row still has its version (`known.rs`).
pub async fn lock_row(
    client: &impl GenericClient,
    known: &KnownStates,
    deployment_id: DeploymentId,
) -> Result<Option<Locked>, StorageError> {
    let Some(locked) = deployments::lock(client, deployment_id).await? else {
        return Ok(None);
    };
    let loaded = match locked.row {
        Ok(row) => match known.get(deployment_id, locked.state_version) {
            Some(kept) => {
                let context = DeploymentContext::load(
                    client,
                    deployment_id,
                    row.project_id,
                    row.environment_id,
                )
                .await?;
                let open = open_question(client, &row).await?;
                let loaded = finish(kept, context, row, open, locked.now);
                #[cfg(debug_assertions)]
                if let Ok(loaded) = &loaded {
                    same_as_stored(client, loaded).await?;
                }
                loaded
            }
            None => load_locked(client, row, locked.now, locked.state_version).await,
        },
        Err(error) => Err(error),
    };
    match loaded {
        Ok(loaded) => Ok(Some(Locked::Readable(Box::new(loaded)))),
        // Reading is all Rust-side: the transaction is still good, the locks still held.
        Err(StorageError::Corrupt(why)) => Ok(Some(Locked::Unreadable {
            standing: locked.standing,
            why,
        })),
        Err(other) => Err(other),
    }
}

/// Debug builds: a kept state must be the one a fresh read gives, or the version rule (or
/// the round trip of some field through its column) is broken.
#[cfg(debug_assertions)]
async fn same_as_stored(client: &impl GenericClient, kept: &Loaded) -> Result<(), StorageError> {
    let fresh = load_locked(client, kept.row.clone(), kept.now, kept.state_version).await?;
    assert_eq!(
        (&fresh.state, &fresh.step_run_ids, &fresh.target_run_ids),
        (&kept.state, &kept.step_run_ids, &kept.target_run_ids),
        "the kept state of deployment {} (version {}) differs from the stored one",
        kept.deployment_id(),
        kept.state_version
    );
    Ok(())
}

/// Only a deployment waiting for a person has an open question (the machine's invariant).
async fn open_question(
    client: &impl GenericClient,
    row: &Deployment,
) -> Result<Option<Interruption>, StorageError> {
    match row.status {
        DeploymentStatus::WaitingForIntervention => {
            interruptions::lock_open(client, row.deployment_id).await
        }
        _ => Ok(None),
    }
}

/// Loads a deployment whose row (and pair) the caller has locked already; `now` is the
/// database's clock read with the lock.
pub async fn load_locked(
    client: &impl GenericClient,
    row: Deployment,
    now: Timestamp,
    state_version: i64,
) -> Result<Loaded, StorageError> {
    let deployment_id = row.deployment_id;
    let context =
        DeploymentContext::load(client, deployment_id, row.project_id, row.environment_id).await?;
    let runs = deployments::step_runs(client, deployment_id).await?;
    let open = open_question(client, &row).await?;
    assemble(context, row, runs, open, now, state_version)
}

/// Puts a stored deployment together for the machine: the release's process gives each
/// step's plan, the step runs its progress.
pub fn assemble(
    context: DeploymentContext,
    row: Deployment,
    runs: Vec<deployments::StepRun>,
    open: Option<Interruption>,
    now: Timestamp,
    state_version: i64,
) -> Result<Loaded, StorageError> {
    let steps = context.release.process.steps();
    let deployment_id = row.deployment_id;
    let corrupt =
        |what: String| StorageError::Corrupt(format!("deployment {deployment_id}: {what}"));
    let (step_rows, target_rows): (Vec<_>, Vec<_>) =
        runs.into_iter().partition(|run| run.target.is_none());
    if steps.len() != step_rows.len() {
        return Err(corrupt(format!(
            "{} step runs for {} steps",
            step_rows.len(),
            steps.len()
        )));
    }
    let mut step_run_ids = Vec::with_capacity(step_rows.len());
    let mut target_run_ids = vec![Vec::new(); steps.len()];
    let mut states = Vec::with_capacity(step_rows.len());
    for (index, (step, run)) in steps.iter().zip(step_rows).enumerate() {
        if usize::try_from(run.step_index).ok() != Some(index) {
            return Err(corrupt(format!(
                "step run {} is at index {}, expected {index}",
                run.step_run_id, run.step_index
            )));
        }
        step_run_ids.push(run.step_run_id);
        states.push(step_state(
            StepSpec::of(step, &context.environment_name, &row.excluded_steps),
            run,
        )?);
    }
    // Ordered by step, then position: each target's run is appended to its step's list.
    for run in target_rows {
        let index = usize::try_from(run.step_index)
            .ok()
            .filter(|index| *index < states.len())
            .ok_or_else(|| corrupt(format!("target run {} has no step", run.step_run_id)))?;
        let Some(on) = run.target.clone() else {
            continue;
        };
        if usize::try_from(on.position).ok() != Some(target_run_ids[index].len()) {
            return Err(corrupt(format!(
                "target run {} is at position {}, expected {}",
                run.step_run_id,
                on.position,
                target_run_ids[index].len()
            )));
        }
        target_run_ids[index].push(run.step_run_id);
        states[index].targets.push(target_state(
            TargetRef {
                id: on.target_id,
                name: on.name,
            },
            run,
        )?);
    }
    let kept = Known {
        state_version,
        step_run_ids,
        target_run_ids,
        steps: states,
    };
    finish(kept, context, row, open, now)
}

/// A loaded deployment from its steps' state (as read or as kept), its context and its row.
/// Each step's plan is made from the release again, for the environment as it is named now.
fn finish(
    kept: Known,
    context: DeploymentContext,
    row: Deployment,
    open: Option<Interruption>,
    now: Timestamp,
) -> Result<Loaded, StorageError> {
    let Known {
        state_version,
        step_run_ids,
        target_run_ids,
        mut steps,
    } = kept;
    let process = context.release.process.steps();
    if process.len() != steps.len() {
        return Err(StorageError::Corrupt(format!(
            "deployment {}: {} steps kept for {} in the process",
            row.deployment_id,
            steps.len(),
            process.len()
        )));
    }
    for (run, step) in steps.iter_mut().zip(process) {
        run.spec = StepSpec::of(step, &context.environment_name, &row.excluded_steps);
    }
    let context = Arc::new(context);
    let open_interruption = open
        .as_ref()
        .map(|interruption| {
            let step = step_run_ids
                .iter()
                .position(|id| *id == interruption.step_run_id)
                .ok_or_else(|| {
                    StorageError::Corrupt(format!(
                        "interruption {} is about a step run of another deployment",
                        interruption.interruption_id
                    ))
                })?;
            Ok::<_, StorageError>(OpenInterruption {
                step,
                kind: interruption.kind,
                taken_by: interruption.taken_by.clone(),
            })
        })
        .transpose()?;
    let state = deployment::Deployment {
        facts: context.facts(),
        status: row.status,
        error: row.error.clone(),
        started_at: row.started_at,
        finished_at: row.finished_at,
        guided_failure: row.guided_failure,
        steps,
        open_interruption,
        awaiting: None,
    };
    Ok(Loaded {
        context,
        row,
        state_version,
        step_run_ids,
        target_run_ids,
        state,
        open_interruption_id: open.map(|interruption| interruption.interruption_id),
        now,
    })
}

fn attempt_of(run: &deployments::StepRun) -> Result<u32, StorageError> {
    u32::try_from(run.attempt).map_err(|_| {
        StorageError::Corrupt(format!(
            "step run {} has attempt {}",
            run.step_run_id, run.attempt
        ))
    })
}

fn target_state(target: TargetRef, run: deployments::StepRun) -> Result<TargetRun, StorageError> {
    Ok(TargetRun {
        target,
        status: run.status,
        attempt: attempt_of(&run)?,
        exit_code: run.exit_code,
        error: run.error,
        dispatched_at: run.dispatched_at,
        claimed_by: run.claimed_by,
        claim_id: run.claim_id,
        started_at: run.started_at,
        finished_at: run.finished_at,
        outputs: run.outputs,
    })
}

fn step_state(spec: StepSpec, run: deployments::StepRun) -> Result<StepRun, StorageError> {
    Ok(StepRun {
        spec,
        status: run.status,
        attempt: attempt_of(&run)?,
        exit_code: run.exit_code,
        error: run.error,
        failure_ignored: run.failure_ignored,
        dispatched_at: run.dispatched_at,
        started_at: run.started_at,
        finished_at: run.finished_at,
        outputs: run.outputs,
        claimed_by: run.claimed_by,
        claim_id: run.claim_id,
        targets: Vec::new(),
    })
}
