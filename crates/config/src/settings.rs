//! Where settings come from ([`Settings`]: the process environment or a lookup function) and
//! the readers every service uses: optional, with a default, parsed, required.

use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
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

    /// The process environment, then the file named by `FERRY_CONFIG_FILE` when it is set:
    /// a variable set in the environment wins over the same one in the file. The file holds
    /// `NAME=value` lines (no quoting, no expansion; blank lines and `#` comments are
    /// skipped) and must be readable by its owner alone, so that a service's secrets can live
    /// where no other user, a step script among them, can read them.
    pub fn from_environment_and_file() -> Result<Self, ConfigError> {
        let Some(path) = variable(CONFIG_FILE) else {
            return Ok(Settings::from_environment());
        };
        let file = read_config_file(Path::new(&path))?;
        Ok(Settings::from_lookup(move |name| {
            std::env::var(name).ok().or_else(|| file.get(name).cloned())
        }))
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

/// The variable naming a service's configuration file.
pub const CONFIG_FILE: &str = "FERRY_CONFIG_FILE";

/// The `NAME=value` pairs of a configuration file that only its owner can read.
fn read_config_file(path: &Path) -> Result<std::collections::HashMap<String, String>, ConfigError> {
    let refused = |reason: String| ConfigError::Refused {
        name: CONFIG_FILE.to_owned(),
        reason,
    };
    let metadata = std::fs::metadata(path)
        .map_err(|error| refused(format!("cannot read {}: {error}", path.display())))?;
    let owner = std::os::unix::fs::MetadataExt::uid(&metadata);
    let me = std::fs::metadata("/proc/self")
        .map(|me| std::os::unix::fs::MetadataExt::uid(&me))
        .ok();
    if me.is_some_and(|me| me != owner) {
        return Err(refused(format!(
            "{} belongs to another user (uid {owner}); it must be this service's own",
            path.display()
        )));
    }
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(refused(format!(
            "{} may be read or changed by other users (mode {mode:04o}); it holds secrets, so \
             make it readable by its owner alone: chmod 600 {}",
            path.display(),
            path.display()
        )));
    }
    let contents = std::fs::read_to_string(path)
        .map_err(|error| refused(format!("cannot read {}: {error}", path.display())))?;
    parse_config_file(&contents).map_err(|line| {
        refused(format!(
            "{} line {line} is not `NAME=value` (the value is not shown)",
            path.display()
        ))
    })
}

/// The pairs of a configuration file's text, or the number of the first line that is not
/// `NAME=value`, a blank line or a `#` comment.
fn parse_config_file(contents: &str) -> Result<std::collections::HashMap<String, String>, usize> {
    let mut pairs = std::collections::HashMap::new();
    for (index, line) in contents.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let (name, value) = trimmed.split_once('=').ok_or(index + 1)?;
        let name = name.trim();
        let is_name =
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !is_name {
            return Err(index + 1);
        }
        pairs.insert(name.to_owned(), value.to_owned());
    }
    Ok(pairs)
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

    #[test]
    fn a_config_file_holds_name_value_lines() {
        let pairs = parse_config_file(
            "# Ferry worker\n\nFERRY_AMQP_URL=amqp://u:p@h/%2f\n  FERRY_EMPTY=\nFERRY_KEY=a=b \n",
        )
        .unwrap();
        assert_eq!(pairs["FERRY_AMQP_URL"], "amqp://u:p@h/%2f");
        assert_eq!(pairs["FERRY_EMPTY"], "");
        assert_eq!(pairs["FERRY_KEY"], "a=b ", "the value is taken as it is");
        assert_eq!(parse_config_file("FERRY_A=1\nexport FERRY_B=2\n"), Err(2));
        assert_eq!(parse_config_file("no equals sign"), Err(1));
    }

    #[test]
    fn a_config_file_others_can_read_is_refused() {
        let folder = std::env::temp_dir().join(format!("ferry-config-{}", std::process::id()));
        std::fs::create_dir_all(&folder).unwrap();
        let path = folder.join("worker.env");
        std::fs::write(&path, "FERRY_VARIABLES_KEY=secret-value\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let error = read_config_file(&path).unwrap_err().to_string();
        assert!(
            error.contains("mode 0640") && error.contains("chmod 600"),
            "{error}"
        );
        assert!(!error.contains("secret-value"));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            read_config_file(&path).unwrap()["FERRY_VARIABLES_KEY"],
            "secret-value"
        );
        std::fs::write(&path, "FERRY_VARIABLES_KEY secret-value\n").unwrap();
        let error = read_config_file(&path).unwrap_err().to_string();
        assert!(
            error.contains("line 1") && !error.contains("secret-value"),
            "{error}"
        );
        std::fs::remove_dir_all(&folder).unwrap();
    }

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
