//! Environments (Dev, Test, Prod), in the order they were created.

use crate::CachedQueries;
use ferry_domain::EnvironmentName;
use uuid::Uuid;

use crate::{GenericClient, StorageError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Environment {
    pub environment_id: Uuid,
    pub name: String,
}

pub async fn insert(
    client: &impl GenericClient,
    name: &EnvironmentName,
) -> Result<Environment, StorageError> {
    let environment_id = Uuid::now_v7();
    client
        .execute_cached(
            "INSERT INTO environments (environment_id, name) VALUES ($1, $2)",
            &[&environment_id, &name.as_str()],
        )
        .await
        .map_err(|error| StorageError::conflict_or(error, || format!("environment `{name}`")))?;
    Ok(Environment {
        environment_id,
        name: name.as_str().to_owned(),
    })
}

pub async fn list(client: &impl GenericClient) -> Result<Vec<Environment>, StorageError> {
    let rows = client
        .query_cached(
            "SELECT environment_id, name FROM environments ORDER BY sort_order",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| Environment {
            environment_id: row.get(0),
            name: row.get(1),
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
                        "SELECT environment_id, name FROM environments WHERE environment_id = $1",
                        &[&id],
                    )
                    .await?
            }
            Err(_) => client
                .query_opt_cached(
                    "SELECT environment_id, name FROM environments WHERE lower(name) = lower($1)",
                    &[&id_or_name],
                )
                .await?,
        };
    Ok(row.map(|row| Environment {
        environment_id: row.get(0),
        name: row.get(1),
    }))
}
