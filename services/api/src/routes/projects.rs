//! `/api/projects`: create, read, update and list projects with their process, scoped
//! variables, lifecycle and guided-failure setting (the body is parsed in `project_body`);
//! and the variable preview.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use ferry_api_types::{ProjectList, ProjectView, ResolvedVariable, VariablePreview, VariableView};
use ferry_domain::AuditAction;
use ferry_domain::variables::VariableSet;
use ferry_storage::GenericClient;
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::projects::{self, Project};
use serde::Deserialize;

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::extract::QueryParams;
use crate::lookup::named_environment;
use crate::routes::audit_details;
use crate::routes::paging::{PageQuery, not_a_cursor};
use crate::routes::project_body::{ProjectBody, parse_project};

/// A project's (or release's) variables as the API shows them: sensitive values never leave
/// the server.
pub fn variable_views(variables: &VariableSet<String>) -> Vec<VariableView> {
    variables
        .variables()
        .iter()
        .map(|variable| VariableView {
            name: variable.name.clone(),
            value: (!variable.sensitive).then(|| variable.value.clone()),
            sensitive: variable.sensitive,
            scope: variable.scope.clone(),
        })
        .collect()
}

fn project_view(project: &Project) -> ProjectView {
    ProjectView {
        project_id: project.project_id,
        name: project.name.clone(),
        steps: project.process.clone(),
        variables: variable_views(&project.variables),
        notification_email: project.notification_email.clone(),
        worker_pool: project.worker_pool.clone(),
        lifecycle_id: project.lifecycle_id,
        guided_failure: project.guided_failure,
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    JsonBody(body): JsonBody<ProjectBody>,
) -> Result<(StatusCode, Json<ProjectView>), ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let project = parse_project(&state, &transaction, body, None).await?;
    let project = projects::insert(&transaction, &project).await?;
    let shown = project_view(&project);
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::ProjectCreated,
            project_id: Some(project.project_id),
            environment_id: None,
            subject: &format!("project {}", project.name),
            details: audit_details(&shown)?,
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
) -> Result<Json<ProjectView>, ApiError> {
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
    let shown = project_view(&updated);
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::ProjectUpdated,
            project_id: Some(updated.project_id),
            environment_id: None,
            subject: &format!("project {}", updated.name),
            details: audit_details(&shown)?,
        },
    )
    .await?;
    transaction.commit().await?;
    Ok(Json(shown))
}

pub async fn show(
    State(state): State<AppState>,
    Path(project): Path<String>,
) -> Result<Json<ProjectView>, ApiError> {
    let client = state.db().await?;
    Ok(Json(project_view(&find_project(&client, &project).await?)))
}

pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<ProjectList>, ApiError> {
    let page = query.request("project", |raw| raw.parse().ok())?;
    let client = state.db().await?;
    let page = projects::list(&client, &page)
        .await?
        .ok_or_else(|| not_a_cursor("project"))?;
    Ok(Json(ProjectList {
        next: page.next(|last| last.project_id.to_string()),
        projects: page.items.iter().map(project_view).collect(),
    }))
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
) -> Result<Json<VariablePreview>, ApiError> {
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
        environment: Some(environment.name.as_str()),
        step: query.step.as_deref(),
        ..Default::default()
    };
    let resolved = project.variables.resolve(&context);
    let mut rows: BTreeMap<String, ResolvedVariable> = BTreeMap::new();
    for winner in resolved.values() {
        let variable = winner.variable;
        rows.insert(
            variable.name.as_str().to_lowercase(),
            ResolvedVariable {
                name: variable.name.clone(),
                value: if variable.sensitive {
                    ferry_secrets::MASK.to_owned()
                } else {
                    variable.value.clone()
                },
                sensitive: variable.sensitive,
                scope: variable.scope.describe(),
                index: winner.index,
                values_that_applied: winner.candidates,
            },
        );
    }
    Ok(Json(VariablePreview {
        project: project.name,
        environment: environment.name,
        step: query.step,
        variables: rows.into_values().collect(),
    }))
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
