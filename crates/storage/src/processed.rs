//! The record of consumed messages that makes consumers idempotent.

use crate::CachedQueries;
use uuid::Uuid;

use crate::{GenericClient, StorageError};

/// Records that `consumer` handled `message_id`. Returns `false` when it already had: the
/// caller must then change nothing.
pub async fn first_time(
    client: &impl GenericClient,
    consumer: &str,
    message_id: Uuid,
) -> Result<bool, StorageError> {
    let inserted = client
        .execute_cached(
            "INSERT INTO processed_messages (consumer, message_id) VALUES ($1, $2)
             ON CONFLICT DO NOTHING",
            &[&consumer, &message_id],
        )
        .await?;
    Ok(inserted == 1)
}
