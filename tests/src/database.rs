//! The test databases: a template migrated once per migration fingerprint, and the fresh
//! clone of it each test stack gets.

use std::time::Duration;

use anyhow::Context;
use uuid::Uuid;

use crate::config::Servers;

/// The advisory lock that serialises template builders.
const TEMPLATE_LOCK: i64 = 727272;

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

/// Creates a fresh database for one test, cloned from a template migrated once per migration
/// fingerprint.
pub async fn create_test_database(servers: &Servers) -> anyhow::Result<TestDatabase> {
    let admin = admin_client(servers).await?;
    let template = format!(
        "ferry_template_{}",
        ferry_storage::migrations::fingerprint()
    );
    admin
        .execute("SELECT pg_advisory_lock($1)", &[&TEMPLATE_LOCK])
        .await?;
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&template])
        .await?
        .is_some();
    if !exists {
        admin
            .batch_execute(&format!("CREATE DATABASE {template}"))
            .await?;
        let pool = ferry_storage::connect(&with_database(&servers.database_url, &template), 1)?;
        ferry_storage::migrations::migrate(&pool).await?;
        pool.close();
    }
    admin
        .execute("SELECT pg_advisory_unlock($1)", &[&TEMPLATE_LOCK])
        .await?;
    clone_template(servers, &template).await
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

/// Drops a database if it exists, disconnecting whoever is still connected to it.
pub async fn drop_database(servers: &Servers, name: &str) -> anyhow::Result<()> {
    drop_database_with(&admin_client(servers).await?, name).await
}

async fn drop_database_with(admin: &tokio_postgres::Client, name: &str) -> anyhow::Result<()> {
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .with_context(|| format!("dropping {name}"))
}
