//! A project's deployment process: the ordered steps a release carries to an environment.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::deploy_step::DeployPackage;
use crate::names::{EnvironmentName, PackageId, RoleName, StepName, TeamName, ValidationError};

/// When a step runs, given what happened before it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunCondition {
    /// Only if every step before it succeeded (or was skipped). Octopus's default.
    #[default]
    Success,
    /// Only if a step before it failed.
    Failure,
    /// Whatever happened before it.
    Always,
    /// Only if this template evaluates to a true value when the step is reached
    /// (`#{if Octopus.Deployment.Error}true#{/if}`, `#{Run Smoke Tests}`).
    Variable(String),
}

/// In which environments a step runs at all.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvironmentCondition {
    #[default]
    All,
    /// Only in these environments.
    OnlyIn(Vec<EnvironmentName>),
    /// Everywhere except these environments.
    SkipIn(Vec<EnvironmentName>),
}

impl EnvironmentCondition {
    pub fn is_all(&self) -> bool {
        matches!(self, EnvironmentCondition::All)
    }

    /// Whether a step with this condition runs in `environment`.
    pub fn allows(&self, environment: &str) -> bool {
        let listed = |names: &[EnvironmentName]| {
            names
                .iter()
                .any(|name| name.as_str().eq_ignore_ascii_case(environment))
        };
        match self {
            EnvironmentCondition::All => true,
            EnvironmentCondition::OnlyIn(names) => listed(names),
            EnvironmentCondition::SkipIn(names) => !listed(names),
        }
    }

    pub fn environments(&self) -> &[EnvironmentName] {
        match self {
            EnvironmentCondition::All => &[],
            EnvironmentCondition::OnlyIn(names) | EnvironmentCondition::SkipIn(names) => names,
        }
    }
}

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StepKind {
    /// Runs a bash script on the worker's host. With a package, the package is downloaded,
    /// verified and extracted first, and the script runs inside the extracted folder.
    RunScript {
        script: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        package_id: Option<PackageId>,
    },
    /// Puts a package on every target with the step's roles and runs Octopus's conventions
    /// there (scripts, substitution, structured configuration, NGINX).
    DeployPackage(DeployPackage),
    /// Pauses the deployment until a person takes responsibility and proceeds or aborts.
    /// Runs on no worker.
    ManualIntervention {
        /// What the person should check, as a template rendered with the deployment's
        /// variables.
        instructions: String,
        /// The team whose members may act on it; anyone permitted to deploy when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        responsible_team: Option<TeamName>,
    },
}

/// One step of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub name: StepName,
    #[serde(flatten)]
    pub kind: StepKind,
    #[serde(default)]
    pub run_condition: RunCondition,
    #[serde(default, skip_serializing_if = "EnvironmentCondition::is_all")]
    pub environments: EnvironmentCondition,
    /// A required step cannot be excluded when a deployment is created.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub required: bool,
    /// How many times a failed attempt is retried before the step counts as failed.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u8,
    /// Octopus's pass-through template mode for this step's script, instructions and
    /// condition: an unknown variable is left as written instead of failing the step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub lenient_templates: bool,
    /// The step runs on every target of the environment with one of these roles (Octopus's
    /// target roles); without any, a run-script step runs on the worker's own host.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_roles: Vec<RoleName>,
    /// How many of its targets the step runs on at once (Octopus's rolling window);
    /// [`DEFAULT_MAX_PARALLELISM`] when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_parallelism: Option<u32>,
}

/// How many targets a step runs on at once unless it says: Octopus's default.
pub const DEFAULT_MAX_PARALLELISM: u32 = 10;

/// The largest window a step may ask for.
pub const MAX_PARALLELISM: u32 = 10_000;

fn is_zero(value: &u8) -> bool {
    *value == 0
}

/// The most retries a step may ask for.
pub const MAX_RETRIES: u8 = 10;

impl Step {
    /// The package this step needs, if any.
    pub fn package_id(&self) -> Option<&PackageId> {
        match &self.kind {
            StepKind::RunScript { package_id, .. } => package_id.as_ref(),
            StepKind::DeployPackage(deploy) => Some(&deploy.package_id),
            StepKind::ManualIntervention { .. } => None,
        }
    }

    /// Whether a worker runs this step (a manual intervention waits for a person instead).
    pub fn runs_on_worker(&self) -> bool {
        !matches!(self.kind, StepKind::ManualIntervention { .. })
    }

    /// How many targets the step runs on at once.
    pub fn window(&self) -> usize {
        self.max_parallelism.unwrap_or(DEFAULT_MAX_PARALLELISM) as usize
    }
}

/// The longest script Ferry accepts, in bytes. Scripts travel inside job messages, so they
/// are bounded; a longer one belongs in the package.
pub const MAX_SCRIPT_BYTES: usize = 256 * 1024;

/// The most steps one process may have.
pub const MAX_STEPS: usize = 200;

/// An ordered list of steps with unique names: what a release snapshots.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Step>", into = "Vec<Step>")]
pub struct Process {
    steps: Vec<Step>,
}

impl Process {
    pub fn new(steps: Vec<Step>) -> Result<Self, ValidationError> {
        if steps.is_empty() {
            return Err(ValidationError::new(
                "steps",
                "a process needs at least one step",
            ));
        }
        if steps.len() > MAX_STEPS {
            return Err(ValidationError::new(
                "steps",
                format!("a process may have at most {MAX_STEPS} steps"),
            ));
        }
        let mut seen = HashSet::new();
        for (index, step) in steps.iter().enumerate() {
            if !seen.insert(step.name.as_str().to_lowercase()) {
                return Err(ValidationError::new(
                    format!("steps[{index}].name"),
                    format!(
                        "a step named `{}` already exists in this process",
                        step.name
                    ),
                ));
            }
            match &step.kind {
                StepKind::RunScript { script, .. } => {
                    if script.trim().is_empty() {
                        return Err(ValidationError::new(
                            format!("steps[{index}].script"),
                            "must not be empty",
                        ));
                    }
                    if script.len() > MAX_SCRIPT_BYTES {
                        return Err(ValidationError::new(
                            format!("steps[{index}].script"),
                            format!("must be at most {MAX_SCRIPT_BYTES} bytes"),
                        ));
                    }
                }
                StepKind::DeployPackage(deploy) => {
                    deploy.validate(&format!("steps[{index}]"))?;
                    if step.target_roles.is_empty() {
                        return Err(ValidationError::new(
                            format!("steps[{index}].target_roles"),
                            "a deploy_package step runs on targets: name at least one role",
                        ));
                    }
                }
                StepKind::ManualIntervention { instructions, .. } => {
                    if !step.target_roles.is_empty() {
                        return Err(ValidationError::new(
                            format!("steps[{index}].target_roles"),
                            "a manual_intervention step runs on no target",
                        ));
                    }
                    if instructions.trim().is_empty() {
                        return Err(ValidationError::new(
                            format!("steps[{index}].instructions"),
                            "must not be empty",
                        ));
                    }
                    if instructions.len() > MAX_SCRIPT_BYTES {
                        return Err(ValidationError::new(
                            format!("steps[{index}].instructions"),
                            format!("must be at most {MAX_SCRIPT_BYTES} bytes"),
                        ));
                    }
                }
            }
            if let Some(window) = step.max_parallelism
                && !(1..=MAX_PARALLELISM).contains(&window)
            {
                return Err(ValidationError::new(
                    format!("steps[{index}].max_parallelism"),
                    format!("must be between 1 and {MAX_PARALLELISM}"),
                ));
            }
            if step.retries > MAX_RETRIES {
                return Err(ValidationError::new(
                    format!("steps[{index}].retries"),
                    format!("must be at most {MAX_RETRIES}"),
                ));
            }
            if let RunCondition::Variable(expression) = &step.run_condition
                && expression.trim().is_empty()
            {
                return Err(ValidationError::new(
                    format!("steps[{index}].run_condition"),
                    "a variable condition needs an expression",
                ));
            }
            if let EnvironmentCondition::OnlyIn(names) | EnvironmentCondition::SkipIn(names) =
                &step.environments
                && names.is_empty()
            {
                return Err(ValidationError::new(
                    format!("steps[{index}].environments"),
                    "list at least one environment",
                ));
            }
        }
        Ok(Process { steps })
    }

    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The distinct packages the process needs, in step order.
    pub fn package_ids(&self) -> Vec<&PackageId> {
        let mut ids: Vec<&PackageId> = Vec::new();
        for id in self.steps.iter().filter_map(Step::package_id) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }
}

impl TryFrom<Vec<Step>> for Process {
    type Error = ValidationError;
    fn try_from(steps: Vec<Step>) -> Result<Self, ValidationError> {
        Process::new(steps)
    }
}

impl From<Process> for Vec<Step> {
    fn from(process: Process) -> Vec<Step> {
        process.steps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script_step(name: &str, script: &str) -> Step {
        Step {
            name: StepName::parse(name).unwrap(),
            kind: StepKind::RunScript {
                script: script.to_owned(),
                package_id: None,
            },
            run_condition: RunCondition::Success,
            environments: EnvironmentCondition::All,
            required: false,
            retries: 0,
            lenient_templates: false,
            target_roles: Vec::new(),
            max_parallelism: None,
        }
    }

    #[test]
    fn step_names_are_unique_case_insensitively() {
        let error = Process::new(vec![
            script_step("Deploy", "true"),
            script_step("deploy", "true"),
        ])
        .unwrap_err();
        assert_eq!(error.field, "steps[1].name");
    }

    #[test]
    fn empty_process_and_empty_script_are_refused() {
        assert!(Process::new(vec![]).is_err());
        let error = Process::new(vec![script_step("Deploy", "  ")]).unwrap_err();
        assert_eq!(error.field, "steps[0].script");
    }

    #[test]
    fn process_json_names_the_step_kind() {
        let process = Process::new(vec![script_step("Say hello", "echo hi")]).unwrap();
        let json = serde_json::to_value(&process).unwrap();
        assert_eq!(json[0]["kind"], "run_script");
        assert_eq!(json[0]["script"], "echo hi");
        let back: Process = serde_json::from_value(json).unwrap();
        assert_eq!(back, process);
    }

    #[test]
    fn conditions_read_like_the_api_documents_them() {
        let step: Step = serde_json::from_str(
            r##"{"name": "Deployment Sign Off", "kind": "manual_intervention",
                "instructions": "Check #{Octopus.Environment.Name}",
                "responsible_team": "Release Managers",
                "environments": {"skip_in": ["Dev"]}, "required": true}"##,
        )
        .unwrap();
        assert!(!step.environments.allows("dev"));
        assert!(step.environments.allows("Test"));
        assert!(step.required);
        assert!(!step.runs_on_worker());
        let step: Step = serde_json::from_str(
            r##"{"name": "Smoke", "script": "true", "kind": "run_script",
                "run_condition": {"variable": "#{Run Smoke}"}, "retries": 2}"##,
        )
        .unwrap();
        assert_eq!(
            step.run_condition,
            RunCondition::Variable("#{Run Smoke}".into())
        );
        assert_eq!(step.retries, 2);
        let step: Step = serde_json::from_str(
            r#"{"name": "Email", "script": "true", "kind": "run_script", "run_condition": "always",
                "environments": {"only_in": ["Test", "Prod"]}}"#,
        )
        .unwrap();
        assert_eq!(step.run_condition, RunCondition::Always);
        assert!(!step.environments.allows("Dev"));
    }

    #[test]
    fn bad_step_settings_name_their_field() {
        let mut step = script_step("Deploy", "true");
        step.retries = MAX_RETRIES + 1;
        assert_eq!(
            Process::new(vec![step]).unwrap_err().field,
            "steps[0].retries"
        );
        let mut step = script_step("Deploy", "true");
        step.environments = EnvironmentCondition::OnlyIn(vec![]);
        assert_eq!(
            Process::new(vec![step]).unwrap_err().field,
            "steps[0].environments"
        );
        let mut step = script_step("Deploy", "true");
        step.run_condition = RunCondition::Variable(" ".into());
        assert_eq!(
            Process::new(vec![step]).unwrap_err().field,
            "steps[0].run_condition"
        );
        let step = Step {
            kind: StepKind::ManualIntervention {
                instructions: String::new(),
                responsible_team: None,
            },
            ..script_step("Sign off", "x")
        };
        assert_eq!(
            Process::new(vec![step]).unwrap_err().field,
            "steps[0].instructions"
        );
    }
}
