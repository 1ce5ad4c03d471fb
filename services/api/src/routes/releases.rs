//! `/api/projects/{project}/releases`: create a release (an immutable snapshot of the
//! project's process, variables and package versions) and read releases.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use ferry_api_types::{CreateRelease, ReleaseList, ReleasePackageView, ReleaseView};
use ferry_domain::{AuditAction, PackageId, PackageVersion, ReleaseId, ReleaseNumber};
use ferry_storage::audit::{self, AuditEvent};
use ferry_storage::packages;
use ferry_storage::releases::{self, Release, ReleasePackage};
use serde_json::json;
use uuid::Uuid;

use crate::AppState;
use crate::actor::Actor;
use crate::error::ApiError;
use crate::extract::{JsonBody, QueryParams};
use crate::lookup::release_numbered;
use crate::routes::audit_details;
use crate::routes::paging::{PageQuery, not_a_cursor};
use crate::routes::projects::{find_project, variable_views};

/// The longest release notes accepted.
const MAX_NOTES_CHARS: usize = 20_000;

fn release_view(release: &Release) -> ReleaseView {
    ReleaseView {
        release_id: release.release_id,
        project_id: release.project_id,
        release_number: release.release_number.clone(),
        notes: release.notes.clone(),
        steps: release.process.clone(),
        variables: variable_views(&release.variables),
        packages: release
            .packages
            .iter()
            .map(|(id, pinned)| ReleasePackageView {
                package_id: id.clone(),
                version: pinned.version.clone(),
                sha256: pinned.sha256.clone(),
            })
            .collect(),
        created_at: release.created_at,
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(project): Path<String>,
    JsonBody(body): JsonBody<CreateRelease>,
) -> Result<(StatusCode, Json<ReleaseView>), ApiError> {
    let release_number = ReleaseNumber::parse(&body.release_number)?;
    if body
        .notes
        .as_ref()
        .is_some_and(|notes| notes.chars().count() > MAX_NOTES_CHARS)
    {
        return Err(ApiError::invalid(
            "notes",
            format!("must be at most {MAX_NOTES_CHARS} characters"),
        ));
    }
    let mut requested = BTreeMap::new();
    for (raw_id, raw_version) in &body.packages {
        let id = PackageId::parse(raw_id).map_err(|e| e.within("packages"))?;
        let version = PackageVersion::parse(raw_version)
            .map_err(|e| e.within(&format!("packages.{raw_id}")))?;
        requested.insert(id, version);
    }
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let project = find_project(&transaction, &project).await?;
    let needed = project.process.package_ids();
    if let Some(extra) = requested.keys().find(|id| !needed.contains(id)) {
        return Err(ApiError::invalid(
            "packages",
            format!("no step of project `{}` uses package {extra}", project.name),
        ));
    }
    let mut pinned = BTreeMap::new();
    for package_id in needed {
        let package = match requested.get(package_id) {
            Some(version) => packages::find(&transaction, package_id, version)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid(
                        &format!("packages.{package_id}"),
                        format!("package {package_id} version {version} has not been pushed"),
                    )
                })?,
            None => packages::versions(&transaction, package_id)
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| {
                    ApiError::invalid(
                        &format!("packages.{package_id}"),
                        format!("no version of package {package_id} has been pushed"),
                    )
                })?,
        };
        pinned.insert(
            package_id.clone(),
            ReleasePackage {
                version: package.version,
                format: package.format,
                sha256: package.sha256,
                size_bytes: package.size_bytes,
                object_key: package.object_key,
            },
        );
    }
    let release = Release {
        release_id: ReleaseId::from(Uuid::now_v7()),
        project_id: project.project_id,
        release_number,
        notes: body.notes,
        process: project.process.clone(),
        variables: project.variables.clone(),
        packages: pinned,
        created_at: Utc::now(),
    };
    releases::insert(&transaction, &release, &project.name).await?;
    let shown = release_view(&release);
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::ReleaseCreated,
            project_id: Some(project.project_id),
            environment_id: None,
            subject: &format!("{} release {}", project.name, release.release_number),
            details: audit_details(&shown)?,
        },
    )
    .await?;
    transaction.commit().await?;
    Ok((StatusCode::CREATED, Json(shown)))
}

pub async fn show(
    State(state): State<AppState>,
    Path((project, release_number)): Path<(String, String)>,
) -> Result<Json<ReleaseView>, ApiError> {
    let client = state.db().await?;
    let project = find_project(&client, &project).await?;
    let release = release_numbered(&client, project.project_id, &release_number)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "release {release_number} of project `{}` does not exist",
                project.name
            ))
        })?;
    Ok(Json(release_view(&release)))
}

pub async fn list(
    State(state): State<AppState>,
    Path(project): Path<String>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<ReleaseList>, ApiError> {
    let page = query.request("release of this project", |raw| raw.parse().ok())?;
    let client = state.db().await?;
    let project = find_project(&client, &project).await?;
    let page = releases::list(&client, project.project_id, &page)
        .await?
        .ok_or_else(|| not_a_cursor("release of this project"))?;
    Ok(Json(ReleaseList {
        next: page.next(|last| last.release_id.to_string()),
        releases: page.items.iter().map(release_view).collect(),
    }))
}

/// Octopus's *update variables*: the release takes the project's current variables; its
/// process and packages stay as they were. Audited.
pub async fn update_variables(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((project, release_number)): Path<(String, String)>,
) -> Result<Json<ReleaseView>, ApiError> {
    let mut client = state.db().await?;
    let transaction = client.transaction().await?;
    let project = find_project(&transaction, &project).await?;
    let mut release = release_numbered(&transaction, project.project_id, &release_number)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "release {release_number} of project `{}` does not exist",
                project.name
            ))
        })?;
    releases::update_variables(&transaction, release.release_id, &project.variables).await?;
    let before = variable_views(&release.variables);
    release.variables = project.variables.clone();
    let shown = release_view(&release);
    audit::record(
        &transaction,
        &AuditEvent {
            actor: actor.name(),
            action: AuditAction::ReleaseVariablesUpdated,
            project_id: Some(project.project_id),
            environment_id: None,
            subject: &format!("{} release {}", project.name, release.release_number),
            details: json!({ "before": before, "after": shown.variables }),
        },
    )
    .await?;
    transaction.commit().await?;
    Ok(Json(shown))
}
