//! The worker's configuration: defaults for the local dev stack, overridable by `FERRY_…`
//! environment variables read through `ferry-config`, plus the few variables of its own
//! environment the worker hands on to scripts. The environment is read here and nowhere else
//! in the worker. Note what is absent: a worker has no database settings at all.

use std::path::PathBuf;

use anyhow::{anyhow, bail};
use ferry_config::{SecretUrl, Settings, StoreConfig};
use ferry_secrets::Keyring;

/// Environment variables passed through from the worker's own environment to every script.
/// Nothing else is: the worker's settings (object-store keys among them) never reach a
/// script, and a project variable may not replace these.
pub const INHERITED: &[&str] = &[
    "PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "TMPDIR", "TZ",
];

#[derive(Debug, Clone)]
pub struct Config {
    /// RabbitMQ (`FERRY_AMQP_URL`); its password never prints.
    pub amqp_url: SecretUrl,
    /// Prefix of every exchange and queue name (`FERRY_QUEUE_PREFIX`).
    pub queue_prefix: String,
    /// The pool whose step jobs this worker takes (`FERRY_WORKER_POOL`, default `default`).
    pub worker_pool: String,
    /// Where packages are fetched from (`FERRY_S3_*`).
    pub store: StoreConfig,
    /// Where packages are cached and extracted (`FERRY_WORK_ROOT`).
    pub work_root: PathBuf,
    /// How many steps this worker runs at once (`FERRY_WORKER_CONCURRENCY`).
    pub concurrency: u16,
    /// Name shown in logs and RabbitMQ (`FERRY_WORKER_NAME`, default the host name); also
    /// the `Octopus.Machine.Name` scripts see.
    pub worker_name: String,
    /// The budget of one template render (`FERRY_TEMPLATE_MAX_OUTPUT_BYTES`,
    /// `FERRY_TEMPLATE_MAX_STEPS`).
    pub template_limits: ferry_templates::Limits,
    /// What a package may expand to (`FERRY_PACKAGE_MAX_*`, as the API checks at upload).
    pub unpack_limits: ferry_packages::UnpackLimits,
    /// How much of one step's output is kept (`FERRY_STEP_LOG_MAX_LINES`,
    /// `FERRY_STEP_LOG_MAX_BYTES`); the rest is counted.
    pub log_budget: crate::LogBudget,
    /// How long a kept step folder (one with a package, or of a failed step) stays
    /// (`FERRY_WORK_FOLDER_KEEP_SECONDS`, default a week).
    pub keep_work_folders: std::time::Duration,
    /// How long a stopping worker (SIGTERM) lets its running steps finish before it stops
    /// them (`FERRY_SHUTDOWN_GRACE_SECONDS`, default 60): a supervisor's stop timeout must be
    /// longer.
    pub shutdown_grace: std::time::Duration,
    /// The most the package cache may hold (`FERRY_PACKAGE_CACHE_MAX_BYTES`, default 4 GiB).
    pub package_cache_max_bytes: u64,
    /// A health check finds a target with less free space in its login's home Unhealthy
    /// (`FERRY_HEALTH_MIN_FREE_BYTES`, default 500 MiB, Calamari's free-space check).
    pub health_min_free_bytes: u64,
    /// The unprivileged account scripts run as (`FERRY_SCRIPT_USER`, default `ferry-script`):
    /// never root, never the worker's own user.
    pub script_user: String,
    /// Decrypts the sensitive variables in step jobs (`FERRY_VARIABLES_KEY`, the API's key).
    pub variables_key: Keyring,
    /// The `ferry-helper` this worker brings to targets (built for its own OS and
    /// architecture): `FERRY_HELPER_PATH`, by default beside the worker's own program.
    pub helper_path: PathBuf,
    /// The variables of [`INHERITED`] that are set in the worker's environment, with their
    /// values: every script starts with these and the step's variables only. Read once here
    /// so that the environment is read in configuration code alone (and a test can give a
    /// worker any environment without changing the process's).
    pub inherited_environment: Vec<(String, String)>,
}

/// The names a worker's RabbitMQ user is given rights to: the queue prefix and the pool
/// (`FERRY_QUEUE_PREFIX`, `FERRY_WORKER_POOL`), for `ferry-worker permissions`.
pub fn broker_names_from_env() -> anyhow::Result<(String, String)> {
    let settings = Settings::from_environment_and_file()?;
    let pool = settings.variable_or("FERRY_WORKER_POOL", "default");
    ferry_domain::WorkerPool::parse(&pool)
        .map_err(|error| anyhow!("FERRY_WORKER_POOL: {error}"))?;
    Ok((settings.variable_or("FERRY_QUEUE_PREFIX", "ferry"), pool))
}

impl Config {
    /// The configuration from the process environment and `FERRY_CONFIG_FILE`.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(&Settings::from_environment_and_file()?)
    }

    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let worker_pool = settings.variable_or("FERRY_WORKER_POOL", "default");
        ferry_domain::WorkerPool::parse(&worker_pool)
            .map_err(|error| anyhow!("FERRY_WORKER_POOL: {error}"))?;
        let worker_name = settings
            .variable("FERRY_WORKER_NAME")
            .or_else(|| settings.variable("HOSTNAME"))
            .or_else(|| {
                std::fs::read_to_string("/etc/hostname")
                    .ok()
                    .map(|name| name.trim().to_owned())
                    .filter(|name| !name.is_empty())
            })
            .unwrap_or_else(|| "worker".into());
        // The API refuses claims from any other name: such a worker would take every job
        // and run none.
        if worker_name.len() > 100 || worker_name.chars().any(char::is_control) {
            bail!(
                "FERRY_WORKER_NAME (or the host name) must have at most 100 characters and no \
                 control characters"
            );
        }
        Ok(Config {
            amqp_url: settings
                .secret_url("FERRY_AMQP_URL", "amqp://guest:guest@127.0.0.1:55672/%2f"),
            queue_prefix: settings.variable_or("FERRY_QUEUE_PREFIX", "ferry"),
            worker_pool,
            store: StoreConfig::from_settings(settings),
            work_root: settings
                .variable("FERRY_WORK_ROOT")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("ferry-worker")),
            concurrency: settings
                .parsed(
                    "FERRY_WORKER_CONCURRENCY",
                    std::num::NonZeroU16::new(8).unwrap_or(std::num::NonZeroU16::MIN),
                )?
                .get(),
            worker_name,
            unpack_limits: ferry_packages::UnpackLimits::from_settings(settings)?,
            template_limits: ferry_templates::Limits {
                max_output_bytes: settings.parsed(
                    "FERRY_TEMPLATE_MAX_OUTPUT_BYTES",
                    ferry_templates::Limits::DEFAULT_MAX_OUTPUT_BYTES,
                )?,
                max_steps: settings.parsed(
                    "FERRY_TEMPLATE_MAX_STEPS",
                    ferry_templates::Limits::DEFAULT_MAX_STEPS,
                )?,
            },
            log_budget: crate::LogBudget {
                max_lines: settings.parsed(
                    "FERRY_STEP_LOG_MAX_LINES",
                    crate::LogBudget::DEFAULT_MAX_LINES,
                )?,
                max_bytes: settings.parsed(
                    "FERRY_STEP_LOG_MAX_BYTES",
                    crate::LogBudget::DEFAULT_MAX_BYTES,
                )?,
            },
            keep_work_folders: std::time::Duration::from_secs(
                settings.parsed("FERRY_WORK_FOLDER_KEEP_SECONDS", 7 * 86_400)?,
            ),
            shutdown_grace: std::time::Duration::from_secs(
                settings.parsed("FERRY_SHUTDOWN_GRACE_SECONDS", 60)?,
            ),
            package_cache_max_bytes: settings
                .parsed("FERRY_PACKAGE_CACHE_MAX_BYTES", 4 * 1024 * 1024 * 1024)?,
            health_min_free_bytes: settings
                .parsed("FERRY_HEALTH_MIN_FREE_BYTES", 500 * 1024 * 1024)?,
            script_user: settings.variable_or("FERRY_SCRIPT_USER", "ferry-script"),
            variables_key: ferry_config::variables_key(
                settings,
                "give the worker the API's key for sensitive variables",
            )?,
            inherited_environment: inherited_environment(settings),
            helper_path: match settings.variable("FERRY_HELPER_PATH") {
                Some(path) => PathBuf::from(path),
                None => std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(|folder| folder.join("ferry-helper")))
                    .unwrap_or_else(|| PathBuf::from("ferry-helper")),
            },
        })
    }
}

/// The variables of [`INHERITED`] that are set, with their values as they are (an empty value
/// is passed on too).
pub fn inherited_environment(settings: &Settings) -> Vec<(String, String)> {
    INHERITED
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), settings.raw(name)?)))
        .collect()
}

/// [`inherited_environment`] of the process environment, for code that builds a [`Config`]
/// by hand (the test harness).
pub fn inherited_environment_from_env() -> Vec<(String, String)> {
    inherited_environment(&Settings::from_environment())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(extra: &[(&'static str, &'static str)]) -> Settings {
        let key = ferry_secrets::SecretKey::generate_base64().unwrap();
        let mut pairs = vec![("FERRY_VARIABLES_KEY", key)];
        pairs.extend(
            extra
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        Settings::from_pairs(pairs)
    }

    #[test]
    fn debug_output_holds_no_password_and_no_key() {
        let key = ferry_secrets::SecretKey::generate_base64().unwrap();
        let settings = Settings::from_pairs([
            ("FERRY_VARIABLES_KEY", key.clone()),
            (
                "FERRY_AMQP_URL",
                "amqp://ferry:amqp-password@mq.internal/%2f".to_owned(),
            ),
            ("FERRY_S3_SECRET_KEY", "s3-secret-key".to_owned()),
        ]);
        let config = Config::from_settings(&settings).unwrap();
        let printed = format!("{config:?}");
        for secret in ["amqp-password", "s3-secret-key", key.as_str()] {
            assert!(!printed.contains(secret), "{secret} printed in {printed}");
        }
        assert!(printed.contains("amqp://ferry:*****@mq.internal/%2f"));
        assert_eq!(
            config.amqp_url.expose(),
            "amqp://ferry:amqp-password@mq.internal/%2f"
        );
    }

    #[test]
    fn only_the_inherited_variables_are_kept_as_they_are() {
        let config = Config::from_settings(&settings(&[
            ("PATH", "/usr/bin:/bin"),
            ("HOME", "/home/ferry"),
            ("TZ", ""),
            ("FERRY_S3_SECRET_KEY", "s3-secret-key"),
            ("SOMETHING_ELSE", "value"),
        ]))
        .unwrap();
        assert_eq!(
            config.inherited_environment,
            [
                ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
                ("HOME".to_owned(), "/home/ferry".to_owned()),
                ("TZ".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn a_bad_concurrency_names_the_variable_and_the_value() {
        let error =
            Config::from_settings(&settings(&[("FERRY_WORKER_CONCURRENCY", "-1")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "FERRY_WORKER_CONCURRENCY=`-1` is not valid: invalid digit found in string"
        );
        // 0 would mean an unlimited prefetch to RabbitMQ.
        let error =
            Config::from_settings(&settings(&[("FERRY_WORKER_CONCURRENCY", "0")])).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("FERRY_WORKER_CONCURRENCY=`0` is not valid"),
            "{error}"
        );
    }

    #[test]
    fn the_worker_name_comes_from_its_variable_first() {
        let config = Config::from_settings(&settings(&[
            ("FERRY_WORKER_NAME", "builder-1"),
            ("HOSTNAME", "host"),
        ]))
        .unwrap();
        assert_eq!(config.worker_name, "builder-1");
        assert_eq!(config.worker_pool, "default");
    }

    #[test]
    fn a_worker_name_the_api_would_refuse_stops_the_worker_at_start() {
        let long: &'static str = "a".repeat(101).leak();
        for name in [long, "tab\there"] {
            let error = Config::from_settings(&settings(&[("FERRY_WORKER_NAME", name)]))
                .unwrap_err()
                .to_string();
            assert!(error.contains("FERRY_WORKER_NAME"), "{error}");
        }
    }

    #[test]
    fn a_missing_variables_key_says_where_it_comes_from() {
        let error = Config::from_settings(&Settings::from_pairs::<&str, &str>([])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "FERRY_VARIABLES_KEY is not set: give the worker the API's key for sensitive variables"
        );
    }
}
