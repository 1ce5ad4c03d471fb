//! Schema migrations, embedded in the binary and applied in order at start-up.

use crate::{Pool, StorageError};

/// Every migration, in order. Never edit one that has shipped: add a new one.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "spine", include_str!("../migrations/0001_spine.sql")),
    (
        2,
        "deployment model",
        include_str!("../migrations/0002_deployment_model.sql"),
    ),
    (
        3,
        "deployment variables",
        include_str!("../migrations/0003_deployment_variables.sql"),
    ),
    (
        4,
        "attempt leases",
        include_str!("../migrations/0004_attempt_leases.sql"),
    ),
    (
        5,
        "dispatched pool",
        include_str!("../migrations/0005_dispatched_pool.sql"),
    ),
    (
        6,
        "outbox backoff",
        include_str!("../migrations/0006_outbox_backoff.sql"),
    ),
    (
        7,
        "dispatched pool backfill",
        include_str!("../migrations/0007_dispatched_pool_backfill.sql"),
    ),
    (
        8,
        "claim ids",
        include_str!("../migrations/0008_claim_ids.sql"),
    ),
    (9, "targets", include_str!("../migrations/0009_targets.sql")),
    (
        10,
        "target_runs",
        include_str!("../migrations/0010_target_runs.sql"),
    ),
    (
        11,
        "target checks",
        include_str!("../migrations/0011_target_checks.sql"),
    ),
    (
        12,
        "state version",
        include_str!("../migrations/0012_state_version.sql"),
    ),
    (
        13,
        "log lines without foreign keys",
        include_str!("../migrations/0013_log_lines_without_foreign_keys.sql"),
    ),
];

/// An arbitrary constant: the advisory lock that serialises concurrent migrators.
const MIGRATION_LOCK: i64 = 0x4645_5252_5900;

/// Applies every migration not applied yet, in one transaction per migration. Safe to call
/// from several processes at once: they take turns on an advisory lock.
pub async fn migrate(pool: &Pool) -> Result<(), StorageError> {
    let mut client = pool.get().await?;
    let transaction = client.transaction().await?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY,
                name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    let applied: Vec<i32> = transaction
        .query("SELECT version FROM schema_migrations", &[])
        .await?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tracing::info!(version, name, "applying migration");
        transaction.batch_execute(sql).await?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await?;
    }
    transaction.commit().await?;
    Ok(())
}

/// A short fingerprint of every migration's text: tests name their migrated template
/// database after it, so a changed migration never reuses a stale template.
pub fn fingerprint() -> String {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for (version, name, sql) in MIGRATIONS {
        for byte in version
            .to_le_bytes()
            .iter()
            .chain(name.as_bytes())
            .chain(sql.as_bytes())
        {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}
