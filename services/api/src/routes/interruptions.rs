//! `/api/interruptions`: the questions paused deployments wait on. A person takes
//! responsibility for one, then answers it: a manual intervention with *proceed* or *abort*,
//! a guided failure with *retry*, *ignore* or *abort*, each with an optional note. The
//! handlers parse and shape; the work is `orchestrator::take` and `orchestrator::answer`.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use ferry_api_types::{AnswerRequest, InterruptionView, PendingInterruptions};
use ferry_domain::StepName;
use ferry_domain::deployment::Answer;
use ferry_storage::interruptions::{self, Interruption};

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::orchestrator::answer::{self as answering, Submission as Answered};
use crate::orchestrator::take as taking;
use crate::routes::paging::{PageQuery, not_a_cursor};

/// The longest note kept with an answer.
const MAX_NOTE_CHARS: usize = 4000;

/// An interruption as the API shows it; `step` is the name of the step it is about, when
/// the caller knows it.
pub fn interruption_view(interruption: &Interruption, step: Option<StepName>) -> InterruptionView {
    InterruptionView {
        interruption_id: interruption.interruption_id,
        deployment_id: interruption.deployment_id,
        step,
        kind: interruption.kind,
        instructions: interruption.instructions.clone(),
        responsible_team: interruption.responsible_team.clone(),
        options: Answer::options(interruption.kind).to_vec(),
        created_at: interruption.created_at,
        taken_by: interruption.taken_by.clone(),
        taken_at: interruption.taken_at,
        resolution: interruption.resolution,
        note: interruption.note.clone(),
        resolved_by: interruption.resolved_by.clone(),
        resolved_at: interruption.resolved_at,
    }
}

/// Pending interruptions, oldest first.
pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<PendingInterruptions>, ApiError> {
    let page = query.request("interruption", |raw| raw.parse().ok())?;
    let client = state.db().await?;
    let page = interruptions::pending(&client, &page)
        .await?
        .ok_or_else(|| not_a_cursor("interruption"))?;
    Ok(Json(PendingInterruptions {
        next: page.next(|last| last.interruption_id.to_string()),
        interruptions: page
            .items
            .iter()
            .map(|interruption| interruption_view(interruption, None))
            .collect(),
    }))
}

pub async fn take(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(raw_id): Path<String>,
) -> Result<Json<InterruptionView>, ApiError> {
    let mut client = state.db().await?;
    let interruption = taking::take(&state, &mut client, &actor, &raw_id).await?;
    Ok(Json(interruption_view(&interruption, None)))
}

pub async fn submit(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(raw_id): Path<String>,
    JsonBody(body): JsonBody<AnswerRequest>,
) -> Result<Json<InterruptionView>, ApiError> {
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
    Ok(Json(interruption_view(&answered, None)))
}
