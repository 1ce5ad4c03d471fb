//! What an operator does with parked messages: list them (without taking them out) and
//! replay them into the work queue they were parked from, once the cause is fixed.

use lapin::Connection;
use lapin::options::{BasicAckOptions, BasicGetOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

use crate::consumer::{ATTEMPT_HEADER, ERROR_HEADER, attempt_of, parked_reason};
use crate::{BrokerError, OutgoingMessage, Publisher};

/// One parked message, as an operator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    pub message_id: String,
    pub kind: String,
    /// How many times it was tried before it was parked.
    pub attempt: u32,
    /// Why it was parked.
    pub reason: String,
}

/// The messages parked in `dead_queue`, oldest first, at most `limit`. Nothing is taken out:
/// the messages are held unacknowledged while they are read and given back when the channel
/// closes.
pub async fn list(
    connection: &Connection,
    dead_queue: &str,
    limit: usize,
) -> Result<Vec<Parked>, BrokerError> {
    let channel = connection.create_channel().await?;
    let mut parked = Vec::new();
    while parked.len() < limit {
        let Some(message) = next_unacknowledged(&channel, dead_queue).await? else {
            break;
        };
        let delivery = &message.delivery;
        parked.push(Parked {
            message_id: text(delivery.properties.message_id()),
            kind: text(delivery.properties.kind()),
            attempt: attempt_of(delivery).saturating_sub(1),
            reason: parked_reason(delivery).unwrap_or_default(),
        });
    }
    let _ = channel.close(200, "listed".into()).await;
    Ok(parked)
}

/// Moves the messages parked in `dead_queue` (only the one with `message_id`, when given)
/// back into `work_queue`, as new: their attempt count and parking reason are removed. Each
/// is taken out of the dead-letter queue only once RabbitMQ confirmed its copy. A message
/// replayed and parked again meanwhile is not replayed twice in one call (it waits for the
/// next). Messages given back a moment ago (by a `list`) may take a moment to be readable
/// again: a replay that finds none can simply be run again. Returns how many were replayed.
pub async fn replay(
    connection: &Connection,
    dead_queue: &str,
    work_queue: &str,
    message_id: Option<&str>,
) -> Result<usize, BrokerError> {
    let channel = connection.create_channel().await?;
    // Fails (closing the channel) when the queue does not exist.
    channel
        .queue_declare(
            dead_queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await?;
    let publisher = Publisher::open(connection).await?;
    let mut replayed = std::collections::HashSet::new();
    loop {
        let Some(message) = next_unacknowledged(&channel, dead_queue).await? else {
            break;
        };
        let delivery = &message.delivery;
        let id = text(delivery.properties.message_id());
        if replayed.contains(&id) {
            // Replayed and parked again already: held until the channel closes.
            break;
        }
        if message_id.is_some_and(|wanted| wanted != id) {
            continue;
        }
        let mut headers = delivery.properties.headers().clone().unwrap_or_default();
        let mut kept = FieldTable::default();
        for (name, value) in headers.inner() {
            if name.as_str() != ATTEMPT_HEADER && name.as_str() != ERROR_HEADER {
                kept.insert(name.clone(), value.clone());
            }
        }
        headers = kept;
        publisher
            .publish(OutgoingMessage {
                exchange: "",
                routing_key: work_queue,
                message_id: &id,
                kind: &text(delivery.properties.kind()),
                payload: &delivery.data,
                headers,
                expiration_ms: None,
            })
            .await?;
        delivery.ack(BasicAckOptions::default()).await?;
        replayed.insert(id);
    }
    // Messages read but not replayed go back to the dead-letter queue with the channel.
    let _ = channel.close(200, "replayed".into()).await;
    Ok(replayed.len())
}

/// The next message of `queue`, held unacknowledged on `channel` (given back when the
/// channel closes unless acknowledged); `None` when the queue has nothing more to give.
async fn next_unacknowledged(
    channel: &lapin::Channel,
    queue: &str,
) -> Result<Option<lapin::message::BasicGetMessage>, BrokerError> {
    Ok(channel
        .basic_get(queue.into(), BasicGetOptions { no_ack: false })
        .await?)
}

fn text(value: &Option<lapin::types::ShortString>) -> String {
    value
        .as_ref()
        .map(|value| value.as_str().to_owned())
        .unwrap_or_default()
}
