//! The object-store settings (`FERRY_S3_*`), read by the API and the worker and used by
//! `ferry-packages`' store.

use crate::{Secret, Settings};

/// Where the object store is and how to sign requests to it.
///
/// Defined here rather than in `ferry-packages` so that configuration code can read it
/// without the AWS SDK, which only `ferry-packages`' `store` feature pulls in (it re-exports
/// this type as `ferry_packages::store::StoreConfig`).
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `FERRY_S3_ENDPOINT`; the dev stack's s3s-fs by default.
    pub endpoint: String,
    /// `FERRY_S3_REGION`, part of every request signature.
    pub region: String,
    /// `FERRY_S3_ACCESS_KEY`.
    pub access_key: String,
    /// `FERRY_S3_SECRET_KEY`; never printed.
    pub secret_key: Secret,
    /// `FERRY_S3_BUCKET`, where packages are kept.
    pub bucket: String,
}

impl StoreConfig {
    /// The `FERRY_S3_*` settings, defaulting to the stack `infra/dev up` starts.
    pub fn from_settings(settings: &Settings) -> Self {
        StoreConfig {
            endpoint: settings.variable_or("FERRY_S3_ENDPOINT", "http://127.0.0.1:55900"),
            region: settings.variable_or("FERRY_S3_REGION", "us-east-1"),
            access_key: settings.variable_or("FERRY_S3_ACCESS_KEY", "ferry-dev-access"),
            secret_key: Secret::new(
                settings.variable_or("FERRY_S3_SECRET_KEY", "ferry-dev-secret-key"),
            ),
            bucket: settings.variable_or("FERRY_S3_BUCKET", "ferry-packages"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_point_at_the_dev_stack() {
        let store = StoreConfig::from_settings(&Settings::from_pairs::<&str, &str>([]));
        assert_eq!(store.endpoint, "http://127.0.0.1:55900");
        assert_eq!(store.region, "us-east-1");
        assert_eq!(store.access_key, "ferry-dev-access");
        assert_eq!(store.secret_key.expose(), "ferry-dev-secret-key");
        assert_eq!(store.bucket, "ferry-packages");
    }

    #[test]
    fn the_secret_key_never_prints() {
        let store = StoreConfig::from_settings(&Settings::from_pairs([
            ("FERRY_S3_SECRET_KEY", "s3-secret-value"),
            ("FERRY_S3_BUCKET", "packages"),
        ]));
        let printed = format!("{store:?}");
        assert!(!printed.contains("s3-secret-value"), "{printed}");
        assert!(printed.contains("packages"), "{printed}");
        assert_eq!(store.secret_key.expose(), "s3-secret-value");
    }
}
