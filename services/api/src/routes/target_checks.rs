//! `POST /api/targets/{target}/health`, `POST /api/targets/discover` and
//! `GET /api/targets/discoveries/{id}`: asking a worker of the right pool to check a target or
//! to report a host's key (the API never touches hosts). Each request is audited and answered
//! 202 with the check's id; the answer is read later. A discovery pins nothing.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_api_types::{DiscoveryRequest, DiscoveryStatus, DiscoveryView, HealthCheckRequested};
use ferry_contracts::target_checks::TargetCheck;
use ferry_domain::{AuditAction, HostName, TargetCheckId, WorkerPool};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::target_checks::{self, CheckAnswer, CheckSubject, Discovered};

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::routes::audit_details;
use crate::routes::targets::find_target;
use crate::target_checks::{reach_of, request};

pub async fn request_health(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(target): Path<String>,
) -> Result<(StatusCode, Json<HealthCheckRequested>), ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let target = find_target(&transaction, &target).await?;
    let check = TargetCheck::Health {
        target_id: target.target_id,
        name: target.name.clone(),
        reach: reach_of(&target.reach),
    };
    let subject = CheckSubject::Health {
        target_id: target.target_id,
    };
    let check_id = request(&state, &transaction, &subject, check, &target.worker_pool).await?;
    let shown = HealthCheckRequested {
        check_id,
        target: target.name.clone(),
        worker_pool: target.worker_pool.clone(),
    };
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::TargetHealthCheckRequested,
            project_id: None,
            environment_id: None,
            subject: &format!("target {}", target.name),
            details: audit_details(&shown)?,
        },
    )
    .await?;
    transaction.commit().await?;
    state.outbox_written();
    Ok((StatusCode::ACCEPTED, Json(shown)))
}

pub async fn discover(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<DiscoveryRequest>,
) -> Result<(StatusCode, Json<DiscoveryView>), ApiError> {
    let host = HostName::parse(&body.host)?;
    let port = body.port.unwrap_or(22);
    if port == 0 {
        return Err(ApiError::invalid("port", "must be between 1 and 65535"));
    }
    let worker_pool = match &body.worker_pool {
        Some(pool) => WorkerPool::parse(pool)?,
        None => WorkerPool::default(),
    };
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let subject = CheckSubject::Discovery {
        host: host.clone(),
        port,
    };
    let check = TargetCheck::Discovery {
        host: host.clone(),
        port,
    };
    let check_id = request(&state, &transaction, &subject, check, &worker_pool).await?;
    let stored = target_checks::get(&transaction, check_id)
        .await?
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("discovery {check_id} vanished")))?;
    let shown = discovery_view(stored)?;
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::TargetDiscoveryRequested,
            project_id: None,
            environment_id: None,
            subject: &format!("host {host}:{port}"),
            details: audit_details(&shown)?,
        },
    )
    .await?;
    transaction.commit().await?;
    state.outbox_written();
    Ok((StatusCode::ACCEPTED, Json(shown)))
}

pub async fn show_discovery(
    State(state): State<AppState>,
    Path(discovery_id): Path<String>,
) -> Result<Json<DiscoveryView>, ApiError> {
    let missing = || ApiError::NotFound(format!("discovery `{discovery_id}` does not exist"));
    let check_id: TargetCheckId = discovery_id.parse().map_err(|_| missing())?;
    let client = state.db().await?;
    let stored = target_checks::get(&client, check_id)
        .await?
        .filter(|check| matches!(check.subject, CheckSubject::Discovery { .. }))
        .ok_or_else(missing)?;
    Ok(Json(discovery_view(stored)?))
}

fn discovery_view(check: target_checks::TargetCheck) -> Result<DiscoveryView, ApiError> {
    let CheckSubject::Discovery { host, port } = check.subject else {
        return Err(ApiError::Internal(anyhow::anyhow!(
            "check {} is not a discovery",
            check.check_id
        )));
    };
    let (status, host_key_fingerprint, key_type, reason) = match check.answer {
        None => (DiscoveryStatus::Pending, None, None, None),
        Some(CheckAnswer::Discovery(Discovered::Found {
            host_key_fingerprint,
            key_type,
        })) => (
            DiscoveryStatus::Found,
            Some(host_key_fingerprint),
            Some(key_type),
            None,
        ),
        Some(CheckAnswer::Discovery(Discovered::Failed { reason })) => {
            (DiscoveryStatus::Failed, None, None, Some(reason))
        }
        Some(CheckAnswer::Health { .. }) => {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "discovery {} has a health verdict",
                check.check_id
            )));
        }
    };
    Ok(DiscoveryView {
        discovery_id: check.check_id,
        host,
        port,
        worker_pool: check.worker_pool,
        status,
        host_key_fingerprint,
        key_type,
        reason,
        requested_at: check.requested_at,
        finished_at: check.finished_at,
    })
}
