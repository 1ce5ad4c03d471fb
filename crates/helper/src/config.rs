//! What the helper takes from its own environment: the home folder everything lives under,
//! and the few variables a script inherits (`PATH`, `HOME`, `USER`, `LOGNAME`, the locale).
//! The only file of the crate that reads `std::env`.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
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

/// The program's environment, from the `FERRY_LAUNCH_ENV_<n>` variables in order; an error
/// when any other variable is set (the loader may have read it already: the worker's
/// `launch::seal_environment` was not used). Read by `ferry-helper launch` (`launch.rs`).
pub fn launch_environment() -> Result<Vec<(OsString, OsString)>, String> {
    let prefix = ferry_contracts::LAUNCH_ENV_PREFIX;
    let mut numbered = Vec::new();
    for (name, pair) in std::env::vars_os() {
        let index = name
            .to_str()
            .and_then(|name| name.strip_prefix(prefix))
            .and_then(|index| index.parse::<usize>().ok())
            .ok_or_else(|| {
                format!(
                    "{} is set; the program's environment comes only as {prefix}<n>=NAME=value",
                    name.to_string_lossy()
                )
            })?;
        let bytes = pair.as_bytes();
        let split = bytes
            .iter()
            .position(|byte| *byte == b'=')
            .ok_or_else(|| format!("{prefix}{index} is not NAME=value"))?;
        numbered.push((
            index,
            (
                OsString::from_vec(bytes[..split].to_vec()),
                OsString::from_vec(bytes[split + 1..].to_vec()),
            ),
        ));
    }
    numbered.sort_by_key(|(index, _)| *index);
    Ok(numbered.into_iter().map(|(_, pair)| pair).collect())
}
