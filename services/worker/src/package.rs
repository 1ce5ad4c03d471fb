//! Fetching a step's package: from the worker's content-addressed cache when it is there,
//! otherwise from object storage, verified against the SHA-256 and size the release pinned,
//! then extracted into the step's folder.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use ferry_contracts::{LogStream, PackageReference};
use ferry_packages::UnpackLimits;
use ferry_packages::archive::{self, ArchiveFormat};
use ferry_packages::store::{PackageStore, StoreError};

use crate::events::EventSink;

/// Why a package could not be made ready. Every variant fails the step with its message. The
/// package's id and version are kept as the text the message prints (as typed values the
/// error would outgrow what clippy allows an `Err` to be).
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("package {package_id} {version} is missing from the package store ({detail})")]
    Missing {
        package_id: String,
        version: String,
        detail: String,
    },
    #[error("the package store could not be reached after {attempts} attempts: {detail}")]
    StoreUnavailable { attempts: u32, detail: String },
    #[error(
        "package {package_id} {version} does not match its recorded checksum (expected SHA-256 {expected}, {size_bytes} bytes; got {actual}, {actual_size} bytes); refusing to deploy it"
    )]
    ChecksumMismatch {
        package_id: String,
        version: String,
        expected: String,
        size_bytes: u64,
        actual: String,
        actual_size: usize,
    },
    #[error("package {package_id} {version} has unknown format `{format}`")]
    UnknownFormat {
        package_id: String,
        version: String,
        format: String,
    },
    #[error("extracting package {package_id} {version}: {detail}")]
    Extract {
        package_id: String,
        version: String,
        detail: String,
    },
}

const DOWNLOAD_ATTEMPTS: u32 = 4;

/// Makes the package available under `step_folder/package` and returns that folder.
pub async fn fetch_and_extract(
    store: &PackageStore,
    work_root: &Path,
    package: &PackageReference,
    step_folder: &Path,
    limits: &UnpackLimits,
    cache_max_bytes: u64,
    sink: &mut EventSink<'_>,
) -> Result<PathBuf, PackageError> {
    let format = ArchiveFormat::from_extension(&package.format).ok_or_else(|| {
        PackageError::UnknownFormat {
            package_id: package.package_id.to_string(),
            version: package.version.to_string(),
            format: package.format.clone(),
        }
    })?;
    let cache_folder = work_root.join("packages");
    let cached_path = cache_folder.join(&package.sha256);
    let bytes = match tokio::fs::read(&cached_path).await {
        Ok(bytes) if archive::sha256_hex(&bytes) == package.sha256 => {
            crate::housekeeping::touch(&cached_path);
            sink.line(
                LogStream::System,
                format!(
                    "Package {} {} found in this worker's cache",
                    package.package_id, package.version
                ),
            );
            Bytes::from(bytes)
        }
        _ => {
            sink.line(
                LogStream::System,
                format!(
                    "Downloading package {} {} ({} bytes)",
                    package.package_id, package.version, package.size_bytes
                ),
            );
            sink.flush_if_due().await;
            let bytes = download(store, package).await?;
            verify(package, &bytes)?;
            if let Err(error) = cache(&cache_folder, &cached_path, &bytes).await {
                tracing::warn!(%error, "could not cache package; continuing without the cache");
            }
            let folder = cache_folder.clone();
            let removed = tokio::task::spawn_blocking(move || {
                crate::housekeeping::bound_cache(&folder, cache_max_bytes)
            })
            .await
            .unwrap_or(0);
            if removed > 0 {
                tracing::info!(
                    removed,
                    "removed least recently used packages from the cache"
                );
            }
            bytes
        }
    };
    sink.line(
        LogStream::System,
        format!(
            "Verified SHA-256 {} of package {} {}",
            package.sha256, package.package_id, package.version
        ),
    );
    let destination = step_folder.join("package");
    let limits = *limits;
    let target = destination.clone();
    let extracted =
        tokio::task::spawn_blocking(move || archive::extract(&bytes, format, &target, &limits))
            .await;
    let extract_error = |detail: String| PackageError::Extract {
        package_id: package.package_id.to_string(),
        version: package.version.to_string(),
        detail,
    };
    match extracted {
        Ok(Ok(_files)) => {}
        Ok(Err(error)) => return Err(extract_error(error.to_string())),
        Err(error) => return Err(extract_error(error.to_string())),
    }
    sink.line(
        LogStream::System,
        format!("Extracted package to {}", destination.display()),
    );
    Ok(destination)
}

async fn download(store: &PackageStore, package: &PackageReference) -> Result<Bytes, PackageError> {
    let mut last_error = String::new();
    for attempt in 1..=DOWNLOAD_ATTEMPTS {
        match store.get(&package.object_key).await {
            Ok(bytes) => return Ok(bytes),
            Err(StoreError::NotFound { key, .. }) => {
                return Err(PackageError::Missing {
                    package_id: package.package_id.to_string(),
                    version: package.version.to_string(),
                    detail: format!("no object `{key}`"),
                });
            }
            Err(error) => {
                last_error = error.to_string();
                tracing::warn!(%error, attempt, "downloading package failed");
                if attempt < DOWNLOAD_ATTEMPTS {
                    tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
                }
            }
        }
    }
    Err(PackageError::StoreUnavailable {
        attempts: DOWNLOAD_ATTEMPTS,
        detail: last_error,
    })
}

fn verify(package: &PackageReference, bytes: &[u8]) -> Result<(), PackageError> {
    let actual = archive::sha256_hex(bytes);
    if actual != package.sha256 || bytes.len() as u64 != package.size_bytes {
        return Err(PackageError::ChecksumMismatch {
            package_id: package.package_id.to_string(),
            version: package.version.to_string(),
            expected: package.sha256.clone(),
            size_bytes: package.size_bytes,
            actual,
            actual_size: bytes.len(),
        });
    }
    Ok(())
}

/// Writes the package to the cache atomically (temporary file, then rename).
async fn cache(cache_folder: &Path, cached_path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    tokio::fs::create_dir_all(cache_folder).await?;
    let temporary = cache_folder.join(format!(".{}.partial", uuid::Uuid::new_v4()));
    tokio::fs::write(&temporary, bytes).await?;
    tokio::fs::rename(&temporary, cached_path).await
}
