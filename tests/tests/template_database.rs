//! The template every test database is cloned from is never used half-migrated: a migration
//! that fails leaves no template behind, and a copy left by a builder that died in the middle
//! of its migration is thrown away and built again, against the real PostgreSQL.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use ferry_tests::Servers;
use ferry_tests::database::{
    admin_client, building_name, clone_template, create_template, database_exists, drop_database,
};
use uuid::Uuid;

/// A template of this test's own, so the migrations here are never Ferry's: it and every
/// database made from it are dropped at the end, even when the test panics.
struct ScratchTemplate {
    servers: Servers,
    name: String,
    clones: Vec<String>,
}

impl ScratchTemplate {
    fn new() -> Self {
        ScratchTemplate {
            servers: Servers::from_env(),
            name: format!(
                "ferry_template_scratch_{}",
                &Uuid::new_v4().simple().to_string()[..12]
            ),
            clones: Vec::new(),
        }
    }

    async fn exists(&self, name: &str) -> bool {
        database_exists(&admin_client(&self.servers).await.unwrap(), name)
            .await
            .unwrap()
    }

    /// The tables of a fresh clone of the template: what a test would get.
    async fn tables_of_a_clone(&mut self) -> Vec<String> {
        let clone = clone_template(&self.servers, &self.name).await.unwrap();
        self.clones.push(clone.name.clone());
        let client = connect(&clone.url).await;
        client
            .query(
                "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| row.get(0))
            .collect()
    }
}

impl Drop for ScratchTemplate {
    fn drop(&mut self) {
        let servers = self.servers.clone();
        let mut databases = std::mem::take(&mut self.clones);
        databases.extend([building_name(&self.name), self.name.clone()]);
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                for database in databases {
                    let _ = drop_database(&servers, &database).await;
                }
            });
        })
        .join();
    }
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// A migration that works: one table.
async fn create_the_whole_schema(url: String) -> anyhow::Result<()> {
    connect(&url)
        .await
        .batch_execute("CREATE TABLE whole_schema (id integer)")
        .await?;
    Ok(())
}

/// The first half of a migration, committed on its own (so the database really is half
/// migrated if nothing cleans up).
async fn create_half_the_schema(url: &str) -> tokio_postgres::Client {
    let client = connect(url).await;
    client
        .batch_execute("CREATE TABLE half_schema (id integer)")
        .await
        .unwrap();
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_whose_migration_fails_is_dropped_not_reused() {
    let mut template = ScratchTemplate::new();

    let error = create_template(&template.servers, &template.name, |url| async move {
        let _client = create_half_the_schema(&url).await;
        anyhow::bail!("the second half of the migration failed")
    })
    .await
    .expect_err("a failing migration fails the template");

    assert!(
        format!("{error:#}").contains("the second half of the migration failed"),
        "{error:#}"
    );
    assert!(
        !template.exists(&template.name).await,
        "no template is left"
    );
    assert!(
        !template.exists(&building_name(&template.name)).await,
        "nor its half-migrated copy"
    );
    // The next run builds it from scratch, and its clones have only what a whole migration
    // made.
    create_template(&template.servers, &template.name, create_the_whole_schema)
        .await
        .unwrap();
    assert_eq!(template.tables_of_a_clone().await, ["whole_schema"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_left_half_migrated_by_a_builder_that_died_is_rebuilt() {
    let mut template = ScratchTemplate::new();
    let (half_done, halfway) = tokio::sync::oneshot::channel();
    let builder = tokio::spawn({
        let servers = template.servers.clone();
        let name = template.name.clone();
        async move {
            create_template(&servers, &name, |url| async move {
                let _client = create_half_the_schema(&url).await;
                half_done.send(()).unwrap();
                std::future::pending::<()>().await;
                Ok(())
            })
            .await
        }
    });
    halfway.await.unwrap();
    // The builder stops dead mid-migration, as if its process were killed: no error path
    // runs, its sessions (and its lock on building templates) just end.
    builder.abort();
    assert!(builder.await.unwrap_err().is_cancelled());

    assert!(
        !template.exists(&template.name).await,
        "the half-migrated database never had the template's name"
    );
    assert!(
        template.exists(&building_name(&template.name)).await,
        "the dead builder left its copy"
    );
    create_template(&template.servers, &template.name, create_the_whole_schema)
        .await
        .unwrap();
    assert!(
        !template.exists(&building_name(&template.name)).await,
        "the next builder threw the dead one's copy away"
    );
    assert_eq!(template.tables_of_a_clone().await, ["whole_schema"]);
}
