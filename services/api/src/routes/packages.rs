//! `/api/packages`: push a package version (the raw archive as the body), read its metadata,
//! list packages. The archive is written to a temporary file as it arrives and checked
//! completely before anything is stored, so a refused upload leaves no object and no row
//! behind, and no upload is ever whole in memory.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use ferry_api_types::{PackageList, PackageView};
use ferry_domain::{PackageId, PackageVersion};
use ferry_packages::archive::{self, ArchiveFormat};
use ferry_packages::store::{StoreError, object_key};
use ferry_storage::packages::{self, Package};
use futures_util::StreamExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

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
    let client = state.db().await?;
    // Said before the body is read, so a CI job learns it at once; the insert checks again.
    if !query.overwrite
        && packages::find(&client, &package_id, &version)
            .await?
            .is_some()
    {
        return Err(already_exists(&package_id, &version));
    }
    drop(client);
    let _turn = tokio::time::timeout(state.config().upload_turn_wait, state.uploads().acquire())
        .await
        .map_err(|_| {
            ApiError::Unavailable(format!(
                "{} uploads are being received; try again shortly",
                state.config().max_concurrent_uploads
            ))
        })?
        .map_err(|error| ApiError::Internal(error.into()))?;
    let config = state.config();
    let received = receive(body, &config.upload_folder, limit, config.upload_idle).await?;
    let format = received
        .format
        .ok_or_else(|| ApiError::invalid("body", "the package is not a zip or tar.gz archive"))?;
    let limits = state.config().unpack_limits;
    let archive = received
        .file
        .reopen()
        .map_err(|error| ApiError::Internal(error.into()))?;
    tokio::task::spawn_blocking(move || archive::verify_file(archive, format, &limits))
        .await
        .map_err(|error| ApiError::Internal(error.into()))?
        .map_err(|error| ApiError::invalid("body", error.to_string()))?;

    let key = object_key(&received.sha256);
    let exists = state
        .store()
        .exists(&key)
        .await
        .map_err(store_unavailable)?;
    if !exists {
        state
            .store()
            .put_file(&key, received.file.path())
            .await
            .map_err(store_unavailable)?;
    }
    let size_bytes = i64::try_from(received.size_bytes).unwrap_or(i64::MAX);
    let client = state.db().await?;
    let package = packages::upsert(
        &client,
        &Package {
            package_id: package_id.clone(),
            version: version.clone(),
            format: format.extension().to_owned(),
            sha256: received.sha256,
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

fn already_exists(package_id: &PackageId, version: &PackageVersion) -> ApiError {
    ApiError::Conflict(format!(
        "package {package_id} version {version} already exists; push with ?overwrite=true to replace it"
    ))
}

fn store_unavailable(error: StoreError) -> ApiError {
    tracing::error!(%error, "object store failed");
    ApiError::Unavailable("the package store is unavailable; nothing was stored".into())
}

/// An upload written to disk: the file (removed when this is dropped), its hash and length,
/// and the archive format its first bytes show.
struct Received {
    file: tempfile::NamedTempFile,
    sha256: String,
    size_bytes: u64,
    format: Option<ArchiveFormat>,
}

/// The longest an upload may take in all (256 MiB at 150 KiB/s).
const UPLOAD_LONGEST: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Writes the body to a file in `folder` as it arrives, hashing it, and refuses it as soon as
/// it passes `limit` bytes, sends nothing for `idle` (it holds one of the few upload turns
/// meanwhile) or takes longer than [`UPLOAD_LONGEST`]. Memory holds one piece of the body at
/// a time.
async fn receive(
    body: Body,
    folder: &std::path::Path,
    limit: u64,
    idle: std::time::Duration,
) -> Result<Received, ApiError> {
    let internal = |error: std::io::Error| ApiError::Internal(error.into());
    let temporary = tempfile::Builder::new()
        .prefix(".upload-")
        .tempfile_in(folder)
        .map_err(internal)?;
    let mut file = tokio::fs::File::from_std(temporary.reopen().map_err(internal)?);
    let mut stream = body.into_data_stream();
    let mut hasher = Sha256::new();
    let mut size_bytes = 0u64;
    let mut start = Vec::with_capacity(4);
    let deadline = tokio::time::Instant::now() + UPLOAD_LONGEST;
    loop {
        let next = tokio::time::timeout(idle, stream.next());
        let chunk = match tokio::time::timeout_at(deadline, next).await {
            Err(_) => {
                return Err(ApiError::BadRequest(format!(
                    "the upload took longer than {} minutes; nothing was stored",
                    UPLOAD_LONGEST.as_secs() / 60
                )));
            }
            Ok(Err(_)) => {
                return Err(ApiError::BadRequest(format!(
                    "the upload sent nothing for {} seconds; nothing was stored",
                    idle.as_secs()
                )));
            }
            Ok(Ok(None)) => break,
            Ok(Ok(Some(chunk))) => chunk,
        };
        let chunk = chunk
            .map_err(|error| ApiError::BadRequest(format!("reading the request body: {error}")))?;
        size_bytes += chunk.len() as u64;
        if size_bytes > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        if start.len() < 4 {
            let wanted = (4 - start.len()).min(chunk.len());
            start.extend_from_slice(&chunk[..wanted]);
        }
        hasher.update(&chunk);
        file.write_all(&chunk).await.map_err(internal)?;
    }
    file.flush().await.map_err(internal)?;
    if size_bytes == 0 {
        return Err(ApiError::invalid("body", "the package is empty"));
    }
    Ok(Received {
        file: temporary,
        sha256: hex::encode(hasher.finalize()),
        size_bytes,
        format: ArchiveFormat::detect(&start),
    })
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
