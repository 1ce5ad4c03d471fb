//! `/api/deployments`: deploy a release to an environment (checked against the project's
//! lifecycle, queued behind a running deployment of the same project and environment),
//! read a deployment with its steps, interruptions and task log, cancel one, roll back an
//! environment, and preview what a deployment would do.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use ferry_domain::lifecycle::may_deploy;
use ferry_domain::{
    Condition, DeploymentStatus, EnvironmentName, Planned, RunCondition, StepKind, StepPlan,
    StepStatus, preview as preview_plan,
};
use ferry_storage::deployments::{self, Deployment};
use ferry_storage::environments::Environment;
use ferry_storage::projects::Project;
use ferry_storage::releases::Release;
use ferry_storage::{GenericClient, environments, interruptions, projects, releases};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::actor::Actor;
use crate::audit;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::orchestrator::{
    self, DeploymentContext, advance, deployment_variables, load_context, status_url,
    template_options,
};
use crate::routes::lifecycles::effective_lifecycle;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    /// Project id or name.
    project: String,
    release_number: String,
    /// Environment id or name.
    environment: String,
    /// Steps to leave out of this deployment (not allowed for required steps).
    #[serde(default)]
    excluded_steps: Vec<String>,
    /// Overrides the project's and environment's guided-failure setting.
    guided_failure: Option<bool>,
}

/// Loads what a deployment request names, answering 422 for what does not exist.
async fn load_target(
    client: &impl GenericClient,
    project: &str,
    release_number: &str,
    environment: &str,
) -> Result<(Project, Release, Environment), ApiError> {
    let project = projects::find(client, project).await?.ok_or_else(|| {
        ApiError::invalid("project", format!("project `{project}` does not exist"))
    })?;
    let release = releases::find(client, project.project_id, release_number)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "release_number",
                format!(
                    "release {release_number} of project `{}` does not exist",
                    project.name
                ),
            )
        })?;
    let environment = environments::find(client, environment)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "environment",
                format!("environment `{environment}` does not exist"),
            )
        })?;
    Ok((project, release, environment))
}

/// Refuses a deployment the project's lifecycle does not allow yet, naming the phase.
async fn check_lifecycle(
    client: &impl GenericClient,
    project: &Project,
    release: &Release,
    environment: &Environment,
) -> Result<(), ApiError> {
    let lifecycle = effective_lifecycle(client, project.lifecycle_id).await?;
    let succeeded = deployments::succeeded_environments(client, release.release_id)
        .await?
        .iter()
        .map(|name| EnvironmentName::parse(name))
        .collect::<Result<Vec<_>, _>>()?;
    may_deploy(&lifecycle, &environment.name, &succeeded).map_err(|refusal| {
        ApiError::Conflict(format!(
            "release {} of `{}` cannot be deployed to {} yet: {refusal}",
            release.release_number, project.name, environment.name
        ))
    })
}

struct NewDeployment<'a> {
    project: &'a Project,
    release: &'a Release,
    environment: &'a Environment,
    excluded_steps: Vec<String>,
    guided_failure: Option<bool>,
    rollback_of: Option<Uuid>,
}

/// Records a deployment and starts it, or queues it behind the deployment of the same
/// project and environment that is still going. Returns its id and whether the outbox was
/// written.
async fn start(
    state: &AppState,
    client: &impl GenericClient,
    actor: &Actor,
    new: NewDeployment<'_>,
) -> Result<(Uuid, bool), ApiError> {
    let NewDeployment {
        project,
        release,
        environment,
        excluded_steps,
        guided_failure,
        rollback_of,
    } = new;
    let steps = release.process.steps();
    let mut excluded = Vec::new();
    for name in excluded_steps {
        let step = steps
            .iter()
            .find(|step| step.name.as_str().eq_ignore_ascii_case(&name))
            .ok_or_else(|| {
                ApiError::invalid(
                    "excluded_steps",
                    format!(
                        "release {} has no step named `{name}`",
                        release.release_number
                    ),
                )
            })?;
        if step.required {
            return Err(ApiError::invalid(
                "excluded_steps",
                format!("step `{}` is required and cannot be excluded", step.name),
            ));
        }
        excluded.push(step.name.as_str().to_owned());
    }
    check_lifecycle(client, project, release, environment).await?;
    deployments::lock_project_environment(client, project.project_id, environment.environment_id)
        .await?;
    let ahead = match deployments::active(client, project.project_id, environment.environment_id)
        .await?
    {
        Some(active) => Some(active),
        None => deployments::next_queued(client, project.project_id, environment.environment_id)
            .await?
            .map(|queued| queued.deployment_id),
    };
    let deployment = Deployment {
        deployment_id: Uuid::now_v7(),
        release_id: release.release_id,
        project_id: project.project_id,
        environment_id: environment.environment_id,
        status: DeploymentStatus::Queued,
        error: None,
        created_at: Utc::now(),
        started_at: None,
        finished_at: None,
        guided_failure: guided_failure
            .or(project.guided_failure)
            .unwrap_or(environment.guided_failure),
        excluded_steps: excluded,
        rollback_of,
    };
    let step_names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    let mut step_runs = deployments::insert(client, &deployment, &step_names).await?;
    let deployment_id = deployment.deployment_id;
    deployments::append_system_log(
        client,
        deployment_id,
        &format!(
            "{} release {} to {} requested by {}",
            if rollback_of.is_some() {
                "Rolling back to"
            } else {
                "Deploying"
            },
            release.release_number,
            environment.name,
            actor.name()
        ),
    )
    .await?;
    audit::record(
        client,
        actor,
        if rollback_of.is_some() {
            "deployment.rollback"
        } else {
            "deployment.created"
        },
        Some(project.project_id),
        Some(environment.environment_id),
        &format!(
            "{} release {} to {}",
            project.name, release.release_number, environment.name
        ),
        json!({ "deployment_id": deployment_id, "rollback_of": rollback_of }),
    )
    .await?;
    if let Some(ahead) = ahead {
        deployments::append_system_log(
            client,
            deployment_id,
            &format!("Queued behind deployment {ahead} of the same project and environment"),
        )
        .await?;
        return Ok((deployment_id, false));
    }
    // Everything the orchestration needs is loaded already: the release's variables are
    // what the deployment just took.
    let mut context = DeploymentContext {
        deployment,
        release: release.clone(),
        project_name: project.name.clone(),
        notification_email: project.notification_email.clone(),
        worker_pool: project.worker_pool.clone(),
        environment_name: environment.name.clone(),
    };
    let advanced = advance(state, client, &mut context, &mut step_runs).await?;
    Ok((deployment_id, advanced.wrote_outbox))
}

fn created_json(
    state: &AppState,
    deployment_id: Uuid,
    project: &Project,
    release: &Release,
    environment: &Environment,
) -> Value {
    json!({
        "deployment_id": deployment_id,
        "project": project.name,
        "release_number": release.release_number,
        "environment": environment.name,
        "status_url": status_url(state, deployment_id),
    })
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<CreateDeployment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut client = state.db().await?;
    let transaction = audit::begin(&mut client).await?;
    let (project, release, environment) = load_target(
        &transaction,
        &body.project,
        &body.release_number,
        &body.environment,
    )
    .await?;
    let (deployment_id, wrote_outbox) = start(
        &state,
        &transaction,
        &actor,
        NewDeployment {
            project: &project,
            release: &release,
            environment: &environment,
            excluded_steps: body.excluded_steps,
            guided_failure: body.guided_failure,
            rollback_of: None,
        },
    )
    .await?;
    audit::commit(transaction).await?;
    if wrote_outbox {
        state.outbox_written();
    }
    Ok((
        StatusCode::CREATED,
        Json(created_json(
            &state,
            deployment_id,
            &project,
            &release,
            &environment,
        )),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    project: String,
    environment: String,
}

/// Redeploys the last release that succeeded in the environment before the current one.
pub async fn rollback(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<RollbackBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut client = state.db().await?;
    let transaction = audit::begin(&mut client).await?;
    let project = projects::find(&transaction, &body.project)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "project",
                format!("project `{}` does not exist", body.project),
            )
        })?;
    let environment = environments::find(&transaction, &body.environment)
        .await?
        .ok_or_else(|| {
            ApiError::invalid(
                "environment",
                format!("environment `{}` does not exist", body.environment),
            )
        })?;
    let history = deployments::successful_history(
        &transaction,
        project.project_id,
        environment.environment_id,
    )
    .await?;
    let Some(current) = history.first().cloned() else {
        return Err(ApiError::Conflict(format!(
            "`{}` has never been deployed successfully to {}; there is nothing to roll back to",
            project.name, environment.name
        )));
    };
    // The newest success of a release older than the current one: rolling back twice goes
    // back twice, never forward again.
    let target_release = history
        .iter()
        .find(|earlier| earlier.release_created_at < current.release_created_at)
        .map(|earlier| earlier.release_id)
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "no release of `{}` older than {} succeeded in {}; there is nothing to roll back to",
                project.name, current.release_number, environment.name
            ))
        })?;
    let current_deployment = current.deployment_id;
    let current_number = current.release_number.clone();
    let release = releases::find_by_id(&transaction, target_release)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("release {target_release} does not exist")))?;
    let (deployment_id, wrote_outbox) = start(
        &state,
        &transaction,
        &actor,
        NewDeployment {
            project: &project,
            release: &release,
            environment: &environment,
            excluded_steps: Vec::new(),
            guided_failure: None,
            rollback_of: Some(current_deployment),
        },
    )
    .await?;
    audit::commit(transaction).await?;
    if wrote_outbox {
        state.outbox_written();
    }
    let mut created = created_json(&state, deployment_id, &project, &release, &environment);
    created["rollback_of"] = json!(current_deployment);
    created["rolled_back_from_release"] = json!(current_number);
    Ok((StatusCode::CREATED, Json(created)))
}

/// Cancels a queued or running deployment: the running step is told to stop, the rest is
/// abandoned, and the deployment ends `Canceled`.
pub async fn cancel(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let not_found = || ApiError::NotFound(format!("deployment `{raw_id}` does not exist"));
    let deployment_id = Uuid::parse_str(&raw_id).map_err(|_| not_found())?;
    let mut client = state.db().await?;
    let transaction = audit::begin(&mut client).await?;
    let existing = deployments::summary(&transaction, deployment_id)
        .await?
        .ok_or_else(not_found)?;
    let project_id = existing.deployment.project_id;
    let environment_id = existing.deployment.environment_id;
    deployments::lock_project_environment(&transaction, project_id, environment_id).await?;
    let deployment = deployments::lock(&transaction, deployment_id)
        .await?
        .ok_or_else(not_found)?;
    if deployment.status.is_terminal() {
        return Err(ApiError::Conflict(format!(
            "deployment {deployment_id} already finished: {}",
            deployment.status
        )));
    }
    let mut step_runs = deployments::step_runs(&transaction, deployment_id).await?;
    let statuses: Vec<_> = step_runs.iter().map(|run| run.status).collect();
    for (index, status) in ferry_domain::cancel(&statuses) {
        let run = &mut step_runs[index];
        if status == StepStatus::Canceled {
            orchestrator::stop_step(&state, &transaction, run).await?;
        }
        deployments::set_step_status(
            &transaction,
            run.step_run_id,
            status,
            Some(&format!("cancelled by {}", actor.name())),
        )
        .await?;
        run.status = status;
    }
    interruptions::close_all(&transaction, deployment_id, actor.name()).await?;
    deployments::append_system_log(
        &transaction,
        deployment_id,
        &format!("Cancelled by {}", actor.name()),
    )
    .await?;
    let mut context = load_context(&transaction, deployment).await?;
    let canceled_step = step_runs
        .iter()
        .position(|run| run.status == StepStatus::Canceled);
    orchestrator::finish(
        &state,
        &transaction,
        &mut context,
        &step_runs,
        DeploymentStatus::Canceled,
        canceled_step,
    )
    .await?;
    audit::record(
        &transaction,
        &actor,
        "deployment.canceled",
        Some(project_id),
        Some(environment_id),
        &format!(
            "{} release {} to {}",
            existing.project_name, existing.release_number, existing.environment_name
        ),
        json!({ "deployment_id": deployment_id }),
    )
    .await?;
    // Whatever was cancelled, if nothing of this project and environment is active now, the
    // oldest queued deployment starts.
    if deployments::active(&transaction, project_id, environment_id)
        .await?
        .is_none()
        && let Some(next) =
            deployments::next_queued(&transaction, project_id, environment_id).await?
    {
        let mut next_context = load_context(&transaction, next).await?;
        let mut runs =
            deployments::step_runs(&transaction, next_context.deployment.deployment_id).await?;
        advance(&state, &transaction, &mut next_context, &mut runs).await?;
    }
    audit::commit(transaction).await?;
    state.outbox_written();
    let client = state.db().await?;
    Ok(Json(load_view(&state, &client, &raw_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    environment: String,
}

/// What deploying a release to an environment would do, without deploying: whether the
/// lifecycle allows it, and per step where it would run and whether it runs or is skipped,
/// and why.
pub async fn preview(
    State(state): State<AppState>,
    Path((project, release_number)): Path<(String, String)>,
    Query(query): Query<PreviewQuery>,
) -> Result<Json<Value>, ApiError> {
    let client = state.db().await?;
    let (project, release, environment) =
        load_target(&client, &project, &release_number, &query.environment).await?;
    let lifecycle = match check_lifecycle(&client, &project, &release, &environment).await {
        Ok(()) => json!({ "allowed": true }),
        Err(ApiError::Conflict(reason)) => json!({ "allowed": false, "reason": reason }),
        Err(other) => return Err(other),
    };
    // Variables as they would be when the deployment starts (no step has run yet).
    let placeholder = Deployment {
        deployment_id: Uuid::nil(),
        release_id: release.release_id,
        project_id: project.project_id,
        environment_id: environment.environment_id,
        status: DeploymentStatus::Queued,
        error: None,
        created_at: Utc::now(),
        started_at: None,
        finished_at: None,
        guided_failure: false,
        excluded_steps: Vec::new(),
        rollback_of: None,
    };
    let context = load_context(&client, placeholder).await?;
    let steps = release.process.steps();
    let mut plan = Vec::with_capacity(steps.len());
    let mut condition_errors = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        let condition = match &step.run_condition {
            RunCondition::Success => Condition::Success,
            RunCondition::Failure => Condition::Failure,
            RunCondition::Always => Condition::Always,
            RunCondition::Variable(expression) => {
                let resolved = deployment_variables(&state, &context, &[], Some(index));
                let (variables, masker) = resolved
                    .for_templates(&state.config().variables_key)
                    .map_err(|error| ApiError::Internal(error.into()))?;
                match ferry_templates::evaluate_condition(
                    expression,
                    &variables,
                    &template_options(step.lenient_templates),
                ) {
                    Ok(holds) => Condition::Variable(holds),
                    Err(error) => {
                        condition_errors.push((index, masker.mask(&error.to_string())));
                        Condition::Variable(false)
                    }
                }
            }
        };
        plan.push(StepPlan {
            condition,
            environment_allows: step.environments.allows(&environment.name),
            excluded: false,
        });
    }
    let planned = preview_plan(&plan);
    let steps_json: Vec<Value> = steps
        .iter()
        .zip(&planned)
        .enumerate()
        .map(|(index, (step, planned))| {
            let target = match &step.kind {
                StepKind::RunScript { .. } => {
                    format!("a worker of pool `{}` (its local host)", project.worker_pool)
                }
                StepKind::ManualIntervention { .. } => {
                    "no target: the deployment waits for a person".to_owned()
                }
            };
            let (runs, reason) = match planned {
                Planned::Runs => (true, None),
                Planned::Skipped(reason) => (false, Some(reason.describe())),
            };
            let error = condition_errors
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, error)| error.clone());
            json!({
                "name": step.name,
                "kind": match step.kind { StepKind::RunScript { .. } => "run_script", StepKind::ManualIntervention { .. } => "manual_intervention" },
                "target": target,
                "runs": runs,
                "reason": reason,
                "condition_error": error,
            })
        })
        .collect();
    Ok(Json(json!({
        "project": project.name,
        "release_number": release.release_number,
        "environment": environment.name,
        "lifecycle": lifecycle,
        "assumes": "every step that runs succeeds and every manual intervention proceeds",
        "steps": steps_json,
    })))
}

pub async fn show(
    State(state): State<AppState>,
    Path(deployment_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let client = state.db().await?;
    let view = load_view(&state, &client, &deployment_id).await?;
    Ok(Json(view))
}

/// A deployment as the API and the status page show it.
pub async fn load_view(
    state: &AppState,
    client: &impl GenericClient,
    raw_id: &str,
) -> Result<Value, ApiError> {
    let not_found = || ApiError::NotFound(format!("deployment `{raw_id}` does not exist"));
    let deployment_id = Uuid::parse_str(raw_id).map_err(|_| not_found())?;
    let summary = deployments::summary(client, deployment_id)
        .await?
        .ok_or_else(not_found)?;
    let steps = deployments::step_runs(client, deployment_id).await?;
    let log = deployments::task_log(client, deployment_id).await?;
    let interruptions = interruptions::of_deployment(client, deployment_id).await?;
    let step_name = |id: Option<Uuid>| {
        id.and_then(|id| {
            steps
                .iter()
                .find(|s| s.step_run_id == id)
                .map(|s| s.name.clone())
        })
    };
    let d = &summary.deployment;
    Ok(json!({
        "deployment_id": d.deployment_id,
        "project": summary.project_name,
        "release_number": summary.release_number,
        "environment": summary.environment_name,
        "status": d.status,
        "error": d.error,
        "created_at": d.created_at,
        "started_at": d.started_at,
        "finished_at": d.finished_at,
        "guided_failure": d.guided_failure,
        "excluded_steps": d.excluded_steps,
        "rollback_of": d.rollback_of,
        "status_url": status_url(state, d.deployment_id),
        "steps": steps.iter().map(|s| json!({
            "name": s.name,
            "status": s.status,
            "attempt": s.attempt,
            "exit_code": s.exit_code,
            "error": s.error,
            "failure_ignored": s.failure_ignored,
            "started_at": s.started_at,
            "finished_at": s.finished_at,
        })).collect::<Vec<_>>(),
        "interruptions": interruptions.iter().map(|i| crate::routes::interruptions::interruption_json(i, step_name(Some(i.step_run_id)))).collect::<Vec<_>>(),
        "log": log.iter().map(|line| json!({
            "step": step_name(line.step_run_id),
            "attempt": line.attempt,
            "stream": line.stream,
            "logged_at": line.logged_at,
            "text": line.text,
        })).collect::<Vec<_>>(),
    }))
}
