//! Stopping a worker: on SIGTERM it stops taking jobs (the consumer is cancelled, jobs
//! delivered but not started go back to their queue untouched), lets running steps finish
//! within `FERRY_SHUTDOWN_GRACE_SECONDS`, then stops the rest, each reporting why.

use tokio_util::sync::CancellationToken;

use crate::WorkerContext;

/// Cancels `shutdown` on Ctrl-C or SIGTERM: the worker then stops taking jobs, hands back
/// those it has not started, and lets running steps finish within the grace period.
pub async fn stop_on_signal(shutdown: CancellationToken) {
    let Ok(mut terminate) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        tracing::error!("cannot install the SIGTERM handler; stop the worker with Ctrl-C");
        let _ = tokio::signal::ctrl_c().await;
        shutdown.cancel();
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("stopping: no new jobs; finishing the steps in progress");
    shutdown.cancel();
}

/// How long a stopping worker waits for its open offers' answers.
const OFFERS_SETTLE: std::time::Duration = std::time::Duration::from_secs(5);

/// After the worker stopped taking jobs: lets the running steps finish within the grace
/// period, then stops the rest (each reports a failure saying so), and waits for their
/// results to be sent.
pub(crate) async fn finish_running_steps(context: &WorkerContext) {
    // Offers made before the stop are answered first: a chained job they bring is claimed
    // already and runs here (no new offers are made while stopping).
    context
        .offers
        .settle(context.config.shutdown_grace.min(OFFERS_SETTLE))
        .await;
    context.steps.close();
    let grace = context.config.shutdown_grace;
    if !context.steps.is_empty() {
        tracing::info!(
            running = context.steps.len(),
            grace_seconds = grace.as_secs(),
            "waiting for running steps"
        );
    }
    if tokio::time::timeout(grace, context.steps.wait())
        .await
        .is_err()
    {
        let why = format!(
            "the worker was stopped and the step did not finish within its grace period of {} seconds",
            grace.as_secs()
        );
        if let Ok(running) = context.running.lock() {
            for (_, stop) in running.values() {
                stop.request(&why);
            }
        }
        context.steps.wait().await;
    }
}
