//! Health checks and discoveries: jobs the API sends to a worker of a target's pool (the API
//! never touches hosts), and the results the worker sends back through its pool's events
//! exchange. Both are told apart from step jobs and step events by the AMQP `type` property
//! (`MessageKind::TargetCheck`, `MessageKind::TargetCheckResult`).

use ferry_domain::{HostKeyFingerprint, HostName, TargetCheckId, TargetHealthStatus, TargetName};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::TargetReach;

/// "Check this target" or "discover this host's key": sent by the API to a worker pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCheckJob {
    /// The check's id; equal to the AMQP message id. The result names it.
    pub check_id: TargetCheckId,
    pub check: TargetCheck,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetCheck {
    /// Connect with the pinned key, read the target's facts, and judge whether this worker
    /// can deploy to it.
    Health {
        target_id: ferry_domain::TargetId,
        name: TargetName,
        reach: TargetReach,
    },
    /// Report the key `host:port` presents, sending no credential.
    Discovery { host: HostName, port: u16 },
}

/// What a target's shell reported about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetFacts {
    /// `uname -s`.
    pub os: String,
    /// `uname -m`.
    pub architecture: String,
    /// `id -un`: whom the target's login runs as.
    pub user: String,
    /// Free bytes in the file system of the login's home.
    pub free_bytes: u64,
}

/// A worker's answer to a [`TargetCheckJob`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetCheckResult {
    /// Unique per result; equal to the AMQP message id (a redelivery changes nothing).
    pub event_id: Uuid,
    pub check_id: TargetCheckId,
    /// The worker that ran the check.
    pub worker: String,
    pub outcome: TargetCheckOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetCheckOutcome {
    /// A health check's verdict. `facts` are there whenever the target answered them, also
    /// when it is unhealthy (say, no helper for its architecture).
    Health {
        status: TargetHealthStatus,
        reason: Option<String>,
        facts: Option<TargetFacts>,
    },
    /// The key the host presented, for a person to compare and pin.
    Discovered {
        host_key_fingerprint: HostKeyFingerprint,
        /// The key's algorithm as SSH names it (`ssh-ed25519`, `rsa-sha2-512`, …).
        key_type: String,
    },
    /// The host could not be asked (refused, timed out, no SSH server).
    DiscoveryFailed { reason: String },
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_health_result_is_plain_json_with_its_status_by_name() {
        let result = TargetCheckResult {
            event_id: Uuid::nil(),
            check_id: Uuid::nil().into(),
            worker: "worker-1".into(),
            outcome: TargetCheckOutcome::Health {
                status: TargetHealthStatus::Unhealthy,
                reason: Some("no helper for Darwin arm64".into()),
                facts: Some(TargetFacts {
                    os: "Darwin".into(),
                    architecture: "arm64".into(),
                    user: "deploy".into(),
                    free_bytes: 1024,
                }),
            },
        };
        let written = serde_json::to_value(&result).unwrap();
        assert_eq!(written["outcome"]["kind"], "health");
        assert_eq!(written["outcome"]["status"], "Unhealthy");
        assert_eq!(written["outcome"]["facts"]["free_bytes"], 1024);
        let read: TargetCheckResult = serde_json::from_value(written).unwrap();
        assert_eq!(read, result);
    }
}
