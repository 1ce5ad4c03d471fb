//! Names and declarations of Ferry's exchanges and queues.
//!
//! Every name starts with a prefix (`ferry` by default) so that several Ferry installations,
//! or parallel tests, can share one RabbitMQ without seeing each other's messages.
//!
//! For each work queue `Q` there are three queues:
//! - `Q`: durable quorum queue the consumers read;
//! - `Q.retry`: durable classic queue holding messages for a later attempt; each message
//!   carries its own expiration, and when it expires it is dead-lettered back to `Q`;
//! - `Q.dead`: durable quorum queue where messages that failed permanently, or too often, are
//!   parked for an operator to inspect and replay.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, ExchangeKind};

use crate::BrokerError;

/// The prefix-qualified names of Ferry's exchanges and queues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    prefix: String,
}

/// A work queue and the binding that feeds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub queue: String,
    pub exchange: String,
    pub routing_key: String,
}

impl QueueSpec {
    pub fn retry_queue(&self) -> String {
        format!("{}.retry", self.queue)
    }

    pub fn dead_letter_queue(&self) -> String {
        format!("{}.dead", self.queue)
    }
}

impl Topology {
    pub fn new(prefix: &str) -> Self {
        Topology {
            prefix: prefix.to_owned(),
        }
    }

    /// Direct exchange for jobs; the routing key is the worker pool.
    pub fn jobs_exchange(&self) -> String {
        format!("{}.jobs", self.prefix)
    }

    /// Direct exchange for events; the routing key is the event kind.
    pub fn events_exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    /// Step jobs for one worker pool.
    pub fn step_jobs(&self, worker_pool: &str) -> QueueSpec {
        QueueSpec {
            queue: format!("{}.step-jobs.{worker_pool}", self.prefix),
            exchange: self.jobs_exchange(),
            routing_key: worker_pool.to_owned(),
        }
    }

    /// Step events from workers to the API.
    pub fn step_events(&self) -> QueueSpec {
        QueueSpec {
            queue: format!("{}.step-events", self.prefix),
            exchange: self.events_exchange(),
            routing_key: "step_event".to_owned(),
        }
    }

    /// Finished deployments, for the notifier.
    pub fn deployment_finished(&self) -> QueueSpec {
        QueueSpec {
            queue: format!("{}.deployment-finished", self.prefix),
            exchange: self.events_exchange(),
            routing_key: "deployment_finished".to_owned(),
        }
    }

    /// Fanout exchange for control messages every worker hears (stop a step).
    pub fn control_exchange(&self) -> String {
        format!("{}.control", self.prefix)
    }

    /// Declares the control exchange and a private queue bound to it, deleted when the
    /// declaring connection closes; returns the queue's name. Control messages are only
    /// useful to workers alive when they are sent, so nothing is kept for absent ones.
    pub async fn declare_control_queue(&self, channel: &Channel) -> Result<String, BrokerError> {
        self.declare_control_exchange(channel).await?;
        let queue = channel
            .queue_declare(
                "".into(),
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let name = queue.name().as_str().to_owned();
        channel
            .queue_bind(
                name.clone().into(),
                self.control_exchange().into(),
                "".into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(name)
    }

    /// Declares the control exchange alone (for publishers). Idempotent.
    pub async fn declare_control_exchange(&self, channel: &Channel) -> Result<(), BrokerError> {
        channel
            .exchange_declare(
                self.control_exchange().into(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(())
    }

    /// How many consumers a queue has (a passive declare: a queue that does not exist is an
    /// error, which closes `channel`).
    pub async fn consumer_count(&self, channel: &Channel, queue: &str) -> Result<u32, BrokerError> {
        let declared = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(declared.consumer_count())
    }

    /// Declares both exchanges. Idempotent.
    pub async fn declare_exchanges(&self, channel: &Channel) -> Result<(), BrokerError> {
        for exchange in [self.jobs_exchange(), self.events_exchange()] {
            channel
                .exchange_declare(
                    exchange.into(),
                    ExchangeKind::Direct,
                    ExchangeDeclareOptions {
                        durable: true,
                        ..ExchangeDeclareOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
        }
        Ok(())
    }

    /// Declares a work queue with its retry and dead-letter queues, and binds it. Idempotent.
    pub async fn declare_queue(
        &self,
        channel: &Channel,
        spec: &QueueSpec,
    ) -> Result<(), BrokerError> {
        self.declare_exchanges(channel).await?;
        let durable = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        let mut quorum = FieldTable::default();
        quorum.insert("x-queue-type".into(), long_string("quorum"));
        channel
            .queue_declare(spec.queue.clone().into(), durable, quorum.clone())
            .await?;
        channel
            .queue_declare(spec.dead_letter_queue().into(), durable, quorum)
            .await?;
        let mut retry = FieldTable::default();
        retry.insert("x-queue-type".into(), long_string("classic"));
        retry.insert("x-dead-letter-exchange".into(), long_string(""));
        retry.insert("x-dead-letter-routing-key".into(), long_string(&spec.queue));
        channel
            .queue_declare(spec.retry_queue().into(), durable, retry)
            .await?;
        channel
            .queue_bind(
                spec.queue.clone().into(),
                spec.exchange.clone().into(),
                spec.routing_key.clone().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        Ok(())
    }
}

fn long_string(value: &str) -> AMQPValue {
    AMQPValue::LongString(value.into())
}

/// The value of a string header, if present.
pub(crate) fn header_string(headers: Option<&FieldTable>, name: &str) -> Option<String> {
    let key: ShortString = name.into();
    match headers?.inner().get(&key)? {
        AMQPValue::LongString(value) => {
            Some(String::from_utf8_lossy(value.as_bytes()).into_owned())
        }
        AMQPValue::ShortString(value) => Some(value.as_str().to_owned()),
        _ => None,
    }
}

/// The value of an integer header, if present.
pub(crate) fn header_integer(headers: Option<&FieldTable>, name: &str) -> Option<i64> {
    let key: ShortString = name.into();
    match headers?.inner().get(&key)? {
        AMQPValue::LongLongInt(value) => Some(*value),
        AMQPValue::LongInt(value) => Some(i64::from(*value)),
        AMQPValue::LongUInt(value) => Some(i64::from(*value)),
        AMQPValue::ShortInt(value) => Some(i64::from(*value)),
        AMQPValue::ShortUInt(value) => Some(i64::from(*value)),
        AMQPValue::ShortShortInt(value) => Some(i64::from(*value)),
        AMQPValue::ShortShortUInt(value) => Some(i64::from(*value)),
        _ => None,
    }
}
