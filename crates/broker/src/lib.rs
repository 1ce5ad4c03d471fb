//! RabbitMQ plumbing shared by every service: the topology, publishing with confirms, and a
//! consumer loop with manual acks, retry-with-delay and a dead-letter queue.
//!
//! Architecture invariant: this crate knows RabbitMQ and JSON, nothing about deployments.
//! What a message means is the business of the service that consumes it.

mod consumer;
pub mod dead_letters;
mod link;
mod publisher;
mod topology;

pub use consumer::{
    ConsumerOptions, Handled, Rights, arrived_through, attempt_of, parked_reason, run_consumer,
};
pub use lapin::message::Delivery;
pub use lapin::types::FieldTable;
pub use lapin::{Channel, Connection};
pub use link::{Link, Linked};
pub use publisher::{OutgoingMessage, Publisher};
pub use topology::{QueueSpec, Topology, WorkerPermissions};

use lapin::ConnectionProperties;

/// Errors talking to RabbitMQ. All of them are worth retrying later: a broker that is down
/// comes back.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("RabbitMQ: {0}")]
    Amqp(#[from] lapin::Error),
    #[error("RabbitMQ did not confirm message {message_id} in time (its connection may be gone)")]
    Unconfirmed { message_id: String },
    #[error("RabbitMQ refused message {message_id} (negative acknowledgement)")]
    Nacked { message_id: String },
    #[error(
        "RabbitMQ could not route message {message_id} to any queue (exchange `{exchange}`, routing key `{routing_key}`)"
    )]
    Unroutable {
        message_id: String,
        exchange: String,
        routing_key: String,
    },
    #[error(
        "queue `{queue}` was declared by an older Ferry with other arguments and holds {messages} messages for {consumers} consumers: stop its consumers, let it drain (or move its messages), delete it, and start again"
    )]
    OutdatedQueue {
        queue: String,
        messages: u32,
        consumers: u32,
    },
    #[error("RabbitMQ did not answer a connection attempt in time")]
    ConnectTimeout,
    #[error("RabbitMQ ended the consumer of `{queue}`")]
    ConsumerEnded { queue: String },
    #[error("message is not valid JSON for its type: {0}")]
    Json(#[from] serde_json::Error),
}

/// Opens a connection to RabbitMQ, naming the service in the management UI.
pub async fn connect(url: &str, connection_name: &str) -> Result<Connection, BrokerError> {
    let properties = ConnectionProperties::default().with_connection_name(connection_name.into());
    Ok(Connection::connect(url, properties).await?)
}
