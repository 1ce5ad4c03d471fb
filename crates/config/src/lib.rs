//! Reading Ferry's settings: the `FERRY_…` readers every service's `config.rs` uses, the
//! settings several services share (the object store, the variables key), and the wrappers
//! that keep secrets out of logs ([`Secret`], [`SecretUrl`], [`redact_url`]).
//!
//! Architecture invariant: `std::env` is read only here and in each service's `config.rs`.
//! Readers take a [`Settings`], which is the process environment in production and a plain
//! lookup function in tests, so configuration is tested without touching the environment
//! (which tests running in one process would race on).
//!
//! The crate stays light (no tokio, no AWS SDK, no HTTP) so that the CLI, the notifier and
//! `ferry-packages` without its `store` feature can depend on it.

mod secret;
mod settings;
mod store;
mod variables_key;

pub use secret::{Secret, SecretUrl, redact_url};
pub use settings::{ConfigError, Settings, variable};
pub use store::StoreConfig;
pub use variables_key::{VARIABLES_KEY, variables_key};
