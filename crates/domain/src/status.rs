//! The states a deployment and each of its steps can be in, spelled exactly as Octopus spells
//! them so that email templates written for Octopus render the same.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The state of one step of one deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StepStatus {
    /// Not reached yet.
    Pending,
    /// Not run, because of its run condition.
    Skipped,
    /// A job for it is on the queue or a worker is running it.
    Running,
    Succeeded,
    Failed,
    /// Stopped on request before it finished.
    Canceled,
    /// Never run because the deployment ended before reaching it.
    Abandoned,
}

impl StepStatus {
    pub const ALL: [StepStatus; 7] = [
        StepStatus::Pending,
        StepStatus::Skipped,
        StepStatus::Running,
        StepStatus::Succeeded,
        StepStatus::Failed,
        StepStatus::Canceled,
        StepStatus::Abandoned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Pending => "Pending",
            StepStatus::Skipped => "Skipped",
            StepStatus::Running => "Running",
            StepStatus::Succeeded => "Succeeded",
            StepStatus::Failed => "Failed",
            StepStatus::Canceled => "Canceled",
            StepStatus::Abandoned => "Abandoned",
        }
    }

    /// Whether the step will not change state again.
    pub fn is_terminal(self) -> bool {
        !matches!(self, StepStatus::Pending | StepStatus::Running)
    }

    /// Whether the step counts as a failure for the steps after it (and for the deployment):
    /// it failed, was cancelled while running, or never ran because the deployment ended. A
    /// failure a person chose to ignore is `Succeeded`.
    pub fn is_failure(self) -> bool {
        matches!(
            self,
            StepStatus::Failed | StepStatus::Canceled | StepStatus::Abandoned
        )
    }
}

/// The state of a deployment as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DeploymentStatus {
    /// Accepted, not started: waiting for its turn (one deployment at a time per project
    /// and environment) or for its first job to be dispatched.
    Queued,
    Running,
    /// Paused until a person acts on a manual intervention or a guided failure. No worker is
    /// held and no job waits in a queue meanwhile.
    WaitingForIntervention,
    Success,
    Failed,
    Canceled,
}

impl DeploymentStatus {
    pub const ALL: [DeploymentStatus; 6] = [
        DeploymentStatus::Queued,
        DeploymentStatus::Running,
        DeploymentStatus::WaitingForIntervention,
        DeploymentStatus::Success,
        DeploymentStatus::Failed,
        DeploymentStatus::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeploymentStatus::Queued => "Queued",
            DeploymentStatus::Running => "Running",
            DeploymentStatus::WaitingForIntervention => "WaitingForIntervention",
            DeploymentStatus::Success => "Success",
            DeploymentStatus::Failed => "Failed",
            DeploymentStatus::Canceled => "Canceled",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            DeploymentStatus::Success | DeploymentStatus::Failed | DeploymentStatus::Canceled
        )
    }
}

/// A status name read back from storage that this version does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status `{0}`")]
pub struct UnknownStatus(pub String);

impl FromStr for StepStatus {
    type Err = UnknownStatus;
    fn from_str(raw: &str) -> Result<Self, UnknownStatus> {
        StepStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or_else(|| UnknownStatus(raw.to_owned()))
    }
}

impl FromStr for DeploymentStatus {
    type Err = UnknownStatus;
    fn from_str(raw: &str) -> Result<Self, UnknownStatus> {
        DeploymentStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or_else(|| UnknownStatus(raw.to_owned()))
    }
}

impl fmt::Display for StepStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for DeploymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_round_trip_through_their_names() {
        for status in StepStatus::ALL {
            assert_eq!(status.as_str().parse::<StepStatus>(), Ok(status));
        }
        for status in DeploymentStatus::ALL {
            assert_eq!(status.as_str().parse::<DeploymentStatus>(), Ok(status));
        }
        assert!("Done".parse::<StepStatus>().is_err());
    }

    /// Messages carry the statuses through serde, storage and pages through `as_str`: both
    /// must spell a status the same way.
    #[test]
    fn serde_spells_every_status_as_its_name() {
        for status in StepStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(status.as_str().into())
            );
        }
        for status in DeploymentStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).ok(),
                Some(status.as_str().into())
            );
        }
    }
}
