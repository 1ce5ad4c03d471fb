//! Writing a deployment's state: what the state machine decided (the deployment's progress
//! and its step runs', each in one statement), and the two ways out for a deployment whose
//! stored data cannot be read (failing it, cancelling it), which the machine cannot take.
//! Only the orchestrator calls these (`cargo xtask tidy` checks it).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_domain::deployment::{Answer, InterruptionKind};
use ferry_domain::{
    DeploymentId, DeploymentStatus, InterruptionId, StepName, StepRunId, StepStatus, TeamName,
};
use uuid::Uuid;

use crate::deployments::{Deployment, RunTarget, StepRun};
use crate::{CachedQueries, GenericClient, StorageError, id};

/// Ends a deployment that can never start (its stored data is broken), outside the state
/// machine, which needs that data: Failed with the reason, its unfinished steps Abandoned.
pub async fn fail_unreadable(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    reason: &str,
) -> Result<(), StorageError> {
    let failed = client
        .execute_cached(
            "UPDATE deployments SET status = 'Failed', error = $2, finished_at = now(),
                 state_version = state_version + 1
             WHERE deployment_id = $1 AND status = 'Queued'",
            &[deployment_id.as_uuid(), &reason],
        )
        .await?;
    if failed == 0 {
        return Ok(()); // not queued any more: its runs are the machine's to change
    }
    client
        .execute_cached(
            "UPDATE step_runs SET status = 'Abandoned', error = $2, finished_at = now()
             WHERE deployment_id = $1 AND status IN ('Pending', 'Running')",
            &[deployment_id.as_uuid(), &reason],
        )
        .await?;
    Ok(())
}

/// Cancels a deployment that cannot be loaded, outside the state machine (which needs its
/// data): Canceled, its running step Canceled and pending ones Abandoned (each "cancelled by
/// …"), its open interruption closed. Returns the step runs that were running, with their
/// attempt, for the worker running them to be told to stop.
pub async fn cancel_unreadable(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    cancelled_by: &str,
) -> Result<Vec<(StepRunId, i32)>, StorageError> {
    let running = client
        .query_cached(
            "SELECT step_run_id, attempt FROM step_runs
             WHERE deployment_id = $1 AND status = 'Running' ORDER BY step_index",
            &[deployment_id.as_uuid()],
        )
        .await?
        .iter()
        .map(|row| (id(row, 0), row.get(1)))
        .collect();
    client
        .execute_cached(
            "UPDATE deployments SET status = 'Canceled', error = 'the deployment was cancelled',
                 finished_at = now(), state_version = state_version + 1
             WHERE deployment_id = $1",
            &[deployment_id.as_uuid()],
        )
        .await?;
    client
        .execute_cached(
            "UPDATE step_runs SET error = $2, finished_at = coalesce(finished_at, now()),
                 status = CASE status WHEN 'Running' THEN 'Canceled' ELSE 'Abandoned' END
             WHERE deployment_id = $1 AND status IN ('Pending', 'Running')",
            &[
                deployment_id.as_uuid(),
                &format!("cancelled by {cancelled_by}"),
            ],
        )
        .await?;
    close_interruptions(client, deployment_id, cancelled_by).await?;
    Ok(running)
}

/// The part of a deployment that changes as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentProgress<'a> {
    pub status: DeploymentStatus,
    pub error: Option<&'a str>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

/// Writes a deployment's new state — the step runs that changed, then its status, error and
/// times — and moves its state version on, returning the new version. Step runs are written
/// only here (and by the two ways out for unreadable data, which move the version too): the
/// API keeps the state it last wrote and trusts it only while the row still has the version
/// that write gave it (`orchestrator/known.rs`).
pub async fn save_deployment(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    progress: &DeploymentProgress<'_>,
    steps: &[StepProgress<'_>],
) -> Result<i64, StorageError> {
    save_step_runs(client, steps).await?;
    let row = client
        .query_one_cached(
            "UPDATE deployments SET status = $2, error = $3, started_at = $4, finished_at = $5,
                 state_version = state_version + 1
             WHERE deployment_id = $1
             RETURNING state_version",
            &[
                deployment_id.as_uuid(),
                &progress.status.as_str(),
                &progress.error,
                &progress.started_at,
                &progress.finished_at,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// The part of a step run that changes as it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepProgress<'a> {
    pub step_run_id: StepRunId,
    pub status: StepStatus,
    pub attempt: i32,
    pub exit_code: Option<i32>,
    pub error: Option<&'a str>,
    pub failure_ignored: bool,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outputs: &'a BTreeMap<String, String>,
    /// The worker that claimed the current attempt. A new claim starts its lease (the
    /// heartbeat time) at the database's clock; a new attempt, unclaimed, has none.
    pub claimed_by: Option<&'a str>,
    /// The claim that won the current attempt.
    pub claim_id: Option<Uuid>,
    /// The worker pool a new attempt's job is sent to (`None`: unchanged).
    pub dispatched_pool: Option<&'a str>,
}

/// Writes the new state of the step runs that changed, in one statement.
async fn save_step_runs(
    client: &impl GenericClient,
    steps: &[StepProgress<'_>],
) -> Result<(), StorageError> {
    if steps.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = steps
        .iter()
        .map(|step| step.step_run_id.into_uuid())
        .collect();
    let statuses: Vec<&str> = steps.iter().map(|step| step.status.as_str()).collect();
    let attempts: Vec<i32> = steps.iter().map(|step| step.attempt).collect();
    let exit_codes: Vec<Option<i32>> = steps.iter().map(|step| step.exit_code).collect();
    let errors: Vec<Option<&str>> = steps.iter().map(|step| step.error).collect();
    let ignored: Vec<bool> = steps.iter().map(|step| step.failure_ignored).collect();
    let dispatched: Vec<Option<DateTime<Utc>>> =
        steps.iter().map(|step| step.dispatched_at).collect();
    let started: Vec<Option<DateTime<Utc>>> = steps.iter().map(|step| step.started_at).collect();
    let finished: Vec<Option<DateTime<Utc>>> = steps.iter().map(|step| step.finished_at).collect();
    let claimed: Vec<Option<&str>> = steps.iter().map(|step| step.claimed_by).collect();
    let pools: Vec<Option<&str>> = steps.iter().map(|step| step.dispatched_pool).collect();
    let claims: Vec<Option<Uuid>> = steps.iter().map(|step| step.claim_id).collect();
    let outputs = steps
        .iter()
        .map(|step| serde_json::to_value(step.outputs))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| StorageError::Corrupt(error.to_string()))?;
    client
        .execute_cached(
            "UPDATE step_runs s SET status = u.status, attempt = u.attempt, exit_code = u.exit_code,
                 error = u.error, failure_ignored = u.failure_ignored,
                 dispatched_at = u.dispatched_at, started_at = u.started_at,
                 finished_at = u.finished_at, outputs = u.outputs, claimed_by = u.claimed_by,
                 claim_id = u.claim_id,
                 dispatched_pool = coalesce(u.dispatched_pool, s.dispatched_pool),
                 heartbeat_at = CASE WHEN u.claimed_by IS NULL THEN NULL
                                     WHEN s.claim_id IS DISTINCT FROM u.claim_id THEN now()
                                     ELSE s.heartbeat_at END
             FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::int4[], $5::text[], $6::bool[],
                         $7::timestamptz[], $8::timestamptz[], $9::timestamptz[], $10::jsonb[],
                         $11::text[], $12::text[], $13::uuid[])
                 AS u(step_run_id, status, attempt, exit_code, error, failure_ignored,
                      dispatched_at, started_at, finished_at, outputs, claimed_by,
                      dispatched_pool, claim_id)
             WHERE s.step_run_id = u.step_run_id",
            &[
                &ids,
                &statuses,
                &attempts,
                &exit_codes,
                &errors,
                &ignored,
                &dispatched,
                &started,
                &finished,
                &outputs,
                &claimed,
                &pools,
                &claims,
            ],
        )
        .await?;
    Ok(())
}

/// A deployment just inserted: its step runs, and the variables it took from its release
/// (read in the same statement, so no later *update variables* can come between).
#[derive(Debug, Clone)]
pub struct Inserted {
    pub step_runs: Vec<StepRun>,
    pub variables: ferry_domain::variables::VariableSet<String>,
}

/// Inserts a queued deployment with one pending step run per step, and for a step on
/// targets one more per target (`steps[i].1`, in order).
pub async fn insert_deployment(
    client: &impl GenericClient,
    deployment: &Deployment,
    steps: &[(StepName, Vec<ferry_domain::deployment::TargetRef>)],
) -> Result<Inserted, StorageError> {
    let excluded_steps: Vec<&str> = deployment
        .excluded_steps
        .iter()
        .map(StepName::as_str)
        .collect();
    let row = client
        .query_one_cached(
            "INSERT INTO deployments (deployment_id, release_id, project_id, environment_id, status,
                 created_at, guided_failure, excluded_steps, rollback_of, variables)
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, r.variables FROM releases r WHERE r.release_id = $2
             RETURNING variables",
            &[
                deployment.deployment_id.as_uuid(),
                deployment.release_id.as_uuid(),
                deployment.project_id.as_uuid(),
                deployment.environment_id.as_uuid(),
                &deployment.status.as_str(),
                &deployment.created_at,
                &deployment.guided_failure,
                &excluded_steps,
                &deployment.rollback_of.map(DeploymentId::into_uuid),
            ],
        )
        .await?;
    let variables = crate::json_column(row.get(0), "deployment variables")?;
    let mut step_runs = Vec::new();
    for (index, (name, targets)) in steps.iter().enumerate() {
        let index = i32::try_from(index).map_err(|_| StorageError::Corrupt("step index".into()))?;
        step_runs.push(pending_run(deployment.deployment_id, index, name, None));
        for (position, target) in targets.iter().enumerate() {
            let position = i32::try_from(position)
                .map_err(|_| StorageError::Corrupt("target position".into()))?;
            let on = RunTarget {
                position,
                target_id: target.id,
                name: target.name.clone(),
            };
            step_runs.push(pending_run(deployment.deployment_id, index, name, Some(on)));
        }
    }
    let ids: Vec<Uuid> = step_runs
        .iter()
        .map(|run| run.step_run_id.into_uuid())
        .collect();
    let indexes: Vec<i32> = step_runs.iter().map(|run| run.step_index).collect();
    let names: Vec<&str> = step_runs.iter().map(|run| run.name.as_str()).collect();
    let positions: Vec<Option<i32>> = step_runs
        .iter()
        .map(|run| run.target.as_ref().map(|on| on.position))
        .collect();
    let target_ids: Vec<Option<Uuid>> = step_runs
        .iter()
        .map(|run| run.target.as_ref().map(|on| on.target_id.into_uuid()))
        .collect();
    let target_names: Vec<Option<&str>> = step_runs
        .iter()
        .map(|run| run.target.as_ref().map(|on| on.name.as_str()))
        .collect();
    client
        .execute_cached(
            "INSERT INTO step_runs (step_run_id, deployment_id, step_index, name, status,
                 target_position, target_id, target_name)
             SELECT id, $2, step_index, name, 'Pending', position, target_id, target_name
             FROM unnest($1::uuid[], $3::int4[], $4::text[], $5::int4[], $6::uuid[], $7::text[])
                 AS s(id, step_index, name, position, target_id, target_name)",
            &[
                &ids,
                deployment.deployment_id.as_uuid(),
                &indexes,
                &names,
                &positions,
                &target_ids,
                &target_names,
            ],
        )
        .await?;
    Ok(Inserted {
        step_runs,
        variables,
    })
}

fn pending_run(
    deployment_id: DeploymentId,
    step_index: i32,
    name: &StepName,
    target: Option<RunTarget>,
) -> StepRun {
    StepRun {
        step_run_id: StepRunId::from(Uuid::now_v7()),
        deployment_id,
        step_index,
        name: name.clone(),
        status: StepStatus::Pending,
        attempt: 0,
        exit_code: None,
        error: None,
        dispatched_at: None,
        started_at: None,
        finished_at: None,
        failure_ignored: false,
        outputs: BTreeMap::new(),
        claimed_by: None,
        claim_id: None,
        target,
    }
}

/// A question a deployment starts waiting on.
#[derive(Debug, Clone)]
pub struct NewInterruption<'a> {
    pub deployment_id: DeploymentId,
    /// The step it is about.
    pub step_run_id: StepRunId,
    pub kind: InterruptionKind,
    /// What the person reads.
    pub instructions: &'a str,
    pub responsible_team: Option<&'a TeamName>,
}

pub async fn open_interruption(
    client: &impl GenericClient,
    new: &NewInterruption<'_>,
) -> Result<InterruptionId, StorageError> {
    let NewInterruption {
        deployment_id,
        step_run_id,
        kind,
        instructions,
        responsible_team,
    } = new;
    let interruption_id = InterruptionId::from(Uuid::now_v7());
    let responsible_team = responsible_team.map(TeamName::as_str);
    client
        .execute_cached(
            "INSERT INTO interruptions (interruption_id, deployment_id, step_run_id, kind, instructions, responsible_team)
             VALUES ($1, $2, $3, $4, $5, $6)",
            &[
                interruption_id.as_uuid(),
                deployment_id.as_uuid(),
                step_run_id.as_uuid(),
                &kind.as_str(),
                &instructions,
                &responsible_team,
            ],
        )
        .await?;
    Ok(interruption_id)
}

pub async fn take_interruption(
    client: &impl GenericClient,
    interruption_id: InterruptionId,
    actor: &str,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE interruptions SET taken_by = $2, taken_at = now() WHERE interruption_id = $1",
            &[interruption_id.as_uuid(), &actor],
        )
        .await?;
    Ok(())
}

pub async fn resolve_interruption(
    client: &impl GenericClient,
    interruption_id: InterruptionId,
    resolution: Answer,
    note: Option<&str>,
    actor: &str,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE interruptions SET resolution = $2, note = $3, resolved_by = $4, resolved_at = now()
             WHERE interruption_id = $1",
            &[interruption_id.as_uuid(), &resolution.as_str(), &note, &actor],
        )
        .await?;
    Ok(())
}

/// Closes the open interruptions of a deployment that ended another way (cancelled): they
/// are recorded as aborted, spelled as [`Answer::Abort`] is everywhere else.
pub async fn close_interruptions(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    actor: &str,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE interruptions SET resolution = $3, note = 'the deployment was cancelled',
                 resolved_by = $2, resolved_at = now()
             WHERE deployment_id = $1 AND resolved_at IS NULL",
            &[deployment_id.as_uuid(), &actor, &Answer::Abort.as_str()],
        )
        .await?;
    Ok(())
}

/// A worker's heartbeat for the attempt it claimed: its lease runs on from now (the
/// database's clock). Returns whether the attempt is still running and held by that worker
/// (a worker told `false` holds a stale attempt).
pub async fn record_heartbeat(
    client: &impl GenericClient,
    step_run_id: StepRunId,
    attempt: i32,
    worker: &str,
) -> Result<bool, StorageError> {
    let updated = client
        .execute_cached(
            "UPDATE step_runs SET heartbeat_at = now()
             WHERE step_run_id = $1 AND attempt = $2 AND claimed_by = $3 AND status = 'Running'",
            &[step_run_id.as_uuid(), &attempt, &worker],
        )
        .await?;
    Ok(updated == 1)
}
