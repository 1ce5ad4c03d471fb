//! A project's deployment process: the ordered steps a release carries to an environment.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::names::{PackageId, StepName, ValidationError};

/// When a step runs, given what happened before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunCondition {
    /// Only if every step before it succeeded (or was skipped). Octopus's default.
    #[default]
    Success,
    /// Only if a step before it failed.
    Failure,
    /// Whatever happened before it.
    Always,
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
}

/// One step of a process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    pub name: StepName,
    #[serde(flatten)]
    pub kind: StepKind,
    #[serde(default)]
    pub run_condition: RunCondition,
}

impl Step {
    /// The package this step needs, if any.
    pub fn package_id(&self) -> Option<&PackageId> {
        match &self.kind {
            StepKind::RunScript { package_id, .. } => package_id.as_ref(),
        }
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
}
