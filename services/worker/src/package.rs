//! Fetching a step's package: from the worker's content-addressed cache when it is there,
//! otherwise streamed from object storage into the cache, verified against the SHA-256 and
//! size the release pinned, then extracted into the step's folder. A package is never held
//! whole in memory: it moves between the store, the disk and the extractor in pieces.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_contracts::{LogStream, PackageReference};
use ferry_packages::UnpackLimits;
use ferry_packages::archive::{self, ArchiveFormat};
use ferry_packages::store::{Downloaded, PackageStore, StoreError};

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
        actual_size: u64,
    },
    #[error(
        "package {package_id} {version} in the package store is larger than the {size_bytes} bytes recorded; refusing to deploy it"
    )]
    Oversized {
        package_id: String,
        version: String,
        size_bytes: u64,
    },
    #[error("keeping package {package_id} {version} in this worker's cache: {detail}")]
    Cache {
        package_id: String,
        version: String,
        detail: String,
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
    let archive = fetch(store, work_root, package, cache_max_bytes, sink).await?;
    let destination = step_folder.join("package");
    let limits = *limits;
    let target = destination.clone();
    let extracted = tokio::task::spawn_blocking(move || {
        archive::extract_file(archive, format, &target, &limits)
    })
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

/// The package from this worker's cache, or streamed from the store into it, verified and
/// opened (what is read from the open file is what was checked).
pub async fn fetch(
    store: &PackageStore,
    work_root: &Path,
    package: &PackageReference,
    cache_max_bytes: u64,
    sink: &mut EventSink<'_>,
) -> Result<std::fs::File, PackageError> {
    let cache_folder = work_root.join("packages");
    let cached_path = cache_folder.join(&package.sha256);
    let archive = match open_if_intact(cached_path.clone(), package).await {
        Some(archive) => {
            crate::housekeeping::touch(&cached_path);
            sink.line(
                LogStream::System,
                format!(
                    "Package {} {} found in this worker's cache",
                    package.package_id, package.version
                ),
            );
            archive
        }
        None => {
            sink.line(
                LogStream::System,
                format!(
                    "Downloading package {} {} ({} bytes)",
                    package.package_id, package.version, package.size_bytes
                ),
            );
            sink.flush().await;
            download(store, package, &cache_folder, &cached_path).await?
        }
    };
    sink.line(
        LogStream::System,
        format!(
            "Verified SHA-256 {} of package {} {}",
            package.sha256, package.package_id, package.version
        ),
    );
    // The cache stays within its bound (the package just fetched is open, so it is read
    // whole even if the bound removes its file).
    bound_cache(cache_folder, cache_max_bytes).await;
    Ok(archive)
}

/// The cached copy, opened, when it is there and still has the recorded size and hash. The
/// open file is what gets extracted, so a copy replaced after the check is never used.
async fn open_if_intact(path: PathBuf, package: &PackageReference) -> Option<std::fs::File> {
    let expected = (package.size_bytes, package.sha256.clone());
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(&path).ok()?;
        let found = archive::sha256_of_reader(&mut file).ok()?;
        (found == expected).then_some(file)
    })
    .await
    .ok()
    .flatten()
}

/// Streams the package from the store into the cache (a temporary file, checked, then
/// renamed into place) and returns it opened.
async fn download(
    store: &PackageStore,
    package: &PackageReference,
    cache_folder: &Path,
    cached_path: &Path,
) -> Result<std::fs::File, PackageError> {
    let cache_error = |detail: String| PackageError::Cache {
        package_id: package.package_id.to_string(),
        version: package.version.to_string(),
        detail,
    };
    tokio::fs::create_dir_all(cache_folder)
        .await
        .map_err(|error| cache_error(format!("{}: {error}", cache_folder.display())))?;
    let partial = cache_folder.join(format!(".{}.partial", uuid::Uuid::new_v4()));
    let downloaded = download_with_retries(store, package, &partial).await;
    let checked = downloaded.and_then(|downloaded| check(package, &downloaded));
    if let Err(error) = checked {
        let _ = tokio::fs::remove_file(&partial).await;
        return Err(error);
    }
    tokio::fs::rename(&partial, cached_path)
        .await
        .map_err(|error| cache_error(format!("{}: {error}", cached_path.display())))?;
    std::fs::File::open(cached_path)
        .map_err(|error| cache_error(format!("{}: {error}", cached_path.display())))
}

async fn download_with_retries(
    store: &PackageStore,
    package: &PackageReference,
    partial: &Path,
) -> Result<Downloaded, PackageError> {
    let mut last_error = String::new();
    for attempt in 1..=DOWNLOAD_ATTEMPTS {
        match store
            .download_to(&package.object_key, partial, package.size_bytes)
            .await
        {
            Ok(downloaded) => return Ok(downloaded),
            Err(StoreError::NotFound { key, .. }) => {
                return Err(PackageError::Missing {
                    package_id: package.package_id.to_string(),
                    version: package.version.to_string(),
                    detail: format!("no object `{key}`"),
                });
            }
            Err(StoreError::Oversized { .. }) => {
                return Err(PackageError::Oversized {
                    package_id: package.package_id.to_string(),
                    version: package.version.to_string(),
                    size_bytes: package.size_bytes,
                });
            }
            Err(StoreError::File { path, source }) => {
                return Err(PackageError::Cache {
                    package_id: package.package_id.to_string(),
                    version: package.version.to_string(),
                    detail: format!("{path}: {source}"),
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

fn check(package: &PackageReference, downloaded: &Downloaded) -> Result<(), PackageError> {
    if downloaded.sha256 != package.sha256 || downloaded.size_bytes != package.size_bytes {
        return Err(PackageError::ChecksumMismatch {
            package_id: package.package_id.to_string(),
            version: package.version.to_string(),
            expected: package.sha256.clone(),
            size_bytes: package.size_bytes,
            actual: downloaded.sha256.clone(),
            actual_size: downloaded.size_bytes,
        });
    }
    Ok(())
}

/// Keeps the cache under its size by dropping what was used longest ago (after extraction, so
/// the package just used is never the one dropped).
async fn bound_cache(cache_folder: PathBuf, cache_max_bytes: u64) {
    let removed = tokio::task::spawn_blocking(move || {
        crate::housekeeping::bound_cache(&cache_folder, cache_max_bytes)
    })
    .await
    .unwrap_or(0);
    if removed > 0 {
        tracing::info!(
            removed,
            "removed least recently used packages from the cache"
        );
    }
}
