//! One SSH connection to one target, with the host key checked against the pinned
//! fingerprint during the key exchange (before any credential is sent), public-key login,
//! and commands whose output arrives as it is produced.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg};
use russh::{ChannelMsg, Disconnect};

use crate::{HostKeyFingerprint, SshError};

/// Where a target listens and whom to log in as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}@{}:{}", self.user, self.host, self.port)
    }
}

/// How long to wait, and how much to send before waiting for the other side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectOptions {
    /// The TCP connection, the key exchange and the login together.
    pub connect_timeout: Duration,
    /// A connection silent this long (no output, no keepalive answer) is dropped.
    pub keepalive_interval: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            connect_timeout: Duration::from_secs(20),
            keepalive_interval: Duration::from_secs(15),
        }
    }
}

/// A command's output as it arrives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output<'a> {
    Stdout(&'a [u8]),
    Stderr(&'a [u8]),
}

/// Accepts exactly the pinned key, and remembers what the host presented (so a refusal can
/// say what the key is now, and discovery can report it).
pub(crate) struct PinnedHostKey {
    pinned: Option<HostKeyFingerprint>,
    presented: Arc<Mutex<Option<HostKeyFingerprint>>>,
    /// The presented key's algorithm (`ssh-ed25519`), for discovery to report.
    presented_type: Arc<Mutex<Option<String>>>,
}

impl client::Handler for PinnedHostKey {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &russh::keys::PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        // A certificate is judged by the key it certifies: Ferry pins keys, not authorities.
        let public_key = key.public_key();
        let presented = fingerprint_of(&public_key);
        let accepted = presented.is_some() && self.pinned == presented;
        if let Ok(mut seen) = self.presented.lock() {
            *seen = presented;
        }
        if let Ok(mut seen) = self.presented_type.lock() {
            *seen = Some(public_key.algorithm().as_str().to_owned());
        }
        Ok(accepted)
    }
}

/// The fingerprint of a key a server presented, in the form people pin (`None` only if the
/// SSH library ever printed another form: such a key matches no pin).
fn fingerprint_of(key: &russh::keys::PublicKey) -> Option<HostKeyFingerprint> {
    let text = key.fingerprint(russh::keys::HashAlg::Sha256).to_string();
    HostKeyFingerprint::parse(&text).ok()
}

fn config(options: &ConnectOptions) -> Arc<client::Config> {
    Arc::new(client::Config {
        // Larger windows and packets than russh's defaults: with 2 MiB and 32 KiB a transfer
        // waits on window updates most of the time.
        window_size: 8 * 1024 * 1024,
        // The largest russh accepts (one TCP packet's worth); 64 KiB made it log an error.
        maximum_packet_size: 65_535,
        keepalive_interval: Some(options.keepalive_interval),
        keepalive_max: 3,
        // Without it, small writes wait for delayed acknowledgements (tens of milliseconds
        // per command).
        nodelay: true,
        ..client::Config::default()
    })
}

/// Opens the TCP connection and runs the key exchange with `handler` judging the host key.
async fn open(
    endpoint: &Endpoint,
    options: &ConnectOptions,
    handler: PinnedHostKey,
) -> Result<Handle<PinnedHostKey>, russh::Error> {
    let address = (endpoint.host.as_str(), endpoint.port);
    client::connect(config(options), address, handler).await
}

/// What a host presents as its key, for a person to compare with the host's own
/// `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` before pinning it. No credential is
/// sent: the key exchange is ended as soon as the key is seen.
pub async fn discover(
    host: &str,
    port: u16,
    options: &ConnectOptions,
) -> Result<HostKeyFingerprint, SshError> {
    discover_key(host, port, options)
        .await
        .map(|key| key.fingerprint)
}

/// The key a host presented: its fingerprint and its algorithm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoveredKey {
    pub fingerprint: HostKeyFingerprint,
    /// As SSH names it: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`.
    pub key_type: String,
}

/// [`discover`], with the key's algorithm.
pub async fn discover_key(
    host: &str,
    port: u16,
    options: &ConnectOptions,
) -> Result<DiscoveredKey, SshError> {
    let endpoint = Endpoint {
        host: host.to_owned(),
        port,
        user: String::new(),
    };
    let shown = format!("{host}:{port}");
    let presented = Arc::new(Mutex::new(None));
    let presented_type = Arc::new(Mutex::new(None));
    let handler = PinnedHostKey {
        pinned: None,
        presented: presented.clone(),
        presented_type: presented_type.clone(),
    };
    let outcome =
        tokio::time::timeout(options.connect_timeout, open(&endpoint, options, handler)).await;
    let seen = presented.lock().ok().and_then(|mut seen| seen.take());
    let key_type = presented_type
        .lock()
        .ok()
        .and_then(|mut seen| seen.take())
        .unwrap_or_default();
    match (seen, outcome) {
        (Some(fingerprint), _) => Ok(DiscoveredKey {
            fingerprint,
            key_type,
        }),
        (None, Err(_elapsed)) => Err(SshError::Unreachable {
            endpoint: shown,
            detail: format!("no answer within {:?}", options.connect_timeout),
        }),
        (None, Ok(result)) => Err(SshError::Unreachable {
            endpoint: shown,
            detail: match result {
                Ok(_) => "the host showed no key".to_owned(),
                Err(error) => error.to_string(),
            },
        }),
    }
}

/// A logged-in connection to a target.
pub struct Connection {
    endpoint: Endpoint,
    pub(crate) handle: Handle<PinnedHostKey>,
}

impl Connection {
    /// Connects, accepting only the host key `pinned` names, and logs in with `private_key`
    /// (OpenSSH's text form).
    pub async fn open(
        endpoint: &Endpoint,
        pinned: &HostKeyFingerprint,
        private_key: &str,
        options: &ConnectOptions,
    ) -> Result<Connection, SshError> {
        let key = PrivateKey::from_openssh(private_key)
            .map_err(|error| SshError::PrivateKey(error.to_string()))?;
        let presented = Arc::new(Mutex::new(None));
        let handler = PinnedHostKey {
            pinned: Some(pinned.clone()),
            presented: presented.clone(),
            presented_type: Arc::new(Mutex::new(None)),
        };
        let login = async {
            let opened = open(endpoint, options, handler).await;
            let mut handle = match opened {
                Ok(handle) => handle,
                Err(error) => {
                    let seen = presented.lock().ok().and_then(|mut seen| seen.take());
                    return Err(match seen {
                        Some(presented) if &presented != pinned => SshError::HostKeyChanged {
                            endpoint: endpoint.to_string(),
                            pinned: pinned.clone(),
                            presented,
                        },
                        _ => unreachable_error(endpoint, &error),
                    });
                }
            };
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .map_err(|error| session_error(endpoint, &error))?
                .flatten();
            let answer = handle
                .authenticate_publickey(
                    endpoint.user.clone(),
                    PrivateKeyWithHashAlg::new(Arc::new(key), hash),
                )
                .await
                .map_err(|error| session_error(endpoint, &error))?;
            if !answer.success() {
                return Err(SshError::LoginRefused {
                    endpoint: endpoint.to_string(),
                    user: endpoint.user.clone(),
                });
            }
            Ok(handle)
        };
        let handle = tokio::time::timeout(options.connect_timeout, login)
            .await
            .map_err(|_| SshError::Unreachable {
                endpoint: endpoint.to_string(),
                detail: format!("no login within {:?}", options.connect_timeout),
            })??;
        Ok(Connection {
            endpoint: endpoint.clone(),
            handle,
        })
    }

    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Runs `command` (a line for the login shell), sends `stdin` and closes it, and hands
    /// every piece of output to `output` as it arrives. Returns the exit status; a command
    /// killed by a signal counts as 128 + the signal's number, as bash reports it.
    pub async fn run(
        &self,
        command: &str,
        stdin: &[u8],
        mut output: impl FnMut(Output<'_>),
    ) -> Result<u32, SshError> {
        let mut channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|error| session_error(&self.endpoint, &error))?;
        channel
            .exec(true, command)
            .await
            .map_err(|error| session_error(&self.endpoint, &error))?;
        if !stdin.is_empty() {
            channel
                .data(stdin)
                .await
                .map_err(|error| session_error(&self.endpoint, &error))?;
        }
        channel
            .eof()
            .await
            .map_err(|error| session_error(&self.endpoint, &error))?;
        let mut status = None;
        while let Some(message) = channel.wait().await {
            match message {
                ChannelMsg::Data { ref data } => output(Output::Stdout(data)),
                ChannelMsg::ExtendedData { ref data, ext: 1 } => output(Output::Stderr(data)),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    status = Some(128 + signal_number(&signal_name));
                }
                _ => {}
            }
        }
        status.ok_or_else(|| SshError::Session {
            endpoint: self.endpoint.to_string(),
            detail: "the connection ended before the command reported how it exited".to_owned(),
        })
    }

    /// Ends the connection politely.
    pub async fn close(self) {
        let _ = self
            .handle
            .disconnect(Disconnect::ByApplication, "", "en")
            .await;
    }
}

pub(crate) fn unreachable_error(endpoint: &Endpoint, error: &russh::Error) -> SshError {
    SshError::Unreachable {
        endpoint: endpoint.to_string(),
        detail: error.to_string(),
    }
}

pub(crate) fn session_error(endpoint: &Endpoint, error: &russh::Error) -> SshError {
    SshError::Session {
        endpoint: endpoint.to_string(),
        detail: error.to_string(),
    }
}

/// The number of a signal as SSH names it (RFC 4254 §6.10), for the exit status.
pub(crate) fn signal_number(signal: &russh::Sig) -> u32 {
    match signal {
        russh::Sig::HUP => 1,
        russh::Sig::INT => 2,
        russh::Sig::QUIT => 3,
        russh::Sig::ILL => 4,
        russh::Sig::ABRT => 6,
        russh::Sig::FPE => 8,
        russh::Sig::KILL => 9,
        russh::Sig::SEGV => 11,
        russh::Sig::PIPE => 13,
        russh::Sig::ALRM => 14,
        russh::Sig::TERM => 15,
        russh::Sig::USR1 => 10,
        russh::Sig::Custom(_) => 0,
    }
}
