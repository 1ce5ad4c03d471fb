//! The consumer loop every service uses: bounded prefetch, one task per delivery, manual ack
//! after the handler's effect is durable, and retry-with-delay then dead-lettering on failure.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::Connection;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions};
use lapin::types::{AMQPValue, FieldTable};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::topology::{header_integer, header_string};
use crate::{BrokerError, OutgoingMessage, Publisher, QueueSpec, Topology};

/// The header holding a message's attempt number (1 for the first delivery).
pub(crate) const ATTEMPT_HEADER: &str = "x-ferry-attempt";
/// The header naming the exchange a retried or parked message first arrived through.
pub(crate) const EXCHANGE_HEADER: &str = "x-ferry-exchange";
/// The header naming why a message was parked in the dead-letter queue.
pub(crate) const ERROR_HEADER: &str = "x-ferry-error";

/// What a handler did with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// The effect is durable: acknowledge.
    Done,
    /// A transient failure (a server down, a timeout): try again after a delay, up to the
    /// configured number of attempts, then park in the dead-letter queue.
    RetryLater { reason: String },
    /// The message can never succeed (it does not parse, it names something that does not
    /// exist): park it in the dead-letter queue at once.
    Reject { reason: String },
    /// Give the message back to RabbitMQ as it is; it is redelivered with its `redelivered`
    /// flag set, exactly as if this consumer had died.
    Requeue { reason: String },
    /// The handler acknowledged the message itself (a worker acknowledges a job once its
    /// claim is granted, long before the step ends): nothing left to do.
    Settled,
}

/// How a consumer behaves.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// The most unacknowledged messages this consumer holds, and so the most handled at once.
    pub prefetch: u16,
    /// Attempts before a retried message is parked.
    pub max_attempts: u32,
    /// Delay before the second attempt; it doubles with each attempt, up to `max_delay`.
    pub first_retry_delay: Duration,
    pub max_retry_delay: Duration,
    /// Shown in RabbitMQ's management UI.
    pub consumer_tag: String,
    pub rights: Rights,
}

/// What a consumer's RabbitMQ user may do, which decides how it parks messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rights {
    /// May declare its queue and publish to any queue (the API, the notifier): it declares
    /// its queues, and retries or parks a message by publishing a copy that carries why.
    Owner,
    /// May only read its queue (a worker: see `Topology::worker_permissions`): it checks
    /// that its queue exists, parks a message by rejecting it (the queue's dead-letter
    /// target takes it) and gives back a message to retry.
    ReadOnly,
}

impl ConsumerOptions {
    pub fn new(consumer_tag: &str, prefetch: u16) -> Self {
        ConsumerOptions {
            prefetch,
            max_attempts: 8,
            first_retry_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(60),
            consumer_tag: consumer_tag.to_owned(),
            rights: Rights::Owner,
        }
    }

    fn retry_delay(&self, attempt: u32) -> Duration {
        let factor = 2u32.saturating_pow(attempt.saturating_sub(1).min(16));
        self.first_retry_delay
            .saturating_mul(factor)
            .min(self.max_retry_delay)
    }
}

/// The attempt number of a delivery: 1 for a message never retried through the retry queue.
/// A redelivery after a consumer crash keeps the number; see `Delivery::redelivered` for that.
pub fn attempt_of(delivery: &Delivery) -> u32 {
    header_integer(delivery.properties.headers().as_ref(), ATTEMPT_HEADER)
        .and_then(|attempt| u32::try_from(attempt).ok())
        .unwrap_or(1)
        .max(1)
}

/// Consumes `spec.queue` until `shutdown` is cancelled or the connection is lost, calling
/// `handler` for each delivery in its own task.
///
/// Returns `Ok` after a requested shutdown (once in-flight handlers finished) and `Err` when
/// the broker connection or channel failed or RabbitMQ ended the consumer; messages not
/// acknowledged by then are redelivered by RabbitMQ to another consumer. Callers reconnect
/// through their [`crate::Link`] and call it again.
pub async fn run_consumer<H, F>(
    connection: &Connection,
    topology: &Topology,
    spec: &QueueSpec,
    options: ConsumerOptions,
    handler: H,
    shutdown: CancellationToken,
) -> Result<(), BrokerError>
where
    H: Fn(Arc<Delivery>) -> F + Send + Sync + 'static,
    F: Future<Output = Handled> + Send + 'static,
{
    if options.rights == Rights::Owner {
        topology.declare_queue(connection, spec).await?;
    }
    let channel = connection.create_channel().await?;
    if options.rights == Rights::ReadOnly {
        topology.check_queue(&channel, &spec.queue).await?;
    }
    channel
        .basic_qos(options.prefetch, BasicQosOptions::default())
        .await?;
    let publisher = match options.rights {
        Rights::Owner => Some(Publisher::open(connection).await?),
        Rights::ReadOnly => None,
    };
    let mut consumer = channel
        .basic_consume(
            spec.queue.clone().into(),
            options.consumer_tag.clone().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    let handler = Arc::new(handler);
    let options = Arc::new(options);
    let spec = Arc::new(spec.clone());
    let mut in_flight = JoinSet::new();
    let result = loop {
        tokio::select! {
            () = shutdown.cancelled() => {
                // No more deliveries; those received and not handled yet go back unacknowledged
                // when the channel closes.
                let _ = channel
                    .basic_cancel(options.consumer_tag.clone().into(), Default::default())
                    .await;
                break Ok(());
            }
            Some(finished) = in_flight.join_next(), if !in_flight.is_empty() => {
                if let Err(error) = finished {
                    tracing::error!(%error, queue = %spec.queue, "a message handler panicked; its message will be redelivered");
                }
            }
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let delivery = Arc::new(delivery);
                    let handler = Arc::clone(&handler);
                    let options = Arc::clone(&options);
                    let spec = Arc::clone(&spec);
                    let publisher = publisher.clone();
                    in_flight.spawn(async move {
                        // A handler that panics is a failed attempt like any other (retried,
                        // then parked), never a message held unacknowledged until the
                        // connection closes.
                        let handled = std::panic::AssertUnwindSafe(handler(Arc::clone(&delivery)))
                            .catch_unwind()
                            .await
                            .unwrap_or_else(|_| Handled::RetryLater {
                                reason: "its handler panicked (see the service's log)".to_owned(),
                            });
                        settle(publisher.as_ref(), &spec, &options, &delivery, handled).await;
                    });
                }
                Some(Err(error)) => break Err(error.into()),
                // RabbitMQ cancelled the consumer (its queue was deleted) or the channel
                // closed: the caller reconnects and starts again (an owner declares the
                // queue again, a read-only consumer waits for it).
                None => break Err(BrokerError::ConsumerEnded { queue: spec.queue.clone() }),
            },
        }
    };
    if result.is_err() {
        // Their deliveries cannot be acknowledged any more: RabbitMQ gives them to another
        // consumer. Handlers are written so that stopping one at any await loses nothing.
        in_flight.abort_all();
    }
    while in_flight.join_next().await.is_some() {}
    if result.is_ok() {
        let _ = channel.close(200, "shutting down".into()).await;
    }
    result
}

/// Acknowledges, retries or parks a handled delivery. A message is acknowledged only after
/// its retry or dead-letter copy is confirmed, so it is never lost in between. Without a
/// publisher (a read-only consumer) a message is parked by rejecting it.
async fn settle(
    publisher: Option<&Publisher>,
    spec: &QueueSpec,
    options: &ConsumerOptions,
    delivery: &Delivery,
    handled: Handled,
) {
    let Some(publisher) = publisher else {
        let requeue = match &handled {
            Handled::Done => {
                let _ = delivery.ack(BasicAckOptions::default()).await;
                return;
            }
            Handled::Settled => return,
            Handled::Reject { reason } => {
                tracing::error!(queue = %spec.queue, %reason, "message can never succeed; parking it in the dead-letter queue");
                false
            }
            Handled::RetryLater { reason } | Handled::Requeue { reason } => {
                tracing::warn!(queue = %spec.queue, %reason, "returning message to its queue");
                true
            }
        };
        let _ = delivery
            .nack(BasicNackOptions {
                requeue,
                ..BasicNackOptions::default()
            })
            .await;
        return;
    };
    let attempt = attempt_of(delivery);
    let (target_queue, expiration_ms, reason) = match handled {
        Handled::Done => {
            if let Err(error) = delivery.ack(BasicAckOptions::default()).await {
                tracing::warn!(%error, queue = %spec.queue, "could not acknowledge a handled message; it will be redelivered and deduplicated");
            }
            return;
        }
        Handled::Settled => return,
        Handled::Requeue { reason } => {
            tracing::warn!(queue = %spec.queue, %reason, "returning message to its queue");
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await;
            return;
        }
        Handled::RetryLater { reason } if attempt < options.max_attempts => {
            let delay = options.retry_delay(attempt);
            tracing::warn!(queue = %spec.queue, attempt, delay_ms = delay.as_millis() as u64, %reason, "will retry message");
            (spec.retry_queue(), Some(delay.as_millis() as u64), reason)
        }
        Handled::RetryLater { reason } => {
            tracing::error!(queue = %spec.queue, attempt, %reason, "message failed too often; parking it in the dead-letter queue");
            (
                spec.dead_letter_queue(),
                None,
                format!("after {attempt} attempts: {reason}"),
            )
        }
        Handled::Reject { reason } => {
            tracing::error!(queue = %spec.queue, %reason, "message can never succeed; parking it in the dead-letter queue");
            (spec.dead_letter_queue(), None, reason)
        }
    };
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    headers.insert(
        ATTEMPT_HEADER.into(),
        AMQPValue::LongLongInt(i64::from(attempt) + 1),
    );
    headers.insert(ERROR_HEADER.into(), AMQPValue::LongString(reason.into()));
    // The copy travels through the default exchange: it keeps the exchange the message
    // first arrived through, which says who could have sent it (see `arrived_through`).
    if !delivery.exchange.as_str().is_empty() {
        headers.insert(
            EXCHANGE_HEADER.into(),
            AMQPValue::LongString(delivery.exchange.as_str().into()),
        );
    }
    let message_id = delivery
        .properties
        .message_id()
        .as_ref()
        .map(|id| id.as_str().to_owned())
        .unwrap_or_default();
    let kind = delivery
        .properties
        .kind()
        .as_ref()
        .map(|kind| kind.as_str().to_owned())
        .unwrap_or_default();
    let copied = publisher
        .publish(OutgoingMessage {
            exchange: "",
            routing_key: &target_queue,
            message_id: &message_id,
            kind: &kind,
            payload: &delivery.data,
            headers,
            expiration_ms,
        })
        .await;
    match copied {
        Ok(()) => {
            if let Err(error) = delivery.ack(BasicAckOptions::default()).await {
                tracing::warn!(%error, "could not acknowledge a message after copying it; it may be handled twice");
            }
        }
        Err(error) => {
            tracing::error!(%error, queue = %target_queue, "could not copy message for retry; returning it to its queue");
            let _ = delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await;
        }
    }
}

/// The exchange a delivery was first published to: its own exchange, or, for a copy that
/// came back through the default exchange (a retry, a replayed dead letter), the one its
/// consumer recorded. Only the API and operators may publish to the default exchange, so the
/// recorded name can be trusted exactly when the delivery came through it.
pub fn arrived_through(delivery: &Delivery) -> String {
    let exchange = delivery.exchange.as_str();
    if exchange.is_empty() {
        header_string(delivery.properties.headers().as_ref(), EXCHANGE_HEADER).unwrap_or_default()
    } else {
        exchange.to_owned()
    }
}

/// The error a parked message carries, for operators and tests.
pub fn parked_reason(delivery: &Delivery) -> Option<String> {
    header_string(delivery.properties.headers().as_ref(), ERROR_HEADER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_doubles_up_to_the_cap() {
        let options = ConsumerOptions::new("test", 1);
        assert_eq!(options.retry_delay(1), Duration::from_millis(500));
        assert_eq!(options.retry_delay(2), Duration::from_millis(1000));
        assert_eq!(options.retry_delay(3), Duration::from_millis(2000));
        assert_eq!(options.retry_delay(30), Duration::from_secs(60));
    }
}
