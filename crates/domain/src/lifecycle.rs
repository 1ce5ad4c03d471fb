//! Lifecycles: the ordered phases a release moves through, and whether a release may go to an
//! environment now, given where it has already succeeded.
//!
//! Rules (Octopus's):
//! - A release may be deployed to an environment of phase *k* when every phase before *k* is
//!   complete *for that release*. Environments of earlier phases and of phase *k* itself stay
//!   open (redeploying is allowed).
//! - A phase is complete when its rule holds: *all must complete* needs a successful
//!   deployment of the release to every environment of the phase, *minimum N* to at least N of
//!   them, and an *optional* phase is always complete, so it can be skipped.
//! - The default lifecycle, used when a project names none, has one *all must complete* phase
//!   per environment, in the environments' order.

use std::collections::HashSet;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::{EnvironmentName, LifecycleName, PhaseName, ValidationError};

/// When a phase counts as complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PhaseRule {
    /// Every environment of the phase has a successful deployment of the release.
    AllMustComplete,
    /// At least this many environments of the phase have one.
    Minimum(u32),
    /// The phase may be skipped.
    Optional,
}

/// One phase of a lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub name: PhaseName,
    pub environments: Vec<EnvironmentName>,
    pub rule: PhaseRule,
}

/// An ordered list of phases; every environment appears in at most one phase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lifecycle {
    pub name: LifecycleName,
    phases: Vec<Phase>,
}

/// The name of the lifecycle projects use when they name none.
pub const DEFAULT_LIFECYCLE: &str = "Default Lifecycle";

impl Lifecycle {
    /// Validates the phases: at least one, unique phase names, at least one environment per
    /// phase, no environment in two phases, and a minimum between 1 and the phase's size.
    /// Whether each environment exists is the caller's check.
    pub fn new(name: LifecycleName, phases: Vec<Phase>) -> Result<Self, ValidationError> {
        if phases.is_empty() {
            return Err(ValidationError::new(
                "phases",
                "a lifecycle needs at least one phase",
            ));
        }
        let mut phase_names = HashSet::new();
        let mut environments = HashSet::new();
        for (index, phase) in phases.iter().enumerate() {
            let field = format!("phases[{index}]");
            if !phase_names.insert(phase.name.as_str().to_lowercase()) {
                return Err(ValidationError::new(
                    format!("{field}.name"),
                    format!("a phase named `{}` already exists", phase.name),
                ));
            }
            if phase.environments.is_empty() {
                return Err(ValidationError::new(
                    format!("{field}.environments"),
                    "a phase needs at least one environment",
                ));
            }
            for environment in &phase.environments {
                if !environments.insert(environment.as_str().to_lowercase()) {
                    return Err(ValidationError::new(
                        format!("{field}.environments"),
                        format!("environment `{environment}` is already in another phase"),
                    ));
                }
            }
            if let PhaseRule::Minimum(count) = phase.rule
                && (count == 0 || count as usize > phase.environments.len())
            {
                return Err(ValidationError::new(
                    format!("{field}.rule"),
                    format!(
                        "a minimum must be between 1 and the phase's {} environment(s)",
                        phase.environments.len()
                    ),
                ));
            }
        }
        Ok(Lifecycle { name, phases })
    }

    /// One *all must complete* phase per environment, in order.
    pub fn default_for(environments: &[EnvironmentName]) -> Self {
        let phases = environments
            .iter()
            .map(|environment| Phase {
                name: PhaseName::parse(environment.as_str()).unwrap_or_else(|_| {
                    unreachable!("an environment name is always a valid phase name")
                }),
                environments: vec![environment.clone()],
                rule: PhaseRule::AllMustComplete,
            })
            .collect();
        Lifecycle {
            name: LifecycleName::parse(DEFAULT_LIFECYCLE)
                .unwrap_or_else(|_| unreachable!("the default lifecycle's name is valid")),
            phases,
        }
    }

    pub fn phases(&self) -> &[Phase] {
        &self.phases
    }

    /// The index of the phase holding `environment`, if any.
    pub fn phase_of(&self, environment: &str) -> Option<usize> {
        self.phases.iter().position(|phase| {
            phase
                .environments
                .iter()
                .any(|candidate| candidate.as_str().eq_ignore_ascii_case(environment))
        })
    }

    /// Every environment named in the lifecycle.
    pub fn environments(&self) -> impl Iterator<Item = &EnvironmentName> {
        self.phases.iter().flat_map(|phase| &phase.environments)
    }
}

impl Phase {
    /// How many of this phase's environments are among `succeeded`.
    fn completed_count(&self, succeeded: &[EnvironmentName]) -> usize {
        self.environments
            .iter()
            .filter(|environment| contains(succeeded, environment.as_str()))
            .count()
    }

    /// Whether the phase's rule holds, given the environments where the release succeeded.
    pub fn is_complete(&self, succeeded: &[EnvironmentName]) -> bool {
        match self.rule {
            PhaseRule::Optional => true,
            PhaseRule::AllMustComplete => {
                self.completed_count(succeeded) == self.environments.len()
            }
            PhaseRule::Minimum(count) => self.completed_count(succeeded) >= count as usize,
        }
    }

    /// The environments still missing for the rule to hold (for messages).
    fn missing(&self, succeeded: &[EnvironmentName]) -> Vec<EnvironmentName> {
        self.environments
            .iter()
            .filter(|environment| !contains(succeeded, environment.as_str()))
            .cloned()
            .collect()
    }
}

fn contains(environments: &[EnvironmentName], name: &str) -> bool {
    environments
        .iter()
        .any(|environment| environment.as_str().eq_ignore_ascii_case(name))
}

/// Why a release may not go to an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LifecycleRefusal {
    /// The environment is in none of the lifecycle's phases.
    NotInLifecycle {
        environment: String,
        lifecycle: LifecycleName,
    },
    /// An earlier phase is not complete for this release.
    PhaseIncomplete {
        phase: PhaseName,
        rule: PhaseRule,
        /// The phase's environments without a successful deployment of the release.
        missing: Vec<EnvironmentName>,
        /// How many of the phase's environments have one.
        completed: usize,
    },
}

impl fmt::Display for LifecycleRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LifecycleRefusal::NotInLifecycle {
                environment,
                lifecycle,
            } => write!(
                f,
                "environment `{environment}` is not in any phase of lifecycle `{lifecycle}`"
            ),
            LifecycleRefusal::PhaseIncomplete {
                phase,
                rule,
                missing,
                completed,
            } => {
                let missing = missing
                    .iter()
                    .map(EnvironmentName::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                match rule {
                    PhaseRule::Minimum(count) => write!(
                        f,
                        "phase `{phase}` is not complete: it needs successful deployments to at least {count} of its environments ({completed} so far; not yet: {missing})"
                    ),
                    _ => write!(
                        f,
                        "phase `{phase}` is not complete: it needs a successful deployment to {missing}"
                    ),
                }
            }
        }
    }
}

/// Whether a release that has succeeded in `succeeded` may be deployed to `environment` now.
pub fn may_deploy(
    lifecycle: &Lifecycle,
    environment: &str,
    succeeded: &[EnvironmentName],
) -> Result<(), LifecycleRefusal> {
    let target_phase =
        lifecycle
            .phase_of(environment)
            .ok_or_else(|| LifecycleRefusal::NotInLifecycle {
                environment: environment.to_owned(),
                lifecycle: lifecycle.name.clone(),
            })?;
    for phase in &lifecycle.phases[..target_phase] {
        if !phase.is_complete(succeeded) {
            return Err(LifecycleRefusal::PhaseIncomplete {
                phase: phase.name.clone(),
                rule: phase.rule,
                missing: phase.missing(succeeded),
                completed: phase.completed_count(succeeded),
            });
        }
    }
    Ok(())
}

/// Where a release stands in one phase (for pages and previews).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PhaseProgress {
    pub name: PhaseName,
    pub rule: PhaseRule,
    pub complete: bool,
    /// Whether the release may be deployed to this phase's environments now.
    pub open: bool,
}

/// The progress of a release through every phase.
pub fn progress(lifecycle: &Lifecycle, succeeded: &[EnvironmentName]) -> Vec<PhaseProgress> {
    let mut open = true;
    lifecycle
        .phases
        .iter()
        .map(|phase| {
            let complete = phase.is_complete(succeeded);
            let progress = PhaseProgress {
                name: phase.name.clone(),
                rule: phase.rule,
                complete,
                open,
            };
            open = open && complete;
            progress
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn env(name: &str) -> EnvironmentName {
        EnvironmentName::parse(name).unwrap()
    }

    fn phase(name: &str, environments: &[&str], rule: PhaseRule) -> Phase {
        Phase {
            name: PhaseName::parse(name).unwrap(),
            environments: environments.iter().map(|e| env(e)).collect(),
            rule,
        }
    }

    /// The tutorial's lifecycle: Dev optional, then Test, then Prod, each all-must-complete.
    fn tutorial() -> Lifecycle {
        Lifecycle::new(
            LifecycleName::parse("Dev, Test, and Prod").unwrap(),
            vec![
                phase("Dev", &["Dev"], PhaseRule::Optional),
                phase("Test", &["Test"], PhaseRule::AllMustComplete),
                phase("Prod", &["Prod"], PhaseRule::AllMustComplete),
            ],
        )
        .unwrap()
    }

    fn refused_phase(result: Result<(), LifecycleRefusal>) -> String {
        match result {
            Err(LifecycleRefusal::PhaseIncomplete { phase, .. }) => phase.to_string(),
            other => panic!("expected an incomplete phase, got {other:?}"),
        }
    }

    #[test]
    fn prod_first_is_refused_naming_the_test_phase() {
        let result = may_deploy(&tutorial(), "Prod", &[]);
        assert_eq!(refused_phase(result.clone()), "Test");
        assert_eq!(
            result.unwrap_err().to_string(),
            "phase `Test` is not complete: it needs a successful deployment to Test"
        );
    }

    #[test]
    fn an_optional_phase_can_be_skipped() {
        assert_eq!(may_deploy(&tutorial(), "Test", &[]), Ok(()));
        assert_eq!(may_deploy(&tutorial(), "Dev", &[]), Ok(()));
    }

    #[test]
    fn a_complete_phase_opens_the_next_one() {
        assert_eq!(may_deploy(&tutorial(), "Prod", &[env("Test")]), Ok(()));
        assert_eq!(may_deploy(&tutorial(), "prod", &[env("test")]), Ok(()));
    }

    #[test]
    fn earlier_environments_stay_open_for_redeploys() {
        let done = [env("Dev"), env("Test"), env("Prod")];
        for environment in ["Dev", "Test", "Prod"] {
            assert_eq!(may_deploy(&tutorial(), environment, &done), Ok(()));
        }
    }

    #[test]
    fn an_environment_outside_the_lifecycle_is_refused() {
        assert_eq!(
            may_deploy(&tutorial(), "Staging", &[])
                .unwrap_err()
                .to_string(),
            "environment `Staging` is not in any phase of lifecycle `Dev, Test, and Prod`"
        );
    }

    #[test]
    fn all_must_complete_needs_every_environment() {
        let lifecycle = Lifecycle::new(
            LifecycleName::parse("Regions").unwrap(),
            vec![
                phase("Test", &["Test EU", "Test US"], PhaseRule::AllMustComplete),
                phase("Prod", &["Prod"], PhaseRule::AllMustComplete),
            ],
        )
        .unwrap();
        let refusal = may_deploy(&lifecycle, "Prod", &[env("Test EU")]).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "phase `Test` is not complete: it needs a successful deployment to Test US"
        );
        assert_eq!(
            may_deploy(&lifecycle, "Prod", &[env("Test EU"), env("Test US")]),
            Ok(())
        );
    }

    #[test]
    fn a_minimum_counts_successful_environments() {
        let lifecycle = Lifecycle::new(
            LifecycleName::parse("Canary").unwrap(),
            vec![
                phase("Canaries", &["A", "B", "C"], PhaseRule::Minimum(2)),
                phase("Prod", &["Prod"], PhaseRule::AllMustComplete),
            ],
        )
        .unwrap();
        let refusal = may_deploy(&lifecycle, "Prod", &[env("B")]).unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "phase `Canaries` is not complete: it needs successful deployments to at least 2 of its environments (1 so far; not yet: A, C)"
        );
        assert_eq!(
            may_deploy(&lifecycle, "Prod", &[env("B"), env("C")]),
            Ok(())
        );
    }

    #[test]
    fn only_the_first_incomplete_phase_is_named() {
        let lifecycle = Lifecycle::new(
            LifecycleName::parse("Long").unwrap(),
            vec![
                phase("One", &["One"], PhaseRule::AllMustComplete),
                phase("Two", &["Two"], PhaseRule::AllMustComplete),
                phase("Three", &["Three"], PhaseRule::AllMustComplete),
            ],
        )
        .unwrap();
        assert_eq!(refused_phase(may_deploy(&lifecycle, "Three", &[])), "One");
        assert_eq!(
            refused_phase(may_deploy(&lifecycle, "Three", &[env("One")])),
            "Two"
        );
        // Success further on does not stand in for an earlier phase.
        assert_eq!(
            refused_phase(may_deploy(&lifecycle, "Three", &[env("Two")])),
            "One"
        );
    }

    #[test]
    fn the_default_lifecycle_is_every_environment_in_order() {
        let lifecycle = Lifecycle::default_for(&[env("Dev"), env("Test"), env("Prod")]);
        assert_eq!(lifecycle.name.as_str(), DEFAULT_LIFECYCLE);
        assert_eq!(lifecycle.phases().len(), 3);
        assert_eq!(refused_phase(may_deploy(&lifecycle, "Test", &[])), "Dev");
        assert_eq!(may_deploy(&lifecycle, "Test", &[env("Dev")]), Ok(()));
    }

    #[test]
    fn progress_marks_complete_and_open_phases() {
        let progress = progress(&tutorial(), &[env("Test")]);
        let summary: Vec<_> = progress
            .iter()
            .map(|p| (p.name.as_str(), p.complete, p.open))
            .collect();
        assert_eq!(
            summary,
            [
                ("Dev", true, true),
                ("Test", true, true),
                ("Prod", false, true)
            ]
        );
    }

    #[test]
    fn malformed_lifecycles_are_refused_naming_the_field() {
        let name = || LifecycleName::parse("Bad").unwrap();
        let cases = [
            (vec![], "phases"),
            (
                vec![
                    phase("A", &["Dev"], PhaseRule::Optional),
                    phase("a", &["Test"], PhaseRule::Optional),
                ],
                "phases[1].name",
            ),
            (
                vec![phase("A", &[], PhaseRule::Optional)],
                "phases[0].environments",
            ),
            (
                vec![
                    phase("A", &["Dev"], PhaseRule::Optional),
                    phase("B", &["dev"], PhaseRule::Optional),
                ],
                "phases[1].environments",
            ),
            (
                vec![phase("A", &["Dev"], PhaseRule::Minimum(2))],
                "phases[0].rule",
            ),
            (
                vec![phase("A", &["Dev"], PhaseRule::Minimum(0))],
                "phases[0].rule",
            ),
        ];
        for (phases, field) in cases {
            assert_eq!(Lifecycle::new(name(), phases).unwrap_err().field, field);
        }
    }

    #[test]
    fn phase_rules_read_like_the_api_documents_them() {
        let phase: Phase = serde_json::from_str(
            r#"{"name": "Canaries", "environments": ["A", "B"], "rule": {"minimum": 1}}"#,
        )
        .unwrap();
        assert_eq!(phase.rule, PhaseRule::Minimum(1));
        let phase: Phase =
            serde_json::from_str(r#"{"name": "Dev", "environments": ["Dev"], "rule": "optional"}"#)
                .unwrap();
        assert_eq!(phase.rule, PhaseRule::Optional);
    }
}
