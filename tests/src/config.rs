//! Everything the harness reads from the environment: the shared servers' addresses (the
//! variables `infra/dev up` writes to `.ferry-dev/env.sh`), the Python that runs aiosmtpd,
//! and the log filter. No other file of the harness reads an environment variable.

use std::path::PathBuf;

use ferry_packages::store::StoreConfig;

/// Addresses of the shared servers every test stack runs against.
#[derive(Debug, Clone)]
pub struct Servers {
    /// A superuser URL of the PostgreSQL server (any database).
    pub database_url: String,
    pub amqp_url: String,
    /// The S3 endpoint and credentials; each stack fills in a bucket of its own.
    pub s3: StoreConfig,
    pub smtp_url: String,
    /// Where the test SMTP server (aiosmtpd) files the messages it receives.
    pub maildir: PathBuf,
}

impl Servers {
    pub fn from_env() -> Self {
        Servers {
            database_url: required("FERRY_DATABASE_URL"),
            amqp_url: required("FERRY_AMQP_URL"),
            s3: StoreConfig {
                endpoint: required("FERRY_S3_ENDPOINT"),
                region: required("FERRY_S3_REGION"),
                access_key: required("FERRY_S3_ACCESS_KEY"),
                secret_key: required("FERRY_S3_SECRET_KEY").into(),
                bucket: String::new(),
            },
            smtp_url: required("FERRY_SMTP_URL"),
            maildir: PathBuf::from(required("FERRY_TEST_MAILDIR")),
        }
    }
}

/// The dev stack's SSH targets (`infra/hosts.sh`): private sshd servers on loopback, the
/// account they let in, the private key they accept, and each one's host public key file
/// (what a person would read the fingerprint from).
#[derive(Debug, Clone)]
pub struct DevTargets {
    pub user: String,
    pub private_key_file: PathBuf,
    /// `(host, port, host public key file)` per server.
    pub servers: Vec<(String, u16, PathBuf)>,
    /// The dev stack's NGINX (`infra/nginx.sh`), run as the target account: where site files
    /// go and the commands that validate and reload it.
    pub nginx_config_folder: String,
    pub nginx_validate_command: String,
    pub nginx_reload_command: String,
}

impl DevTargets {
    pub fn from_env() -> Self {
        let addresses = required("FERRY_DEV_TARGETS");
        let host_keys = required("FERRY_DEV_TARGET_HOST_KEYS");
        let servers = addresses
            .split_whitespace()
            .zip(host_keys.split_whitespace())
            .map(|(address, host_key)| {
                let (host, port) = address
                    .rsplit_once(':')
                    .expect("FERRY_DEV_TARGETS: host:port");
                (
                    host.to_owned(),
                    port.parse().expect("FERRY_DEV_TARGETS: a port number"),
                    PathBuf::from(host_key),
                )
            })
            .collect();
        DevTargets {
            user: required("FERRY_DEV_TARGET_USER"),
            private_key_file: PathBuf::from(required("FERRY_DEV_TARGET_KEY")),
            servers,
            nginx_config_folder: required("FERRY_DEV_NGINX_CONFIG_FOLDER"),
            nginx_validate_command: required("FERRY_DEV_NGINX_VALIDATE_COMMAND"),
            nginx_reload_command: required("FERRY_DEV_NGINX_RELOAD_COMMAND"),
        }
    }
}

pub fn required(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `infra/dev test`, which starts the servers and sets it")
    })
}

/// The Python interpreter that has aiosmtpd installed, for tests that start an SMTP server
/// of their own (`python3` from the `PATH` unless `FERRY_TEST_AIOSMTPD_PYTHON` says).
pub fn aiosmtpd_python() -> String {
    std::env::var("FERRY_TEST_AIOSMTPD_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The tracing filter for the services a test starts: `RUST_LOG` when it is set and valid,
/// else warnings (lapin's only when they are errors: it logs channels closing at shutdown).
pub fn log_filter() -> tracing_subscriber::EnvFilter {
    tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "warn,lapin=error".into())
}

/// The `ferry-helper` the tests' workers bring to targets: the one cargo built beside the
/// test binaries (`target/<profile>/ferry-helper`; test binaries live in `deps/` below it).
pub fn helper_path() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("the test binary knows where it is");
    let profile = exe
        .parent()
        .and_then(|deps| {
            if deps.ends_with("deps") {
                deps.parent()
            } else {
                Some(deps)
            }
        })
        .expect("the test binary is inside cargo's target folder");
    profile.join("ferry-helper")
}
