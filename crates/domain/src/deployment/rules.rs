//! The rules about a deployment that are decided before the state machine takes it: which
//! steps may be left out, whether it pauses on failure, and where it stands in the line of
//! its project and environment.

use super::state::Timestamp;
use crate::ids::{DeploymentId, ReleaseId};
use crate::names::{ReleaseNumber, StepName};
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

/// A successful deployment of a project to an environment, for rollbacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuccessfulDeployment {
    pub deployment_id: DeploymentId,
    pub release_id: ReleaseId,
    pub release_number: ReleaseNumber,
    /// When the release (not the deployment) was created: releases are ordered by it.
    pub release_created_at: Timestamp,
}

/// Why there is nothing to roll back to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoRollback {
    /// Nothing ever succeeded in the environment.
    NeverSucceeded,
    /// Only the current release (or newer ones) succeeded there.
    NothingOlderThan { current: ReleaseNumber },
}

/// What a rollback deploys: a release, rolling back from a deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackTarget {
    pub release_id: ReleaseId,
    /// The latest successful deployment, the one rolled back from.
    pub rolls_back: SuccessfulDeployment,
}

/// The release a rollback deploys, from the environment's successful deployments, newest
/// first: the newest success of a release created before the current one's. Rolling back
/// twice goes back twice, never forward again (the rollback's own success is the new
/// current, and its release is older).
pub fn rollback_target(history: &[SuccessfulDeployment]) -> Result<RollbackTarget, NoRollback> {
    let current = history.first().ok_or(NoRollback::NeverSucceeded)?;
    history
        .iter()
        .find(|earlier| earlier.release_created_at < current.release_created_at)
        .map(|earlier| RollbackTarget {
            release_id: earlier.release_id,
            rolls_back: current.clone(),
        })
        .ok_or_else(|| NoRollback::NothingOlderThan {
            current: current.release_number.clone(),
        })
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
            target_roles: Vec::new(),
            max_parallelism: None,
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

    fn success(
        deployment: u128,
        release: u128,
        number: &str,
        created_second: u32,
    ) -> SuccessfulDeployment {
        use chrono::TimeZone;
        SuccessfulDeployment {
            deployment_id: DeploymentId::from(Uuid::from_u128(deployment)),
            release_id: ReleaseId::from(Uuid::from_u128(release)),
            release_number: ReleaseNumber::parse(number).unwrap(),
            release_created_at: chrono::Utc
                .with_ymd_and_hms(2026, 12, 1, 9, 0, created_second)
                .unwrap(),
        }
    }

    #[test]
    fn a_rollback_goes_to_the_newest_success_of_an_older_release_never_forward() {
        assert_eq!(rollback_target(&[]), Err(NoRollback::NeverSucceeded));
        // 2.0.0 is current; 1.0.0 succeeded before it.
        let history = [
            success(3, 20, "2.0.0", 20),
            success(2, 10, "1.0.0", 10),
            success(1, 20, "2.0.0", 20),
        ];
        let target = rollback_target(&history).unwrap();
        assert_eq!(target.release_id, ReleaseId::from(Uuid::from_u128(10)));
        assert_eq!(target.rolls_back, history[0]);
        // After the rollback succeeded, 1.0.0 is current: nothing older, so not forward to 2.0.0.
        let after = [success(4, 10, "1.0.0", 10), history[0].clone()];
        assert_eq!(
            rollback_target(&after),
            Err(NoRollback::NothingOlderThan {
                current: ReleaseNumber::parse("1.0.0").unwrap()
            })
        );
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
