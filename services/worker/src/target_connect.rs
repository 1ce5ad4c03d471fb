//! Reaching an SSH target the same way for every job that does (a step's run on a target, a
//! health check): its private key opened from the job (sealed with the variables keyring
//! under the target's id), its endpoint, and the connection's timeouts.

use std::time::Duration;

use ferry_contracts::private_key_context;
use ferry_domain::{HostName, LoginName, TargetId, TargetName};
use ferry_secrets::Keyring;
use ferry_ssh::{ConnectOptions, Endpoint};

/// Opens the sealed private key of target `name`. The error never quotes the key and says it
/// is permanent (another try opens it no better).
pub(crate) fn open_private_key(
    keyring: &Keyring,
    target_id: TargetId,
    name: &TargetName,
    sealed_private_key: &str,
) -> Result<String, String> {
    keyring
        .decrypt(sealed_private_key, &private_key_context(target_id))
        .map_err(|error| {
            format!(
                "the private key of target {name} could not be opened ({error}); does this worker have the API's FERRY_VARIABLES_KEY? (permanent)"
            )
        })
}

/// Where a target listens and whom to log in as.
pub(crate) fn endpoint(host: &HostName, port: u16, user: &LoginName) -> Endpoint {
    Endpoint {
        host: host.as_str().to_owned(),
        port,
        user: user.as_str().to_owned(),
    }
}

/// How long a connection may take (TCP, key exchange and login together).
pub(crate) fn connect_options() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(20),
        ..ConnectOptions::default()
    }
}
