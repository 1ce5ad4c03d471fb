//! The variables a deployment sees: the release's snapshot resolved for the environment (and
//! step), plus the system variables under `Ferry.*` and `Octopus.*`, plus what earlier steps
//! reported. Sensitive values stay encrypted until the moment they are needed.

use std::collections::BTreeMap;

use indexmap::IndexMap;

use ferry_domain::deployment::Deployment;
use ferry_domain::variables::{ScopeContext, VariableSet};
use ferry_secrets::{Keyring, Masker, SecretError};

use crate::context::DeploymentContext;

/// Variables for one step (or for the deployment as a whole when no step is given).
#[derive(Debug, Clone, Default)]
pub struct StepVariables {
    /// Values anyone may read, by name, in a stable order (indexed families such as
    /// `Octopus.Step[<name>]` follow the process).
    pub plain: IndexMap<String, String>,
    /// Sensitive values, encrypted with the variables key (the context is the name).
    pub sensitive: BTreeMap<String, String>,
}

/// Both spellings of a system variable.
const PREFIXES: [&str; 2] = ["Ferry", "Octopus"];

/// The target a step's run is for: its name and roles match role- and target-scoped values,
/// and it is `Octopus.Machine.*`.
#[derive(Debug, Clone, Copy)]
pub struct OnTarget<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub roles: &'a [&'a str],
}

/// Resolves a variable set for an environment, optional step and optional target into plain
/// and encrypted values.
pub fn resolve_set(
    variables: &VariableSet<String>,
    environment: &str,
    step: Option<&str>,
    target: Option<OnTarget<'_>>,
) -> StepVariables {
    let context = ScopeContext {
        environment: Some(environment),
        step,
        roles: target.map(|target| target.roles).unwrap_or(&[]),
        target: target.map(|target| target.name),
    };
    let mut resolved = StepVariables::default();
    for winner in variables.resolve(&context).values() {
        let variable = winner.variable;
        let name = variable.name.as_str().to_owned();
        if variable.sensitive {
            resolved.sensitive.insert(name, variable.value.clone());
        } else {
            resolved.plain.insert(name, variable.value.clone());
        }
    }
    resolved
}

/// Everything a step (or, with `step_index` `None`, the deployment) sees, given the
/// deployment's state as the state machine has it now (statuses, errors and outputs of the
/// steps so far).
pub fn for_deployment(
    context: &DeploymentContext,
    deployment: &Deployment,
    step_index: Option<usize>,
    target: Option<OnTarget<'_>>,
    status_url: &str,
    server_url: &str,
) -> StepVariables {
    let steps = context.release.process.steps();
    let step = step_index.map(|index| &steps[index]);
    let mut variables = resolve_set(
        &context.release.variables,
        context.environment_name.as_str(),
        step.map(|step| step.name.as_str()),
        target,
    );
    let deployment_error = deployment
        .steps
        .iter()
        .find(|run| run.status.is_failure())
        .map(|run| {
            format!(
                "Step \"{}\" {}: {}",
                run.name(),
                run.status.as_str().to_lowercase(),
                run.error.as_deref().unwrap_or("no reason given")
            )
        });
    let mut system: Vec<(String, String)> = vec![
        (
            "Environment.Name".into(),
            context.environment_name.to_string(),
        ),
        ("Environment.Id".into(), context.environment_id.to_string()),
        ("Project.Name".into(), context.project_name.to_string()),
        ("Project.Id".into(), context.project_id.to_string()),
        (
            "Release.Number".into(),
            context.release.release_number.to_string(),
        ),
        (
            "Release.Notes".into(),
            context.release.notes.clone().unwrap_or_default(),
        ),
        (
            "Deployment.Id".into(),
            context
                .deployment_id
                .map(|id| id.to_string())
                .unwrap_or_default(),
        ),
        (
            "Deployment.Error".into(),
            deployment_error.unwrap_or_default(),
        ),
        ("Web.DeploymentLink".into(), status_url.to_owned()),
        ("Web.ServerUri".into(), server_url.to_owned()),
    ];
    for (index, definition) in steps.iter().enumerate() {
        let name = definition.name.as_str();
        if let Some(package_id) = definition.package_id()
            && let Some(pinned) = context.release.packages.get(package_id)
        {
            system.push((
                format!("Action[{name}].Package.PackageId"),
                package_id.to_string(),
            ));
            system.push((
                format!("Action[{name}].Package.PackageVersion"),
                pinned.version.to_string(),
            ));
            if Some(index) == step_index {
                system.push(("Action.Package.PackageId".into(), package_id.to_string()));
                system.push((
                    "Action.Package.PackageVersion".into(),
                    pinned.version.to_string(),
                ));
            }
        }
        if let Some(run) = deployment.steps.get(index) {
            system.push((
                format!("Step[{name}].Status.Code"),
                run.status.as_str().to_owned(),
            ));
            system.push((
                format!("Step[{name}].Status.Error"),
                run.error.clone().unwrap_or_default(),
            ));
            for (output, value) in &run.outputs {
                system.push((format!("Action[{name}].Output.{output}"), value.clone()));
            }
            target_outputs(&mut system, name, run, target.map(|target| target.name));
        }
    }
    if let Some(step) = step {
        system.push(("Action.Name".into(), step.name.as_str().to_owned()));
        if !step.target_roles.is_empty() {
            let roles: Vec<&str> = step.target_roles.iter().map(|role| role.as_str()).collect();
            system.push(("Action.TargetRoles".into(), roles.join(",")));
        }
    }
    if let Some(target) = target {
        system.push(("Machine.Id".into(), target.id.to_owned()));
        system.push(("Machine.Name".into(), target.name.to_owned()));
        system.push(("Machine.Roles".into(), target.roles.join(",")));
    }
    for prefix in PREFIXES {
        for (name, value) in &system {
            variables
                .plain
                .insert(format!("{prefix}.{name}"), value.clone());
        }
    }
    variables
}

/// The outputs of a step's runs on targets, as Octopus names them: each target's under
/// `Action[<step>].Output[<target>].<name>`, and the short `Action[<step>].Output.<name>` as
/// the value of the target this run is on when it reported one; elsewhere the short name is
/// defined only when every target that reported it agrees (never an arbitrary one of them).
fn target_outputs(
    system: &mut Vec<(String, String)>,
    step: &str,
    run: &ferry_domain::deployment::StepRun,
    on: Option<&str>,
) {
    let here = run.targets.iter().find(|target_run| {
        on.is_some_and(|on| on.eq_ignore_ascii_case(target_run.target.name.as_str()))
    });
    // The short names, compared as templates compare names (case-insensitively): this
    // target's value, else the one every target agrees on (`None` once two disagree).
    let mut short: BTreeMap<String, (&str, Option<&str>)> = BTreeMap::new();
    if let Some(here) = here {
        for (output, value) in &here.outputs {
            short.insert(output.to_lowercase(), (output, Some(value)));
        }
    }
    let from_here: std::collections::BTreeSet<String> = short.keys().cloned().collect();
    for target_run in &run.targets {
        let target = target_run.target.name.as_str();
        for (output, value) in &target_run.outputs {
            system.push((
                format!("Action[{step}].Output[{target}].{output}"),
                value.clone(),
            ));
            let key = output.to_lowercase();
            if from_here.contains(&key) {
                continue;
            }
            short
                .entry(key)
                .and_modify(|(_, agreed)| {
                    if *agreed != Some(value.as_str()) {
                        *agreed = None;
                    }
                })
                .or_insert((output, Some(value)));
        }
    }
    for (output, value) in short.into_values() {
        if let Some(value) = value {
            system.push((format!("Action[{step}].Output.{output}"), value.to_owned()));
        }
    }
}

impl StepVariables {
    /// Decrypts the sensitive values for rendering a template in the API, with the masker
    /// that hides them again in whatever text results.
    pub fn for_templates(
        &self,
        key: &Keyring,
    ) -> Result<(ferry_templates::Variables, Masker), SecretError> {
        let mut variables = ferry_templates::Variables::new();
        for (name, value) in &self.plain {
            variables.insert(name.clone(), value.clone());
        }
        let mut secrets = Vec::new();
        for (name, ciphertext) in &self.sensitive {
            let value = key.decrypt(ciphertext, name)?;
            variables.insert(name.clone(), value.clone());
            secrets.push(value);
        }
        Ok((variables, Masker::new(secrets)))
    }
}
