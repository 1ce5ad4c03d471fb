//! `/api/projects/{project}/releases/{release}/preview`: what deploying a release to an
//! environment would do, without deploying: whether the lifecycle allows it, and per step
//! where it would run and whether it runs or is skipped, and why.

use ferry_domain::{EnvironmentName, ProjectName, ReleaseNumber, StepName};
use serde::{Deserialize, Serialize};

/// The preview of one release in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasePreview {
    pub project: ProjectName,
    pub release_number: ReleaseNumber,
    pub environment: EnvironmentName,
    pub lifecycle: LifecycleAdmission,
    /// What the preview takes for granted about the steps before each one, in a sentence.
    pub assumes: String,
    /// One per step of the release's process, in order.
    pub steps: Vec<StepPreview>,
}

/// Whether the project's lifecycle lets the release go to the environment now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleAdmission {
    pub allowed: bool,
    /// Why not, when it is not allowed. Left out (not `null`) when it is: `{"allowed": true}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl LifecycleAdmission {
    pub fn allowed() -> Self {
        LifecycleAdmission {
            allowed: true,
            reason: None,
        }
    }

    pub fn refused(reason: impl Into<String>) -> Self {
        LifecycleAdmission {
            allowed: false,
            reason: Some(reason.into()),
        }
    }
}

/// One step of the preview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepPreview {
    pub name: StepName,
    pub kind: StepKindName,
    /// Where it would run, for people (`a worker of pool `default` (its local host)`).
    pub target: String,
    pub runs: bool,
    /// Why it would not run; `null` when it runs.
    pub reason: Option<String>,
    /// Why its variable condition cannot be evaluated (the step would fail); `null` otherwise.
    pub condition_error: Option<String>,
}

/// The kinds of step, as a project's body names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKindName {
    RunScript,
    DeployPackage,
    ManualIntervention,
}

impl From<&ferry_domain::StepKind> for StepKindName {
    fn from(kind: &ferry_domain::StepKind) -> Self {
        match kind {
            ferry_domain::StepKind::RunScript { .. } => StepKindName::RunScript,
            ferry_domain::StepKind::DeployPackage(_) => StepKindName::DeployPackage,
            ferry_domain::StepKind::ManualIntervention { .. } => StepKindName::ManualIntervention,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::name;

    #[test]
    fn a_preview_leaves_out_the_reason_of_an_allowed_lifecycle_and_writes_null_step_reasons() {
        let preview = ReleasePreview {
            project: name("Random Quotes"),
            release_number: name("1.0.3"),
            environment: name("Test"),
            lifecycle: LifecycleAdmission::allowed(),
            assumes: "every step that runs succeeds".to_owned(),
            steps: vec![
                StepPreview {
                    name: name("Deploy"),
                    kind: StepKindName::RunScript,
                    target: "a worker of pool `default` (its local host)".to_owned(),
                    runs: true,
                    reason: None,
                    condition_error: None,
                },
                StepPreview {
                    name: name("Sign off"),
                    kind: StepKindName::ManualIntervention,
                    target: "no target: the deployment waits for a person".to_owned(),
                    runs: false,
                    reason: Some("not in Test".to_owned()),
                    condition_error: None,
                },
            ],
        };
        let expected = json!({
            "project": "Random Quotes",
            "release_number": "1.0.3",
            "environment": "Test",
            "lifecycle": {"allowed": true},
            "assumes": "every step that runs succeeds",
            "steps": [
                {
                    "name": "Deploy",
                    "kind": "run_script",
                    "target": "a worker of pool `default` (its local host)",
                    "runs": true,
                    "reason": null,
                    "condition_error": null,
                },
                {
                    "name": "Sign off",
                    "kind": "manual_intervention",
                    "target": "no target: the deployment waits for a person",
                    "runs": false,
                    "reason": "not in Test",
                    "condition_error": null,
                },
            ],
        });
        assert_eq!(serde_json::to_value(&preview).ok(), Some(expected.clone()));
        let read: Option<ReleasePreview> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(preview));
        assert_eq!(
            serde_json::to_value(LifecycleAdmission::refused("phase `Test` is not complete")).ok(),
            Some(json!({"allowed": false, "reason": "phase `Test` is not complete"}))
        );
    }
}
