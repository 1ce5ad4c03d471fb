//! Validated names and versions: every raw string from the outside world is parsed into one
//! of these types at the edge, so inner code never sees an unchecked value.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a raw value was refused. The message names the field and the rule it broke, so it can
/// be returned to the caller as it is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct ValidationError {
    /// The name of the field as the caller spelled it (`name`, `version`, `steps[2].script`).
    pub field: String,
    /// What is wrong with the value, in a sentence fragment.
    pub problem: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            problem: problem.into(),
        }
    }

    /// The same error, reported under a longer field path (`steps[1]` + `name`).
    pub fn within(self, parent: &str) -> Self {
        ValidationError {
            field: format!("{parent}.{}", self.field),
            problem: self.problem,
        }
    }
}

/// Checks the rules every display name shares: not blank, no surrounding whitespace, no
/// control characters, at most `max` characters.
fn check_display_name(field: &str, raw: &str, max: usize) -> Result<(), ValidationError> {
    if raw.trim().is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if raw.trim() != raw {
        return Err(ValidationError::new(
            field,
            "must not start or end with whitespace",
        ));
    }
    if raw.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if raw.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

macro_rules! display_name {
    ($(#[$meta:meta])* $name:ident, $field:literal, $max:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                check_display_name($field, raw, $max)?;
                Ok($name(raw.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(raw: String) -> Result<Self, ValidationError> {
                $name::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

display_name!(
    /// The name of an environment (`Dev`, `Test`, `Prod`); unique case-insensitively.
    EnvironmentName,
    "name",
    100
);
display_name!(
    /// The name of a project (`Random Quotes`); unique case-insensitively.
    ProjectName,
    "name",
    200
);
display_name!(
    /// The name of a step in a project's process; unique within the process.
    StepName,
    "name",
    200
);
display_name!(
    /// The name of a project variable (`Nginx Port`). Compared case-insensitively.
    VariableName,
    "name",
    200
);

display_name!(
    /// The name of a lifecycle (`Dev, Test, and Prod`); unique case-insensitively.
    LifecycleName,
    "name",
    200
);
display_name!(
    /// The name of a phase within a lifecycle; unique within it.
    PhaseName,
    "name",
    200
);
display_name!(
    /// A deployment-target role (`web`), as variables are scoped to it.
    RoleName,
    "role",
    100
);
display_name!(
    /// A deployment target (machine) name, as variables are scoped to it.
    TargetName,
    "target",
    200
);
display_name!(
    /// The team responsible for a manual intervention (`Release Managers`).
    TeamName,
    "responsible_team",
    200
);

/// A package id as CI names it (`RandomQuotes`): letters, digits, `.`, `-` and `_`, starting
/// with a letter or digit. The id is part of file names and object keys, so it is strict.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PackageId(String);

impl PackageId {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let field = "package_id";
        if raw.is_empty() || raw.len() > 100 {
            return Err(ValidationError::new(field, "must be 1 to 100 characters"));
        }
        let first_ok = raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
        let rest_ok = raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        if !first_ok || !rest_ok {
            return Err(ValidationError::new(
                field,
                format!(
                    "`{raw}` is not a valid package id (letters, digits, `.`, `-`, `_`, starting with a letter or digit)"
                ),
            ));
        }
        Ok(PackageId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PackageId {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, ValidationError> {
        PackageId::parse(&raw)
    }
}

impl From<PackageId> for String {
    fn from(value: PackageId) -> String {
        value.0
    }
}

impl fmt::Display for PackageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

macro_rules! semantic_version {
    ($(#[$meta:meta])* $name:ident, $field:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(semver::Version);

        impl $name {
            /// Parses `MAJOR.MINOR.PATCH[-pre][+build]`. A leading `v` is refused so that one
            /// version has one spelling everywhere.
            pub fn parse(raw: &str) -> Result<Self, ValidationError> {
                semver::Version::parse(raw).map($name).map_err(|error| {
                    ValidationError::new(
                        $field,
                        format!("`{raw}` is not a semantic version like 1.0.3 ({error})"),
                    )
                })
            }

            pub fn semver(&self) -> &semver::Version {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(raw: String) -> Result<Self, ValidationError> {
                $name::parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0.to_string()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

semantic_version!(
    /// A package version; semantic versioning decides which one is "latest".
    PackageVersion,
    "version"
);
semantic_version!(
    /// A release number (`0.0.2`), unique per project.
    ReleaseNumber,
    "release_number"
);

/// An email address, checked only for shape: something before and after one `@`, no spaces.
/// Whether it is deliverable is the SMTP server's business.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let field = "notification_email";
        let valid = match raw.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
                    && raw.len() <= 254
            }
            None => false,
        };
        if valid {
            Ok(EmailAddress(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                field,
                format!("`{raw}` is not an email address"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, ValidationError> {
        EmailAddress::parse(&raw)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> String {
        value.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The worker pool a step's jobs are routed to. It becomes part of a RabbitMQ routing key and
/// queue name, so it is lowercase letters, digits and `-` only.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkerPool(String);

impl WorkerPool {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let valid = !raw.is_empty()
            && raw.len() <= 50
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
        if valid {
            Ok(WorkerPool(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                "worker_pool",
                format!("`{raw}` must be 1 to 50 lowercase letters, digits or `-`"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for WorkerPool {
    fn default() -> Self {
        WorkerPool("default".to_owned())
    }
}

impl TryFrom<String> for WorkerPool {
    type Error = ValidationError;
    fn try_from(raw: String) -> Result<Self, ValidationError> {
        WorkerPool::parse(&raw)
    }
}

impl From<WorkerPool> for String {
    fn from(value: WorkerPool) -> String {
        value.0
    }
}

impl fmt::Display for WorkerPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_must_be_semantic() {
        assert!(PackageVersion::parse("1.0.3").is_ok());
        assert!(PackageVersion::parse("1.0.3-beta.1").is_ok());
        let error = PackageVersion::parse("1.0").unwrap_err();
        assert_eq!(error.field, "version");
        assert!(error.problem.contains("`1.0`"), "{error}");
        assert!(PackageVersion::parse("v1.0.0").is_err());
    }

    #[test]
    fn package_ids_are_strict() {
        assert!(PackageId::parse("RandomQuotes").is_ok());
        assert!(PackageId::parse("Random.Quotes-2_x").is_ok());
        assert!(PackageId::parse("../etc").is_err());
        assert!(PackageId::parse("a/b").is_err());
        assert!(PackageId::parse("").is_err());
    }

    #[test]
    fn names_refuse_blank_and_padded_values() {
        assert!(EnvironmentName::parse("Dev").is_ok());
        assert!(EnvironmentName::parse("  ").is_err());
        assert!(EnvironmentName::parse(" Dev").is_err());
        assert!(ProjectName::parse("Random Quotes").is_ok());
    }

    #[test]
    fn email_addresses_need_one_at_and_a_domain() {
        assert!(EmailAddress::parse("team@example.org").is_ok());
        assert!(EmailAddress::parse("team@localhost").is_err());
        assert!(EmailAddress::parse("team").is_err());
        assert!(EmailAddress::parse("a b@example.org").is_err());
    }

    #[test]
    fn newer_versions_sort_after_older_ones() {
        let older = PackageVersion::parse("1.0.9").unwrap();
        let newer = PackageVersion::parse("1.0.10").unwrap();
        assert!(newer > older);
    }
}
