//! Interruptions: the questions a paused deployment waits on (a manual intervention, or what
//! to do about a failed step under guided failure), who took them and how they were answered.

use chrono::{DateTime, Utc};
use ferry_domain::deployment::Answer;
use ferry_domain::{DeploymentId, InterruptionId, StepRunId, TeamName};

use crate::paging::{Page, PageRequest};
use crate::{CachedQueries, GenericClient, StorageError, corrupt_column, id, optional_parsed};

pub use ferry_domain::deployment::InterruptionKind;

#[derive(Debug, Clone)]
pub struct Interruption {
    pub interruption_id: InterruptionId,
    pub deployment_id: DeploymentId,
    pub step_run_id: StepRunId,
    pub kind: InterruptionKind,
    pub instructions: String,
    pub responsible_team: Option<TeamName>,
    pub created_at: DateTime<Utc>,
    pub taken_by: Option<String>,
    pub taken_at: Option<DateTime<Utc>>,
    pub resolution: Option<Answer>,
    pub note: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str = "interruption_id, deployment_id, step_run_id, kind, instructions, \
     responsible_team, created_at, taken_by, taken_at, resolution, note, resolved_by, resolved_at";

fn from_row(row: &tokio_postgres::Row) -> Result<Interruption, StorageError> {
    let kind: String = row.get(3);
    let resolution: Option<String> = row.get(9);
    Ok(Interruption {
        interruption_id: id(row, 0),
        deployment_id: id(row, 1),
        step_run_id: id(row, 2),
        kind: InterruptionKind::parse(&kind)
            .ok_or_else(|| corrupt_column("interruptions.kind", format!("`{kind}`")))?,
        instructions: row.get(4),
        responsible_team: optional_parsed(row, 5, "interruptions.responsible_team")?,
        created_at: row.get(6),
        taken_by: row.get(7),
        taken_at: row.get(8),
        resolution: resolution
            .map(|raw| {
                Answer::parse(&raw)
                    .ok_or_else(|| corrupt_column("interruptions.resolution", format!("`{raw}`")))
            })
            .transpose()?,
        note: row.get(10),
        resolved_by: row.get(11),
        resolved_at: row.get(12),
    })
}

/// Loads one interruption without locking it.
pub async fn find(
    client: &impl GenericClient,
    interruption_id: InterruptionId,
) -> Result<Option<Interruption>, StorageError> {
    client
        .query_opt_cached(
            &format!("SELECT {COLUMNS} FROM interruptions WHERE interruption_id = $1"),
            &[interruption_id.as_uuid()],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// Loads one interruption and locks it until the transaction ends.
pub async fn lock(
    client: &impl GenericClient,
    interruption_id: InterruptionId,
) -> Result<Option<Interruption>, StorageError> {
    client
        .query_opt_cached(
            &format!("SELECT {COLUMNS} FROM interruptions WHERE interruption_id = $1 FOR UPDATE"),
            &[interruption_id.as_uuid()],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// The unanswered interruption of a deployment (at most one), locked until the transaction
/// ends. Lock order: after the deployment's row.
pub async fn lock_open(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
) -> Result<Option<Interruption>, StorageError> {
    client
        .query_opt_cached(
            &format!(
                "SELECT {COLUMNS} FROM interruptions
                 WHERE deployment_id = $1 AND resolved_at IS NULL
                 ORDER BY created_at DESC LIMIT 1 FOR UPDATE"
            ),
            &[deployment_id.as_uuid()],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}

/// A page of the interruptions nobody has answered yet, oldest first; `None` when the
/// cursor names no interruption (answered ones still count as positions).
pub async fn pending(
    client: &impl GenericClient,
    page: &PageRequest<InterruptionId>,
) -> Result<Option<Page<Interruption>>, StorageError> {
    let after: Option<(DateTime<Utc>, uuid::Uuid)> = match page.after {
        None => None,
        Some(cursor) => match client
            .query_opt_cached(
                "SELECT created_at, interruption_id FROM interruptions WHERE interruption_id = $1",
                &[cursor.as_uuid()],
            )
            .await?
        {
            Some(row) => Some((row.get(0), row.get(1))),
            None => return Ok(None),
        },
    };
    let (created_at, interruption_id) = after.unzip();
    let items = client
        .query_cached(
            &format!(
                "SELECT {COLUMNS} FROM interruptions WHERE resolved_at IS NULL
                 AND ($1::timestamptz IS NULL OR (created_at, interruption_id) > ($1, $2::uuid))
                 ORDER BY created_at, interruption_id LIMIT $3"
            ),
            &[&created_at, &interruption_id, &page.fetch()],
        )
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Page::from_rows(items, page)))
}

/// Every interruption of a deployment, in order.
pub async fn of_deployment(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
) -> Result<Vec<Interruption>, StorageError> {
    client
        .query_cached(
            &format!(
                "SELECT {COLUMNS} FROM interruptions WHERE deployment_id = $1 ORDER BY created_at"
            ),
            &[deployment_id.as_uuid()],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
}
