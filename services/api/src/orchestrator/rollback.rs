//! Rolling back: redeploying the newest release that succeeded in an environment before the
//! release of its latest successful deployment. Rolling back twice goes back twice, never
//! forward again.

use ferry_domain::deployment::Purpose;
use ferry_domain::deployment::rules::{self, NoRollback};
use ferry_domain::{DeploymentId, ReleaseNumber};
use ferry_storage::{Client, deployment_queue, releases};

use super::create::{NewDeployment, record};
use super::drive::commit;
use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::lookup::{self, DeploymentTarget};

/// A rollback just recorded.
pub struct RolledBack {
    pub deployment_id: DeploymentId,
    pub target: DeploymentTarget,
    /// The deployment it rolls back from, and that deployment's release.
    pub rollback_of: DeploymentId,
    pub rolled_back_from_release: ReleaseNumber,
}

pub async fn rollback(
    state: &AppState,
    client: &mut Client,
    actor: &Actor,
    project: &str,
    environment: &str,
) -> Result<RolledBack, ApiError> {
    let transaction = client.transaction().await?;
    let project = lookup::named_project(&transaction, project).await?;
    let environment = lookup::named_environment(&transaction, environment).await?;
    // The pair's lock first, so no deployment of the pair finishes between reading what
    // succeeded and recording the rollback (the lock is taken again, harmlessly, by `record`).
    deployment_queue::lock_project_environment(
        &transaction,
        project.project_id,
        environment.environment_id,
    )
    .await?;
    let history = deployment_queue::successful_history(
        &transaction,
        project.project_id,
        environment.environment_id,
    )
    .await?;
    let target_release = rules::rollback_target(&history).map_err(|nothing| {
        ApiError::Conflict(match nothing {
            NoRollback::NeverSucceeded => format!(
                "`{}` has never been deployed successfully to {}; there is nothing to roll back to",
                project.name, environment.name
            ),
            NoRollback::NothingOlderThan { current } => format!(
                "no release of `{}` older than {current} succeeded in {}; there is nothing to roll back to",
                project.name, environment.name
            ),
        })
    })?;
    let current = target_release.rolls_back;
    let target_release = target_release.release_id;
    let release = releases::find_by_id(&transaction, target_release)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("release {target_release} does not exist")))?;
    let target = DeploymentTarget {
        project,
        release,
        environment,
    };
    let recorded = record(
        state,
        &transaction,
        actor,
        NewDeployment {
            target: &target,
            excluded_steps: &[],
            guided_failure: None,
            purpose: Purpose::Rollback,
            rollback_of: Some(current.deployment_id),
        },
    )
    .await?;
    commit(state, transaction, recorded.wrote_outbox).await?;
    Ok(RolledBack {
        deployment_id: recorded.deployment_id,
        target,
        rollback_of: current.deployment_id,
        rolled_back_from_release: current.release_number,
    })
}
