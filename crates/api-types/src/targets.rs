//! `/api/targets`: deployment targets (machines) with their environments, roles and worker
//! pool, reached over SSH or on the worker's own host. A target's private key is write-only:
//! it goes in with a request and never comes out.

use ferry_domain::{
    EnvironmentName, HostKeyFingerprint, HostName, LoginName, RoleName, TargetCheckId,
    TargetHealthStatus, TargetName, WorkerPool,
};
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// How a target is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// Over SSH, accepting only the pinned host key.
    Ssh,
    /// The worker's own host (single-box setups).
    Local,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Ssh => "ssh",
            TargetKind::Local => "local",
        }
    }
}

/// The body of `POST /api/targets` and `PUT /api/targets/{target}`. The SSH fields are
/// required for an `ssh` target (`port` defaults to 22) and refused for a `local` one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    pub name: String,
    /// Environment names or ids.
    pub environments: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
    /// The pool whose workers reach this target (default `default`).
    #[serde(default)]
    pub worker_pool: Option<String>,
    pub kind: TargetKind,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub user: Option<String>,
    /// OpenSSH's text form of the private key. Required when an SSH target is created; left
    /// out of an update, the stored key stays. Never shown again.
    #[serde(default)]
    pub private_key: Option<String>,
    /// `SHA256:…` as `ssh-keygen -lf` prints it.
    #[serde(default)]
    pub host_key_fingerprint: Option<String>,
    /// Where applications are installed (`<root>/<Environment>/<PackageId>/<Version>`);
    /// relative to the login's home unless absolute. Default `.ferry/Applications`.
    #[serde(default)]
    pub applications_root: Option<String>,
    /// The target's NGINX: the folder site files go to (default `/etc/nginx/conf.d`) and the
    /// commands that validate (default `nginx -t`) and reload (default `nginx -s reload`),
    /// run with `bash -c` as the login.
    #[serde(default)]
    pub nginx_config_folder: Option<String>,
    #[serde(default)]
    pub nginx_validate_command: Option<String>,
    #[serde(default)]
    pub nginx_reload_command: Option<String>,
}

/// What the last health check found, and the check asked for that has not answered yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealthView {
    /// `Unknown` until a health check answered, then `Healthy`, `Unhealthy` or `Unavailable`.
    pub status: TargetHealthStatus,
    /// Why it is not healthy (`null` when it is).
    pub reason: Option<String>,
    pub checked_at: Option<Timestamp>,
    /// The check whose result this is.
    pub check_id: Option<TargetCheckId>,
    /// The newest check asked for that no worker has answered yet (`null` when none).
    pub pending_check_id: Option<TargetCheckId>,
    /// What the target reported (`null` when the check did not reach it): `uname -s`,
    /// `uname -m`, the login's user, and the free bytes in its home's file system.
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub user: Option<String>,
    pub free_bytes: Option<u64>,
}

/// One target. The SSH fields are `null` for a `local` target; the private key is never
/// shown (`has_private_key` says one is stored).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetView {
    pub target_id: ferry_domain::TargetId,
    pub name: TargetName,
    pub environments: Vec<EnvironmentName>,
    pub roles: Vec<RoleName>,
    pub worker_pool: WorkerPool,
    pub kind: TargetKind,
    pub host: Option<HostName>,
    pub port: Option<u16>,
    pub user: Option<LoginName>,
    pub host_key_fingerprint: Option<HostKeyFingerprint>,
    pub has_private_key: bool,
    pub applications_root: Option<String>,
    pub nginx_config_folder: Option<String>,
    pub nginx_validate_command: Option<String>,
    pub nginx_reload_command: Option<String>,
    pub health: TargetHealthView,
}

/// `GET /api/targets`, by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetList {
    pub targets: Vec<TargetView>,
    /// The cursor of the next page (pass it as `?after=`); `null` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}
