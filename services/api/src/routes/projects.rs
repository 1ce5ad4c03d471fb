//! `/api/projects`: create, read, update and list projects with their process, scoped
//! variables, lifecycle and guided-failure setting (the body is parsed in `project_body`);
//! and the variable preview.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_domain::AuditAction;
use ferry_domain::variables::VariableSet;
use ferry_storage::GenericClient;
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::projects::{self, Project};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::extract::QueryParams;
use crate::lookup::named_environment;
use crate::routes::project_body::{ProjectBody, parse_project};

/// A project's variables as the API shows them: sensitive values never leave the server.
pub fn variables_json(variables: &VariableSet<String>) -> Value {
    variables
        .variables()
        .iter()
        .map(|variable| {
            json!({
                "name": variable.name,
                "value": if variable.sensitive { Value::Null } else { Value::String(variable.value.clone()) },
                "sensitive": variable.sensitive,
                "scope": variable.scope,
            })
        })
        .collect()
}

pub fn project_json(project: &Project) -> Value {
    json!({
        "project_id": project.project_id,
        "name": project.name,
        "steps": project.process,
        "variables": variables_json(&project.variables),
        "notification_email": project.notification_email,
        "worker_pool": project.worker_pool,
        "lifecycle_id": project.lifecycle_id,
        "guided_failure": project.guided_failure,
    })
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<ProjectBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let project = parse_project(&state, &transaction, body, None).await?;
    let project = projects::insert(&transaction, &project).await?;
    let shown = project_json(&project);
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::ProjectCreated,
            project_id: Some(project.project_id),
            environment_id: None,
            subject: &format!("project {}", project.name),
            details: shown.clone(),
        },
    )
    .await?;
    transaction.commit().await?;
    Ok((StatusCode::CREATED, Json(shown)))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<ProjectBody>,
) -> Result<Json<Value>, ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let existing = find_project(&transaction, &project).await?;
    let update = parse_project(&state, &transaction, body, Some(&existing)).await?;
    projects::update(&transaction, existing.project_id, &update).await?;
    let updated = projects::find_by_id(&transaction, existing.project_id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!("project {} does not exist", existing.project_id))
        })?;
    let shown = project_json(&updated);
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::ProjectUpdated,
            project_id: Some(updated.project_id),
            environment_id: None,
            subject: &format!("project {}", updated.name),
            details: shown.clone(),
        },
    )
    .await?;
    transaction.commit().await?;
    Ok(Json(shown))
}

pub async fn show(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let client = state.db().await?;
    Ok(Json(project_json(&find_project(&client, &project).await?)))
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let client = state.db().await?;
    let projects = projects::list(&client).await?;
    Ok(Json(
        json!({ "projects": projects.iter().map(project_json).collect::<Vec<_>>() }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    environment: String,
    step: Option<String>,
}

/// Every variable's value for an environment (and optionally a step) from the project's
/// current variables, with the scope that won; sensitive values as `*****`.
pub async fn variable_preview(
    State(state): State<AppState>,
    Path(project): Path<String>,
    QueryParams(query): QueryParams<PreviewQuery>,
) -> Result<Json<Value>, ApiError> {
    let client = state.db().await?;
    let project = find_project(&client, &project).await?;
    let environment = named_environment(&client, &query.environment).await?;
    if let Some(step) = &query.step
        && !project
            .process
            .steps()
            .iter()
            .any(|s| s.name.as_str().eq_ignore_ascii_case(step))
    {
        return Err(ApiError::invalid(
            "step",
            format!("project `{}` has no step named `{step}`", project.name),
        ));
    }
    let context = ferry_domain::variables::ScopeContext {
        environment: Some(&environment.name),
        step: query.step.as_deref(),
        ..Default::default()
    };
    let resolved = project.variables.resolve(&context);
    let mut rows: BTreeMap<String, Value> = BTreeMap::new();
    for winner in resolved.values() {
        let variable = winner.variable;
        rows.insert(
            variable.name.as_str().to_lowercase(),
            json!({
                "name": variable.name,
                "value": if variable.sensitive { ferry_secrets::MASK.to_owned() } else { variable.value.clone() },
                "sensitive": variable.sensitive,
                "scope": variable.scope.describe(),
                "index": winner.index,
                "values_that_applied": winner.candidates,
            }),
        );
    }
    Ok(Json(json!({
        "project": project.name,
        "environment": environment.name,
        "step": query.step,
        "variables": rows.into_values().collect::<Vec<_>>(),
    })))
}

/// Finds a project by id or name, or answers 404 naming it.
pub async fn find_project(
    client: &impl GenericClient,
    id_or_name: &str,
) -> Result<Project, ApiError> {
    projects::find(client, id_or_name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("project `{id_or_name}` does not exist")))
}
