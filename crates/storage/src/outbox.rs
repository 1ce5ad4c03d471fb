//! The transactional outbox: messages written with the state change that implies them.

use crate::CachedQueries;
use uuid::Uuid;

use crate::{GenericClient, StorageError};

/// A message to publish once the surrounding transaction commits.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub message_id: Uuid,
    pub exchange: String,
    pub routing_key: String,
    pub kind: String,
    pub payload: serde_json::Value,
}

/// A stored message the relay has not published yet.
#[derive(Debug, Clone)]
pub struct PendingMessage {
    pub outbox_id: i64,
    pub message_id: Uuid,
    pub exchange: String,
    pub routing_key: String,
    pub kind: String,
    pub payload: serde_json::Value,
}

/// Writes a message; returns its row's id.
pub async fn enqueue(
    client: &impl GenericClient,
    message: &NewMessage,
) -> Result<i64, StorageError> {
    let row = client
        .query_one_cached(
            "INSERT INTO outbox (message_id, exchange, routing_key, kind, payload)
             VALUES ($1, $2, $3, $4, $5) RETURNING outbox_id",
            &[
                &message.message_id,
                &message.exchange,
                &message.routing_key,
                &message.kind,
                &message.payload,
            ],
        )
        .await?;
    Ok(row.get(0))
}

/// Locks up to `limit` unpublished messages, oldest first, skipping rows another relay holds.
pub async fn lock_pending(
    client: &impl GenericClient,
    limit: i64,
) -> Result<Vec<PendingMessage>, StorageError> {
    let rows = client
        .query_cached(
            "SELECT outbox_id, message_id, exchange, routing_key, kind, payload
             FROM outbox WHERE published_at IS NULL
               AND (next_attempt_at IS NULL OR next_attempt_at <= now())
             ORDER BY outbox_id LIMIT $1 FOR UPDATE SKIP LOCKED",
            &[&limit],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| PendingMessage {
            outbox_id: row.get(0),
            message_id: row.get(1),
            exchange: row.get(2),
            routing_key: row.get(3),
            kind: row.get(4),
            payload: row.get(5),
        })
        .collect())
}

pub async fn mark_published(
    client: &impl GenericClient,
    outbox_ids: &[i64],
) -> Result<(), StorageError> {
    if outbox_ids.is_empty() {
        return Ok(());
    }
    client
        .execute_cached(
            "UPDATE outbox SET published_at = now(), attempts = attempts + 1
             WHERE outbox_id = ANY($1)",
            &[&outbox_ids],
        )
        .await?;
    Ok(())
}

pub async fn mark_failed(
    client: &impl GenericClient,
    outbox_id: i64,
    error: &str,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $2,
                 next_attempt_at = now() + least(interval '60 seconds',
                                                 interval '250 milliseconds' * power(2, least(attempts, 10)))
             WHERE outbox_id = $1",
            &[&outbox_id, &error],
        )
        .await?;
    Ok(())
}

/// How many messages wait to be published (for health and tests).
pub async fn pending_count(client: &impl GenericClient) -> Result<i64, StorageError> {
    let row = client
        .query_one_cached(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL",
            &[],
        )
        .await?;
    Ok(row.get(0))
}
