//! `/api/interruptions`: the questions paused deployments wait on. A person takes
//! responsibility for one, then answers it: a manual intervention with *proceed* or *abort*,
//! a guided failure with *retry*, *ignore* or *abort*, each with an optional note. The
//! answer, the note and the actor are recorded on the deployment and in the audit log.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use ferry_domain::{
    DeploymentStatus, Guidance, InterventionResult, StepStatus, apply_guidance, apply_intervention,
};
use ferry_storage::deployments::{self, Deployment};
use ferry_storage::interruptions::{self, Interruption, InterruptionKind};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::actor::Actor;
use crate::audit;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::orchestrator::{advance, dispatch, load_context};

/// The longest note kept with an answer.
const MAX_NOTE_CHARS: usize = 4000;

pub fn interruption_json(interruption: &Interruption, step: Option<String>) -> Value {
    json!({
        "interruption_id": interruption.interruption_id,
        "deployment_id": interruption.deployment_id,
        "step": step,
        "kind": interruption.kind.as_str(),
        "instructions": interruption.instructions,
        "responsible_team": interruption.responsible_team,
        "options": match interruption.kind {
            InterruptionKind::ManualIntervention => vec!["proceed", "abort"],
            InterruptionKind::GuidedFailure => vec!["retry", "ignore", "abort"],
        },
        "created_at": interruption.created_at,
        "taken_by": interruption.taken_by,
        "taken_at": interruption.taken_at,
        "resolution": interruption.resolution,
        "note": interruption.note,
        "resolved_by": interruption.resolved_by,
        "resolved_at": interruption.resolved_at,
    })
}

/// Pending interruptions, oldest first.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let client = state.db().await?;
    let pending = interruptions::pending(&client).await?;
    Ok(Json(json!({
        "interruptions": pending.iter().map(|i| interruption_json(i, None)).collect::<Vec<_>>()
    })))
}

fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw)
        .map_err(|_| ApiError::NotFound(format!("interruption `{raw}` does not exist")))
}

/// Loads an unanswered interruption and its deployment, both locked (after the
/// project+environment lock, in the order every writer uses), or explains why it cannot be
/// acted on.
async fn open_interruption(
    client: &impl ferry_storage::GenericClient,
    raw_id: &str,
) -> Result<(Interruption, Deployment), ApiError> {
    let not_found = || ApiError::NotFound(format!("interruption `{raw_id}` does not exist"));
    let interruption_id = parse_id(raw_id)?;
    let unlocked = interruptions::find(client, interruption_id)
        .await?
        .ok_or_else(not_found)?;
    let deployment_id = unlocked.deployment_id;
    let missing = || ApiError::NotFound(format!("deployment {deployment_id} does not exist"));
    let (project_id, environment_id) = deployments::pair(client, deployment_id)
        .await?
        .ok_or_else(missing)?;
    deployments::lock_project_environment(client, project_id, environment_id).await?;
    let deployment = deployments::lock(client, deployment_id)
        .await?
        .ok_or_else(missing)?;
    let interruption = interruptions::lock(client, interruption_id)
        .await?
        .ok_or_else(not_found)?;
    if let (Some(resolution), Some(by)) = (&interruption.resolution, &interruption.resolved_by) {
        return Err(ApiError::Conflict(format!(
            "interruption {raw_id} was already answered: {resolution} by {by}"
        )));
    }
    Ok((interruption, deployment))
}

pub async fn take(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut client = state.db().await?;
    let transaction = audit::begin(&mut client).await?;
    let (mut interruption, _) = open_interruption(&transaction, &raw_id).await?;
    interruptions::take(&transaction, interruption.interruption_id, actor.name()).await?;
    deployments::append_system_log(
        &transaction,
        interruption.deployment_id,
        &format!("{} took responsibility for the interruption", actor.name()),
    )
    .await?;
    audit::record(
        &transaction,
        &actor,
        "interruption.taken",
        None,
        None,
        &format!("interruption {}", interruption.interruption_id),
        json!({ "deployment_id": interruption.deployment_id, "previously_taken_by": interruption.taken_by }),
    )
    .await?;
    audit::commit(transaction).await?;
    interruption.taken_by = Some(actor.name().to_owned());
    Ok(Json(interruption_json(&interruption, None)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submission {
    /// `proceed` or `abort` (manual intervention); `retry`, `ignore` or `abort` (guided
    /// failure).
    result: String,
    note: Option<String>,
}

enum Answer {
    Intervention(InterventionResult),
    Guidance(Guidance),
}

fn parse_answer(kind: InterruptionKind, result: &str) -> Result<Answer, ApiError> {
    match (kind, result) {
        (InterruptionKind::ManualIntervention, "proceed") => {
            Ok(Answer::Intervention(InterventionResult::Proceed))
        }
        (InterruptionKind::ManualIntervention, "abort") => {
            Ok(Answer::Intervention(InterventionResult::Abort))
        }
        (InterruptionKind::GuidedFailure, "retry") => Ok(Answer::Guidance(Guidance::Retry)),
        (InterruptionKind::GuidedFailure, "ignore") => Ok(Answer::Guidance(Guidance::Ignore)),
        (InterruptionKind::GuidedFailure, "abort") => Ok(Answer::Guidance(Guidance::Abort)),
        (InterruptionKind::ManualIntervention, other) => Err(ApiError::invalid(
            "result",
            format!("`{other}` is not an answer to a manual intervention; use proceed or abort"),
        )),
        (InterruptionKind::GuidedFailure, other) => Err(ApiError::invalid(
            "result",
            format!("`{other}` is not an answer to a guided failure; use retry, ignore or abort"),
        )),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(raw_id): Path<String>,
    JsonBody(body): JsonBody<Submission>,
) -> Result<Json<Value>, ApiError> {
    if body
        .note
        .as_ref()
        .is_some_and(|note| note.chars().count() > MAX_NOTE_CHARS)
    {
        return Err(ApiError::invalid(
            "note",
            format!("must be at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    let mut client = state.db().await?;
    let transaction = audit::begin(&mut client).await?;
    let (interruption, deployment) = open_interruption(&transaction, &raw_id).await?;
    let answer = parse_answer(interruption.kind, &body.result)?;
    match &interruption.taken_by {
        None => {
            return Err(ApiError::Conflict(format!(
                "take responsibility for interruption {raw_id} first (POST /api/interruptions/{raw_id}/take)"
            )));
        }
        Some(owner) if owner != actor.name() => {
            return Err(ApiError::Conflict(format!(
                "{owner} has taken responsibility for interruption {raw_id}; take it over first"
            )));
        }
        Some(_) => {}
    }
    if deployment.status != DeploymentStatus::WaitingForIntervention {
        return Err(ApiError::Conflict(format!(
            "deployment {} is {}, not waiting for an intervention",
            deployment.deployment_id, deployment.status
        )));
    }
    let deployment_id = deployment.deployment_id;
    let mut step_runs = deployments::step_runs(&transaction, deployment_id).await?;
    let index = step_runs
        .iter()
        .position(|run| run.step_run_id == interruption.step_run_id)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "step run {} does not exist",
                interruption.step_run_id
            ))
        })?;
    interruptions::resolve(
        &transaction,
        interruption.interruption_id,
        &body.result,
        body.note.as_deref(),
        actor.name(),
    )
    .await?;
    deployments::set_status(&transaction, deployment_id, DeploymentStatus::Running).await?;
    let note = body
        .note
        .as_deref()
        .map(|note| format!(": {note}"))
        .unwrap_or_default();
    deployments::append_system_log(
        &transaction,
        deployment_id,
        &format!(
            "{} chose to {} step \"{}\"{note}",
            actor.name(),
            body.result,
            step_runs[index].name
        ),
    )
    .await?;
    audit::record(
        &transaction,
        &actor,
        &format!("interruption.{}", body.result),
        Some(deployment.project_id),
        Some(deployment.environment_id),
        &format!(
            "step \"{}\" of deployment {deployment_id}",
            step_runs[index].name
        ),
        json!({ "interruption_id": interruption.interruption_id, "note": body.note }),
    )
    .await?;
    let mut context = load_context(&transaction, deployment).await?;
    context.deployment.status = DeploymentStatus::Running;
    let step_run_id = step_runs[index].step_run_id;
    let mut wrote_outbox = false;
    match answer {
        Answer::Intervention(result) => {
            let status = apply_intervention(result);
            let error = (status == StepStatus::Failed)
                .then(|| format!("aborted by {}{note}", actor.name()));
            deployments::set_step_status(&transaction, step_run_id, status, error.as_deref())
                .await?;
            step_runs[index].status = status;
            step_runs[index].error = error;
        }
        Answer::Guidance(guidance) => {
            let (status, dispatch_again) = apply_guidance(guidance);
            if dispatch_again {
                dispatch(&state, &transaction, &context, &mut step_runs, index).await?;
                wrote_outbox = true;
            } else if guidance == Guidance::Ignore {
                deployments::ignore_failure(&transaction, step_run_id).await?;
                step_runs[index].status = status;
                step_runs[index].failure_ignored = true;
            } else {
                deployments::set_step_status(&transaction, step_run_id, status, None).await?;
                step_runs[index].status = status;
            }
        }
    }
    if !wrote_outbox {
        wrote_outbox = advance(&state, &transaction, &mut context, &mut step_runs)
            .await?
            .wrote_outbox;
    }
    audit::commit(transaction).await?;
    if wrote_outbox {
        state.outbox_written();
    }
    let mut answered = interruption;
    answered.resolution = Some(body.result);
    answered.note = body.note;
    answered.resolved_by = Some(actor.name().to_owned());
    Ok(Json(interruption_json(&answered, None)))
}
