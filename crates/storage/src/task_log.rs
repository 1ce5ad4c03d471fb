//! A deployment's task log: the lines workers send (keyed by step run, attempt and sequence,
//! so a redelivered batch inserts nothing twice) and the lines Ferry writes about the
//! deployment itself.

use chrono::{DateTime, Utc};
use ferry_contracts::{LogLine, LogStream};
use ferry_domain::{DeploymentId, StepRunId};

use crate::{CachedQueries, GenericClient, StorageError, corrupt_column, optional_id};

/// One line of a deployment's task log as stored.
#[derive(Debug, Clone)]
pub struct StoredLogLine {
    /// The line's id: lines of one deployment are written under its row lock, so a line
    /// committed later always has a greater id (a reader's cursor never skips one).
    pub log_line_id: i64,
    pub step_run_id: Option<StepRunId>,
    pub attempt: i32,
    pub stream: LogStream,
    pub logged_at: DateTime<Utc>,
    pub text: String,
}

/// The sequence the next log line of an attempt must have: lines are stored in order, so a
/// batch that starts later waits for the one before it (`StorageError::NotYet`).
pub async fn check_next_sequence(
    client: &impl GenericClient,
    step_run_id: StepRunId,
    attempt: i32,
    first: i64,
) -> Result<(), StorageError> {
    let row = client
        .query_one_cached(
            "SELECT coalesce(max(sequence) + 1, 0) FROM log_lines
             WHERE step_run_id = $1 AND attempt = $2",
            &[step_run_id.as_uuid(), &attempt],
        )
        .await?;
    let next: i64 = row.get(0);
    if first > next {
        return Err(StorageError::NotYet(format!(
            "log lines from {first} of step run {step_run_id} attempt {attempt} wait for lines {next} to {}",
            first - 1
        )));
    }
    Ok(())
}

/// Appends a worker's log lines; lines already stored (same step run, attempt and sequence)
/// are left as they are.
pub async fn append_step_log(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    step_run_id: StepRunId,
    attempt: i32,
    lines: &[LogLine],
) -> Result<(), StorageError> {
    if lines.is_empty() {
        return Ok(());
    }
    let sequences: Vec<i64> = lines.iter().map(|line| line.sequence).collect();
    let streams: Vec<&str> = lines.iter().map(|line| line.stream.as_str()).collect();
    let times: Vec<DateTime<Utc>> = lines.iter().map(|line| line.logged_at).collect();
    let texts: Vec<&str> = lines.iter().map(|line| line.text.as_str()).collect();
    client
        .execute_cached(
            "INSERT INTO log_lines (deployment_id, step_run_id, attempt, sequence, stream, logged_at, text)
             SELECT $1, $2, $3, sequence, stream, logged_at, text
             FROM unnest($4::int8[], $5::text[], $6::timestamptz[], $7::text[])
                 AS l(sequence, stream, logged_at, text)
             ORDER BY sequence
             ON CONFLICT (step_run_id, attempt, sequence) WHERE step_run_id IS NOT NULL DO NOTHING",
            &[
                deployment_id.as_uuid(),
                step_run_id.as_uuid(),
                &attempt,
                &sequences,
                &streams,
                &times,
                &texts,
            ],
        )
        .await?;
    Ok(())
}

/// Appends a line Ferry writes about the deployment itself.
pub async fn append_system_log(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    text: &str,
) -> Result<(), StorageError> {
    append_system_logs(client, deployment_id, &[text]).await
}

/// Appends lines Ferry writes about the deployment itself, in order, in one statement.
pub async fn append_system_logs(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    texts: &[&str],
) -> Result<(), StorageError> {
    match texts {
        [] => {}
        [text] => {
            client
                .execute_cached(
                    "INSERT INTO log_lines (deployment_id, stream, logged_at, text)
                     VALUES ($1, $3, now(), $2)",
                    &[deployment_id.as_uuid(), text, &LogStream::System.as_str()],
                )
                .await?;
        }
        texts => {
            client
                .execute_cached(
                    "INSERT INTO log_lines (deployment_id, stream, logged_at, text)
                     SELECT $1, $3, now(), text
                     FROM unnest($2::text[]) WITH ORDINALITY AS l(text, position)
                     ORDER BY position",
                    &[deployment_id.as_uuid(), &texts, &LogStream::System.as_str()],
                )
                .await?;
        }
    }
    Ok(())
}

/// The whole task log of a deployment, in the order it was written.
pub async fn task_log(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
) -> Result<Vec<StoredLogLine>, StorageError> {
    page(client, deployment_id, 0, i64::MAX).await
}

/// At most `limit` lines of a deployment's task log written after the line `after` (0: from
/// the start), in the order they were written.
pub async fn page(
    client: &impl GenericClient,
    deployment_id: DeploymentId,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredLogLine>, StorageError> {
    let rows = client
        .query_cached(
            "SELECT log_line_id, step_run_id, attempt, stream, logged_at, text FROM log_lines
             WHERE deployment_id = $1 AND log_line_id > $2 ORDER BY log_line_id LIMIT $3",
            &[deployment_id.as_uuid(), &after, &limit],
        )
        .await?;
    rows.iter()
        .map(|row| {
            let stream: String = row.get(3);
            Ok(StoredLogLine {
                log_line_id: row.get(0),
                step_run_id: optional_id(row, 1),
                attempt: row.get(2),
                stream: LogStream::parse(&stream)
                    .ok_or_else(|| corrupt_column("log_lines.stream", format!("`{stream}`")))?,
                logged_at: row.get(4),
                text: row.get(5),
            })
        })
        .collect()
}
