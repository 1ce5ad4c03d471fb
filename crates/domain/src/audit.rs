//! The actions the audit log records, each stored (and shown) as a dotted name
//! (`deployment.created`, `interruption.proceed`). One enum instead of strings at every call
//! site, so a misspelt action is a compile error and the list of what Ferry audits is here.

use std::fmt;
use std::str::FromStr;

use crate::deployment::Answer;

/// Something a person or CI did that the audit log keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    EnvironmentCreated,
    /// Its settings (guided failure) changed.
    EnvironmentUpdated,
    LifecycleCreated,
    LifecycleUpdated,
    ProjectCreated,
    ProjectUpdated,
    TargetCreated,
    TargetUpdated,
    /// A person asked for a target's health check (run by a worker of its pool).
    TargetHealthCheckRequested,
    /// A person asked a worker to discover a host's key (nothing is pinned by it).
    TargetDiscoveryRequested,
    ReleaseCreated,
    /// A release took the project's current variables (Octopus's *update variables*).
    ReleaseVariablesUpdated,
    DeploymentCreated,
    /// A deployment created by rolling back to an earlier release.
    DeploymentRollback,
    DeploymentCanceled,
    /// A person took responsibility for an interruption.
    InterruptionTaken,
    /// A person answered an interruption; the name carries the answer
    /// (`interruption.proceed`).
    InterruptionAnswered(Answer),
}

impl AuditAction {
    /// Every action, the answers in `Answer::ALL`'s order.
    pub const ALL: [AuditAction; 20] = [
        AuditAction::EnvironmentCreated,
        AuditAction::EnvironmentUpdated,
        AuditAction::LifecycleCreated,
        AuditAction::LifecycleUpdated,
        AuditAction::ProjectCreated,
        AuditAction::ProjectUpdated,
        AuditAction::TargetCreated,
        AuditAction::TargetUpdated,
        AuditAction::TargetHealthCheckRequested,
        AuditAction::TargetDiscoveryRequested,
        AuditAction::ReleaseCreated,
        AuditAction::ReleaseVariablesUpdated,
        AuditAction::DeploymentCreated,
        AuditAction::DeploymentRollback,
        AuditAction::DeploymentCanceled,
        AuditAction::InterruptionTaken,
        AuditAction::InterruptionAnswered(Answer::Proceed),
        AuditAction::InterruptionAnswered(Answer::Abort),
        AuditAction::InterruptionAnswered(Answer::Retry),
        AuditAction::InterruptionAnswered(Answer::Ignore),
    ];

    /// The name stored in the audit log. Stored names never change: people and tools
    /// filter the log by them.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::EnvironmentCreated => "environment.created",
            AuditAction::EnvironmentUpdated => "environment.updated",
            AuditAction::LifecycleCreated => "lifecycle.created",
            AuditAction::LifecycleUpdated => "lifecycle.updated",
            AuditAction::ProjectCreated => "project.created",
            AuditAction::ProjectUpdated => "project.updated",
            AuditAction::TargetCreated => "target.created",
            AuditAction::TargetUpdated => "target.updated",
            AuditAction::TargetHealthCheckRequested => "target.health_check_requested",
            AuditAction::TargetDiscoveryRequested => "target.discovery_requested",
            AuditAction::ReleaseCreated => "release.created",
            AuditAction::ReleaseVariablesUpdated => "release.variables_updated",
            AuditAction::DeploymentCreated => "deployment.created",
            AuditAction::DeploymentRollback => "deployment.rollback",
            AuditAction::DeploymentCanceled => "deployment.canceled",
            AuditAction::InterruptionTaken => "interruption.taken",
            AuditAction::InterruptionAnswered(answer) => match answer {
                Answer::Proceed => "interruption.proceed",
                Answer::Abort => "interruption.abort",
                Answer::Retry => "interruption.retry",
                Answer::Ignore => "interruption.ignore",
            },
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored action name this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown audit action `{0}`")]
pub struct UnknownAuditAction(pub String);

impl FromStr for AuditAction {
    type Err = UnknownAuditAction;
    fn from_str(raw: &str) -> Result<Self, UnknownAuditAction> {
        AuditAction::ALL
            .into_iter()
            .find(|action| action.as_str() == raw)
            .ok_or_else(|| UnknownAuditAction(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The names as the audit log has always stored them: changing one would split the
    /// history of an action in two.
    #[test]
    fn every_action_is_stored_under_its_dotted_name_and_reads_back() {
        let stored: Vec<&str> = AuditAction::ALL
            .iter()
            .map(|action| action.as_str())
            .collect();
        assert_eq!(
            stored,
            [
                "environment.created",
                "environment.updated",
                "lifecycle.created",
                "lifecycle.updated",
                "project.created",
                "project.updated",
                "target.created",
                "target.updated",
                "target.health_check_requested",
                "target.discovery_requested",
                "release.created",
                "release.variables_updated",
                "deployment.created",
                "deployment.rollback",
                "deployment.canceled",
                "interruption.taken",
                "interruption.proceed",
                "interruption.abort",
                "interruption.retry",
                "interruption.ignore",
            ]
        );
        for action in AuditAction::ALL {
            assert_eq!(action.as_str().parse(), Ok(action));
            assert_eq!(action.to_string(), action.as_str());
        }
        assert!("deployment.deleted".parse::<AuditAction>().is_err());
    }

    /// An answer's action is named after the answer as people submit it.
    #[test]
    fn an_answered_interruption_is_named_after_its_answer() {
        for answer in Answer::ALL {
            let action = AuditAction::InterruptionAnswered(answer);
            assert!(AuditAction::ALL.contains(&action));
            assert_eq!(action.as_str(), format!("interruption.{answer}"));
        }
    }

    /// Fails to compile when a variant is added: add it to `ALL` and to the names above.
    #[test]
    fn all_lists_every_action() {
        for action in AuditAction::ALL {
            match action {
                AuditAction::EnvironmentCreated
                | AuditAction::EnvironmentUpdated
                | AuditAction::LifecycleCreated
                | AuditAction::LifecycleUpdated
                | AuditAction::ProjectCreated
                | AuditAction::ProjectUpdated
                | AuditAction::TargetCreated
                | AuditAction::TargetUpdated
                | AuditAction::TargetHealthCheckRequested
                | AuditAction::TargetDiscoveryRequested
                | AuditAction::ReleaseCreated
                | AuditAction::ReleaseVariablesUpdated
                | AuditAction::DeploymentCreated
                | AuditAction::DeploymentRollback
                | AuditAction::DeploymentCanceled
                | AuditAction::InterruptionTaken
                | AuditAction::InterruptionAnswered(_) => {}
            }
        }
    }
}
