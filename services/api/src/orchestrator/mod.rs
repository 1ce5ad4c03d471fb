//! Applies the domain's orchestration decisions to a deployment inside the caller's
//! transaction: skips are recorded with their reason, the next step's job goes to the
//! outbox or its manual intervention is opened, a finished deployment emits its event and
//! lets the next queued deployment of its project and environment start. The rules
//! themselves live in `ferry_domain::orchestration`.

use chrono::Utc;
use ferry_domain::{
    Condition, DeploymentStatus, Next, Outcome, RunCondition, Skip, SkipReason, Step, StepKind,
    StepPlan, StepStatus, decide,
};
use ferry_storage::deployments::{self, Deployment, StepRun};
use ferry_storage::interruptions::{self, InterruptionKind};
use ferry_storage::releases::Release;
use ferry_storage::{GenericClient, StorageError, environments, projects};
use uuid::Uuid;

use crate::AppState;
use crate::variables::{self, StepVariables};

mod messages;

pub use messages::{dispatch, finish, status_url, stop_step};

/// Everything the orchestration needs about a deployment, loaded once.
pub struct DeploymentContext {
    pub deployment: Deployment,
    pub release: Release,
    pub project_name: String,
    pub notification_email: Option<String>,
    pub worker_pool: String,
    pub environment_name: String,
}

pub async fn load_context(
    client: &impl GenericClient,
    deployment: Deployment,
) -> Result<DeploymentContext, StorageError> {
    if let Some(found) =
        ferry_storage::releases::of_deployment(client, deployment.deployment_id).await?
    {
        return Ok(DeploymentContext {
            deployment,
            release: found.release,
            project_name: found.project_name,
            notification_email: found.notification_email,
            worker_pool: found.worker_pool,
            environment_name: found.environment_name,
        });
    }
    // A deployment not stored (a preview): the release's own variables.
    let release = ferry_storage::releases::find_by_id(client, deployment.release_id)
        .await?
        .ok_or_else(|| StorageError::Missing(format!("release {}", deployment.release_id)))?;
    let project = projects::find(client, &deployment.project_id.to_string())
        .await?
        .ok_or_else(|| StorageError::Missing(format!("project {}", deployment.project_id)))?;
    let environment = environments::find(client, &deployment.environment_id.to_string())
        .await?
        .ok_or_else(|| {
            StorageError::Missing(format!("environment {}", deployment.environment_id))
        })?;
    Ok(DeploymentContext {
        deployment,
        release,
        project_name: project.name,
        notification_email: project.notification_email,
        worker_pool: project.worker_pool,
        environment_name: environment.name,
    })
}

/// The variables of a deployment (or one of its steps), as the API renders templates with
/// them.
pub fn deployment_variables(
    state: &AppState,
    context: &DeploymentContext,
    step_runs: &[StepRun],
    step_index: Option<usize>,
) -> StepVariables {
    variables::for_deployment(
        context,
        step_runs,
        step_index,
        &status_url(state, context.deployment.deployment_id),
        &state.config().public_url,
    )
}

/// A step's variables for rendering in the API (sensitive values decrypted), with the masker
/// that hides those values again.
fn template_variables(
    state: &AppState,
    context: &DeploymentContext,
    step_runs: &[StepRun],
    step_index: usize,
) -> Result<(ferry_templates::Variables, ferry_secrets::Masker), String> {
    deployment_variables(state, context, step_runs, Some(step_index))
        .for_templates(&state.config().variables_key)
        .map_err(|error| error.to_string())
}

/// Renders a template with a deployment's variables; sensitive values in the result are
/// masked. An error is the template's error, ready for a log line.
fn render_for_people(
    state: &AppState,
    context: &DeploymentContext,
    step_runs: &[StepRun],
    step_index: usize,
    template: &str,
    lenient: bool,
) -> Result<String, String> {
    let (variables, masker) = template_variables(state, context, step_runs, step_index)?;
    let options = template_options(lenient);
    ferry_templates::render(template, &variables, &options)
        .map(|text| masker.mask(&text))
        .map_err(|error| masker.mask(&error.to_string()))
}

pub fn template_options(lenient: bool) -> ferry_templates::Options {
    if lenient {
        ferry_templates::Options::lenient(Utc::now())
    } else {
        ferry_templates::Options::strict(Utc::now())
    }
}

/// Evaluates a step's variable condition at the moment it is reached.
fn variable_condition(
    state: &AppState,
    context: &DeploymentContext,
    step_runs: &[StepRun],
    step_index: usize,
    expression: &str,
    lenient: bool,
) -> Result<bool, String> {
    let (variables, masker) = template_variables(state, context, step_runs, step_index)?;
    ferry_templates::evaluate_condition(expression, &variables, &template_options(lenient))
        .map_err(|error| masker.mask(&error.to_string()))
}

/// The plan of one step for [`decide`]. A variable condition that cannot be evaluated
/// counts as false here and its error is returned beside the plan: the step fails with it if
/// the deployment reaches the step. With no step runs (a preview), every step is pending.
pub fn step_plan(
    state: &AppState,
    context: &DeploymentContext,
    step_runs: &[StepRun],
    index: usize,
    step: &Step,
) -> (StepPlan, Option<String>) {
    let mut error = None;
    let condition = match &step.run_condition {
        RunCondition::Success => Condition::Success,
        RunCondition::Failure => Condition::Failure,
        RunCondition::Always => Condition::Always,
        RunCondition::Variable(_)
            if step_runs
                .get(index)
                .is_some_and(|run| run.status != StepStatus::Pending) =>
        {
            Condition::Variable(true)
        }
        RunCondition::Variable(expression) => match variable_condition(
            state,
            context,
            step_runs,
            index,
            expression,
            step.lenient_templates,
        ) {
            Ok(holds) => Condition::Variable(holds),
            Err(message) => {
                error = Some(message);
                Condition::Variable(false)
            }
        },
    };
    let plan = StepPlan {
        condition,
        environment_allows: step.environments.allows(&context.environment_name),
        excluded: context
            .deployment
            .excluded_steps
            .iter()
            .any(|name| name.eq_ignore_ascii_case(step.name.as_str())),
    };
    (plan, error)
}

/// What [`advance`] did.
#[derive(Debug, Default)]
pub struct Advanced {
    /// Messages were written to the outbox; wake the relay after commit.
    pub wrote_outbox: bool,
}

/// Takes a deployment forward until it waits (a running step, a person) or finishes. When it
/// finishes, the next queued deployment of the same project and environment starts in the
/// same transaction. The caller holds the project+environment lock
/// (`deployments::lock_project_environment`), so that no deployment is queued behind one
/// that is finishing without being seen.
pub async fn advance(
    state: &AppState,
    client: &impl GenericClient,
    context: &mut DeploymentContext,
    step_runs: &mut [StepRun],
) -> Result<Advanced, StorageError> {
    let mut advanced = Advanced::default();
    let next = advance_one(state, client, context, step_runs, &mut advanced).await?;
    start_queued(state, client, next, &mut advanced).await?;
    Ok(advanced)
}

/// Starts a queued deployment (and, should it finish at once, the ones after it). Each start
/// is isolated in a savepoint: a deployment that cannot start (its stored data is broken) is
/// marked Failed with the reason, and the next one in line starts instead, so neither the
/// deployment that just finished nor the queue behind it is held up by it.
pub async fn start_queued(
    state: &AppState,
    client: &impl GenericClient,
    mut next: Option<Deployment>,
    advanced: &mut Advanced,
) -> Result<(), StorageError> {
    while let Some(deployment) = next {
        let (deployment_id, project_id, environment_id) = (
            deployment.deployment_id,
            deployment.project_id,
            deployment.environment_id,
        );
        client.batch_execute("SAVEPOINT ferry_start_queued").await?;
        let started = async {
            let mut context = load_context(client, deployment).await?;
            let mut runs = deployments::step_runs(client, deployment_id).await?;
            deployments::append_system_log(
                client,
                deployment_id,
                "The previous deployment of this project to this environment finished; starting",
            )
            .await?;
            advance_one(state, client, &mut context, &mut runs, advanced).await
        }
        .await;
        match started {
            Ok(following) => {
                client
                    .batch_execute("RELEASE SAVEPOINT ferry_start_queued")
                    .await?;
                next = following;
            }
            Err(error) => {
                client
                    .batch_execute("ROLLBACK TO SAVEPOINT ferry_start_queued")
                    .await?;
                tracing::error!(%error, %deployment_id, "a queued deployment could not start");
                let reason = format!("the deployment could not start: {error}");
                deployments::finish(
                    client,
                    deployment_id,
                    DeploymentStatus::Failed,
                    Some(&reason),
                )
                .await?;
                deployments::append_system_log(client, deployment_id, &reason).await?;
                next = deployments::next_queued(client, project_id, environment_id).await?;
            }
        }
    }
    Ok(())
}

/// One deployment's moves. Returns the queued deployment to start next when this one
/// finished.
async fn advance_one(
    state: &AppState,
    client: &impl GenericClient,
    context: &mut DeploymentContext,
    step_runs: &mut [StepRun],
    advanced: &mut Advanced,
) -> Result<Option<Deployment>, StorageError> {
    let steps = context.release.process.steps().to_vec();
    if steps.len() != step_runs.len() {
        return Err(StorageError::Corrupt(format!(
            "deployment {} has {} step runs for {} steps",
            context.deployment.deployment_id,
            step_runs.len(),
            steps.len()
        )));
    }
    let deployment_id = context.deployment.deployment_id;
    loop {
        let mut plan = Vec::with_capacity(steps.len());
        let mut condition_errors = Vec::new();
        for (index, step) in steps.iter().enumerate() {
            let (step_plan, error) = step_plan(state, context, step_runs, index, step);
            plan.push(step_plan);
            if let Some(error) = error {
                condition_errors.push((index, error));
            }
        }
        let statuses: Vec<_> = step_runs.iter().map(|run| run.status).collect();
        let mut decision = decide(&plan, &statuses);
        // A step reached whose condition could not be evaluated fails, loudly, instead of
        // being skipped: skips before it stand, and the decision is taken again after it.
        let broken = decision.skip.iter().position(|skip| {
            skip.reason == SkipReason::VariableCondition
                && condition_errors
                    .iter()
                    .any(|(index, _)| *index == skip.index)
        });
        if let Some(position) = broken {
            let index = decision.skip[position].index;
            decision.skip.truncate(position);
            record_skips(client, deployment_id, step_runs, &decision.skip).await?;
            let error = condition_errors
                .iter()
                .find(|(i, _)| *i == index)
                .map(|(_, error)| error.clone())
                .unwrap_or_default();
            let message = format!("its run condition could not be evaluated: {error}");
            fail_step_here(client, deployment_id, &mut step_runs[index], &message).await?;
            continue;
        }
        record_skips(client, deployment_id, step_runs, &decision.skip).await?;
        match decision.next {
            Next::Wait => return Ok(None),
            Next::Start(index) => {
                if context.deployment.status == DeploymentStatus::Queued {
                    deployments::mark_running(client, deployment_id).await?;
                    context.deployment.status = DeploymentStatus::Running;
                }
                match &steps[index].kind {
                    StepKind::ManualIntervention {
                        instructions,
                        responsible_team,
                    } => {
                        let rendered = match render_for_people(
                            state,
                            context,
                            step_runs,
                            index,
                            instructions,
                            steps[index].lenient_templates,
                        ) {
                            Ok(rendered) => rendered,
                            Err(error) => {
                                let message =
                                    format!("its instructions could not be rendered: {error}");
                                fail_step_here(
                                    client,
                                    deployment_id,
                                    &mut step_runs[index],
                                    &message,
                                )
                                .await?;
                                continue;
                            }
                        };
                        let run = &mut step_runs[index];
                        run.attempt = deployments::dispatch_step(client, run.step_run_id).await?;
                        run.status = StepStatus::Running;
                        interruptions::open(
                            client,
                            deployment_id,
                            run.step_run_id,
                            InterruptionKind::ManualIntervention,
                            &rendered,
                            responsible_team.as_ref().map(|team| team.as_str()),
                        )
                        .await?;
                        deployments::set_status(
                            client,
                            deployment_id,
                            DeploymentStatus::WaitingForIntervention,
                        )
                        .await?;
                        context.deployment.status = DeploymentStatus::WaitingForIntervention;
                        let team = responsible_team
                            .as_ref()
                            .map(|team| format!(" ({team} is responsible)"))
                            .unwrap_or_default();
                        deployments::append_system_log(
                            client,
                            deployment_id,
                            &format!(
                                "Step \"{}\" waits for manual intervention{team}: {rendered}",
                                run.name
                            ),
                        )
                        .await?;
                        return Ok(None);
                    }
                    StepKind::RunScript { .. } => {
                        dispatch(state, client, context, step_runs, index).await?;
                        advanced.wrote_outbox = true;
                        return Ok(None);
                    }
                }
            }
            Next::Finish(outcome) => {
                let failed_step = match outcome {
                    Outcome::Failed { step } => Some(step),
                    Outcome::Success => None,
                };
                finish(
                    state,
                    client,
                    context,
                    step_runs,
                    outcome_status(outcome),
                    failed_step,
                )
                .await?;
                advanced.wrote_outbox = true;
                return deployments::next_queued(
                    client,
                    context.deployment.project_id,
                    context.deployment.environment_id,
                )
                .await;
            }
        }
    }
}

/// Marks steps skipped, each with its reason in the task log.
async fn record_skips(
    client: &impl GenericClient,
    deployment_id: Uuid,
    step_runs: &mut [StepRun],
    skips: &[Skip],
) -> Result<(), StorageError> {
    let skipped: Vec<Uuid> = skips
        .iter()
        .map(|skip| step_runs[skip.index].step_run_id)
        .collect();
    deployments::skip_steps(client, &skipped).await?;
    for skip in skips {
        step_runs[skip.index].status = StepStatus::Skipped;
        deployments::append_system_log(
            client,
            deployment_id,
            &format!(
                "Step \"{}\" skipped: {}",
                step_runs[skip.index].name,
                skip.reason.describe()
            ),
        )
        .await?;
    }
    Ok(())
}

fn outcome_status(outcome: Outcome) -> DeploymentStatus {
    match outcome {
        Outcome::Success => DeploymentStatus::Success,
        Outcome::Failed { .. } => DeploymentStatus::Failed,
    }
}

/// Fails a step without running it (a template in its settings is broken).
async fn fail_step_here(
    client: &impl GenericClient,
    deployment_id: Uuid,
    run: &mut StepRun,
    message: &str,
) -> Result<(), StorageError> {
    deployments::set_step_status(client, run.step_run_id, StepStatus::Failed, Some(message))
        .await?;
    run.status = StepStatus::Failed;
    run.error = Some(message.to_owned());
    deployments::append_system_log(
        client,
        deployment_id,
        &format!("Step \"{}\" failed: {message}", run.name),
    )
    .await
}
