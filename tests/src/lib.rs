//! The test harness: starts Ferry's real services in-process against the real PostgreSQL,
//! RabbitMQ, S3 and SMTP servers that `infra/dev up` runs, each test isolated by its own
//! database (cloned from a migrated template), queue prefix, bucket and email recipient, so
//! tests run in parallel without seeing each other.

pub mod api;
pub mod archives;
pub mod audit;
mod cleanup;
pub mod config;
pub mod database;
pub mod deployment;
mod deployment_waits;
mod deployments;
pub mod interruptions;
pub mod mail;
pub mod openapi;
mod queues;
mod services;
mod setup;
pub mod smtp_server;
pub mod stack;
pub mod targets;
pub mod waiting;

pub use api::API_KEY;
pub use archives::{sha256_hex, zip_of};
pub use audit::AuditEvent;
pub use config::Servers;
pub use database::{create_test_database, with_database};
pub use deployment::{deployment_status, log_text, step_log, step_status};
pub use deployments::deployment_id;
pub use interruptions::{Interruption, InterruptionKind};
pub use mail::emails_to;
pub use openapi::OpenApi;
pub use smtp_server::SmtpServer;
pub use stack::{StackOptions, TestStack, init_tracing, spawn_worker_process};
pub use waiting::{POLL_INTERVAL, Patience, Progress, WAIT_TIMEOUT, poll_until};

pub use ferry_api;
pub use ferry_domain::{DeploymentStatus, StepStatus};
pub use ferry_worker;
