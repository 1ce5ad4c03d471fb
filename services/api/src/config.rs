//! The API's configuration: defaults that point at the stack `infra/dev up` starts, each
//! overridable by a `FERRY_…` environment variable, read through `ferry-config`. The
//! environment is read here and nowhere else in the API.

use std::net::SocketAddr;

use anyhow::bail;
use ferry_config::{SecretUrl, Settings, StoreConfig};

pub use ferry_config::Secret;

#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP server listens (`FERRY_API_LISTEN`).
    pub listen: SocketAddr,
    /// The address people and emails use to reach this API (`FERRY_PUBLIC_URL`); status page
    /// links are built from it.
    pub public_url: String,
    /// PostgreSQL (`FERRY_DATABASE_URL`); its password never prints.
    pub database_url: SecretUrl,
    /// Connections in the database pool (`FERRY_DATABASE_MAX_CONNECTIONS`).
    pub database_max_connections: usize,
    /// RabbitMQ (`FERRY_AMQP_URL`); its password never prints.
    pub amqp_url: SecretUrl,
    /// Prefix of every exchange and queue name (`FERRY_QUEUE_PREFIX`).
    pub queue_prefix: String,
    /// Where packages are stored (`FERRY_S3_*`).
    pub store: StoreConfig,
    /// The largest package accepted, in bytes (`FERRY_MAX_PACKAGE_BYTES`).
    pub max_package_bytes: u64,
    /// Where an upload is written while it is checked (`FERRY_UPLOAD_FOLDER`, default a
    /// `ferry-uploads` folder in the system's temporary folder); each file is removed when its
    /// request ends.
    pub upload_folder: std::path::PathBuf,
    /// How many uploads are received at once (`FERRY_MAX_CONCURRENT_UPLOADS`, default 4);
    /// one more waits for a turn, then is answered 503.
    pub max_concurrent_uploads: usize,
    /// How long an upload waits for a turn (`FERRY_UPLOAD_TURN_WAIT_SECONDS`, default 30).
    pub upload_turn_wait: std::time::Duration,
    /// How long an upload may send nothing before it is refused and its turn given back
    /// (`FERRY_UPLOAD_IDLE_SECONDS`, default 60).
    pub upload_idle: std::time::Duration,
    /// The key every API call must present (`FERRY_API_KEY`). There is no default: an API
    /// without a key refuses to start.
    pub api_key: Secret,
    /// How long a script may run before its worker kills it (`FERRY_STEP_TIMEOUT_SECONDS`).
    pub step_timeout_seconds: u64,
    /// How many step events are applied at once (`FERRY_EVENT_CONCURRENCY`).
    pub event_concurrency: u16,
    /// How long a running attempt's worker may go without a heartbeat before the attempt is
    /// given up as lost (`FERRY_LEASE_SECONDS`, default 60; workers beat every quarter).
    pub lease_seconds: u64,
    /// How long a job may wait for a worker to claim it before its step fails
    /// (`FERRY_DISPATCH_TIMEOUT_SECONDS`, default 6 hours).
    pub dispatch_timeout_seconds: u64,
    /// How long a health check or a discovery may wait for a worker of its pool to answer
    /// before it ends Unavailable (or Failed), saying no worker took it
    /// (`FERRY_TARGET_CHECK_TIMEOUT_SECONDS`, default 300).
    pub target_check_timeout_seconds: u64,
    /// The budget of one template render (`FERRY_TEMPLATE_MAX_OUTPUT_BYTES`,
    /// `FERRY_TEMPLATE_MAX_STEPS`).
    pub template_limits: ferry_templates::Limits,
    /// What an uploaded package may expand to (`FERRY_PACKAGE_MAX_*`).
    pub unpack_limits: ferry_packages::UnpackLimits,
    /// Encrypts sensitive variables at rest and in step jobs (`FERRY_VARIABLES_KEY`, base64
    /// of 32 random bytes: `openssl rand -base64 32`). Workers need the same key. There is
    /// no default.
    pub variables_key: ferry_secrets::Keyring,
}

/// What the `dead-letters` command needs: the broker and the queue prefix alone.
pub struct BrokerSettings {
    pub amqp_url: SecretUrl,
    pub queue_prefix: String,
}

impl BrokerSettings {
    pub fn from_env() -> anyhow::Result<Self> {
        let settings = Settings::from_environment_and_file()?;
        Ok(BrokerSettings {
            amqp_url: settings
                .secret_url("FERRY_AMQP_URL", "amqp://guest:guest@127.0.0.1:55672/%2f"),
            queue_prefix: settings.variable_or("FERRY_QUEUE_PREFIX", "ferry"),
        })
    }
}

impl Config {
    /// The configuration from the process environment and `FERRY_CONFIG_FILE`.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(&Settings::from_environment_and_file()?)
    }

    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        let listen: SocketAddr = settings.parsed(
            "FERRY_API_LISTEN",
            SocketAddr::from(([127, 0, 0, 1], 58080)),
        )?;
        let api_key = settings.required(
            "FERRY_API_KEY",
            "choose a long random key; CI tools and the ferry CLI present it",
        )?;
        if api_key.len() < 16 {
            bail!("FERRY_API_KEY must be at least 16 characters");
        }
        Ok(Config {
            listen,
            public_url: settings.variable_or("FERRY_PUBLIC_URL", &format!("http://{listen}")),
            database_url: settings.secret_url(
                "FERRY_DATABASE_URL",
                "postgres://postgres@127.0.0.1:55432/ferry",
            ),
            database_max_connections: settings.parsed("FERRY_DATABASE_MAX_CONNECTIONS", 16)?,
            amqp_url: settings
                .secret_url("FERRY_AMQP_URL", "amqp://guest:guest@127.0.0.1:55672/%2f"),
            queue_prefix: settings.variable_or("FERRY_QUEUE_PREFIX", "ferry"),
            store: StoreConfig::from_settings(settings),
            max_package_bytes: settings.parsed("FERRY_MAX_PACKAGE_BYTES", 256 * 1024 * 1024)?,
            upload_folder: std::path::PathBuf::from(settings.variable_or(
                "FERRY_UPLOAD_FOLDER",
                &std::env::temp_dir().join("ferry-uploads").to_string_lossy(),
            )),
            max_concurrent_uploads: settings
                .parsed(
                    "FERRY_MAX_CONCURRENT_UPLOADS",
                    std::num::NonZeroUsize::new(4).unwrap_or(std::num::NonZeroUsize::MIN),
                )?
                .get(),
            upload_turn_wait: std::time::Duration::from_secs(
                settings.parsed("FERRY_UPLOAD_TURN_WAIT_SECONDS", 30)?,
            ),
            upload_idle: std::time::Duration::from_secs(
                settings.parsed("FERRY_UPLOAD_IDLE_SECONDS", 60)?.max(1),
            ),
            api_key: Secret::new(api_key),
            step_timeout_seconds: settings.parsed("FERRY_STEP_TIMEOUT_SECONDS", 3600)?,
            lease_seconds: settings
                .parsed(
                    "FERRY_LEASE_SECONDS",
                    std::num::NonZeroU64::new(60).unwrap_or(std::num::NonZeroU64::MIN),
                )?
                .get()
                .max(4),
            dispatch_timeout_seconds: settings
                .parsed(
                    "FERRY_DISPATCH_TIMEOUT_SECONDS",
                    std::num::NonZeroU64::new(6 * 3600).unwrap_or(std::num::NonZeroU64::MIN),
                )?
                .get(),
            target_check_timeout_seconds: settings
                .parsed(
                    "FERRY_TARGET_CHECK_TIMEOUT_SECONDS",
                    std::num::NonZeroU64::new(300).unwrap_or(std::num::NonZeroU64::MIN),
                )?
                .get(),
            event_concurrency: settings
                .parsed(
                    "FERRY_EVENT_CONCURRENCY",
                    std::num::NonZeroU16::new(32).unwrap_or(std::num::NonZeroU16::MIN),
                )?
                .get(),
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
            variables_key: ferry_config::variables_key(
                settings,
                "it encrypts sensitive variables; create one with `openssl rand -base64 32` and give the API and every worker the same key",
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const API_KEY: &str = "api-key-0123456789abcdef";

    fn settings(extra: &[(&'static str, &'static str)]) -> Settings {
        let key = ferry_secrets::SecretKey::generate_base64().unwrap();
        let mut pairs = vec![
            ("FERRY_API_KEY", API_KEY.to_owned()),
            ("FERRY_VARIABLES_KEY", key),
        ];
        pairs.extend(
            extra
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned())),
        );
        Settings::from_pairs(pairs)
    }

    #[test]
    fn the_defaults_point_at_the_dev_stack() {
        let config = Config::from_settings(&settings(&[])).unwrap();
        assert_eq!(config.listen, SocketAddr::from(([127, 0, 0, 1], 58080)));
        assert_eq!(config.public_url, "http://127.0.0.1:58080");
        assert_eq!(
            config.database_url.expose(),
            "postgres://postgres@127.0.0.1:55432/ferry"
        );
        assert_eq!(
            config.amqp_url.expose(),
            "amqp://guest:guest@127.0.0.1:55672/%2f"
        );
        assert_eq!(config.store.bucket, "ferry-packages");
        assert_eq!(config.api_key.expose(), API_KEY);
    }

    #[test]
    fn debug_output_holds_no_password_and_no_key() {
        let key = ferry_secrets::SecretKey::generate_base64().unwrap();
        let settings = Settings::from_pairs([
            ("FERRY_API_KEY", API_KEY.to_owned()),
            ("FERRY_VARIABLES_KEY", key.clone()),
            (
                "FERRY_DATABASE_URL",
                "postgres://ferry:database-password@db.internal/ferry".to_owned(),
            ),
            (
                "FERRY_AMQP_URL",
                "amqp://ferry:amqp-password@mq.internal/%2f".to_owned(),
            ),
            ("FERRY_S3_SECRET_KEY", "s3-secret-key".to_owned()),
        ]);
        let config = Config::from_settings(&settings).unwrap();
        let printed = format!("{config:?}");
        for secret in [
            "database-password",
            "amqp-password",
            "s3-secret-key",
            API_KEY,
            key.as_str(),
        ] {
            assert!(!printed.contains(secret), "{secret} printed in {printed}");
        }
        assert!(printed.contains("postgres://ferry:*****@db.internal/ferry"));
        assert_eq!(
            config.database_url.expose(),
            "postgres://ferry:database-password@db.internal/ferry"
        );
    }

    #[test]
    fn a_bad_number_names_the_variable_and_the_value() {
        let error =
            Config::from_settings(&settings(&[("FERRY_EVENT_CONCURRENCY", "many")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "FERRY_EVENT_CONCURRENCY=`many` is not valid: invalid digit found in string"
        );
    }

    #[test]
    fn a_short_or_missing_api_key_is_refused() {
        let error = Config::from_settings(&settings(&[("FERRY_API_KEY", "short")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "FERRY_API_KEY must be at least 16 characters"
        );
        let error = Config::from_settings(&Settings::from_pairs::<&str, &str>([])).unwrap_err();
        assert!(
            error.to_string().starts_with("FERRY_API_KEY is not set: "),
            "{error}"
        );
    }
}
