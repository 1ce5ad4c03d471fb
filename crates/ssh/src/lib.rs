//! Reaching a target over SSH: connections that accept only the host key the target pinned,
//! commands run with their output streamed back, and discovery of a host's key for a person to
//! confirm. Nothing here ever trusts a key it was not told to trust.
//!
//! Failures say whether to try again ([`SshError::is_retryable`]): a host that refuses or
//! drops the connection may be back in a moment; a changed host key or a refused login will
//! not change by itself.

mod client;
mod error;
mod facts;
mod stream;

pub use client::{
    ConnectOptions, Connection, DiscoveredKey, Endpoint, Output, discover, discover_key,
};
pub use error::SshError;
pub use facts::{TargetFacts, facts};
pub use ferry_domain::HostKeyFingerprint;
pub use stream::Streamed;
