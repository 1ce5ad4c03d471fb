//! The outbox relay: publishes committed outbox rows with publisher confirms and stamps them
//! published. Rows are locked with `SKIP LOCKED`, so several API instances can relay at once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ferry_broker::FieldTable;
use ferry_broker::{BrokerError, Linked, OutgoingMessage};
use ferry_contracts::MessageKind;
use tokio_util::sync::CancellationToken;

use crate::AppState;

/// How often the relay looks for rows even when nobody woke it (rows written by another API
/// instance, or left by a failed publish).
const POLL_INTERVAL: Duration = Duration::from_millis(500);
const BATCH_SIZE: i64 = 200;

/// How long a pool seen with workers is trusted to still have them before it is checked again.
const WORKERS_SEEN_FOR: Duration = Duration::from_secs(5);
/// How long the relay waits for RabbitMQ to say whether a pool has workers.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// Relays until `shutdown` is cancelled, reconnecting whenever the broker connection is lost
/// (rows committed meanwhile wait in the outbox: nothing accepted is lost).
pub async fn run(state: AppState, shutdown: CancellationToken) -> anyhow::Result<()> {
    let mut pools = PoolWatch::default();
    'connection: while let Some(linked) = state.link().get(&shutdown).await {
        if let Err(error) =
            crate::declare_topology(state.topology(), &linked.connection, state.pool()).await
        {
            tracing::warn!(
                error = format!("{error:#}"),
                "could not declare the topology; reconnecting"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        }
        pools.probe = None;
        loop {
            // A failed publish is recorded on its row and does not fail the batch: look at
            // the connection itself.
            if !linked.connection.status().connected()
                || !linked.publisher.channel().status().connected()
            {
                continue 'connection;
            }
            match relay_batch(&state, &linked, &mut pools).await {
                Ok(published) if published as i64 == BATCH_SIZE => continue,
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "outbox relay failed; will retry"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                () = state.inner.outbox_written.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }
    Ok(())
}

/// Publishes one batch; returns how many rows it published.
async fn relay_batch(
    state: &AppState,
    linked: &Linked,
    pools: &mut PoolWatch,
) -> anyhow::Result<usize> {
    let publisher = &linked.publisher;
    let mut client = state.pool().get().await?;
    let transaction = client.transaction().await?;
    let pending = ferry_storage::outbox::lock_pending(&transaction, BATCH_SIZE).await?;
    if pending.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = pending.iter().map(|m| m.message_id.to_string()).collect();
    let payloads: Vec<Vec<u8>> = pending
        .iter()
        .map(|m| serde_json::to_vec(&m.payload))
        .collect::<Result<_, _>>()?;
    let messages: Vec<OutgoingMessage<'_>> = pending
        .iter()
        .zip(&ids)
        .zip(&payloads)
        .map(|((message, id), payload)| OutgoingMessage {
            exchange: &message.exchange,
            routing_key: &message.routing_key,
            message_id: id,
            kind: &message.kind,
            payload,
            headers: FieldTable::default(),
            expiration_ms: None,
        })
        .collect();
    let results = publisher.publish_all(&messages).await;
    let mut published = Vec::with_capacity(pending.len());
    for (message, result) in pending.iter().zip(results) {
        match result {
            Ok(()) => published.push(message.outbox_id),
            Err(BrokerError::Unroutable { exchange, .. })
                if exchange == state.topology().control_exchange() =>
            {
                // No worker is listening for control messages: none runs a step to stop.
                published.push(message.outbox_id);
            }
            Err(BrokerError::Unroutable { .. })
                if message.kind == MessageKind::ChainedJob.as_str() =>
            {
                // The worker that offered is gone (its private queue with it): it never got
                // the job, and the attempt's lease gives the attempt up.
                tracing::info!(message_id = %message.message_id, "dropping a chained job: its worker's queue is gone");
                published.push(message.outbox_id);
            }
            Err(BrokerError::Unroutable {
                exchange,
                routing_key,
                ..
            }) if exchange == state.topology().jobs_exchange() => {
                // The first job for a worker pool no worker has started yet: declare the
                // pool's queue so the job waits there durably, and publish it next round.
                tracing::info!(worker_pool = %routing_key, "declaring the queue of a new worker pool");
                // A failure here is the row's, not the batch's: the rows RabbitMQ confirmed
                // are marked published all the same.
                if let Err(error) = state
                    .topology()
                    .declare_pool(&linked.connection, &routing_key)
                    .await
                {
                    tracing::warn!(%error, worker_pool = %routing_key, "could not declare the queue of a worker pool");
                }
                ferry_storage::outbox::mark_failed(
                    &transaction,
                    message.outbox_id,
                    &format!("no queue for worker pool `{routing_key}` yet; declared it"),
                )
                .await?;
            }
            Err(error) => {
                tracing::warn!(%error, message_id = %message.message_id, "could not publish outbox message; will retry");
                ferry_storage::outbox::mark_failed(
                    &transaction,
                    message.outbox_id,
                    &error.to_string(),
                )
                .await?;
            }
        }
    }
    ferry_storage::outbox::mark_published(&transaction, &published).await?;
    transaction.commit().await?;
    // Only now, with the batch safely marked published: a job sent to a pool no worker
    // takes from would wait in silence, so say so in the deployment's task log. This is a
    // courtesy; its failure changes nothing.
    let waiting: Vec<_> = pending
        .iter()
        .filter(|message| {
            message.kind == MessageKind::StepJob.as_str() && published.contains(&message.outbox_id)
        })
        .collect();
    for message in waiting {
        if pools
            .has_workers(state, &linked.connection, &message.routing_key)
            .await
        {
            continue;
        }
        let Some(deployment_id) = message
            .payload
            .get("deployment_id")
            .and_then(|id| id.as_str())
            .and_then(|id| id.parse::<ferry_domain::DeploymentId>().ok())
        else {
            continue;
        };
        let note = format!(
            "No worker is taking jobs from worker pool `{}` right now: the step waits in its queue until one starts",
            message.routing_key
        );
        // Under the deployment's row lock, like every line of its log: a reader following the
        // log by cursor then never misses one.
        let noted = async {
            let transaction = client.transaction().await?;
            if ferry_storage::deployments::lock(&transaction, deployment_id)
                .await?
                .is_some()
            {
                ferry_storage::task_log::append_system_log(&transaction, deployment_id, &note)
                    .await?;
            }
            transaction.commit().await?;
            Ok::<(), ferry_storage::StorageError>(())
        }
        .await;
        if let Err(error) = noted {
            tracing::warn!(%error, "could not note a pool without workers");
        }
    }
    Ok(published.len())
}

/// What the relay knows about which worker pools have workers.
#[derive(Default)]
struct PoolWatch {
    /// When each pool was last seen with at least one consumer.
    seen_with_workers: HashMap<String, Instant>,
    /// A channel for passive queue checks, apart from the publisher's: a failed check closes
    /// only this one.
    probe: Option<ferry_broker::Channel>,
}

impl PoolWatch {
    /// Whether the pool's queue has a consumer (trusted for a few seconds once seen). A
    /// check that fails counts as "has workers": the hint is a courtesy, not a rule.
    async fn has_workers(
        &mut self,
        state: &AppState,
        connection: &ferry_broker::Connection,
        pool: &str,
    ) -> bool {
        if self
            .seen_with_workers
            .get(pool)
            .is_some_and(|seen| seen.elapsed() < WORKERS_SEEN_FOR)
        {
            return true;
        }
        let channel = match &self.probe {
            Some(channel) if channel.status().connected() => channel.clone(),
            _ => match connection.create_channel().await {
                Ok(channel) => {
                    self.probe = Some(channel.clone());
                    channel
                }
                Err(_) => return true,
            },
        };
        let queue = state.topology().step_jobs(pool).queue;
        let checked = tokio::time::timeout(
            PROBE_TIMEOUT,
            state.topology().consumer_count(&channel, &queue),
        )
        .await;
        match checked.unwrap_or(Ok(1)) {
            Ok(consumers) if consumers > 0 => {
                self.seen_with_workers
                    .insert(pool.to_owned(), Instant::now());
                true
            }
            Ok(_) => false,
            Err(_) => {
                self.probe = None;
                true
            }
        }
    }
}
