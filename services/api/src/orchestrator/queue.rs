//! The line of deployments of one project and environment: when the active one gives up the
//! pair, the oldest queued one starts, in the same transaction. Each start is isolated in a
//! savepoint: a deployment that cannot start (its stored data is broken) is marked Failed
//! with the reason and the next one in line starts instead, so neither the deployment that
//! just finished nor the line behind it is held up.

use ferry_domain::deployment::{Command, NextQueued};
use ferry_domain::{EnvironmentId, ProjectId};
use ferry_storage::{GenericClient, StorageError, deployments, task_log};

use super::drive::drive;
use super::load::load_locked;
use crate::AppState;

/// Starts the next queued deployment of the pair (and, should it finish at once, the ones
/// after it). The caller holds the pair's lock. Returns whether the outbox was written.
pub async fn start_next(
    state: &AppState,
    client: &impl GenericClient,
    project_id: ProjectId,
    environment_id: EnvironmentId,
    when: NextQueued,
) -> Result<bool, StorageError> {
    if when == NextQueued::IfIdle
        && deployments::active(client, project_id, environment_id)
            .await?
            .is_some()
    {
        return Ok(false);
    }
    let mut wrote_outbox = false;
    let mut next = deployments::next_queued(client, project_id, environment_id).await?;
    while let Some(row) = next {
        let deployment_id = row.deployment_id;
        client.batch_execute("SAVEPOINT ferry_start_queued").await?;
        let started = async {
            let loaded = load_locked(client, row).await?;
            drive(state, client, &loaded, Command::Start).await
        }
        .await;
        let finished_at_once = match started {
            Ok(driven) => {
                client
                    .batch_execute("RELEASE SAVEPOINT ferry_start_queued")
                    .await?;
                wrote_outbox |= driven.persisted.wrote_outbox;
                driven.persisted.next_queued.is_some()
            }
            Err(error) => {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT ferry_start_queued")
                    .await?;
                tracing::error!(%error, %deployment_id, "a queued deployment could not start");
                let reason = format!("the deployment could not start: {error}");
                deployments::fail_unreadable(client, deployment_id, &reason).await?;
                task_log::append_system_log(client, deployment_id, &reason).await?;
                true
            }
        };
        next = if finished_at_once {
            deployments::next_queued(client, project_id, environment_id).await?
        } else {
            None
        };
    }
    Ok(wrote_outbox)
}
