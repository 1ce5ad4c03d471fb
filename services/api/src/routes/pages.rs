//! The status page of a deployment, for people: outcome, steps and task log. While the
//! deployment runs, the page's script follows it: new log lines from a cursor, the status and
//! steps from the deployment (never the whole log again).

use axum::extract::{Path, State};
use axum::response::Html;
use minijinja::Environment;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::deployments::{load_view, log_lines};

const TEMPLATE: &str = include_str!("../../templates/deployment.html");

/// How many lines of the log the page itself carries.
const FIRST_LOG_LINES: i64 = 1000;

pub async fn deployment(
    State(state): State<AppState>,
    Path(deployment_id): Path<String>,
) -> Result<Html<String>, ApiError> {
    let client = state.db().await?;
    let view = load_view(&state, &client, &deployment_id, false).await?;
    // The first page of the log comes with the page; the page's script reads on from there.
    let steps = ferry_storage::deployments::step_runs(&client, view.deployment_id).await?;
    let mut log =
        ferry_storage::task_log::page(&client, view.deployment_id, 0, FIRST_LOG_LINES + 1).await?;
    let more_log = log.len() as i64 > FIRST_LOG_LINES;
    log.truncate(FIRST_LOG_LINES as usize);
    let cursor = log.last().map_or(0, |line| line.log_line_id);
    let log = log_lines(log, &steps);
    let mut environment = Environment::new();
    environment
        .add_template("deployment.html", TEMPLATE)
        .map_err(|error| ApiError::Internal(error.into()))?;
    let html = environment
        .get_template("deployment.html")
        .and_then(|template| {
            template.render(minijinja::context! {
                d => minijinja::value::Serde(&view),
                log => minijinja::value::Serde(&log),
                cursor => cursor,
                more_log => more_log,
            })
        })
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(Html(html))
}
