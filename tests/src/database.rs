//! The test databases: a template migrated once per migration fingerprint, and the fresh
//! clone of it each test stack gets.
//!
//! A template is built under a temporary name (`<template>_building`) and renamed to its real
//! name only once its migration succeeded, so the real name always means "fully migrated": a
//! migration that fails drops the half-built database, and one left behind by a process that
//! died mid-migration is dropped by the next builder instead of being cloned.

use std::future::Future;
use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

use crate::config::Servers;

/// The advisory lock every builder of a template holds, from before it looks for the template
/// until the template has its real name. Builders in other worktrees and processes share the
/// server, so they take turns; one that dies releases it with its session.
const TEMPLATE_LOCK: i64 = 727272;

/// The longest database name PostgreSQL keeps whole.
const MAX_NAME_BYTES: usize = 63;

/// What a template's building copy is called, beside its real name.
const BUILDING_SUFFIX: &str = "_building";

/// One test's database.
#[derive(Debug, Clone)]
pub struct TestDatabase {
    /// A superuser URL of it.
    pub url: String,
    pub name: String,
}

/// Replaces the database name at the end of a PostgreSQL URL.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let slash = base.rfind('/').expect("a database URL has a path");
    format!("{}/{database}{query}", &base[..slash])
}

/// A connection to the server's administrative database, as the superuser.
pub async fn admin_client(servers: &Servers) -> anyhow::Result<tokio_postgres::Client> {
    let (client, connection) =
        tokio_postgres::connect(&servers.database_url, tokio_postgres::NoTls)
            .await
            .context("connecting to PostgreSQL")?;
    tokio::spawn(connection);
    Ok(client)
}

/// The name of the template migrated with this build's migrations: a changed migration
/// gets a template of its own instead of reusing a stale one.
pub fn ferry_template_name() -> String {
    format!(
        "ferry_template_{}",
        ferry_storage::migrations::fingerprint()
    )
}

/// Applies Ferry's migrations to the (empty) database at `database_url`.
pub async fn migrate_ferry_schema(database_url: String) -> anyhow::Result<()> {
    let pool = ferry_storage::connect(&database_url, 1)?;
    let migrated = ferry_storage::migrations::migrate(&pool).await;
    pool.close();
    migrated.context("applying Ferry's migrations")
}

/// Creates a fresh database for one test, cloned from the template of Ferry's migrations
/// (built first if it does not exist yet).
pub async fn create_test_database(servers: &Servers) -> anyhow::Result<TestDatabase> {
    let template = ferry_template_name();
    create_template(servers, &template, migrate_ferry_schema).await?;
    clone_template(servers, &template).await
}

/// Makes sure the database `template` exists, fully migrated by `migrate` (given the URL of
/// the empty database to migrate). An existing template is used as it is. Otherwise the
/// template is built under a temporary name and renamed only when `migrate` succeeded; when
/// it fails, the half-migrated database is dropped and the error returned.
pub async fn create_template<Migrate, Migrating>(
    servers: &Servers,
    template: &str,
    migrate: Migrate,
) -> anyhow::Result<()>
where
    Migrate: FnOnce(String) -> Migrating,
    Migrating: Future<Output = anyhow::Result<()>>,
{
    check_name(template, MAX_NAME_BYTES - BUILDING_SUFFIX.len())?;
    let admin = admin_client(servers).await?;
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await
        .context("waiting for the template lock")?;
    let built = build_template_unless_it_exists(servers, &admin, template, migrate).await;
    // Dropping the session would release the lock too; unlocking says when.
    let unlocked = admin
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
        .await;
    built?;
    unlocked.context("releasing the template lock")?;
    Ok(())
}

/// The part of [`create_template`] that runs under the template lock.
async fn build_template_unless_it_exists<Migrate, Migrating>(
    servers: &Servers,
    admin: &tokio_postgres::Client,
    template: &str,
    migrate: Migrate,
) -> anyhow::Result<()>
where
    Migrate: FnOnce(String) -> Migrating,
    Migrating: Future<Output = anyhow::Result<()>>,
{
    if database_exists(admin, template).await? {
        return Ok(());
    }
    let building = building_name(template);
    // Whoever left a building copy is gone: it would still hold the lock otherwise.
    drop_database_with(admin, &building).await?;
    admin
        .batch_execute(&format!("CREATE DATABASE \"{building}\""))
        .await
        .with_context(|| format!("creating {building}"))?;
    if let Err(error) = migrate(with_database(&servers.database_url, &building)).await {
        drop_database_with(admin, &building).await?;
        return Err(error.context(format!("migrating template {template} (dropped again)")));
    }
    // Renaming needs the database to itself; a migration may leave its connections closing.
    admin
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&building],
        )
        .await
        .context("closing the migration's connections")?;
    admin
        .batch_execute(&format!(
            "ALTER DATABASE \"{building}\" RENAME TO \"{template}\""
        ))
        .await
        .with_context(|| format!("renaming {building} to {template}"))?;
    Ok(())
}

/// What a template is called while it is being built.
pub fn building_name(template: &str) -> String {
    format!("{template}{BUILDING_SUFFIX}")
}

/// Creates a new, uniquely named database from `template`.
pub async fn clone_template(servers: &Servers, template: &str) -> anyhow::Result<TestDatabase> {
    let admin = admin_client(servers).await?;
    let name = format!("ferry_test_{}", Uuid::new_v4().simple());
    let mut attempts = 0;
    loop {
        match admin
            .batch_execute(&format!(
                "CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""
            ))
            .await
        {
            Ok(()) => break,
            // Two clones of one template at the same instant collide; try again.
            Err(error) if attempts < 20 => {
                attempts += 1;
                tracing::debug!(%error, "retrying database creation");
                tokio::time::sleep(Duration::from_millis(50 * attempts)).await;
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cloning {template} into {name}"));
            }
        }
    }
    Ok(TestDatabase {
        url: with_database(&servers.database_url, &name),
        name,
    })
}

/// Whether a database of that name exists on the server.
pub async fn database_exists(admin: &tokio_postgres::Client, name: &str) -> anyhow::Result<bool> {
    Ok(admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .context("looking for a database")?
        .is_some())
}

/// Drops a database if it exists, disconnecting whoever is still connected to it.
pub async fn drop_database(servers: &Servers, name: &str) -> anyhow::Result<()> {
    drop_database_with(&admin_client(servers).await?, name).await
}

async fn drop_database_with(admin: &tokio_postgres::Client, name: &str) -> anyhow::Result<()> {
    check_name(name, MAX_NAME_BYTES)?;
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await
        .with_context(|| format!("dropping {name}"))
}

/// Names are spliced into SQL (PostgreSQL has no parameters for them) and truncated past 63
/// bytes, so the harness only makes plain, short ones.
fn check_name(name: &str, max_bytes: usize) -> anyhow::Result<()> {
    anyhow::ensure!(
        !name.is_empty()
            && name.len() <= max_bytes
            && name
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'_'),
        "`{name}` is not a database name the harness makes (lowercase letters, digits and `_`, at most {max_bytes} bytes)"
    );
    Ok(())
}
