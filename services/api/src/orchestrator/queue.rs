//! The line of deployments of one project and environment: when the active one gives up the
//! pair, the oldest queued one starts, in the same transaction. Each start is isolated in a
//! savepoint: a deployment that can never start (its stored data cannot be read, or the
//! machine or the persist step refuses it for good) is marked Failed with the reason and the
//! next one in line starts instead, so neither the deployment that just finished nor the line
//! behind it is held up. A failure that may pass (the database went away) fails the whole
//! transaction, to be retried.

use ferry_domain::deployment::{Command, NextQueued};
use ferry_domain::{DeploymentId, EnvironmentId, ProjectId};
use ferry_storage::{GenericClient, StorageError, deployment_queue};

use super::drive::{CommandError, Offer, drive_one_offered};
use super::known::Known;
use super::load::load_locked;
use super::messages::ChainedMessage;
use super::unreadable;
use crate::AppState;

/// What starting the line did.
#[derive(Debug, Default)]
pub struct Started {
    /// Messages were written to the outbox for the relay.
    pub wrote_outbox: bool,
    /// The first step of a started deployment, chained to the offering worker.
    pub chained: Option<ChainedMessage>,
    /// The state each started deployment was left in (`None`: it ended at once), to keep
    /// once the transaction commits (`known.rs`).
    pub known: Vec<(DeploymentId, Option<Known>)>,
}

/// Starts the next queued deployment of the pair (and, should it finish at once, the ones
/// after it). The caller holds the pair's lock. Returns whether the outbox was written.
pub async fn start_next(
    state: &AppState,
    client: &impl GenericClient,
    project_id: ProjectId,
    environment_id: EnvironmentId,
    when: NextQueued,
) -> Result<bool, StorageError> {
    let started = start_next_offered(state, client, (project_id, environment_id), when, None);
    Ok(started.await?.wrote_outbox)
}

/// [`start_next`], with the offer of the worker whose result made room: the started
/// deployment's first step goes to that worker, already claimed, when it is for its pool
/// (`drive.rs`).
pub async fn start_next_offered(
    state: &AppState,
    client: &impl GenericClient,
    (project_id, environment_id): (ProjectId, EnvironmentId),
    when: NextQueued,
    offer: Option<&Offer>,
) -> Result<Started, StorageError> {
    if when == NextQueued::IfIdle
        && deployment_queue::active(client, project_id, environment_id)
            .await?
            .is_some()
    {
        return Ok(Started::default());
    }
    let first = deployment_queue::next_queued(client, project_id, environment_id).await?;
    start_line(state, client, (project_id, environment_id), first, offer).await
}

/// Starts a deployment left queued with nothing active ahead of it (`rules::admit` names it),
/// then the line behind it as they finish.
pub async fn start_stranded(
    state: &AppState,
    client: &impl GenericClient,
    project_id: ProjectId,
    environment_id: EnvironmentId,
    stranded: DeploymentId,
) -> Result<bool, StorageError> {
    let pair = (project_id, environment_id);
    Ok(start_line(state, client, pair, Some(stranded), None)
        .await?
        .wrote_outbox)
}

/// Starts `first`, and the next queued deployment each time one finishes at once; `offer`
/// may claim the first step one of them dispatches.
async fn start_line(
    state: &AppState,
    client: &impl GenericClient,
    (project_id, environment_id): (ProjectId, EnvironmentId),
    first: Option<DeploymentId>,
    offer: Option<&Offer>,
) -> Result<Started, StorageError> {
    let mut line = Started::default();
    let mut next = first;
    while let Some(deployment_id) = next {
        client.batch_execute("SAVEPOINT ferry_start_queued").await?;
        // Everything about the deployment is read inside the savepoint: damaged data fails
        // this deployment, not the transaction of the one that made room for it.
        let started = async {
            let Some(locked) = deployment_queue::lock_queued(client, deployment_id).await? else {
                return Ok(None); // not queued any more: nothing to start
            };
            let loaded = load_locked(client, locked.row?, locked.now, locked.state_version).await?;
            let offer = offer.filter(|_| line.chained.is_none());
            let (transition, persisted) =
                drive_one_offered(state, client, &loaded, Command::Start, offer).await?;
            Ok(Some((
                loaded.known_after(&transition, &persisted),
                persisted,
            )))
        }
        .await;
        let finished_at_once = match started {
            Ok(started) => {
                client
                    .batch_execute("RELEASE SAVEPOINT ferry_start_queued")
                    .await?;
                match started {
                    Some((known, persisted)) => {
                        line.wrote_outbox |= persisted.wrote_outbox;
                        if persisted.chained.is_some() {
                            line.chained = persisted.chained;
                        }
                        line.known.push((deployment_id, known));
                        persisted.next_queued.is_some()
                    }
                    None => true,
                }
            }
            Err(error) if never_starts(&error) => {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT ferry_start_queued")
                    .await?;
                line.wrote_outbox |= unreadable::cannot_start(
                    state,
                    client,
                    deployment_id,
                    (project_id, environment_id),
                    &error,
                )
                .await?;
                true
            }
            Err(CommandError::Storage(error)) => return Err(error),
            Err(CommandError::Refused(refusal)) => {
                return Err(StorageError::Corrupt(refusal.to_string()));
            }
        };
        next = if finished_at_once {
            deployment_queue::next_queued(client, project_id, environment_id).await?
        } else {
            None
        };
    }
    Ok(line)
}

/// Whether starting failed for a reason that will not pass on a retry: the machine refused,
/// the stored data cannot be read, or PostgreSQL refuses what starting would write.
fn never_starts(error: &CommandError) -> bool {
    match error {
        CommandError::Refused(_) => true,
        CommandError::Storage(error) => error.is_permanent(),
    }
}
