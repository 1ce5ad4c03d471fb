//! Publishing with publisher confirms: a publish returns only once RabbitMQ has taken
//! responsibility for the message (written it to a quorum of nodes).

use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};

use crate::BrokerError;

/// How long a publish waits for RabbitMQ's confirm. A connection that dies under a publish
/// may never answer it; the caller then publishes again (consumers deduplicate by id).
const CONFIRM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// A message ready to publish.
#[derive(Debug, Clone)]
pub struct OutgoingMessage<'a> {
    pub exchange: &'a str,
    pub routing_key: &'a str,
    /// Becomes the AMQP `message_id`; consumers deduplicate on it.
    pub message_id: &'a str,
    /// Becomes the AMQP `type`.
    pub kind: &'a str,
    pub payload: &'a [u8],
    pub headers: FieldTable,
    /// Per-message expiration in milliseconds, used by the retry queues.
    pub expiration_ms: Option<u64>,
}

/// A channel in confirm mode. Cloning shares the channel.
#[derive(Clone)]
pub struct Publisher {
    channel: Channel,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    pub async fn open(connection: &Connection) -> Result<Self, BrokerError> {
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Publisher { channel })
    }

    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// Publishes one persistent, mandatory message and waits for RabbitMQ's confirm.
    pub async fn publish(&self, message: OutgoingMessage<'_>) -> Result<(), BrokerError> {
        // Sending can hang as well as confirming (a connection half closed by a broker that
        // is shutting down): the whole publish is bounded.
        let published = tokio::time::timeout(CONFIRM_TIMEOUT, async {
            let confirm = self.start_publish(&message).await?;
            Ok::<_, BrokerError>(confirm.await?)
        })
        .await
        .map_err(|_| BrokerError::Unconfirmed {
            message_id: message.message_id.to_owned(),
        })??;
        check_confirmation(&message, published)
    }

    /// Publishes many messages, then waits for all their confirms: one round trip of latency
    /// for the whole batch. Returns the outcome per message, in order.
    pub async fn publish_all(
        &self,
        messages: &[OutgoingMessage<'_>],
    ) -> Vec<Result<(), BrokerError>> {
        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
        let mut pending = Vec::with_capacity(messages.len());
        for message in messages {
            let started = tokio::time::timeout_at(deadline, self.start_publish(message))
                .await
                .unwrap_or_else(|_| {
                    Err(BrokerError::Unconfirmed {
                        message_id: message.message_id.to_owned(),
                    })
                });
            pending.push(started);
        }
        let mut results = Vec::with_capacity(messages.len());
        for (message, started) in messages.iter().zip(pending) {
            let result = match started {
                Ok(confirm) => match tokio::time::timeout_at(deadline, confirm).await {
                    Ok(Ok(confirmation)) => check_confirmation(message, confirmation),
                    Ok(Err(error)) => Err(error.into()),
                    Err(_) => Err(BrokerError::Unconfirmed {
                        message_id: message.message_id.to_owned(),
                    }),
                },
                Err(error) => Err(error),
            };
            results.push(result);
        }
        results
    }

    async fn start_publish(
        &self,
        message: &OutgoingMessage<'_>,
    ) -> Result<lapin::PublisherConfirm, BrokerError> {
        let mut properties = BasicProperties::default()
            .with_delivery_mode(2)
            .with_content_type("application/json".into())
            .with_message_id(message.message_id.into())
            .with_type(message.kind.into())
            .with_headers(message.headers.clone());
        if let Some(expiration) = message.expiration_ms {
            properties = properties.with_expiration(expiration.to_string().into());
        }
        Ok(self
            .channel
            .basic_publish(
                message.exchange.into(),
                message.routing_key.into(),
                BasicPublishOptions {
                    mandatory: true,
                    ..BasicPublishOptions::default()
                },
                message.payload,
                properties,
            )
            .await?)
    }
}

fn check_confirmation(
    message: &OutgoingMessage<'_>,
    confirmation: Confirmation,
) -> Result<(), BrokerError> {
    match confirmation {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(_)) => Err(BrokerError::Unroutable {
            message_id: message.message_id.to_owned(),
            exchange: message.exchange.to_owned(),
            routing_key: message.routing_key.to_owned(),
        }),
        Confirmation::Nack(_) => Err(BrokerError::Nacked {
            message_id: message.message_id.to_owned(),
        }),
    }
}
