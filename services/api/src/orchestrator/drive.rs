//! Calling the state machine for a loaded deployment and persisting its answer: the one path
//! every command takes between loading and committing. When the deployment gives up its
//! project and environment, the next queued deployment of the pair starts in the same
//! transaction, so no command can forget it.

use ferry_domain::deployment::{Command, Refusal, Stale, Transition, settle};
use ferry_domain::{ClaimId, DeploymentId};
use ferry_storage::{GenericClient, StorageError, Transaction};

use super::known::Known;
use super::load::Loaded;
use super::messages::{ChainTo, ChainedMessage};
use super::persist::{Persisted, persist};
use super::queue::start_next_offered;
use super::replies;
use crate::AppState;

/// Why a command changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The deployment cannot take the command in its state.
    #[error("{0}")]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What a command did.
#[derive(Debug)]
pub struct Driven {
    pub transition: Transition,
    /// Messages were written to the outbox (by this deployment or one it started): wake the
    /// relay after commit.
    pub wrote_outbox: bool,
    /// The deployment's state as this command leaves it, to keep once it commits; `None`
    /// when it ended (nothing changes it any more).
    known: Option<Known>,
    deployment_id: DeploymentId,
    /// The states of the deployments it started (`None`: ended at once).
    started: Vec<(DeploymentId, Option<Known>)>,
    /// The next step's job, granted to the worker that offered for it; the caller sends it
    /// after commit (ARCHITECTURE.md, "Chained claims").
    pub chained: Option<ChainedMessage>,
}

/// A worker's offer, sent with its result, to run the deployment's next step.
#[derive(Debug, Clone)]
pub struct Offer {
    pub claim_id: ClaimId,
    pub worker: String,
    pub reply_to: String,
    /// The pool whose exchange the result came through: only a step for that pool chains.
    pub pool: String,
}

impl Driven {
    pub fn stale(&self) -> Option<Stale> {
        self.transition.stale
    }

    /// Commits the command's transaction, wakes the relay when it wrote to the outbox, and
    /// keeps the state it left for the deployment's next command.
    pub async fn commit(
        self,
        state: &AppState,
        transaction: Transaction<'_>,
    ) -> Result<(), StorageError> {
        commit(state, transaction, self.wrote_outbox).await?;
        let started = self.started.into_iter();
        for (deployment_id, known) in
            std::iter::once((self.deployment_id, self.known)).chain(started)
        {
            match known {
                Some(known) => state.known_states().remember(deployment_id, known),
                None => state.known_states().forget(deployment_id),
            }
        }
        Ok(())
    }
}

/// Applies `command` to the loaded deployment and writes what the machine decided in the
/// caller's transaction, then starts the next queued deployment of the pair if this one gave
/// it up. A refused command writes nothing.
pub async fn drive(
    state: &AppState,
    client: &impl GenericClient,
    loaded: &Loaded,
    command: Command,
) -> Result<Driven, CommandError> {
    drive_offered(state, client, loaded, command, None).await
}

/// [`drive`], with a worker's offer to run the next step: when the command dispatches
/// exactly one step on a worker of the offering worker's pool, the offer claims it in the
/// same transaction, and its job goes to that worker's private queue instead of the pool's.
pub async fn drive_offered(
    state: &AppState,
    client: &impl GenericClient,
    loaded: &Loaded,
    command: Command,
    offer: Option<&Offer>,
) -> Result<Driven, CommandError> {
    let (transition, persisted) = drive_one_offered(state, client, loaded, command, offer).await?;
    let known = loaded.known_after(&transition, &persisted);
    let mut wrote_outbox = persisted.wrote_outbox;
    let mut chained = persisted.chained;
    let mut started = Vec::new();
    if let Some(when) = persisted.next_queued {
        let context = &loaded.context;
        // An offer this deployment did not take may start the next one in the line.
        let offer = offer.filter(|_| chained.is_none());
        let pair = (context.project_id, context.environment_id);
        let line = start_next_offered(state, client, pair, when, offer).await?;
        wrote_outbox |= line.wrote_outbox;
        chained = chained.or(line.chained);
        started = line.known;
    }
    Ok(Driven {
        transition,
        wrote_outbox,
        known,
        deployment_id: loaded.deployment_id(),
        started,
        chained,
    })
}

/// The machine and the persist step alone (with an offer to chain, if any), for `queue.rs`,
/// which starts the next deployment itself (in a loop, each under its savepoint).
pub(super) async fn drive_one_offered(
    state: &AppState,
    client: &impl GenericClient,
    loaded: &Loaded,
    command: Command,
    offer: Option<&Offer>,
) -> Result<(Transition, Persisted), CommandError> {
    let transition = settle(
        loaded.state.clone(),
        command,
        loaded.now,
        |deployment, request| replies::reply(state, &loaded.context, deployment, request),
    )?;
    if transition.stale.is_some() {
        return Ok((transition, Persisted::default()));
    }
    let (transition, chain) = match offer {
        Some(offer) => chain_next(transition, loaded, offer),
        None => (transition, None),
    };
    let persisted = persist(state, client, loaded, &transition, chain.as_ref()).await?;
    Ok((transition, persisted))
}

/// Grants the offer the one worker step `transition` dispatches, through the machine's own
/// `Claim` (as if the worker had claimed the job): its state and its log line join the
/// transition. No chain when the command dispatches nothing, several runs or runs on targets,
/// when the step is for another pool, or when the machine refuses the claim.
fn chain_next(
    mut transition: Transition,
    loaded: &Loaded,
    offer: &Offer,
) -> (Transition, Option<ChainTo>) {
    if offer.pool != loaded.context.worker_pool.as_str() {
        return (transition, None);
    }
    let [(step, None, attempt)] = transition.dispatches()[..] else {
        return (transition, None);
    };
    let claim = Command::Claim {
        step,
        target: None,
        attempt,
        worker: offer.worker.clone(),
        claim_id: offer.claim_id,
    };
    match ferry_domain::deployment::transition(transition.deployment.clone(), claim, loaded.now) {
        Ok(granted) if granted.stale.is_none() && granted.request.is_none() => {
            transition.deployment = granted.deployment;
            transition.effects.extend(granted.effects);
            let chain = ChainTo {
                step,
                attempt,
                claim_id: offer.claim_id.into_uuid(),
                reply_to: offer.reply_to.clone(),
            };
            (transition, Some(chain))
        }
        _ => (transition, None),
    }
}

/// Commits a command's transaction and, when it wrote to the outbox, wakes the relay.
pub async fn commit(
    state: &AppState,
    transaction: Transaction<'_>,
    wrote_outbox: bool,
) -> Result<(), StorageError> {
    transaction.commit().await?;
    if wrote_outbox {
        state.outbox_written();
    }
    Ok(())
}
