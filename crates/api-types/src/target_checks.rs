//! `/api/targets/{target}/health` and `/api/targets/discover…`: health checks and
//! discoveries are jobs for a worker of the target's pool (the API never touches hosts), so
//! asking for one answers 202 with its id, and the result is read afterwards: a health check
//! on its target (`TargetView::health`), a discovery at `/api/targets/discoveries/{id}`.

use ferry_domain::{HostKeyFingerprint, HostName, TargetCheckId, TargetName, WorkerPool};
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// The answer to `POST /api/targets/{target}/health`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckRequested {
    /// The target shows it as `health.pending_check_id` until a worker answers, then as
    /// `health.check_id`.
    pub check_id: TargetCheckId,
    pub target: TargetName,
    /// The pool whose workers run it.
    pub worker_pool: WorkerPool,
}

/// The body of `POST /api/targets/discover`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryRequest {
    pub host: String,
    /// Default 22.
    #[serde(default)]
    pub port: Option<u16>,
    /// The pool whose workers can reach the host (default `default`).
    #[serde(default)]
    pub worker_pool: Option<String>,
}

/// Where a discovery is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DiscoveryStatus {
    /// No worker has answered yet.
    Pending,
    /// The host presented a key: `host_key_fingerprint` and `key_type` say which.
    Found,
    /// The host could not be asked (or no worker of the pool took the job): `reason` says why.
    Failed,
}

/// A discovery: `POST /api/targets/discover` (202) and `GET /api/targets/discoveries/{id}`.
/// Nothing is pinned by it: a person compares the fingerprint with the host's own
/// `ssh-keygen -lf` and registers the target with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiscoveryView {
    pub discovery_id: TargetCheckId,
    pub host: HostName,
    pub port: u16,
    pub worker_pool: WorkerPool,
    pub status: DiscoveryStatus,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub host_key_fingerprint: Option<HostKeyFingerprint>,
    /// The key's algorithm as SSH names it (`ssh-ed25519`).
    pub key_type: Option<String>,
    pub reason: Option<String>,
    pub requested_at: Timestamp,
    pub finished_at: Option<Timestamp>,
}
