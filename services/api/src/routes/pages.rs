//! The status page of a deployment, for people: outcome, steps and task log, refreshing
//! itself while the deployment runs.

use axum::extract::{Path, State};
use axum::response::Html;
use minijinja::Environment;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::deployments::load_view;

const TEMPLATE: &str = include_str!("../../templates/deployment.html");

pub async fn deployment(
    State(state): State<AppState>,
    Path(deployment_id): Path<String>,
) -> Result<Html<String>, ApiError> {
    let client = state.db().await?;
    let view = load_view(&state, &client, &deployment_id).await?;
    let mut environment = Environment::new();
    environment
        .add_template("deployment.html", TEMPLATE)
        .map_err(|error| ApiError::Internal(error.into()))?;
    let html = environment
        .get_template("deployment.html")
        .and_then(|template| {
            template.render(minijinja::context! { d => minijinja::value::Serde(&view) })
        })
        .map_err(|error| ApiError::Internal(error.into()))?;
    Ok(Html(html))
}
