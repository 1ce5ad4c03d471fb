//! A worker binary for tests that need a worker in its own process (to kill it mid-step).
//! Configured exactly like `ferry-worker`, from `FERRY_…` variables, and stopped like it.

use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,lapin=warn".into()),
        )
        .init();
    let config = ferry_worker::Config::from_env()?;
    let shutdown = CancellationToken::new();
    tokio::spawn(ferry_worker::stop_on_signal(shutdown.clone()));
    ferry_worker::run(config, shutdown).await
}
