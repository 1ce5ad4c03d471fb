//! How a test stack configures Ferry's services: one function per service's `Config`, each
//! pointing the service at the stack's own database, queues, bucket and key.

use std::net::SocketAddr;
use std::path::Path;

use crate::api::API_KEY;
use crate::stack::{StackOptions, TestStack};

pub(crate) fn api_config(
    stack: &TestStack,
    listen: SocketAddr,
    options: &StackOptions,
) -> ferry_api::Config {
    ferry_api::Config {
        listen,
        public_url: stack.base_url.clone(),
        database_url: stack.database_url.clone().into(),
        database_max_connections: options.database_max_connections,
        amqp_url: stack.servers.amqp_url.clone().into(),
        queue_prefix: stack.queue_prefix.clone(),
        store: stack.store_config(),
        max_package_bytes: options.max_package_bytes,
        upload_folder: stack.work_root.path().join("api-uploads"),
        max_concurrent_uploads: options.max_concurrent_uploads,
        upload_turn_wait: options.upload_turn_wait,
        upload_idle: options.upload_idle,
        api_key: ferry_api::Secret::new(API_KEY),
        step_timeout_seconds: 120,
        event_concurrency: options.event_concurrency,
        lease_seconds: options.lease_seconds,
        dispatch_timeout_seconds: options.dispatch_timeout_seconds,
        target_check_timeout_seconds: options.target_check_timeout_seconds,
        template_limits: ferry_templates::Limits::default(),
        unpack_limits: ferry_packages::UnpackLimits::default(),
        variables_key: ferry_secrets::SecretKey::from_base64(&stack.variables_key)
            .expect("a generated key is valid")
            .into(),
    }
}

pub(crate) fn worker_config(
    stack: &TestStack,
    work_root: &Path,
    options: &crate::StackOptions,
) -> ferry_worker::Config {
    ferry_worker::Config {
        amqp_url: stack.servers.amqp_url.clone().into(),
        queue_prefix: stack.queue_prefix.clone(),
        worker_pool: "default".into(),
        store: stack.store_config(),
        work_root: work_root.to_path_buf(),
        concurrency: options.worker_concurrency,
        worker_name: "test-worker".into(),
        script_user: crate::stack::script_user(),
        log_budget: ferry_worker::LogBudget::default(),
        keep_work_folders: std::time::Duration::from_secs(7 * 86_400),
        shutdown_grace: std::time::Duration::from_secs(20),
        package_cache_max_bytes: 4 * 1024 * 1024 * 1024,
        health_min_free_bytes: options.health_min_free_bytes,
        template_limits: ferry_templates::Limits::default(),
        unpack_limits: ferry_packages::UnpackLimits::default(),
        variables_key: ferry_secrets::SecretKey::from_base64(&stack.variables_key)
            .expect("a generated key is valid")
            .into(),
        inherited_environment: ferry_worker::config::inherited_environment_from_env(),
        helper_path: options
            .helper_path
            .clone()
            .unwrap_or_else(crate::config::helper_path),
    }
}

pub(crate) fn notifier_config(stack: &TestStack) -> ferry_notifier::Config {
    ferry_notifier::Config {
        amqp_url: stack.servers.amqp_url.clone().into(),
        queue_prefix: stack.queue_prefix.clone(),
        smtp_url: stack.servers.smtp_url.clone().into(),
        from: "Ferry <ferry@example.org>".into(),
        concurrency: 2,
    }
}
