//! What deploying a release to an environment would do, without deploying: the lifecycle's
//! verdict, and the state machine played forward (every step that runs succeeds, every
//! intervention proceeds) with the variable conditions evaluated as they would be. Nothing is
//! stored.

use chrono::Utc;
use ferry_domain::deployment::{self, Command, Deployment, NewDeployment, Planned, Request};
use ferry_storage::GenericClient;

use super::replies;
use crate::AppState;
use crate::context::DeploymentContext;
use crate::error::ApiError;
use crate::lookup::{self, DeploymentTarget};

pub struct Preview {
    pub target: DeploymentTarget,
    /// `Err(reason)` when the lifecycle does not allow the deployment yet.
    pub lifecycle: Result<(), String>,
    /// What each step would do, in process order.
    pub steps: Vec<Planned>,
}

pub async fn preview(
    state: &AppState,
    client: &impl GenericClient,
    project: &str,
    release_number: &str,
    environment: &str,
) -> Result<Preview, ApiError> {
    let target = lookup::deployment_target(client, project, release_number, environment).await?;
    let lifecycle = match lookup::check_lifecycle(client, &target).await {
        Ok(()) => Ok(()),
        Err(ApiError::Conflict(reason)) => Err(reason),
        Err(other) => return Err(other),
    };
    let context = DeploymentContext::new(
        None,
        &target.project,
        target.release.clone(),
        &target.environment,
    );
    let targets =
        super::create::environment_targets(client, target.environment.environment_id).await?;
    let new = Deployment::new(NewDeployment {
        facts: context.facts(),
        process: &target.release.process,
        excluded_steps: &[],
        guided_failure: false,
        targets: &targets,
    });
    // Conditions are evaluated as the deployment would evaluate them; instructions are not
    // rendered (the intervention is assumed to proceed, whatever it says).
    let steps = deployment::preview(new, Utc::now(), |deployment, request| match request {
        Request::RenderInstructions { step } => Command::InstructionsRendered {
            step,
            result: Ok(String::new()),
        },
        Request::EvaluateCondition { .. } => replies::reply(state, &context, deployment, request),
    });
    Ok(Preview {
        target,
        lifecycle,
        steps,
    })
}
