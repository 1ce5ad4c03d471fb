//! Package metadata: the bytes live in object storage, their identity and checksum here.

use crate::CachedQueries;
use chrono::{DateTime, Utc};
use ferry_domain::{PackageId, PackageVersion};

use crate::paging::{Page, PageRequest};
use crate::{GenericClient, StorageError, parsed};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub package_id: PackageId,
    pub version: PackageVersion,
    pub format: String,
    pub sha256: String,
    pub size_bytes: i64,
    pub object_key: String,
    pub uploaded_at: DateTime<Utc>,
}

const COLUMNS: &str = "package_id, version, format, sha256, size_bytes, object_key, uploaded_at";

fn from_row(row: &tokio_postgres::Row) -> Result<Package, StorageError> {
    Ok(Package {
        package_id: parsed(row, 0, "packages.package_id")?,
        version: parsed(row, 1, "packages.version")?,
        format: row.get(2),
        sha256: row.get(3),
        size_bytes: row.get(4),
        object_key: row.get(5),
        uploaded_at: row.get(6),
    })
}

/// Records a package version. With `overwrite`, an existing record is replaced; without, an
/// existing version is a [`StorageError::Conflict`].
pub async fn upsert(
    client: &impl GenericClient,
    package: &Package,
    overwrite: bool,
) -> Result<Package, StorageError> {
    let sql = if overwrite {
        format!(
            "INSERT INTO packages ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, now())
             ON CONFLICT (package_id, version) DO UPDATE SET format = $3, sha256 = $4,
                 size_bytes = $5, object_key = $6, uploaded_at = now()
             RETURNING {COLUMNS}"
        )
    } else {
        format!(
            "INSERT INTO packages ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, now())
             RETURNING {COLUMNS}"
        )
    };
    let row = client
        .query_one_cached(
            &sql,
            &[
                &package.package_id.as_str(),
                &package.version.to_string(),
                &package.format,
                &package.sha256,
                &package.size_bytes,
                &package.object_key,
            ],
        )
        .await
        .map_err(|error| {
            StorageError::conflict_or(error, || {
                format!("package {} version {}", package.package_id, package.version)
            })
        })?;
    from_row(&row)
}

pub async fn find(
    client: &impl GenericClient,
    package_id: &PackageId,
    version: &PackageVersion,
) -> Result<Option<Package>, StorageError> {
    let row = client
        .query_opt_cached(
            &format!("SELECT {COLUMNS} FROM packages WHERE package_id = $1 AND version = $2"),
            &[&package_id.as_str(), &version.to_string()],
        )
        .await?;
    row.as_ref().map(from_row).transpose()
}

/// Every version of a package, newest (by semantic version) first.
pub async fn versions(
    client: &impl GenericClient,
    package_id: &PackageId,
) -> Result<Vec<Package>, StorageError> {
    let rows = client
        .query_cached(
            &format!("SELECT {COLUMNS} FROM packages WHERE package_id = $1"),
            &[&package_id.as_str()],
        )
        .await?;
    let mut packages = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    packages.sort_by(|a, b| b.version.cmp(&a.version));
    Ok(packages)
}

/// A page of packages: by id, and each id's newest upload first; `None` when the cursor
/// names no package.
pub async fn list(
    client: &impl GenericClient,
    page: &PageRequest<(PackageId, PackageVersion)>,
) -> Result<Option<Page<Package>>, StorageError> {
    let after: Option<(String, DateTime<Utc>, String)> = match &page.after {
        None => None,
        Some((package_id, version)) => match client
            .query_opt_cached(
                "SELECT package_id, uploaded_at, version FROM packages
                 WHERE package_id = $1 AND version = $2",
                &[&package_id.as_str(), &version.to_string()],
            )
            .await?
        {
            Some(row) => Some((row.get(0), row.get(1), row.get(2))),
            None => return Ok(None),
        },
    };
    let (package_id, uploaded_at, version) = match after {
        Some((package_id, uploaded_at, version)) => {
            (Some(package_id), Some(uploaded_at), Some(version))
        }
        None => (None, None, None),
    };
    let rows = client
        .query_cached(
            &format!(
                "SELECT {COLUMNS} FROM packages
                 WHERE $1::text IS NULL OR package_id > $1 OR (package_id = $1
                   AND (uploaded_at < $2 OR (uploaded_at = $2 AND version > $3::text)))
                 ORDER BY package_id, uploaded_at DESC, version LIMIT $4"
            ),
            &[&package_id, &uploaded_at, &version, &page.fetch()],
        )
        .await?;
    let items = rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()?;
    Ok(Some(Page::from_rows(items, page)))
}
