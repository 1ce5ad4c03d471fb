//! `/api/projects/{project}/releases`: the request that creates a release, and a release as
//! the API shows it (the snapshot of the process, the variables with sensitive values
//! withheld, and the package versions pinned).

use std::collections::BTreeMap;

use ferry_domain::{PackageId, PackageVersion, Process, ProjectId, ReleaseId, ReleaseNumber};
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::projects::VariableView;

/// The body of `POST /api/projects/{project}/releases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRelease {
    pub release_number: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// Package id -> version; packages not named here get their latest version.
    #[serde(default)]
    pub packages: BTreeMap<String, String>,
}

/// One release: what `create`, `show` and `update-variables` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseView {
    pub release_id: ReleaseId,
    pub project_id: ProjectId,
    pub release_number: ReleaseNumber,
    pub notes: Option<String>,
    /// The project's process when the release was created.
    pub steps: Process,
    /// The project's variables when the release was created (or last updated).
    pub variables: Vec<VariableView>,
    /// The package versions the release pinned, ordered by package id.
    pub packages: Vec<ReleasePackageView>,
    pub created_at: Timestamp,
}

/// One package version a release pinned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleasePackageView {
    pub package_id: PackageId,
    pub version: PackageVersion,
    /// The archive's SHA-256 in hex, which workers check before extracting it.
    pub sha256: String,
}

/// `GET /api/projects/{project}/releases`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseList {
    pub releases: Vec<ReleaseView>,
    /// The cursor of the next page (pass it as `?after=`); `null` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{TIME_TEXT, name, time, uuid, uuid_text};
    use crate::projects::tests::{process, variables};

    #[test]
    fn a_release_writes_its_snapshot_its_pinned_packages_and_null_notes() {
        let (steps_json, process) = process();
        let Some(steps) = process else {
            panic!("the fixture process does not parse")
        };
        let (variables_json, variables) = variables();
        let list = ReleaseList {
            releases: vec![ReleaseView {
                release_id: ReleaseId::from(uuid(6)),
                project_id: ProjectId::from(uuid(5)),
                release_number: name("1.0.3"),
                notes: None,
                steps,
                variables,
                packages: vec![ReleasePackageView {
                    package_id: name("RandomQuotes"),
                    version: name("1.0.3"),
                    sha256: "ab".repeat(32),
                }],
                created_at: time(),
            }],
            next: None,
        };
        let expected = json!({"releases": [{
            "release_id": uuid_text(6),
            "project_id": uuid_text(5),
            "release_number": "1.0.3",
            "notes": null,
            "steps": steps_json,
            "variables": variables_json,
            "packages": [{"package_id": "RandomQuotes", "version": "1.0.3",
                          "sha256": "ab".repeat(32)}],
            "created_at": TIME_TEXT,
        }], "next": null});
        assert_eq!(serde_json::to_value(&list).ok(), Some(expected.clone()));
        let read: Option<ReleaseList> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(list));
    }

    #[test]
    fn a_release_request_leaves_out_absent_notes() {
        let request = CreateRelease {
            release_number: "1.0.3".to_owned(),
            notes: None,
            packages: BTreeMap::from([("RandomQuotes".to_owned(), "1.0.3".to_owned())]),
        };
        assert_eq!(
            serde_json::to_value(&request).ok(),
            Some(json!({"release_number": "1.0.3", "packages": {"RandomQuotes": "1.0.3"}}))
        );
    }
}
