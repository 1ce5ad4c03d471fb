//! What can go wrong reaching a target, each case saying whether trying again can help.

use crate::HostKeyFingerprint;

#[derive(Debug, thiserror::Error)]
pub enum SshError {
    /// The host presented another key than the one pinned: a reinstalled machine or someone
    /// in the middle. Never retried; a person must confirm the new key.
    #[error(
        "the host key of {endpoint} changed: it is now {presented}, but {pinned} is pinned; if the host was rebuilt, confirm the new key (discover it and update the target)"
    )]
    HostKeyChanged {
        endpoint: String,
        pinned: HostKeyFingerprint,
        presented: HostKeyFingerprint,
    },
    /// The host could not be reached or dropped the connection (refused, timed out,
    /// unreachable, reset): it may be back soon.
    #[error("{endpoint} could not be reached: {detail}")]
    Unreachable { endpoint: String, detail: String },
    /// The host refused the login with the target's key.
    #[error("{endpoint} refused the login of user `{user}` with the target's private key")]
    LoginRefused { endpoint: String, user: String },
    /// The target's private key cannot be read.
    #[error("the target's private key cannot be read: {0}")]
    PrivateKey(String),
    /// The SSH conversation broke after the connection was made (a protocol error, a channel
    /// the host would not open): worth another try.
    #[error("{endpoint}: {detail}")]
    Session { endpoint: String, detail: String },
}

impl SshError {
    /// Whether the same attempt can succeed later without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            SshError::Unreachable { .. } | SshError::Session { .. }
        )
    }
}
