//! `/api/interruptions`: the questions paused deployments wait on. A person takes
//! responsibility for one, then answers it: a manual intervention with *proceed* or *abort*,
//! a guided failure with *retry*, *ignore* or *abort*, each with an optional note. The
//! handlers parse and shape; the work is `orchestrator::take` and `orchestrator::answer`.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use ferry_domain::deployment::Answer;
use ferry_storage::interruptions::{self, Interruption};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::orchestrator::answer::{self as answering, Submission as Answered};
use crate::orchestrator::take as taking;

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
        "options": Answer::options(interruption.kind).iter().map(|answer| answer.as_str()).collect::<Vec<_>>(),
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

pub async fn take(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(raw_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let mut client = state.db().await?;
    let interruption = taking::take(&state, &mut client, &actor, &raw_id).await?;
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
    let answered = answering::answer(
        &state,
        &mut client,
        &actor,
        &raw_id,
        Answered {
            result: body.result,
            note: body.note,
        },
    )
    .await?;
    Ok(Json(interruption_json(&answered, None)))
}
