//! What only the shell can work out for the state machine: a step's variable condition and
//! a manual intervention's instructions, rendered with the deployment's variables as they
//! are at the moment the step is reached. Sensitive values are decrypted for the rendering
//! and masked again in whatever text results.

use chrono::Utc;
use ferry_domain::deployment::{Command, Deployment, Request, TemplateFailure};
use ferry_domain::{RunCondition, StepKind};
use ferry_secrets::Masker;

use crate::AppState;
use crate::context::{DeploymentContext, status_url};
use crate::variables::{self, StepVariables};

/// The machine's question, answered. Rendering may take a while (up to the template budget),
/// so it runs where it does not hold up the async executor's other tasks.
pub fn reply(
    state: &AppState,
    context: &DeploymentContext,
    deployment: &Deployment,
    request: Request,
) -> Command {
    let answer = || match request {
        Request::EvaluateCondition { step } => Command::ConditionEvaluated {
            step,
            result: evaluate_condition(state, context, deployment, step),
        },
        Request::RenderInstructions { step } => Command::InstructionsRendered {
            step,
            result: render_instructions(state, context, deployment, step),
        },
    };
    let multi_threaded = tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
        runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
    });
    if multi_threaded {
        tokio::task::block_in_place(answer)
    } else {
        answer()
    }
}

/// The variables of a deployment (or one of its steps), as the API and workers see them.
pub fn deployment_variables(
    state: &AppState,
    context: &DeploymentContext,
    deployment: &Deployment,
    step_index: Option<usize>,
) -> StepVariables {
    deployment_variables_on(state, context, deployment, step_index, None)
}

/// A step's variables for its run on one target (role- and target-scoped values, and
/// `Octopus.Machine.*`).
pub fn deployment_variables_on(
    state: &AppState,
    context: &DeploymentContext,
    deployment: &Deployment,
    step_index: Option<usize>,
    target: Option<variables::OnTarget<'_>>,
) -> StepVariables {
    let public_url = &state.config().public_url;
    let link = context
        .deployment_id
        .map(|id| status_url(public_url, id))
        .unwrap_or_default();
    variables::for_deployment(context, deployment, step_index, target, &link, public_url)
}

pub fn template_options(state: &AppState, lenient: bool) -> ferry_templates::Options {
    let options = if lenient {
        ferry_templates::Options::lenient(Utc::now())
    } else {
        ferry_templates::Options::strict(Utc::now())
    };
    options.with_limits(state.config().template_limits)
}

/// A step's variables for rendering in the API (sensitive values decrypted), with the masker
/// that hides those values again.
fn template_variables(
    state: &AppState,
    context: &DeploymentContext,
    deployment: &Deployment,
    step: usize,
) -> Result<(ferry_templates::Variables, Masker), TemplateFailure> {
    deployment_variables(state, context, deployment, Some(step))
        .for_templates(&state.config().variables_key)
        .map_err(|error| TemplateFailure {
            message: error.to_string(),
        })
}

fn evaluate_condition(
    state: &AppState,
    context: &DeploymentContext,
    deployment: &Deployment,
    index: usize,
) -> Result<bool, TemplateFailure> {
    let step = &context.release.process.steps()[index];
    let RunCondition::Variable(expression) = &step.run_condition else {
        return Err(TemplateFailure {
            message: format!("step \"{}\" has no variable condition", step.name),
        });
    };
    let (variables, masker) = template_variables(state, context, deployment, index)?;
    let options = template_options(state, step.lenient_templates);
    ferry_templates::evaluate_condition(expression, &variables, &options)
        .map_err(|error| failure(masker.mask(&error.to_string())))
}

fn render_instructions(
    state: &AppState,
    context: &DeploymentContext,
    deployment: &Deployment,
    index: usize,
) -> Result<String, TemplateFailure> {
    let step = &context.release.process.steps()[index];
    let StepKind::ManualIntervention { instructions, .. } = &step.kind else {
        return Err(TemplateFailure {
            message: format!("step \"{}\" is not a manual intervention", step.name),
        });
    };
    let (variables, masker) = template_variables(state, context, deployment, index)?;
    let options = template_options(state, step.lenient_templates);
    let rendered = ferry_templates::render(instructions, &variables, &options)
        .map(|text| masker.mask(&text))
        .map_err(|error| failure(masker.mask(&error.to_string())))?;
    if rendered.contains('\0') {
        return Err(failure(
            "they render a NUL character (\\u0000), which cannot be stored".to_owned(),
        ));
    }
    Ok(rendered)
}

/// A template failure whose message can be stored (a NUL from a variable's value would make
/// the step's error unwritable).
fn failure(message: String) -> TemplateFailure {
    TemplateFailure {
        message: message.replace('\0', "\u{FFFD}"),
    }
}
