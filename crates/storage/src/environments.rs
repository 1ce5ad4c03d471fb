//! Environments (Dev, Test, Prod), in the order they were created.

use crate::CachedQueries;
use ferry_domain::EnvironmentName;
use uuid::Uuid;

use crate::{GenericClient, StorageError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub environment_id: Uuid,
    pub name: String,
    /// Whether failed steps pause for a person's decision here by default.
    pub guided_failure: bool,
}

pub async fn insert(
    client: &impl GenericClient,
    name: &EnvironmentName,
    guided_failure: bool,
) -> Result<Environment, StorageError> {
    let environment_id = Uuid::now_v7();
    client
        .execute_cached(
            "INSERT INTO environments (environment_id, name, guided_failure) VALUES ($1, $2, $3)",
            &[&environment_id, &name.as_str(), &guided_failure],
        )
        .await
        .map_err(|error| StorageError::conflict_or(error, || format!("environment `{name}`")))?;
    Ok(Environment {
        environment_id,
        name: name.as_str().to_owned(),
        guided_failure,
    })
}

pub async fn list(client: &impl GenericClient) -> Result<Vec<Environment>, StorageError> {
    let rows = client
        .query_cached(
            "SELECT environment_id, name, guided_failure FROM environments ORDER BY sort_order",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Environment {
            environment_id: row.get(0),
            name: row.get(1),
            guided_failure: row.get(2),
        })
        .collect())
}

/// Finds an environment by id or by name (case-insensitive).
pub async fn find(
    client: &impl GenericClient,
    id_or_name: &str,
) -> Result<Option<Environment>, StorageError> {
    let row =
        match Uuid::parse_str(id_or_name) {
            Ok(id) => {
                client
                    .query_opt_cached(
                        "SELECT environment_id, name, guided_failure FROM environments WHERE environment_id = $1",
                        &[&id],
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
    Ok(row.map(|row| Environment {
        environment_id: row.get(0),
        name: row.get(1),
        guided_failure: row.get(2),
    }))
}

/// Changes an environment's guided-failure default.
pub async fn set_guided_failure(
    client: &impl GenericClient,
    environment_id: Uuid,
    guided_failure: bool,
) -> Result<(), StorageError> {
    client
        .execute_cached(
            "UPDATE environments SET guided_failure = $2 WHERE environment_id = $1",
            &[&environment_id, &guided_failure],
        )
        .await?;
    Ok(())
}
