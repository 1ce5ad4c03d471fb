//! `ferry-worker`: reads its configuration, sets up logging, and takes step jobs until Ctrl-C
//! or SIGTERM (finishing the steps in progress first).
//!
//! `ferry-worker permissions` prints the RabbitMQ permissions the worker's user needs (for
//! its `FERRY_WORKER_POOL` and `FERRY_QUEUE_PREFIX`) and nothing more, as three lines:
//! `configure`, `write`, `read`, each followed by its regular expression, ready for
//! `rabbitmqctl set_permissions`.

use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,lapin=warn".into()),
        )
        .init();
    if std::env::args().nth(1).as_deref() == Some("permissions") {
        let (prefix, pool) = ferry_worker::config::broker_names_from_env()?;
        let permissions = ferry_broker::Topology::new(&prefix).worker_permissions(&pool);
        println!("configure {}", permissions.configure);
        println!("write {}", permissions.write);
        println!("read {}", permissions.read);
        return Ok(());
    }
    let config = ferry_worker::Config::from_env()?;
    let shutdown = CancellationToken::new();
    tokio::spawn(ferry_worker::stop_on_signal(shutdown.clone()));
    ferry_worker::run(config, shutdown).await
}
