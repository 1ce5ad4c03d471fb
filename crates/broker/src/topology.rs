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
//!   parked for an operator to inspect and replay. `Q` names it as its dead-letter target, so
//!   a consumer without the right to publish (a worker) parks a message by rejecting it, and
//!   RabbitMQ 4's redelivery limit on quorum queues parks instead of dropping.
//!
//! Worker pools are kept apart (ARCHITECTURE.md, "Threat model"): a pool's workers read only
//! `ferry.step-jobs.<pool>` and publish their step events only to
//! `ferry.worker-events.<pool>`, an exchange of their own that the API binds to
//! `ferry.step-events`; the API refuses an event that arrived through another pool's exchange
//! than its deployment's. [`Topology::worker_permissions`] gives the RabbitMQ permissions of
//! a pool's user. The API declares everything; a worker declares nothing but its private
//! control queue.

use lapin::options::{
    ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ExchangeKind};

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

    /// The exchange a pool's workers publish their step events to.
    pub fn worker_events_exchange(&self, worker_pool: &str) -> String {
        format!("{}.worker-events.{worker_pool}", self.prefix)
    }

    /// The pool whose worker-events exchange `exchange` is, if it is one.
    pub fn pool_of_worker_events<'a>(&self, exchange: &'a str) -> Option<&'a str> {
        exchange
            .strip_prefix(self.prefix.as_str())?
            .strip_prefix(".worker-events.")
            .filter(|pool| !pool.is_empty())
    }

    /// The RabbitMQ permissions (configure, write, read regular expressions, for the vhost)
    /// of the user of one worker pool's workers: read its job queue, the control exchange and
    /// its private control queue; publish to its events exchange; declare and bind only its
    /// private (server-named) control queue.
    pub fn worker_permissions(&self, worker_pool: &str) -> WorkerPermissions {
        let prefix = regex_escape(&self.prefix);
        let pool = regex_escape(worker_pool);
        WorkerPermissions {
            configure: r"^amq\.gen-.*$".to_owned(),
            write: format!(r"^(amq\.gen-.*|{prefix}\.worker-events\.{pool})$"),
            read: format!(r"^(amq\.gen-.*|{prefix}\.step-jobs\.{pool}|{prefix}\.control)$"),
        }
    }

    /// Declares what one worker pool needs: its job queue (with its retry and dead-letter
    /// queues) and its events exchange, bound to the step-events queue. Idempotent.
    pub async fn declare_pool(
        &self,
        connection: &Connection,
        worker_pool: &str,
    ) -> Result<(), BrokerError> {
        self.declare_queue(connection, &self.step_jobs(worker_pool))
            .await?;
        let channel = connection.create_channel().await?;
        let exchange = self.worker_events_exchange(worker_pool);
        channel
            .exchange_declare(
                exchange.clone().into(),
                ExchangeKind::Direct,
                ExchangeDeclareOptions {
                    durable: true,
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        let events = self.step_events();
        channel
            .queue_bind(
                events.queue.into(),
                exchange.into(),
                events.routing_key.into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        let _ = channel.close(200, "declared".into()).await;
        Ok(())
    }

    /// Checks that a queue exists without declaring it (which takes the right to configure
    /// it). A queue that does not exist is an error, which closes `channel`.
    pub async fn check_queue(&self, channel: &Channel, queue: &str) -> Result<(), BrokerError> {
        self.consumer_count(channel, queue).await.map(|_| ())
    }

    /// Declares a private queue bound to the control exchange, which must exist (the API
    /// declares it), deleted when the declaring connection closes; returns its name. Control
    /// messages are only useful to workers alive when they are sent, so nothing is kept for
    /// absent ones.
    pub async fn bind_control_queue(&self, channel: &Channel) -> Result<String, BrokerError> {
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

    /// Fanout exchange for control messages every worker hears (stop a step).
    pub fn control_exchange(&self) -> String {
        format!("{}.control", self.prefix)
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

    /// Declares a work queue with its retry and dead-letter queues, and binds it, on a
    /// channel of its own. Idempotent. A work queue an older Ferry declared without a
    /// dead-letter target is replaced when it is empty and unused; otherwise the error says
    /// what to do.
    pub async fn declare_queue(
        &self,
        connection: &Connection,
        spec: &QueueSpec,
    ) -> Result<(), BrokerError> {
        let channel = connection.create_channel().await?;
        let declared = match self.declare_queue_on(&channel, spec).await {
            Err(error) if error.to_string().contains("PRECONDITION_FAILED") => {
                let channel = connection.create_channel().await?;
                let existing = channel
                    .queue_declare(
                        spec.queue.clone().into(),
                        QueueDeclareOptions {
                            passive: true,
                            ..QueueDeclareOptions::default()
                        },
                        FieldTable::default(),
                    )
                    .await?;
                if existing.message_count() > 0 || existing.consumer_count() > 0 {
                    return Err(BrokerError::OutdatedQueue {
                        queue: spec.queue.clone(),
                        messages: existing.message_count(),
                        consumers: existing.consumer_count(),
                    });
                }
                tracing::warn!(queue = %spec.queue, "replacing an empty queue declared by an older Ferry with other arguments");
                channel
                    .queue_delete(
                        spec.queue.clone().into(),
                        QueueDeleteOptions {
                            if_unused: true,
                            if_empty: true,
                            ..QueueDeleteOptions::default()
                        },
                    )
                    .await?;
                let replaced = self.declare_queue_on(&channel, spec).await;
                let _ = channel.close(200, "declared".into()).await;
                return replaced;
            }
            other => other,
        };
        let _ = channel.close(200, "declared".into()).await;
        declared
    }

    async fn declare_queue_on(
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
        // A message a consumer rejects (a worker, which may not publish anywhere else) or
        // that RabbitMQ 4 stops redelivering (its delivery limit) is parked, not dropped.
        // Not on the step-events queue: workers publish there, and a message RabbitMQ parks
        // itself (one a worker let expire) would keep the headers its sender chose, which a
        // replay would then believe (`consumer::arrived_through`). Only the API consumes it,
        // and it parks by publishing a copy whose headers it writes.
        let mut work = quorum.clone();
        if spec.queue != self.step_events().queue {
            work.insert("x-dead-letter-exchange".into(), long_string(""));
            work.insert(
                "x-dead-letter-routing-key".into(),
                long_string(&spec.dead_letter_queue()),
            );
        }
        channel
            .queue_declare(spec.queue.clone().into(), durable, work)
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

/// The RabbitMQ permissions of one user, as regular expressions over resource names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerPermissions {
    pub configure: String,
    pub write: String,
    pub read: String,
}

/// `text` with the characters that mean something in a regular expression escaped.
fn regex_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
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
