//! Lifecycles: named, ordered phases of environments that releases move through.

use ferry_domain::lifecycle::{Lifecycle, Phase};
use ferry_domain::{LifecycleId, LifecycleName};
use uuid::Uuid;

use crate::paging::{Page, PageRequest};
use crate::{CachedQueries, GenericClient, StorageError, id, json_column, parsed};

#[derive(Debug, Clone)]
pub struct StoredLifecycle {
    pub lifecycle_id: LifecycleId,
    pub lifecycle: Lifecycle,
}

fn from_row(row: &tokio_postgres::Row) -> Result<StoredLifecycle, StorageError> {
    let name: LifecycleName = parsed(row, 1, "lifecycles.name")?;
    let phases: Vec<Phase> = json_column(row.get(2), "lifecycle phases")?;
    let lifecycle = Lifecycle::new(name, phases)
        .map_err(|error| StorageError::Corrupt(format!("lifecycle: {error}")))?;
    Ok(StoredLifecycle {
        lifecycle_id: id(row, 0),
        lifecycle,
    })
}

pub async fn insert(
    client: &impl GenericClient,
    lifecycle: &Lifecycle,
) -> Result<StoredLifecycle, StorageError> {
    let lifecycle_id = LifecycleId::from(Uuid::now_v7());
    let phases = serde_json::to_value(lifecycle.phases())
        .map_err(|error| StorageError::Corrupt(error.to_string()))?;
    client
        .execute_cached(
            "INSERT INTO lifecycles (lifecycle_id, name, phases) VALUES ($1, $2, $3)",
            &[lifecycle_id.as_uuid(), &lifecycle.name.as_str(), &phases],
        )
        .await
        .map_err(|error| {
            StorageError::conflict_or(error, || format!("lifecycle `{}`", lifecycle.name))
        })?;
    Ok(StoredLifecycle {
        lifecycle_id,
        lifecycle: lifecycle.clone(),
    })
}

pub async fn update(
    client: &impl GenericClient,
    lifecycle_id: LifecycleId,
    lifecycle: &Lifecycle,
) -> Result<(), StorageError> {
    let phases = serde_json::to_value(lifecycle.phases())
        .map_err(|error| StorageError::Corrupt(error.to_string()))?;
    client
        .execute_cached(
            "UPDATE lifecycles SET name = $2, phases = $3, updated_at = now() WHERE lifecycle_id = $1",
            &[lifecycle_id.as_uuid(), &lifecycle.name.as_str(), &phases],
        )
        .await
        .map_err(|error| {
            StorageError::conflict_or(error, || format!("lifecycle `{}`", lifecycle.name))
        })?;
    Ok(())
}

/// Finds a lifecycle by id or by name (case-insensitive).
pub async fn find(
    client: &impl GenericClient,
    id_or_name: &str,
) -> Result<Option<StoredLifecycle>, StorageError> {
    if let Ok(lifecycle_id) = id_or_name.parse::<LifecycleId>() {
        return find_by_id(client, lifecycle_id).await;
    }
    client
        .query_opt_cached(
            "SELECT lifecycle_id, name, phases FROM lifecycles WHERE lower(name) = lower($1)",
            &[&id_or_name],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

pub async fn find_by_id(
    client: &impl GenericClient,
    lifecycle_id: LifecycleId,
) -> Result<Option<StoredLifecycle>, StorageError> {
    client
        .query_opt_cached(
            "SELECT lifecycle_id, name, phases FROM lifecycles WHERE lifecycle_id = $1",
            &[lifecycle_id.as_uuid()],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A page of lifecycles by name; `None` when the cursor names no lifecycle.
pub async fn list(
    client: &impl GenericClient,
    page: &PageRequest<LifecycleId>,
) -> Result<Option<Page<StoredLifecycle>>, StorageError> {
    let after: Option<String> = match page.after {
        None => None,
        Some(cursor) => match client
            .query_opt_cached(
                "SELECT name FROM lifecycles WHERE lifecycle_id = $1",
                &[cursor.as_uuid()],
            )
            .await?
        {
            Some(row) => Some(row.get(0)),
            None => return Ok(None),
        },
    };
    let items = client
        .query_cached(
            "SELECT lifecycle_id, name, phases FROM lifecycles
             WHERE $1::text IS NULL OR name > $1 ORDER BY name LIMIT $2",
            &[&after, &page.fetch()],
        )
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Page::from_rows(items, page)))
}
