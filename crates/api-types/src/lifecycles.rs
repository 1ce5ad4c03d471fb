//! `/api/lifecycles`: a lifecycle as the API shows it (its phases, each with its environments
//! and rule), and the list of lifecycles. The request body stays in the API, which checks
//! every environment it names.

use ferry_domain::lifecycle::Phase;
use ferry_domain::{LifecycleId, LifecycleName};
use serde::{Deserialize, Serialize};

/// One lifecycle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleView {
    pub lifecycle_id: LifecycleId,
    pub name: LifecycleName,
    /// In order: a release moves through them from the first.
    pub phases: Vec<Phase>,
}

/// `GET /api/lifecycles`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleList {
    pub lifecycles: Vec<LifecycleView>,
    /// The cursor of the next page (pass it as `?after=`); `null` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{uuid, uuid_text};

    #[test]
    fn a_lifecycle_writes_its_phases_with_their_rules() {
        let phases = json!([
            {"name": "Test", "environments": ["Test", "Staging"], "rule": {"minimum": 1}},
            {"name": "Production", "environments": ["Production"], "rule": "all_must_complete"},
        ]);
        let Ok(parsed) = serde_json::from_value::<Vec<Phase>>(phases.clone()) else {
            panic!("the fixture phases do not parse")
        };
        let list = LifecycleList {
            lifecycles: vec![LifecycleView {
                lifecycle_id: LifecycleId::from(uuid(7)),
                name: LifecycleName::parse("Standard").unwrap_or_else(|error| panic!("{error}")),
                phases: parsed,
            }],
            next: None,
        };
        let expected = json!({"lifecycles": [
            {"lifecycle_id": uuid_text(7), "name": "Standard", "phases": phases},
        ], "next": null});
        assert_eq!(serde_json::to_value(&list).ok(), Some(expected.clone()));
        let read: Option<LifecycleList> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(list));
    }
}
