//! The rules about a deployment that are decided before the state machine takes it: which
//! steps may be left out, whether it pauses on failure, and where it stands in the line of
//! its project and environment.

use crate::ids::DeploymentId;
use crate::names::StepName;
use crate::process::Process;

/// Where a new deployment's guided-failure setting can come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuidedFailureSettings {
    /// The deployment request's own choice, if it made one.
    pub deployment: Option<bool>,
    /// The project's, if it has one.
    pub project: Option<bool>,
    /// The environment's, which always has one.
    pub environment: bool,
}

/// Whether a new deployment pauses for a person when a step fails: the deployment's own
/// choice when it made one, else the project's, else the environment's.
pub fn guided_failure(settings: GuidedFailureSettings) -> bool {
    settings
        .deployment
        .or(settings.project)
        .unwrap_or(settings.environment)
}

/// A step a deployment asked to leave out and may not.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExclusionError {
    #[error("has no step named `{name}`")]
    UnknownStep { name: String },
    #[error("step `{name}` is required and cannot be excluded")]
    Required { name: StepName },
}

/// The steps a deployment leaves out, spelled as the process spells them: every name must be
/// a step of the process (compared case-insensitively), and no required step may be left out.
pub fn exclusions(
    process: &Process,
    requested: &[String],
) -> Result<Vec<StepName>, ExclusionError> {
    requested
        .iter()
        .map(|name| {
            let step = process
                .steps()
                .iter()
                .find(|step| step.name.as_str().eq_ignore_ascii_case(name))
                .ok_or_else(|| ExclusionError::UnknownStep { name: name.clone() })?;
            if step.required {
                return Err(ExclusionError::Required {
                    name: step.name.clone(),
                });
            }
            Ok(step.name.clone())
        })
        .collect()
}

/// Where a new deployment stands: one deployment of a project and environment runs at a
/// time, the others wait in the order they were created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admission {
    /// The deployment it waits behind; `None`: it starts at once.
    pub ahead: Option<DeploymentId>,
    /// A queued deployment to start first, because nothing runs although it waits (left
    /// behind by a failure).
    pub start_first: Option<DeploymentId>,
}

/// Admits a new deployment given the pair's `active` deployment (running or waiting for a
/// person) and its `oldest_queued` one.
pub fn admit(active: Option<DeploymentId>, oldest_queued: Option<DeploymentId>) -> Admission {
    match (active, oldest_queued) {
        (Some(active), _) => Admission {
            ahead: Some(active),
            start_first: None,
        },
        (None, Some(stranded)) => Admission {
            ahead: Some(stranded),
            start_first: Some(stranded),
        },
        (None, None) => Admission {
            ahead: None,
            start_first: None,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::process::{EnvironmentCondition, RunCondition, Step, StepKind};
    use uuid::Uuid;

    #[test]
    fn guided_failure_is_the_deployments_choice_else_the_projects_else_the_environments() {
        let settings = |deployment, project, environment| GuidedFailureSettings {
            deployment,
            project,
            environment,
        };
        for environment in [false, true] {
            assert_eq!(
                guided_failure(settings(None, None, environment)),
                environment
            );
            for project in [false, true] {
                assert_eq!(
                    guided_failure(settings(None, Some(project), environment)),
                    project
                );
                for deployment in [false, true] {
                    assert_eq!(
                        guided_failure(settings(Some(deployment), Some(project), environment)),
                        deployment
                    );
                    assert_eq!(
                        guided_failure(settings(Some(deployment), None, environment)),
                        deployment
                    );
                }
            }
        }
    }

    fn step(name: &str, required: bool) -> Step {
        Step {
            name: StepName::parse(name).unwrap(),
            kind: StepKind::RunScript {
                script: "true".into(),
                package_id: None,
            },
            run_condition: RunCondition::Success,
            environments: EnvironmentCondition::All,
            required,
            retries: 0,
            lenient_templates: false,
        }
    }

    #[test]
    fn exclusions_name_steps_of_the_process_that_are_not_required() {
        let process = Process::new(vec![step("Must", true), step("May", false)]).unwrap();
        assert_eq!(
            exclusions(&process, &["may".into()]).unwrap(),
            vec![StepName::parse("May").unwrap()],
            "spelled as the process spells it"
        );
        assert_eq!(
            exclusions(&process, &["Must".into()])
                .unwrap_err()
                .to_string(),
            "step `Must` is required and cannot be excluded"
        );
        assert_eq!(
            exclusions(&process, &["May".into(), "Nope".into()]).unwrap_err(),
            ExclusionError::UnknownStep {
                name: "Nope".into()
            }
        );
        assert_eq!(exclusions(&process, &[]).unwrap(), Vec::<StepName>::new());
    }

    #[test]
    fn a_new_deployment_waits_behind_the_active_one_or_a_stranded_one() {
        let active = DeploymentId::from(Uuid::from_u128(1));
        let queued = DeploymentId::from(Uuid::from_u128(2));
        assert_eq!(
            admit(None, None),
            Admission {
                ahead: None,
                start_first: None
            }
        );
        assert_eq!(
            admit(Some(active), Some(queued)),
            Admission {
                ahead: Some(active),
                start_first: None
            }
        );
        // Nothing runs but one waits: it goes first, and the new one waits behind it.
        assert_eq!(
            admit(None, Some(queued)),
            Admission {
                ahead: Some(queued),
                start_first: Some(queued)
            }
        );
    }
}
