//! Deployment targets: where a target is reached, its environments, roles and worker pool,
//! and what its last health check found. The private key is stored sealed (by the API, with
//! the variables keyring) and read only by the code that sends it to a worker.

use chrono::{DateTime, Utc};
use ferry_domain::{
    EnvironmentId, HostKeyFingerprint, HostName, LoginName, RoleName, TargetCheckId,
    TargetHealthStatus, TargetId, TargetName, WorkerPool,
};
use uuid::Uuid;

use crate::paging::{Page, PageRequest};
use crate::{CachedQueries, GenericClient, StorageError, corrupt_column, id, optional_id, parsed};

/// How a target is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    Ssh(SshReach),
    /// The worker's own host.
    Local,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshReach {
    pub host: HostName,
    pub port: u16,
    pub user: LoginName,
    pub host_key_fingerprint: HostKeyFingerprint,
    /// The private key, sealed (`ferry_secrets`): never shown, opened only to send it to a
    /// worker in a job.
    pub sealed_private_key: String,
}

/// What the last health check found (`Unknown` until one answered), and the check asked for
/// and not answered yet, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub status: TargetHealthStatus,
    pub reason: Option<String>,
    pub checked_at: Option<DateTime<Utc>>,
    /// The check whose result this is.
    pub check_id: Option<TargetCheckId>,
    /// The newest check asked for that has not answered yet.
    pub pending_check_id: Option<TargetCheckId>,
    /// What the target reported, when the check reached it.
    pub facts: Option<HealthFacts>,
}

impl Health {
    /// A new target's: no check yet.
    pub fn unknown() -> Self {
        Health {
            status: TargetHealthStatus::Unknown,
            reason: None,
            checked_at: None,
            check_id: None,
            pending_check_id: None,
            facts: None,
        }
    }
}

/// A target's facts as its last health check read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthFacts {
    pub os: String,
    pub architecture: String,
    pub user: String,
    pub free_bytes: i64,
}

/// Where a target keeps applications and how its NGINX is driven; `None`: the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conventions {
    pub applications_root: Option<String>,
    pub nginx_config_folder: Option<String>,
    pub nginx_validate_command: Option<String>,
    pub nginx_reload_command: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub target_id: TargetId,
    pub name: TargetName,
    pub environment_ids: Vec<EnvironmentId>,
    pub roles: Vec<RoleName>,
    pub worker_pool: WorkerPool,
    pub reach: Reach,
    pub conventions: Conventions,
    pub health: Health,
}

const COLUMNS: &str = "target_id, name, environment_ids, roles, worker_pool, kind, ssh_host, \
     ssh_port, ssh_user, host_key_fingerprint, sealed_private_key, health_status, health_reason, \
     health_checked_at, applications_root, nginx_config_folder, nginx_validate_command, \
     nginx_reload_command, health_check_id, health_os, health_architecture, health_user, \
     health_free_bytes, (SELECT c.check_id FROM target_checks c \
         WHERE c.target_id = targets.target_id AND c.kind = 'health' AND c.finished_at IS NULL \
         ORDER BY c.requested_at DESC LIMIT 1)";

fn from_row(row: &tokio_postgres::Row) -> Result<Target, StorageError> {
    let roles = row
        .get::<_, Vec<String>>(3)
        .into_iter()
        .map(|role| {
            RoleName::try_from(role).map_err(|error| corrupt_column("targets.roles", error))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let kind: String = row.get(5);
    let reach = match kind.as_str() {
        "local" => Reach::Local,
        "ssh" => {
            let port: i32 = row.get(7);
            Reach::Ssh(SshReach {
                host: parsed(row, 6, "targets.ssh_host")?,
                port: u16::try_from(port).map_err(|_| corrupt_column("targets.ssh_port", port))?,
                user: parsed(row, 8, "targets.ssh_user")?,
                host_key_fingerprint: parsed(row, 9, "targets.host_key_fingerprint")?,
                sealed_private_key: row.get(10),
            })
        }
        other => return Err(corrupt_column("targets.kind", other)),
    };
    Ok(Target {
        target_id: id(row, 0),
        name: parsed(row, 1, "targets.name")?,
        environment_ids: row
            .get::<_, Vec<Uuid>>(2)
            .into_iter()
            .map(EnvironmentId::from)
            .collect(),
        roles,
        worker_pool: parsed(row, 4, "targets.worker_pool")?,
        reach,
        conventions: Conventions {
            applications_root: row.get(14),
            nginx_config_folder: row.get(15),
            nginx_validate_command: row.get(16),
            nginx_reload_command: row.get(17),
        },
        health: Health {
            status: parsed(row, 11, "targets.health_status")?,
            reason: row.get(12),
            checked_at: row.get(13),
            check_id: optional_id(row, 18),
            pending_check_id: optional_id(row, 23),
            facts: facts_of(row),
        },
    })
}

/// The facts columns (18 to 22), all set or all `NULL`.
fn facts_of(row: &tokio_postgres::Row) -> Option<HealthFacts> {
    Some(HealthFacts {
        os: row.get::<_, Option<String>>(19)?,
        architecture: row.get::<_, Option<String>>(20)?,
        user: row.get::<_, Option<String>>(21)?,
        free_bytes: row.get::<_, Option<i64>>(22)?,
    })
}

/// How a target's reach is written: its kind and the SSH columns (all `NULL` for `local`).
struct Settings<'a> {
    kind: &'static str,
    host: Option<&'a str>,
    port: Option<i32>,
    user: Option<&'a str>,
    fingerprint: Option<&'a str>,
    sealed_private_key: Option<&'a str>,
}

fn settings(reach: &Reach) -> Settings<'_> {
    match reach {
        Reach::Local => Settings {
            kind: "local",
            host: None,
            port: None,
            user: None,
            fingerprint: None,
            sealed_private_key: None,
        },
        Reach::Ssh(ssh) => Settings {
            kind: "ssh",
            host: Some(ssh.host.as_str()),
            port: Some(i32::from(ssh.port)),
            user: Some(ssh.user.as_str()),
            fingerprint: Some(ssh.host_key_fingerprint.as_str()),
            sealed_private_key: Some(&ssh.sealed_private_key),
        },
    }
}

const INSERT: &str = "INSERT INTO targets (target_id, name, environment_ids, roles, worker_pool,
         kind, ssh_host, ssh_port, ssh_user, host_key_fingerprint, sealed_private_key,
         applications_root, nginx_config_folder, nginx_validate_command, nginx_reload_command)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

const UPDATE: &str = "UPDATE targets SET name = $2, environment_ids = $3, roles = $4,
         worker_pool = $5, kind = $6, ssh_host = $7, ssh_port = $8, ssh_user = $9,
         host_key_fingerprint = $10, sealed_private_key = $11, applications_root = $12,
         nginx_config_folder = $13, nginx_validate_command = $14, nginx_reload_command = $15
     WHERE target_id = $1";

/// Records a new target (its health `Unknown`); a name taken already is a conflict.
pub async fn insert(client: &impl GenericClient, target: &Target) -> Result<(), StorageError> {
    write(client, INSERT, target).await
}

/// Replaces a target's settings (its health stays).
pub async fn update(client: &impl GenericClient, target: &Target) -> Result<(), StorageError> {
    write(client, UPDATE, target).await
}

/// Runs `statement` ([`INSERT`] or [`UPDATE`]) with the target's settings as its parameters.
async fn write(
    client: &impl GenericClient,
    statement: &str,
    target: &Target,
) -> Result<(), StorageError> {
    let reach = settings(&target.reach);
    let environments: Vec<Uuid> = target
        .environment_ids
        .iter()
        .map(|environment| environment.into_uuid())
        .collect();
    let roles: Vec<&str> = target.roles.iter().map(RoleName::as_str).collect();
    client
        .execute_cached(
            statement,
            &[
                target.target_id.as_uuid(),
                &target.name.as_str(),
                &environments,
                &roles,
                &target.worker_pool.as_str(),
                &reach.kind,
                &reach.host,
                &reach.port,
                &reach.user,
                &reach.fingerprint,
                &reach.sealed_private_key,
                &target.conventions.applications_root,
                &target.conventions.nginx_config_folder,
                &target.conventions.nginx_validate_command,
                &target.conventions.nginx_reload_command,
            ],
        )
        .await
        .map_err(|error| {
            StorageError::conflict_or(error, || format!("target `{}`", target.name))
        })?;
    Ok(())
}

/// Finds a target by id or by name (case-insensitive).
pub async fn find(
    client: &impl GenericClient,
    id_or_name: &str,
) -> Result<Option<Target>, StorageError> {
    let row = match id_or_name.parse::<TargetId>() {
        Ok(target_id) => {
            client
                .query_opt_cached(
                    &format!("SELECT {COLUMNS} FROM targets WHERE target_id = $1"),
                    &[target_id.as_uuid()],
                )
                .await?
        }
        Err(_) => {
            client
                .query_opt_cached(
                    &format!("SELECT {COLUMNS} FROM targets WHERE lower(name) = lower($1)"),
                    &[&id_or_name],
                )
                .await?
        }
    };
    row.as_ref().map(from_row).transpose()
}

/// A page of targets by name; `None` when the cursor names no target.
pub async fn list(
    client: &impl GenericClient,
    page: &PageRequest<TargetId>,
) -> Result<Option<Page<Target>>, StorageError> {
    let after: Option<String> = match page.after {
        None => None,
        Some(cursor) => match client
            .query_opt_cached(
                "SELECT name FROM targets WHERE target_id = $1",
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
            &format!(
                "SELECT {COLUMNS} FROM targets WHERE $1::text IS NULL OR name > $1
                 ORDER BY name LIMIT $2"
            ),
            &[&after, &page.fetch()],
        )
        .await?
        .iter()
        .map(from_row)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Page::from_rows(items, page)))
}

/// The targets of an environment, by name: what a new deployment's steps with roles run on.
pub async fn in_environment(
    client: &impl GenericClient,
    environment_id: EnvironmentId,
) -> Result<Vec<Target>, StorageError> {
    client
        .query_cached(
            &format!("SELECT {COLUMNS} FROM targets WHERE $1 = ANY(environment_ids) ORDER BY name"),
            &[environment_id.as_uuid()],
        )
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// A target by id.
pub async fn get(
    client: &impl GenericClient,
    target_id: TargetId,
) -> Result<Option<Target>, StorageError> {
    client
        .query_opt_cached(
            &format!("SELECT {COLUMNS} FROM targets WHERE target_id = $1"),
            &[target_id.as_uuid()],
        )
        .await?
        .as_ref()
        .map(from_row)
        .transpose()
}
