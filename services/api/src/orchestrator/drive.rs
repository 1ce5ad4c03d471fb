//! Calling the state machine for a loaded deployment and persisting its answer: the one path
//! every command takes between loading and committing. When the deployment gives up its
//! project and environment, the next queued deployment of the pair starts in the same
//! transaction, so no command can forget it.

use ferry_domain::DeploymentId;
use ferry_domain::deployment::{Command, Refusal, Stale, Transition, settle};
use ferry_storage::{GenericClient, StorageError, Transaction};

use super::known::Known;
use super::load::Loaded;
use super::persist::{Persisted, persist};
use super::queue::start_next;
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
        match self.known {
            Some(known) => state.known_states().remember(self.deployment_id, known),
            None => state.known_states().forget(self.deployment_id),
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
    let (transition, persisted) = drive_one(state, client, loaded, command).await?;
    let mut wrote_outbox = persisted.wrote_outbox;
    if let Some(when) = persisted.next_queued {
        let context = &loaded.context;
        wrote_outbox |= start_next(
            state,
            client,
            context.project_id,
            context.environment_id,
            when,
        )
        .await?;
    }
    let known = (!transition.deployment.status.is_terminal()).then(|| {
        let version = persisted.state_version.unwrap_or(loaded.state_version);
        loaded.known_after(version, &transition.deployment.steps)
    });
    Ok(Driven {
        transition,
        wrote_outbox,
        known,
        deployment_id: loaded.deployment_id(),
    })
}

/// The machine and the persist step alone, for `queue.rs`, which starts the next deployment
/// itself (in a loop, each under its savepoint).
pub(super) async fn drive_one(
    state: &AppState,
    client: &impl GenericClient,
    loaded: &Loaded,
    command: Command,
) -> Result<(Transition, Persisted), CommandError> {
    let transition = settle(
        loaded.state.clone(),
        command,
        loaded.now,
        |deployment, request| replies::reply(state, &loaded.context, deployment, request),
    )?;
    let persisted = if transition.stale.is_some() {
        Persisted::default()
    } else {
        persist(state, client, loaded, &transition).await?
    };
    Ok((transition, persisted))
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
