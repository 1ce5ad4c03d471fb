//! The body of `POST /api/projects` and `PUT /api/projects/{project}`, parsed into a
//! validated project before anything is written: names, step settings, every template
//! (scripts, instructions, conditions, variable values: syntax and filters, with line and
//! column), environments and steps named in scopes, ties between scoped values, and the
//! encryption of sensitive values.

use ferry_domain::variables::{KnownNames, Scope, Variable, VariableSet};
use ferry_domain::{
    EmailAddress, EnvironmentCondition, EnvironmentName, PackageId, Process, ProjectName,
    RunCondition, Step, StepKind, StepName, TeamName, ValidationError, VariableName, WorkerPool,
};
use ferry_storage::projects::{NewProject, Project};
use ferry_storage::{GenericClient, environments};
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::lifecycles::find_lifecycle;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectBody {
    name: String,
    #[serde(default)]
    steps: Vec<StepBody>,
    /// Either a flat `{name: value}` object (unscoped, not sensitive) or a list of
    /// `{name, value, sensitive, scope}`.
    #[serde(default)]
    variables: Option<Value>,
    notification_email: Option<String>,
    worker_pool: Option<String>,
    /// Lifecycle id or name; the default lifecycle when absent.
    lifecycle: Option<String>,
    /// Overrides the environments' guided-failure setting when present.
    guided_failure: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    name: String,
    /// `run_script` (the default) or `manual_intervention`.
    kind: Option<String>,
    script: Option<String>,
    package_id: Option<String>,
    instructions: Option<String>,
    responsible_team: Option<String>,
    /// `"success"`, `"failure"`, `"always"` or `{"variable": "<template>"}`.
    run_condition: Option<Value>,
    /// `{"only_in": [..]}` or `{"skip_in": [..]}`.
    environments: Option<Value>,
    #[serde(default)]
    required: bool,
    #[serde(default)]
    retries: u8,
    #[serde(default)]
    lenient_templates: bool,
    /// The step runs on every target of the environment with one of these roles.
    #[serde(default)]
    target_roles: Vec<String>,
    /// How many targets it runs on at once (default 10).
    max_parallelism: Option<u32>,
    // deploy_package's settings (`deploy_step_body.rs`).
    #[serde(default)]
    substitute_files: Vec<String>,
    #[serde(default)]
    structured_files: Vec<String>,
    scripts: Option<Value>,
    nginx: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VariableBody {
    name: String,
    /// `null` for a sensitive value keeps the value already stored under the same name and
    /// scope (the API never returns sensitive values, so clients cannot send them back).
    value: Option<String>,
    #[serde(default)]
    sensitive: bool,
    #[serde(default)]
    scope: Scope,
}

/// How a template is checked at save time: as it will be rendered, `ferry_templates::check`
/// for strict templates, `ferry_templates::check_lenient` for a lenient step's (whose tags
/// that do not parse are echoed, not refused).
type TemplateCheck = fn(&str) -> Result<(), ferry_templates::TemplateError>;

/// A template's syntax error as a validation error of `field`.
fn check_template(
    field: &str,
    template: &str,
    check: TemplateCheck,
) -> Result<(), ValidationError> {
    check(template)
        .map_err(|error| ValidationError::new(field, format!("template error at {error}")))
}

fn parse_run_condition(
    field: &str,
    raw: Option<Value>,
    check: TemplateCheck,
) -> Result<RunCondition, ValidationError> {
    match raw {
        None => Ok(RunCondition::Success),
        Some(Value::String(name)) => match name.as_str() {
            "success" => Ok(RunCondition::Success),
            "failure" => Ok(RunCondition::Failure),
            "always" => Ok(RunCondition::Always),
            other => Err(ValidationError::new(
                field,
                format!(
                    "`{other}` is not a run condition; use success, failure, always or {{\"variable\": \"<template>\"}}"
                ),
            )),
        },
        Some(Value::Object(object)) if object.len() == 1 && object.contains_key("variable") => {
            match object.get("variable") {
                Some(Value::String(expression)) => {
                    check_template(field, expression, check)?;
                    Ok(RunCondition::Variable(expression.clone()))
                }
                _ => Err(ValidationError::new(
                    field,
                    "a variable condition is a template string",
                )),
            }
        }
        Some(_) => Err(ValidationError::new(
            field,
            "use success, failure, always or {\"variable\": \"<template>\"}",
        )),
    }
}

fn parse_environment_condition(
    field: &str,
    raw: Option<Value>,
    known: &[EnvironmentName],
) -> Result<EnvironmentCondition, ValidationError> {
    let Some(raw) = raw else {
        return Ok(EnvironmentCondition::All);
    };
    let condition: EnvironmentCondition = serde_json::from_value(raw).map_err(|_| {
        ValidationError::new(
            field,
            "use {\"only_in\": [environments]} or {\"skip_in\": [environments]}",
        )
    })?;
    for environment in condition.environments() {
        if !known
            .iter()
            .any(|name| name.as_str().eq_ignore_ascii_case(environment.as_str()))
        {
            return Err(ValidationError::new(
                field,
                format!("there is no environment named `{environment}`"),
            ));
        }
    }
    Ok(condition)
}

fn parse_step(
    index: usize,
    mut body: StepBody,
    known_environments: &[EnvironmentName],
) -> Result<Step, ValidationError> {
    let field = |name: &str| format!("steps[{index}].{name}");
    let check: TemplateCheck = if body.lenient_templates {
        ferry_templates::check_lenient
    } else {
        ferry_templates::check
    };
    let name = StepName::parse(&body.name).map_err(|e| e.within(&format!("steps[{index}]")))?;
    let target_roles = super::deploy_step_body::parse_roles(&field, &body.target_roles)?;
    let deploy_fields_given = !body.substitute_files.is_empty()
        || !body.structured_files.is_empty()
        || body.scripts.is_some()
        || body.nginx.is_some();
    if deploy_fields_given && body.kind.as_deref() != Some("deploy_package") {
        return Err(ValidationError::new(
            field("kind"),
            "substitute_files, structured_files, scripts and nginx belong to a deploy_package step",
        ));
    }
    let kind = match body.kind.as_deref().unwrap_or("run_script") {
        "run_script" => {
            if body.instructions.is_some() || body.responsible_team.is_some() {
                return Err(ValidationError::new(
                    field("instructions"),
                    "only manual_intervention steps have instructions and a responsible team",
                ));
            }
            let script = body.script.ok_or_else(|| {
                ValidationError::new(field("script"), "a run_script step needs a script")
            })?;
            check_template(&field("script"), &script, check)?;
            let package_id = body
                .package_id
                .map(|raw| {
                    PackageId::parse(&raw)
                        .map_err(|e| ValidationError::new(field("package_id"), e.problem))
                })
                .transpose()?;
            StepKind::RunScript { script, package_id }
        }
        "deploy_package" => {
            if body.script.is_some() || body.instructions.is_some() {
                return Err(ValidationError::new(
                    field("script"),
                    "a deploy_package step takes scripts per stage (`scripts`), not a script or instructions",
                ));
            }
            let fields = super::deploy_step_body::DeployFields {
                package_id: body.package_id.clone(),
                substitute_files: std::mem::take(&mut body.substitute_files),
                structured_files: std::mem::take(&mut body.structured_files),
                scripts: body.scripts.take(),
                nginx: body.nginx.take(),
            };
            let checked = |at: &str, template: &str| check_template(at, template, check);
            StepKind::DeployPackage(super::deploy_step_body::parse_deploy(
                &field, fields, &checked,
            )?)
        }
        "manual_intervention" => {
            if body.script.is_some() || body.package_id.is_some() {
                return Err(ValidationError::new(
                    field("script"),
                    "a manual_intervention step runs no script and needs no package",
                ));
            }
            let instructions = body.instructions.ok_or_else(|| {
                ValidationError::new(
                    field("instructions"),
                    "a manual_intervention step needs instructions",
                )
            })?;
            check_template(&field("instructions"), &instructions, check)?;
            let responsible_team = body
                .responsible_team
                .map(|raw| {
                    TeamName::parse(&raw)
                        .map_err(|e| ValidationError::new(field("responsible_team"), e.problem))
                })
                .transpose()?;
            StepKind::ManualIntervention {
                instructions,
                responsible_team,
            }
        }
        other => {
            return Err(ValidationError::new(
                field("kind"),
                format!(
                    "`{other}` is not a step kind; the kinds are: run_script, deploy_package, manual_intervention"
                ),
            ));
        }
    };
    Ok(Step {
        name,
        kind,
        run_condition: parse_run_condition(&field("run_condition"), body.run_condition, check)?,
        environments: parse_environment_condition(
            &field("environments"),
            body.environments,
            known_environments,
        )?,
        required: body.required,
        retries: body.retries,
        lenient_templates: body.lenient_templates,
        target_roles,
        max_parallelism: body.max_parallelism,
    })
}

/// Reads the variables of a request: plain values as given, sensitive ones encrypted (or
/// kept from `existing` when sent as `null`), validated against the process and the
/// environments.
fn parse_variables(
    state: &AppState,
    raw: Option<Value>,
    known: &KnownNames<'_>,
    existing: Option<&VariableSet<String>>,
) -> Result<VariableSet<String>, ApiError> {
    let bodies: Vec<VariableBody> = match raw {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(value) => Ok(VariableBody {
                    name,
                    value: Some(value),
                    sensitive: false,
                    scope: Scope::default(),
                }),
                _ => Err(ValidationError::new(
                    format!("variables.{name}"),
                    "a value in the flat form must be a string; use the list form for scopes and sensitive values",
                )),
            })
            .collect::<Result<_, _>>()?,
        Some(list @ Value::Array(_)) => serde_json::from_value(list)
            .map_err(|error| ValidationError::new("variables", error.to_string()))?,
        Some(_) => {
            return Err(ApiError::invalid(
                "variables",
                "send a {name: value} object or a list of {name, value, sensitive, scope}",
            ));
        }
    };
    let key = &state.config().variables_key;
    let mut variables = Vec::with_capacity(bodies.len());
    for (index, body) in bodies.into_iter().enumerate() {
        let field = format!("variables[{index}]");
        let name = VariableName::parse(&body.name).map_err(|e| e.within(&field))?;
        let value = match (body.value, body.sensitive) {
            (Some(value), false) => {
                // Values are checked strictly: one that does not parse would be used as
                // written, which is more often a mistake than meant.
                check_template(&format!("{field}.value"), &value, ferry_templates::check)?;
                value
            }
            (Some(value), true) => {
                // Not checked as a template: a password may well contain `#{`.
                key.encrypt(&value, name.as_str())
                    .map_err(|error| ApiError::Internal(error.into()))?
            }
            (None, false) => {
                return Err(ApiError::invalid(
                    &format!("{field}.value"),
                    "a value is required (only a sensitive value may be null, to keep the stored one)",
                ));
            }
            (None, true) => existing
                .and_then(|set| {
                    set.variables().iter().find(|stored| {
                        stored.sensitive
                            && stored.name.as_str().eq_ignore_ascii_case(name.as_str())
                            && stored.scope == body.scope
                    })
                })
                .map(|stored| stored.value.clone())
                .ok_or_else(|| {
                    ApiError::invalid(
                        &format!("{field}.value"),
                        format!(
                            "no sensitive value of `{name}` with this scope is stored to keep; send the value"
                        ),
                    )
                })?,
        };
        variables.push(Variable {
            name,
            value,
            sensitive: body.sensitive,
            scope: body.scope,
        });
    }
    Ok(VariableSet::new(variables, known)?)
}

/// Parses a request body into a validated project, ready to store.
pub(crate) async fn parse_project(
    state: &AppState,
    client: &impl GenericClient,
    body: ProjectBody,
    existing: Option<&Project>,
) -> Result<NewProject, ApiError> {
    let name = ProjectName::parse(&body.name)?;
    let environment_names: Vec<EnvironmentName> = environments::all(client)
        .await?
        .into_iter()
        .map(|environment| environment.name)
        .collect();
    let steps = body
        .steps
        .into_iter()
        .enumerate()
        .map(|(index, step)| parse_step(index, step, &environment_names))
        .collect::<Result<Vec<_>, _>>()?;
    let process = Process::new(steps)?;
    let environment_refs: Vec<&str> = environment_names
        .iter()
        .map(EnvironmentName::as_str)
        .collect();
    let step_refs: Vec<&str> = process.steps().iter().map(|s| s.name.as_str()).collect();
    let variables = parse_variables(
        state,
        body.variables,
        &KnownNames {
            environments: &environment_refs,
            steps: &step_refs,
        },
        existing.map(|project| &project.variables),
    )?;
    let notification_email = body
        .notification_email
        .map(|raw| EmailAddress::parse(&raw))
        .transpose()?;
    let worker_pool = body
        .worker_pool
        .map(|raw| WorkerPool::parse(&raw))
        .transpose()?
        .unwrap_or_default();
    let lifecycle_id = match &body.lifecycle {
        None => None,
        Some(lifecycle) => Some(
            find_lifecycle(client, lifecycle)
                .await
                .map_err(|_| {
                    ApiError::invalid(
                        "lifecycle",
                        format!("lifecycle `{lifecycle}` does not exist"),
                    )
                })?
                .lifecycle_id,
        ),
    };
    Ok(NewProject {
        name,
        process,
        variables,
        notification_email,
        worker_pool,
        lifecycle_id,
        guided_failure: body.guided_failure,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn step(body: Value) -> Result<Step, ValidationError> {
        parse_step(0, serde_json::from_value(body).unwrap(), &[])
    }

    #[test]
    fn a_lenient_step_may_save_tags_that_lenient_rendering_echoes() {
        let script = "echo #{Foo bar";
        let strict = step(serde_json::json!({"name": "Run", "script": script})).unwrap_err();
        assert_eq!(strict.field, "steps[0].script");
        let lenient = step(serde_json::json!({
            "name": "Run",
            "script": script,
            "run_condition": {"variable": "#{if A}x"},
            "lenient_templates": true,
        }));
        assert!(lenient.is_ok(), "{:?}", lenient.err());
        let unknown_filter = step(serde_json::json!({
            "name": "Run",
            "script": "#{Foo | NoSuchFilter}",
            "lenient_templates": true,
        }));
        assert!(unknown_filter.is_err(), "lenient rendering refuses it too");
    }
}
