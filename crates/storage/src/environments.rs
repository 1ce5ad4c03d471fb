//! Environments (Dev, Test, Prod), in the order they were created.

use crate::CachedQueries;
use ferry_domain::{EnvironmentId, EnvironmentName};
use uuid::Uuid;

use crate::paging::{Page, PageRequest};
use crate::{GenericClient, StorageError, id, parsed};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub environment_id: EnvironmentId,
    pub name: EnvironmentName,
    /// Whether failed steps pause for a person's decision here by default.
    pub guided_failure: bool,
}

pub async fn insert(
    client: &impl GenericClient,
    name: &EnvironmentName,
    guided_failure: bool,
) -> Result<Environment, StorageError> {
    let environment_id = EnvironmentId::from(Uuid::now_v7());
    client
        .execute_cached(
            "INSERT INTO environments (environment_id, name, guided_failure) VALUES ($1, $2, $3)",
            &[environment_id.as_uuid(), &name.as_str(), &guided_failure],
        )
        .await
        .map_err(|error| StorageError::conflict_or(error, || format!("environment `{name}`")))?;
    Ok(Environment {
        environment_id,
        name: name.clone(),
        guided_failure,
    })
}

/// A page of environments in promotion order; `None` when the cursor names no environment.
pub async fn list(
    client: &impl GenericClient,
    page: &PageRequest<EnvironmentId>,
) -> Result<Option<Page<Environment>>, StorageError> {
    let after: Option<i64> = match page.after {
        None => None,
        Some(cursor) => match client
            .query_opt_cached(
                "SELECT sort_order FROM environments WHERE environment_id = $1",
                &[cursor.as_uuid()],
            )
            .await?
        {
            Some(row) => Some(row.get(0)),
            None => return Ok(None),
        },
    };
    let rows = client
        .query_cached(
            "SELECT environment_id, name, guided_failure FROM environments
             WHERE $1::bigint IS NULL OR sort_order > $1 ORDER BY sort_order LIMIT $2",
            &[&after, &page.fetch()],
        )
        .await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Page::from_rows(items, page)))
}

/// Every environment in promotion order (there are few; lifecycles check names against them).
pub async fn all(client: &impl GenericClient) -> Result<Vec<Environment>, StorageError> {
    let rows = client
        .query_cached(
            "SELECT environment_id, name, guided_failure FROM environments ORDER BY sort_order",
            &[],
        )
        .await?;
    rows.iter().map(from_row).collect()
}

/// Finds an environment by id or by name (case-insensitive).
pub async fn find(
    client: &impl GenericClient,
    id_or_name: &str,
) -> Result<Option<Environment>, StorageError> {
    let row =
        match id_or_name.parse::<EnvironmentId>() {
            Ok(environment_id) => {
                client
                    .query_opt_cached(
                        "SELECT environment_id, name, guided_failure FROM environments WHERE environment_id = $1",
                        &[environment_id.as_uuid()],
                    )
                    .await?
            }
            Err(_) => client
                .query_opt_cached(
                    "SELECT environment_id, name, guided_failure FROM environments WHERE lower(name) = lower($1)",
                    &[&id_or_name],
                )
                .await?,
        };
    row.as_ref().map(from_row).transpose()
}

fn from_row(row: &tokio_postgres::Row) -> Result<Environment, StorageError> {
    Ok(Environment {
        environment_id: id(row, 0),
        name: parsed(row, 1, "environments.name")?,
        guided_failure: row.get(2),
    })
}

/// Changes an environment's guided-failure default.
pub async fn set_guided_failure(
    client: &impl GenericClient,
    environment_id: EnvironmentId,
    guided_failure: bool,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE environments SET guided_failure = $2 WHERE environment_id = $1",
            &[environment_id.as_uuid(), &guided_failure],
        )
        .await?;
    Ok(())
}
