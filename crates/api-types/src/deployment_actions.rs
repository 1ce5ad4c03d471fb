//! `/api/deployments/rollback` and `/api/deployments/{id}/cancel`: the rollback request and
//! what it answers. Cancelling answers the cancelled deployment's
//! [`DeploymentView`](crate::DeploymentView).

use ferry_domain::{DeploymentId, ReleaseNumber};
use serde::{Deserialize, Serialize};

use crate::deployments::CreatedDeployment;

/// The body of `POST /api/deployments/rollback`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// Project id or name.
    pub project: String,
    /// Environment id or name.
    pub environment: String,
}

/// What a rollback answers (`201`): the new deployment, like any created one, and what it
/// rolls back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RolledBack {
    /// The new deployment, of the release that succeeded before the current one.
    #[serde(flatten)]
    pub deployment: CreatedDeployment,
    /// The environment's current deployment, the one rolled back.
    pub rollback_of: DeploymentId,
    /// The release that deployment carried.
    pub rolled_back_from_release: ReleaseNumber,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{name, uuid, uuid_text};

    #[test]
    fn a_rollback_answers_a_created_deployment_with_what_it_rolls_back() {
        let rolled = RolledBack {
            deployment: CreatedDeployment {
                deployment_id: DeploymentId::from(uuid(3)),
                project: name("Random Quotes"),
                release_number: name("1.0.2"),
                environment: name("Production"),
                status_url: "http://ferry/deployments/3".to_owned(),
            },
            rollback_of: DeploymentId::from(uuid(2)),
            rolled_back_from_release: name("1.0.3"),
        };
        let expected = json!({
            "deployment_id": uuid_text(3),
            "project": "Random Quotes",
            "release_number": "1.0.2",
            "environment": "Production",
            "status_url": "http://ferry/deployments/3",
            "rollback_of": uuid_text(2),
            "rolled_back_from_release": "1.0.3",
        });
        assert_eq!(serde_json::to_value(&rolled).ok(), Some(expected.clone()));
        let read: Option<RolledBack> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(rolled));
        let request = RollbackRequest {
            project: "Random Quotes".to_owned(),
            environment: "Production".to_owned(),
        };
        assert_eq!(
            serde_json::to_value(&request).ok(),
            Some(json!({"project": "Random Quotes", "environment": "Production"}))
        );
    }
}
