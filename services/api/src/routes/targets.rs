//! `/api/targets`: register, list, show and change deployment targets. A target's private key
//! is sealed with the variables keyring as it arrives and never answered; the host key
//! fingerprint a person pinned is checked for its form here and against the host by workers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_api_types::{TargetHealthView, TargetKind, TargetList, TargetRequest, TargetView};
use ferry_contracts::private_key_context;
use ferry_domain::{
    AuditAction, EnvironmentName, HostKeyFingerprint, HostName, LoginName, RoleName, TargetId,
    TargetName, ValidationError, WorkerPool,
};
use ferry_storage::GenericClient;
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::environments;
use ferry_storage::targets::{self, Conventions, Health, Reach, SshReach, Target};
use uuid::Uuid;

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::routes::audit_details;
use crate::routes::paging::{PageQuery, not_a_cursor};

/// The longest private key accepted (an RSA 16384-bit key in OpenSSH's form is under 13 KiB).
const MAX_PRIVATE_KEY_BYTES: usize = 16 * 1024;

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<TargetRequest>,
) -> Result<(StatusCode, Json<TargetView>), ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let target_id = TargetId::from(Uuid::now_v7());
    let target = target_from(&state, &transaction, target_id, body, None).await?;
    targets::insert(&transaction, &target).await?;
    let shown = target_view(&transaction, &target).await?;
    record(
        &transaction,
        &actor,
        AuditAction::TargetCreated,
        &target,
        &shown,
    )
    .await?;
    transaction.commit().await?;
    Ok((StatusCode::CREATED, Json(shown)))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(target): Path<String>,
    JsonBody(body): JsonBody<TargetRequest>,
) -> Result<Json<TargetView>, ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let existing = find_target(&transaction, &target).await?;
    let mut updated = target_from(
        &state,
        &transaction,
        existing.target_id,
        body,
        Some(&existing),
    )
    .await?;
    updated.health = existing.health;
    targets::update(&transaction, &updated).await?;
    let shown = target_view(&transaction, &updated).await?;
    record(
        &transaction,
        &actor,
        AuditAction::TargetUpdated,
        &updated,
        &shown,
    )
    .await?;
    transaction.commit().await?;
    Ok(Json(shown))
}

pub async fn show(
    State(state): State<AppState>,
    Path(target): Path<String>,
) -> Result<Json<TargetView>, ApiError> {
    let client = state.db().await?;
    let target = find_target(&client, &target).await?;
    Ok(Json(target_view(&client, &target).await?))
}

pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<TargetList>, ApiError> {
    let page = query.request("target", |raw| raw.parse().ok())?;
    let client = state.db().await?;
    let page = targets::list(&client, &page)
        .await?
        .ok_or_else(|| not_a_cursor("target"))?;
    let mut shown = Vec::with_capacity(page.items.len());
    for target in &page.items {
        shown.push(target_view(&client, target).await?);
    }
    Ok(Json(TargetList {
        next: page.next(|last| last.target_id.to_string()),
        targets: shown,
    }))
}

pub(super) fn health_view(health: &Health) -> TargetHealthView {
    let facts = health.facts.as_ref();
    TargetHealthView {
        status: health.status,
        reason: health.reason.clone(),
        checked_at: health.checked_at,
        check_id: health.check_id,
        pending_check_id: health.pending_check_id,
        os: facts.map(|facts| facts.os.clone()),
        architecture: facts.map(|facts| facts.architecture.clone()),
        user: facts.map(|facts| facts.user.clone()),
        free_bytes: facts.map(|facts| u64::try_from(facts.free_bytes).unwrap_or_default()),
    }
}

pub(super) async fn find_target(
    client: &impl GenericClient,
    id_or_name: &str,
) -> Result<Target, ApiError> {
    targets::find(client, id_or_name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("target `{id_or_name}` does not exist")))
}

async fn record(
    client: &impl GenericClient,
    actor: &Actor,
    action: AuditAction,
    target: &Target,
    shown: &TargetView,
) -> Result<(), ApiError> {
    audit::record(
        client,
        &AuditEvent {
            actor: actor.name(),
            action,
            project_id: None,
            environment_id: None,
            subject: &format!("target {}", target.name),
            details: audit_details(shown)?,
        },
    )
    .await?;
    Ok(())
}

/// Reads a request into a target, every field checked and named when it is wrong. On an
/// update (`existing`), a missing private key keeps the stored one.
async fn target_from(
    state: &AppState,
    client: &impl GenericClient,
    target_id: TargetId,
    body: TargetRequest,
    existing: Option<&Target>,
) -> Result<Target, ApiError> {
    let name = TargetName::parse(&body.name)
        .map_err(|error| ValidationError::new("name", error.problem))?;
    // `/api/targets/discover` and `/api/targets/discoveries/{id}` are routes of their own.
    if ["discover", "discoveries"]
        .iter()
        .any(|reserved| name.as_str().eq_ignore_ascii_case(reserved))
    {
        return Err(ApiError::invalid(
            "name",
            format!("`{name}` is reserved (a route of /api/targets has that name)"),
        ));
    }
    if body.environments.is_empty() {
        return Err(ApiError::invalid(
            "environments",
            "a target belongs to at least one environment",
        ));
    }
    let mut environment_ids = Vec::new();
    for (index, environment) in body.environments.iter().enumerate() {
        let found = environments::find(client, environment)
            .await?
            .ok_or_else(|| {
                ApiError::invalid(
                    &format!("environments[{index}]"),
                    format!("environment `{environment}` does not exist"),
                )
            })?;
        if !environment_ids.contains(&found.environment_id) {
            environment_ids.push(found.environment_id);
        }
    }
    let mut roles = Vec::new();
    for (index, role) in body.roles.iter().enumerate() {
        let role = RoleName::parse(role)
            .map_err(|error| ValidationError::new(format!("roles[{index}]"), error.problem))?;
        if !roles.contains(&role) {
            roles.push(role);
        }
    }
    let worker_pool = match &body.worker_pool {
        Some(pool) => WorkerPool::parse(pool)?,
        None => WorkerPool::default(),
    };
    let reach = match body.kind {
        TargetKind::Local => {
            local_has_no_ssh_settings(&body)?;
            Reach::Local
        }
        TargetKind::Ssh => Reach::Ssh(ssh_reach(state, target_id, &body, existing)?),
    };
    let setting = |field: &str, value: &Option<String>| -> Result<Option<String>, ApiError> {
        match value {
            None => Ok(None),
            Some(text) if text.trim().is_empty() || text.contains(['\n', '\r', '\0']) => {
                Err(ApiError::invalid(
                    field,
                    "must be one line of text (leave it out for the default)",
                ))
            }
            Some(text) if text.len() > 4096 => {
                Err(ApiError::invalid(field, "must be at most 4096 bytes"))
            }
            Some(text) => Ok(Some(text.clone())),
        }
    };
    let conventions = Conventions {
        applications_root: setting("applications_root", &body.applications_root)?,
        nginx_config_folder: setting("nginx_config_folder", &body.nginx_config_folder)?,
        nginx_validate_command: setting("nginx_validate_command", &body.nginx_validate_command)?,
        nginx_reload_command: setting("nginx_reload_command", &body.nginx_reload_command)?,
    };
    Ok(Target {
        target_id,
        name,
        environment_ids,
        roles,
        worker_pool,
        reach,
        conventions,
        health: Health::unknown(),
    })
}

fn local_has_no_ssh_settings(body: &TargetRequest) -> Result<(), ApiError> {
    let given = [
        ("host", body.host.is_some()),
        ("port", body.port.is_some()),
        ("user", body.user.is_some()),
        ("private_key", body.private_key.is_some()),
        ("host_key_fingerprint", body.host_key_fingerprint.is_some()),
    ];
    match given.iter().find(|(_, present)| *present) {
        Some((field, _)) => Err(ApiError::invalid(
            field,
            "a `local` target runs on its worker's own host and takes no SSH settings",
        )),
        None => Ok(()),
    }
}

fn ssh_reach(
    state: &AppState,
    target_id: TargetId,
    body: &TargetRequest,
    existing: Option<&Target>,
) -> Result<SshReach, ApiError> {
    let required = |field: &str, value: &Option<String>| {
        value.clone().ok_or_else(|| {
            ApiError::Invalid(ValidationError::new(
                field,
                "is required for an `ssh` target",
            ))
        })
    };
    let host = HostName::parse(&required("host", &body.host)?)?;
    let user = LoginName::parse(&required("user", &body.user)?)?;
    let host_key_fingerprint = HostKeyFingerprint::parse(&required(
        "host_key_fingerprint",
        &body.host_key_fingerprint,
    )?)?;
    let port = body.port.unwrap_or(22);
    if port == 0 {
        return Err(ApiError::invalid("port", "must be between 1 and 65535"));
    }
    let kept = existing.and_then(|target| match &target.reach {
        Reach::Ssh(ssh) => Some(ssh.sealed_private_key.clone()),
        Reach::Local => None,
    });
    let sealed_private_key = match (&body.private_key, kept) {
        (Some(private_key), _) => {
            check_private_key(private_key)?;
            state
                .config()
                .variables_key
                .encrypt(private_key, &private_key_context(target_id))
                .map_err(|error| ApiError::Internal(error.into()))?
        }
        (None, Some(kept)) => kept,
        (None, None) => {
            return Err(ApiError::invalid(
                "private_key",
                "is required for an `ssh` target (once; an update without it keeps the stored key)",
            ));
        }
    };
    Ok(SshReach {
        host,
        port,
        user,
        host_key_fingerprint,
        sealed_private_key,
    })
}

/// The key must be in OpenSSH's own text form (what `ssh-keygen` writes); it is never quoted
/// back, whatever is wrong with it.
fn check_private_key(private_key: &str) -> Result<(), ApiError> {
    let trimmed = private_key.trim();
    let framed = trimmed.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----")
        && trimmed.ends_with("-----END OPENSSH PRIVATE KEY-----");
    if private_key.len() > MAX_PRIVATE_KEY_BYTES || !framed {
        return Err(ApiError::invalid(
            "private_key",
            format!(
                "must be an unencrypted private key in OpenSSH's format (`-----BEGIN OPENSSH PRIVATE KEY-----`, as `ssh-keygen` writes it), at most {MAX_PRIVATE_KEY_BYTES} bytes"
            ),
        ));
    }
    Ok(())
}

async fn target_view(client: &impl GenericClient, target: &Target) -> Result<TargetView, ApiError> {
    let mut environment_names: Vec<EnvironmentName> = Vec::new();
    for environment in environments::all(client).await? {
        if target.environment_ids.contains(&environment.environment_id) {
            environment_names.push(environment.name);
        }
    }
    let (kind, host, port, user, host_key_fingerprint) = match &target.reach {
        Reach::Local => (TargetKind::Local, None, None, None, None),
        Reach::Ssh(ssh) => (
            TargetKind::Ssh,
            Some(ssh.host.clone()),
            Some(ssh.port),
            Some(ssh.user.clone()),
            Some(ssh.host_key_fingerprint.clone()),
        ),
    };
    Ok(TargetView {
        target_id: target.target_id,
        name: target.name.clone(),
        environments: environment_names,
        roles: target.roles.clone(),
        worker_pool: target.worker_pool.clone(),
        has_private_key: kind == TargetKind::Ssh,
        kind,
        host,
        port,
        user,
        host_key_fingerprint,
        applications_root: target.conventions.applications_root.clone(),
        nginx_config_folder: target.conventions.nginx_config_folder.clone(),
        nginx_validate_command: target.conventions.nginx_validate_command.clone(),
        nginx_reload_command: target.conventions.nginx_reload_command.clone(),
        health: health_view(&target.health),
    })
}
