//! Deployment targets as the domain sees them: how a target is reached (over SSH, or the
//! worker's own host) and the host key a person pinned for it. Reaching one is the workers'
//! business (`ferry-ssh`); here are only the validated values.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::ValidationError;

/// A host key fingerprint as `ssh-keygen -l` prints it: `SHA256:` and 43 characters of
/// unpadded base64. The only form Ferry pins (MD5 fingerprints are too weak to trust).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostKeyFingerprint(String);

impl HostKeyFingerprint {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let base64 = |c: char| c.is_ascii_alphanumeric() || c == '+' || c == '/';
        match raw.strip_prefix("SHA256:") {
            Some(digest) if digest.len() == 43 && digest.chars().all(base64) => {
                Ok(HostKeyFingerprint(raw.to_owned()))
            }
            _ => Err(ValidationError::new(
                "host_key_fingerprint",
                format!(
                    "`{}` is not a SHA256 host key fingerprint: expected `SHA256:` and 43 base64 \
                     characters, as `ssh-keygen -lf <host public key>` prints",
                    raw.chars().take(80).collect::<String>()
                ),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HostKeyFingerprint {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, ValidationError> {
        HostKeyFingerprint::parse(&raw)
    }
}

impl From<HostKeyFingerprint> for String {
    fn from(value: HostKeyFingerprint) -> String {
        value.0
    }
}

impl fmt::Display for HostKeyFingerprint {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A host name or address to connect to: no spaces, no control characters, no leading `-`
/// (it reaches command lines), at most 253 characters (a DNS name's limit).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostName(String);

impl HostName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_');
        if raw.is_empty() || raw.len() > 253 || raw.starts_with('-') || !raw.chars().all(fine) {
            return Err(ValidationError::new(
                "host",
                "must be a host name or address (letters, digits, `.`, `-`, `:`, `_`; 1 to 253 \
                 characters, not starting with `-`)",
            ));
        }
        Ok(HostName(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for HostName {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, ValidationError> {
        HostName::parse(&raw)
    }
}

impl From<HostName> for String {
    fn from(value: HostName) -> String {
        value.0
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// A login name on a target: what `useradd` accepts (letters, digits, `.`, `-`, `_`, not
/// starting with `-`), at most 32 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LoginName(String);

impl LoginName {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let fine = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        if raw.is_empty() || raw.len() > 32 || raw.starts_with('-') || !raw.chars().all(fine) {
            return Err(ValidationError::new(
                "user",
                "must be a login name (letters, digits, `.`, `-`, `_`; 1 to 32 characters, not \
                 starting with `-`)",
            ));
        }
        Ok(LoginName(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for LoginName {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, ValidationError> {
        LoginName::parse(&raw)
    }
}

impl From<LoginName> for String {
    fn from(value: LoginName) -> String {
        value.0
    }
}

impl fmt::Display for LoginName {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

/// What a target's last health check found, spelled as Octopus spells it. `Unknown` until a
/// check has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum TargetHealthStatus {
    Unknown,
    /// Reached, logged in, and fit to deploy to: a helper for its OS and architecture, room on
    /// its disk.
    Healthy,
    /// Reached but wrong (a changed host key, a refused login, no helper for it, facts that
    /// cannot be read, too little free space): a person must change something.
    Unhealthy,
    /// Not reached (refused, timed out, no worker took the check): it may be back by itself.
    Unavailable,
}

impl TargetHealthStatus {
    pub const ALL: [TargetHealthStatus; 4] = [
        TargetHealthStatus::Unknown,
        TargetHealthStatus::Healthy,
        TargetHealthStatus::Unhealthy,
        TargetHealthStatus::Unavailable,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TargetHealthStatus::Unknown => "Unknown",
            TargetHealthStatus::Healthy => "Healthy",
            TargetHealthStatus::Unhealthy => "Unhealthy",
            TargetHealthStatus::Unavailable => "Unavailable",
        }
    }
}

impl TryFrom<String> for TargetHealthStatus {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, ValidationError> {
        TargetHealthStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == raw)
            .ok_or_else(|| {
                ValidationError::new("status", format!("`{raw}` is not a health status"))
            })
    }
}

impl From<TargetHealthStatus> for String {
    fn from(value: TargetHealthStatus) -> String {
        value.as_str().to_owned()
    }
}

impl fmt::Display for TargetHealthStatus {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fingerprint_is_sha256_and_43_base64_characters() {
        let good = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        assert_eq!(
            HostKeyFingerprint::parse(good).map(|f| f.to_string()),
            Ok(good.to_owned())
        );
        for bad in [
            "",
            "uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
            "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
            "SHA256:short",
            "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s=",
            "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2!",
        ] {
            assert!(HostKeyFingerprint::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn hosts_and_logins_cannot_become_options_or_carry_spaces() {
        for good in ["web-01.example.org", "127.0.0.1", "::1", "fe80::1"] {
            assert!(HostName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "-oProxyCommand=x", "a b", "a;b", "host\n"] {
            assert!(HostName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(LoginName::parse("ferry-target").is_ok());
        for bad in ["", "-l", "root user", "a/b"] {
            assert!(LoginName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
