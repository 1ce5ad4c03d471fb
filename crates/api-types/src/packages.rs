//! `/api/packages`: a package version's metadata as the API shows it, and the list of them.

use ferry_domain::{PackageId, PackageVersion};
use serde::{Deserialize, Serialize};

use crate::Timestamp;

/// One pushed package version: what a push answers, and each entry of the list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageView {
    pub package_id: PackageId,
    pub version: PackageVersion,
    /// The archive's format, by its magic bytes: `zip` or `tar.gz`.
    pub format: String,
    /// The archive's SHA-256 in hex.
    pub sha256: String,
    pub size_bytes: i64,
    pub uploaded_at: Timestamp,
}

/// `GET /api/packages`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageList {
    pub packages: Vec<PackageView>,
    /// The cursor of the next page (pass it as `?after=`); `null` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{TIME_TEXT, name, time};

    #[test]
    fn a_package_writes_its_format_hash_and_size() {
        let list = PackageList {
            packages: vec![PackageView {
                package_id: name("RandomQuotes"),
                version: name("1.0.3"),
                format: "tar.gz".to_owned(),
                sha256: "ab".repeat(32),
                size_bytes: 1024,
                uploaded_at: time(),
            }],
            next: None,
        };
        let expected = json!({"packages": [{
            "package_id": "RandomQuotes",
            "version": "1.0.3",
            "format": "tar.gz",
            "sha256": "ab".repeat(32),
            "size_bytes": 1024,
            "uploaded_at": TIME_TEXT,
        }], "next": null});
        assert_eq!(serde_json::to_value(&list).ok(), Some(expected.clone()));
        let read: Option<PackageList> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(list));
    }
}
