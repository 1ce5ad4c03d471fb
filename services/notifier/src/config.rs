//! The notifier's configuration: defaults for the local dev stack, overridable by `FERRY_…`
//! environment variables read through `ferry-config`. The environment is read here and
//! nowhere else in the notifier. Like the worker, the notifier has no database settings.

use ferry_config::{SecretUrl, Settings};

#[derive(Debug, Clone)]
pub struct Config {
    /// RabbitMQ (`FERRY_AMQP_URL`); its password never prints.
    pub amqp_url: SecretUrl,
    /// Prefix of every exchange and queue name (`FERRY_QUEUE_PREFIX`).
    pub queue_prefix: String,
    /// `smtp://[user:password@]host:port` (STARTTLS with `?tls=required`) or `smtps://…`
    /// (`FERRY_SMTP_URL`); its password never prints.
    pub smtp_url: SecretUrl,
    /// The sender of status emails (`FERRY_SMTP_FROM`).
    pub from: String,
    /// How many emails are sent at once (`FERRY_NOTIFIER_CONCURRENCY`).
    pub concurrency: u16,
}

impl Config {
    /// The configuration from the process environment and `FERRY_CONFIG_FILE`.
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_settings(&Settings::from_environment_and_file()?)
    }

    pub fn from_settings(settings: &Settings) -> anyhow::Result<Self> {
        Ok(Config {
            amqp_url: settings
                .secret_url("FERRY_AMQP_URL", "amqp://guest:guest@127.0.0.1:55672/%2f"),
            queue_prefix: settings.variable_or("FERRY_QUEUE_PREFIX", "ferry"),
            smtp_url: settings.secret_url("FERRY_SMTP_URL", "smtp://127.0.0.1:55025"),
            from: settings.variable_or("FERRY_SMTP_FROM", "Ferry <ferry@example.org>"),
            concurrency: settings
                .parsed(
                    "FERRY_NOTIFIER_CONCURRENCY",
                    std::num::NonZeroU16::new(4).unwrap_or(std::num::NonZeroU16::MIN),
                )?
                .get(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_point_at_the_dev_stack() {
        let config = Config::from_settings(&Settings::from_pairs::<&str, &str>([])).unwrap();
        assert_eq!(config.smtp_url.expose(), "smtp://127.0.0.1:55025");
        assert_eq!(config.from, "Ferry <ferry@example.org>");
        assert_eq!(config.concurrency, 4);
    }

    #[test]
    fn debug_output_holds_no_password() {
        let config = Config::from_settings(&Settings::from_pairs([
            (
                "FERRY_AMQP_URL",
                "amqp://ferry:amqp-password@mq.internal/%2f",
            ),
            (
                "FERRY_SMTP_URL",
                "smtp://mailer:smtp-password@mail.internal:587?tls=required",
            ),
        ]))
        .unwrap();
        let printed = format!("{config:?}");
        for secret in ["amqp-password", "smtp-password"] {
            assert!(!printed.contains(secret), "{secret} printed in {printed}");
        }
        assert!(printed.contains("smtp://mailer:*****@mail.internal:587?tls=required"));
        assert_eq!(
            config.smtp_url.expose(),
            "smtp://mailer:smtp-password@mail.internal:587?tls=required"
        );
    }

    #[test]
    fn a_bad_concurrency_names_the_variable_and_the_value() {
        let error = Config::from_settings(&Settings::from_pairs([(
            "FERRY_NOTIFIER_CONCURRENCY",
            "lots",
        )]))
        .unwrap_err();
        assert_eq!(
            error.to_string(),
            "FERRY_NOTIFIER_CONCURRENCY=`lots` is not valid: invalid digit found in string"
        );
    }
}
