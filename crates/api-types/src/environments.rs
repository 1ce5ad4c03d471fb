//! `/api/environments`: the requests that create and configure an environment, and an
//! environment as the API shows it.

use ferry_domain::{EnvironmentId, EnvironmentName};
use serde::{Deserialize, Serialize};

/// The body of `POST /api/environments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateEnvironment {
    pub name: String,
    /// Whether a failed step pauses for a person's decision here by default.
    #[serde(default)]
    pub guided_failure: bool,
}

/// The body of `PUT /api/environments/{environment}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateEnvironment {
    pub guided_failure: bool,
}

/// One environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentView {
    pub environment_id: EnvironmentId,
    pub name: EnvironmentName,
    pub guided_failure: bool,
}

/// `GET /api/environments`, in the environments' order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnvironmentList {
    pub environments: Vec<EnvironmentView>,
    /// The cursor of the next page (pass it as `?after=`); `null` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{name, uuid, uuid_text};

    #[test]
    fn an_environment_writes_its_id_name_and_guided_failure_default() {
        let list = EnvironmentList {
            environments: vec![EnvironmentView {
                environment_id: EnvironmentId::from(uuid(4)),
                name: name("Test"),
                guided_failure: true,
            }],
            next: None,
        };
        let expected = json!({"environments": [
            {"environment_id": uuid_text(4), "name": "Test", "guided_failure": true},
        ], "next": null});
        assert_eq!(serde_json::to_value(&list).ok(), Some(expected.clone()));
        let read: Option<EnvironmentList> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(list));
        let request: Option<CreateEnvironment> =
            serde_json::from_value(json!({"name": "Test"})).ok();
        assert_eq!(
            request,
            Some(CreateEnvironment {
                name: "Test".to_owned(),
                guided_failure: false
            })
        );
    }
}
