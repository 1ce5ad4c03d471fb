//! Calling the state machine for a loaded deployment and persisting its answer: the one path
//! every command takes between loading and committing.

use chrono::Utc;
use ferry_domain::deployment::{Command, Refusal, Stale, Transition, settle};
use ferry_storage::{GenericClient, StorageError};

use super::answers;
use super::load::Loaded;
use super::persist::{Persisted, persist};
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
    pub persisted: Persisted,
}

impl Driven {
    pub fn stale(&self) -> Option<Stale> {
        self.transition.stale
    }
}

/// Applies `command` to the loaded deployment: the machine decides (the shell answering its
/// questions from the deployment's variables), and the new state and effects are written in
/// the caller's transaction. A refused command writes nothing.
pub async fn drive(
    state: &AppState,
    client: &impl GenericClient,
    loaded: &Loaded,
    command: Command,
) -> Result<Driven, CommandError> {
    let transition = settle(
        loaded.state.clone(),
        command,
        Utc::now(),
        |deployment, request| answers::answer(state, &loaded.context, deployment, request),
    )?;
    let persisted = if transition.stale.is_some() {
        Persisted::default()
    } else {
        persist(state, client, loaded, &transition).await?
    };
    Ok(Driven {
        transition,
        persisted,
    })
}
