//! `/api/packages`: push a package version (the raw archive as the body), read its metadata,
//! list packages. The archive is checked completely before anything is stored, so a refused
//! upload leaves no object and no row behind.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::{Bytes, BytesMut};
use ferry_api_types::{PackageList, PackageView};
use ferry_domain::{PackageId, PackageVersion};
use ferry_packages::archive::{self, ArchiveFormat};
use ferry_packages::store::{StoreError, object_key};
use ferry_storage::packages::{self, Package};
use futures_util::StreamExt;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::QueryParams;
use crate::routes::paging::{PageQuery, not_a_cursor};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadQuery {
    /// Replace an existing version instead of answering 409.
    #[serde(default)]
    overwrite: bool,
}

fn package_view(package: Package) -> PackageView {
    PackageView {
        package_id: package.package_id,
        version: package.version,
        format: package.format,
        sha256: package.sha256,
        size_bytes: package.size_bytes,
        uploaded_at: package.uploaded_at,
    }
}

pub async fn upload(
    State(state): State<AppState>,
    Path((package_id, version)): Path<(String, String)>,
    QueryParams(query): QueryParams<UploadQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<PackageView>), ApiError> {
    let package_id = PackageId::parse(&package_id)?;
    let version = PackageVersion::parse(&version)?;
    let limit = state.config().max_package_bytes;
    let declared_length = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.parse::<u64>().ok());
    if declared_length.is_some_and(|length| length > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let bytes = read_limited(body, limit).await?;
    if bytes.is_empty() {
        return Err(ApiError::invalid("body", "the package is empty"));
    }
    let format = ArchiveFormat::detect(&bytes)
        .ok_or_else(|| ApiError::invalid("body", "the package is not a zip or tar.gz archive"))?;
    let checked = bytes.clone();
    let limits = state.config().unpack_limits;
    tokio::task::spawn_blocking(move || archive::verify(&checked, format, &limits))
        .await
        .map_err(|error| ApiError::Internal(error.into()))?
        .map_err(|error| ApiError::invalid("body", error.to_string()))?;

    let client = state.db().await?;
    if !query.overwrite
        && packages::find(&client, &package_id, &version)
            .await?
            .is_some()
    {
        return Err(ApiError::Conflict(format!(
            "package {package_id} version {version} already exists; push with ?overwrite=true to replace it"
        )));
    }
    let sha256 = archive::sha256_hex(&bytes);
    let key = object_key(&sha256);
    let size_bytes = bytes.len() as i64;
    let exists = state
        .store()
        .exists(&key)
        .await
        .map_err(store_unavailable)?;
    if !exists {
        state
            .store()
            .put(&key, bytes)
            .await
            .map_err(store_unavailable)?;
    }
    let package = packages::upsert(
        &client,
        &Package {
            package_id: package_id.clone(),
            version: version.clone(),
            format: format.extension().to_owned(),
            sha256,
            size_bytes,
            object_key: key,
            uploaded_at: chrono::Utc::now(),
        },
        query.overwrite,
    )
    .await?;
    tracing::info!(package_id = %package_id, version = %version, size_bytes, "package pushed");
    Ok((StatusCode::CREATED, Json(package_view(package))))
}

fn store_unavailable(error: StoreError) -> ApiError {
    tracing::error!(%error, "object store failed");
    ApiError::Unavailable("the package store is unavailable; nothing was stored".into())
}

/// Reads the body, refusing it as soon as it passes `limit` bytes.
async fn read_limited(body: Body, limit: u64) -> Result<Bytes, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buffer = BytesMut::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk
            .map_err(|error| ApiError::BadRequest(format!("reading the request body: {error}")))?;
        if (buffer.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        buffer.extend_from_slice(&chunk);
    }
    Ok(buffer.freeze())
}

pub async fn show(
    State(state): State<AppState>,
    Path((package_id, version)): Path<(String, String)>,
) -> Result<Json<PackageView>, ApiError> {
    let package_id = PackageId::parse(&package_id)?;
    let version = PackageVersion::parse(&version)?;
    let client = state.db().await?;
    let package = packages::find(&client, &package_id, &version)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "package {package_id} version {version} does not exist"
            ))
        })?;
    Ok(Json(package_view(package)))
}

/// Packages by id, each id's newest upload first. The cursor is `<package id>/<version>`.
pub async fn list(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<PageQuery>,
) -> Result<Json<PackageList>, ApiError> {
    let page = query.request("package", package_cursor)?;
    let client = state.db().await?;
    let page = packages::list(&client, &page)
        .await?
        .ok_or_else(|| not_a_cursor("package"))?;
    Ok(Json(PackageList {
        next: page.next(|last| format!("{}/{}", last.package_id, last.version)),
        packages: page.items.into_iter().map(package_view).collect(),
    }))
}

/// Reads a package listing's cursor: a package id (which has no `/`), `/`, a version.
fn package_cursor(raw: &str) -> Option<(PackageId, PackageVersion)> {
    let (package_id, version) = raw.split_once('/')?;
    Some((
        PackageId::parse(package_id).ok()?,
        PackageVersion::parse(version).ok()?,
    ))
}
