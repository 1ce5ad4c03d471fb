//! Where settings come from ([`Settings`]: the process environment or a lookup function) and
//! the readers every service uses: optional, with a default, parsed, required.

use std::fmt;
use std::str::FromStr;

use crate::SecretUrl;

/// A setting that is missing or unusable. Each message names the variable, so an operator
/// knows what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is not set (or set to the empty string).
    #[error("{name} is not set: {how_to_set}")]
    Missing { name: String, how_to_set: String },
    /// A variable's value does not parse. The value is shown: never use this for secrets.
    #[error("{name}=`{value}` is not valid: {reason}")]
    Invalid {
        name: String,
        value: String,
        reason: String,
    },
    /// A secret's value is unusable. The value is not shown.
    #[error("{name}: {reason}")]
    Refused { name: String, reason: String },
}

/// The source of a service's settings: a function from a variable's name to its value.
///
/// In production it is the process environment ([`Settings::from_environment`]); tests give
/// their own values ([`Settings::from_pairs`], [`Settings::from_lookup`]) and never set
/// process environment variables, which other tests in the same process would see.
pub struct Settings {
    lookup: Box<Lookup>,
}

/// A variable's value by its name; `None` when it is not set.
type Lookup = dyn Fn(&str) -> Option<String>;

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The values may be secrets.
        f.write_str("Settings(..)")
    }
}

impl Settings {
    /// The process environment. A variable whose value is not valid Unicode counts as unset.
    pub fn from_environment() -> Self {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// Settings from any lookup function (`None`: not set).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        Settings {
            lookup: Box::new(lookup),
        }
    }

    /// Settings from name/value pairs; anything else is unset.
    pub fn from_pairs<N, V>(pairs: impl IntoIterator<Item = (N, V)>) -> Self
    where
        N: Into<String>,
        V: Into<String>,
    {
        let values: std::collections::HashMap<String, String> = pairs
            .into_iter()
            .map(|(name, value)| (name.into(), value.into()))
            .collect();
        Settings::from_lookup(move |name| values.get(name).cloned())
    }

    /// A variable exactly as set, the empty string included: for values that are passed on
    /// as they are (the worker's `PATH`), not for Ferry's own settings.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
    }

    /// A variable's value; empty counts as unset (so `FERRY_X=` restores the default).
    pub fn variable(&self, name: &str) -> Option<String> {
        self.raw(name).filter(|value| !value.is_empty())
    }

    /// A variable's value, or `default` when it is unset.
    pub fn variable_or(&self, name: &str, default: &str) -> String {
        self.variable(name).unwrap_or_else(|| default.to_owned())
    }

    /// A variable parsed as `T`, or `default` when it is unset. The error names the variable
    /// and the value it has, so do not use this for secrets.
    pub fn parsed<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        match self.variable(name) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|error: T::Err| ConfigError::Invalid {
                name: name.to_owned(),
                reason: error.to_string(),
                value,
            }),
        }
    }

    /// A variable that has no default. `how_to_set` completes the sentence "`NAME` is not
    /// set: …" and should say what to put there.
    pub fn required(&self, name: &str, how_to_set: &str) -> Result<String, ConfigError> {
        self.variable(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
            how_to_set: how_to_set.to_owned(),
        })
    }

    /// A URL that may carry a password (database, AMQP, SMTP), or `default` when unset.
    pub fn secret_url(&self, name: &str, default: &str) -> SecretUrl {
        SecretUrl::new(self.variable_or(name, default))
    }
}

/// One variable of the process environment; empty counts as unset. For code that reads a
/// single variable outside a service's `Config` (the test harness); services read through
/// [`Settings`].
pub fn variable(name: &str) -> Option<String> {
    Settings::from_environment().variable(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings::from_pairs([
            ("FERRY_PORT", "80x"),
            ("FERRY_EMPTY", ""),
            ("FERRY_NAME", "ferry"),
        ])
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        assert_eq!(settings().variable("FERRY_EMPTY"), None);
        assert_eq!(settings().variable_or("FERRY_EMPTY", "default"), "default");
        assert_eq!(settings().variable("FERRY_NAME").as_deref(), Some("ferry"));
    }

    #[test]
    fn raw_keeps_an_empty_value() {
        assert_eq!(settings().raw("FERRY_EMPTY").as_deref(), Some(""));
        assert_eq!(settings().raw("FERRY_UNSET"), None);
    }

    #[test]
    fn a_bad_value_fails_naming_the_variable_and_the_value() {
        let error = settings().parsed::<u16>("FERRY_PORT", 80).unwrap_err();
        assert_eq!(
            error.to_string(),
            "FERRY_PORT=`80x` is not valid: invalid digit found in string"
        );
    }

    #[test]
    fn an_unset_parsed_variable_takes_its_default() {
        assert_eq!(settings().parsed::<u16>("FERRY_UNSET", 80), Ok(80));
        assert_eq!(settings().parsed::<u16>("FERRY_EMPTY", 80), Ok(80));
    }

    #[test]
    fn a_missing_required_variable_says_how_to_set_it() {
        let error = settings()
            .required("FERRY_API_KEY", "choose a long random key")
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "FERRY_API_KEY is not set: choose a long random key"
        );
        assert_eq!(
            settings().required("FERRY_NAME", "unused").as_deref(),
            Ok("ferry")
        );
    }

    #[test]
    fn settings_never_print_their_values() {
        assert_eq!(format!("{:?}", settings()), "Settings(..)");
    }
}
