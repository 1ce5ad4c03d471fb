//! The status pages, for people: a deployment's outcome, steps and task log (while the
//! deployment runs, the page's script follows it: new log lines from a cursor, the status and
//! steps from the deployment, never the whole log again); and the targets with their health.

use axum::extract::{Path, State};
use axum::response::Html;
use minijinja::Environment;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::deployments::{load_view, log_lines};

const TEMPLATE: &str = include_str!("../../templates/deployment.html");
const TARGETS_TEMPLATE: &str = include_str!("../../templates/targets.html");

/// How many targets the targets page lists (by name).
const TARGETS_SHOWN: i64 = 1000;

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

/// One row of the targets page.
#[derive(serde::Serialize)]
struct TargetRow {
    name: String,
    reached: String,
    worker_pool: String,
    health: ferry_api_types::TargetHealthView,
}

pub async fn targets(State(state): State<AppState>) -> Result<Html<String>, ApiError> {
    let client = state.db().await?;
    let page = ferry_storage::targets::list(
        &client,
        &ferry_storage::paging::PageRequest::first(TARGETS_SHOWN),
    )
    .await?
    .unwrap_or(ferry_storage::paging::Page {
        items: Vec::new(),
        more: false,
    });
    let rows: Vec<TargetRow> = page
        .items
        .iter()
        .map(|target| TargetRow {
            name: target.name.to_string(),
            reached: match &target.reach {
                ferry_storage::targets::Reach::Local => "local".to_owned(),
                ferry_storage::targets::Reach::Ssh(ssh) => {
                    format!("{}@{}:{}", ssh.user, ssh.host, ssh.port)
                }
            },
            worker_pool: target.worker_pool.to_string(),
            health: crate::routes::targets::health_view(&target.health),
        })
        .collect();
    let mut environment = Environment::new();
    environment
        .add_template("targets.html", TARGETS_TEMPLATE)
        .map_err(|error| ApiError::Internal(error.into()))?;
    let html = environment
        .get_template("targets.html")
        .and_then(|template| {
            template.render(minijinja::context! {
                targets => minijinja::value::Serde(&rows),
                more => page.more,
                shown => TARGETS_SHOWN,
            })
        })
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(Html(html))
}
