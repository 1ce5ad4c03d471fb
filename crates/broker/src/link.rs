//! A connection to RabbitMQ that comes back. Every service holds one [`Link`]: whoever finds
//! the connection gone (a consumer whose stream ended, a publisher whose confirm failed)
//! asks the link for a connection again, and the link reconnects, once for everybody, with
//! a doubling delay. While it cannot, [`Link::is_up`] says so (the API's `/health`).
//!
//! Topology is declared by each user of the connection after it gets one (the API declares
//! everything again, owning consumers their queues, every time they start; a worker only
//! checks that its queue exists), so a broker that lost its definitions gets them back.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use lapin::Connection;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::{BrokerError, Publisher};

const FIRST_DELAY: Duration = Duration::from_millis(200);
const MAX_DELAY: Duration = Duration::from_secs(5);
/// How long one connection attempt may take (a broker that accepts but never answers).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// One live connection and a publisher channel on it.
#[derive(Clone)]
pub struct Linked {
    pub connection: Arc<Connection>,
    pub publisher: Publisher,
}

pub struct Link {
    url: String,
    name: String,
    current: Mutex<Option<Linked>>,
    up: AtomicBool,
}

impl std::fmt::Debug for Link {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link")
            .field("name", &self.name)
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link that connects on first use.
    pub fn new(url: &str, name: &str) -> Arc<Link> {
        Arc::new(Link {
            url: url.to_owned(),
            name: name.to_owned(),
            current: Mutex::new(None),
            up: AtomicBool::new(false),
        })
    }

    /// Connects now, once: for start-up, where an unreachable broker is an error to report.
    pub async fn connect(&self) -> Result<Linked, BrokerError> {
        let mut current = self.current.lock().await;
        self.ensure(&mut current).await
    }

    /// The current connection, or a new one if it is gone: tries until it succeeds or
    /// `shutdown` is cancelled (then `None`).
    pub async fn get(&self, shutdown: &CancellationToken) -> Option<Linked> {
        let mut delay = FIRST_DELAY;
        loop {
            let attempt = {
                let mut current = self.current.lock().await;
                self.ensure(&mut current).await
            };
            match attempt {
                Ok(linked) => return Some(linked),
                Err(error) => {
                    tracing::warn!(%error, connection = %self.name, retry_in_ms = delay.as_millis() as u64, "RabbitMQ is not reachable");
                }
            }
            tokio::select! {
                () = shutdown.cancelled() => return None,
                () = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(MAX_DELAY);
        }
    }

    /// A publisher on the current connection, or an error if there is none right now (the
    /// caller keeps what it meant to publish and tries again).
    pub async fn publisher(&self) -> Result<Publisher, BrokerError> {
        let mut current = self.current.lock().await;
        Ok(self.ensure(&mut current).await?.publisher)
    }

    /// Whether the connection is up (as last seen).
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
            && self
                .current
                .try_lock()
                .map(|current| {
                    current
                        .as_ref()
                        .is_none_or(|linked| linked.connection.status().connected())
                })
                .unwrap_or(true)
    }

    /// Closes the connection (at shutdown).
    pub async fn close(&self, why: &str) {
        if let Some(linked) = self.current.lock().await.take() {
            let _ = linked.connection.close(200, why.into()).await;
        }
        self.up.store(false, Ordering::Relaxed);
    }

    async fn ensure(&self, current: &mut Option<Linked>) -> Result<Linked, BrokerError> {
        if let Some(linked) = current.as_ref() {
            if linked.connection.status().connected() {
                if linked.publisher.channel().status().connected() {
                    return Ok(linked.clone());
                }
                // The channel closed (a refused publish closes it), the connection did not.
                let publisher = open_publisher(&linked.connection).await?;
                let linked = Linked {
                    connection: Arc::clone(&linked.connection),
                    publisher,
                };
                *current = Some(linked.clone());
                return Ok(linked);
            }
            tracing::warn!(connection = %self.name, "lost the RabbitMQ connection; reconnecting");
            *current = None;
        }
        self.up.store(false, Ordering::Relaxed);
        let connection =
            tokio::time::timeout(CONNECT_TIMEOUT, crate::connect(&self.url, &self.name))
                .await
                .map_err(|_| BrokerError::ConnectTimeout)??;
        let connection = Arc::new(connection);
        let publisher = open_publisher(&connection).await?;
        let linked = Linked {
            connection,
            publisher,
        };
        *current = Some(linked.clone());
        self.up.store(true, Ordering::Relaxed);
        tracing::info!(connection = %self.name, "connected to RabbitMQ");
        Ok(linked)
    }
}

/// A publisher channel, or an error when RabbitMQ does not open one in time.
async fn open_publisher(connection: &Connection) -> Result<Publisher, BrokerError> {
    tokio::time::timeout(CONNECT_TIMEOUT, Publisher::open(connection))
        .await
        .map_err(|_| BrokerError::ConnectTimeout)?
}
