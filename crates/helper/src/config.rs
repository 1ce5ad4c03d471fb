//! What the helper takes from its own environment: the home folder everything lives under,
//! and the few variables a script inherits (`PATH`, `HOME`, `USER`, `LOGNAME`, the locale).
//! The only file of the crate that reads `std::env`.

use std::path::PathBuf;

/// Variables passed from the helper's environment to every script, besides `LC_*`.
pub const INHERITED: &[&str] = &["PATH", "HOME", "USER", "LOGNAME", "LANG"];

#[derive(Debug, Clone)]
pub struct Config {
    /// The account's home: `~/.ferry` (packages, locks, work folders) and a relative
    /// applications root live under it.
    pub home: PathBuf,
    /// The variables of [`INHERITED`] and every `LC_*` that are set, with their values; a
    /// script starts with these and the step's variables only.
    pub inherited_environment: Vec<(String, String)>,
}

impl Config {
    /// Reads `HOME` and the inherited variables. `HOME` must be set and absolute: everything
    /// the helper keeps is under it.
    pub fn from_environment() -> Result<Self, String> {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .ok_or_else(|| "HOME is not set: the helper keeps its files under it".to_owned())?;
        if !home.is_absolute() {
            return Err(format!("HOME ({}) is not an absolute path", home.display()));
        }
        let inherited_environment = std::env::vars_os()
            .filter_map(|(name, value)| Some((name.into_string().ok()?, value.into_string().ok()?)))
            .filter(|(name, _)| INHERITED.contains(&name.as_str()) || name.starts_with("LC_"))
            .collect();
        Ok(Config {
            home,
            inherited_environment,
        })
    }
}
