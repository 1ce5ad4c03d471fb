//! `/api/projects`: create, read, update and list projects with their process and variables.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use ferry_domain::{
    EmailAddress, PackageId, Process, ProjectName, RunCondition, Step, StepKind, StepName,
    ValidationError, VariableName, WorkerPool,
};
use ferry_storage::projects::{self, NewProject, Project};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiError;
use crate::extract::JsonBody;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectBody {
    name: String,
    #[serde(default)]
    steps: Vec<StepBody>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    notification_email: Option<String>,
    worker_pool: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StepBody {
    name: String,
    /// Only `run_script` exists yet.
    kind: Option<String>,
    script: Option<String>,
    package_id: Option<String>,
    run_condition: Option<String>,
}

fn parse_step(index: usize, body: StepBody) -> Result<Step, ValidationError> {
    let field = |name: &str| format!("steps[{index}].{name}");
    let name = StepName::parse(&body.name).map_err(|e| e.within(&format!("steps[{index}]")))?;
    match body.kind.as_deref().unwrap_or("run_script") {
        "run_script" => {}
        other => {
            return Err(ValidationError::new(
                field("kind"),
                format!("`{other}` is not a step kind; the kinds are: run_script"),
            ));
        }
    }
    let script = body
        .script
        .ok_or_else(|| ValidationError::new(field("script"), "a run_script step needs a script"))?;
    let package_id = body
        .package_id
        .map(|raw| {
            PackageId::parse(&raw).map_err(|e| ValidationError::new(field("package_id"), e.problem))
        })
        .transpose()?;
    let run_condition = match body.run_condition.as_deref() {
        None | Some("success") => RunCondition::Success,
        Some("failure") => RunCondition::Failure,
        Some("always") => RunCondition::Always,
        Some(other) => {
            return Err(ValidationError::new(
                field("run_condition"),
                format!("`{other}` is not a run condition; use success, failure or always"),
            ));
        }
    };
    Ok(Step {
        name,
        kind: StepKind::RunScript { script, package_id },
        run_condition,
    })
}

/// Parses a request body into a validated project.
fn parse_project(body: ProjectBody) -> Result<NewProject, ValidationError> {
    let name = ProjectName::parse(&body.name)?;
    let steps = body
        .steps
        .into_iter()
        .enumerate()
        .map(|(index, step)| parse_step(index, step))
        .collect::<Result<Vec<_>, _>>()?;
    let process = Process::new(steps)?;
    let mut seen = BTreeMap::new();
    for variable in body.variables.keys() {
        VariableName::parse(variable).map_err(|e| e.within("variables"))?;
        if let Some(previous) = seen.insert(variable.to_lowercase(), variable) {
            return Err(ValidationError::new(
                "variables",
                format!(
                    "`{previous}` and `{variable}` are the same variable (names are case-insensitive)"
                ),
            ));
        }
    }
    let notification_email = body
        .notification_email
        .map(|raw| EmailAddress::parse(&raw))
        .transpose()?;
    let worker_pool = body
        .worker_pool
        .map(|raw| WorkerPool::parse(&raw))
        .transpose()?
        .unwrap_or_default();
    Ok(NewProject {
        name,
        process,
        variables: body.variables,
        notification_email,
        worker_pool,
    })
}

pub fn project_json(project: &Project) -> Value {
    json!({
        "project_id": project.project_id,
        "name": project.name,
        "steps": project.process,
        "variables": project.variables,
        "notification_email": project.notification_email,
        "worker_pool": project.worker_pool,
    })
}

pub async fn create(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<ProjectBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let project = parse_project(body)?;
    let client = state.db().await?;
    let project = projects::insert(&client, &project).await?;
    Ok((StatusCode::CREATED, Json(project_json(&project))))
}

pub async fn update(
    State(state): State<AppState>,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<ProjectBody>,
) -> Result<Json<Value>, ApiError> {
    let update = parse_project(body)?;
    let client = state.db().await?;
    let existing = find_project(&client, &project).await?;
    projects::update(&client, existing.project_id, &update).await?;
    let updated = find_project(&client, &existing.project_id.to_string()).await?;
    Ok(Json(project_json(&updated)))
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

/// Finds a project by id or name, or answers 404 naming it.
pub async fn find_project(
    client: &impl ferry_storage::GenericClient,
    id_or_name: &str,
) -> Result<Project, ApiError> {
    projects::find(client, id_or_name)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("project `{id_or_name}` does not exist")))
}
