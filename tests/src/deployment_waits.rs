//! Waiting on a deployment: for a given status, for any final one, or for a line in its task
//! log. Each wait polls `GET /api/deployments/{id}` and prints the deployment when it gives up.

use std::time::Duration;

use ferry_domain::DeploymentStatus;
use serde_json::Value;

use crate::deployment::{deployment_status, log_text};
use crate::stack::TestStack;
use crate::waiting::{Patience, Progress, WAIT_TIMEOUT, poll_until};

impl TestStack {
    /// Waits (up to [`WAIT_TIMEOUT`]) until the deployment's status is `wanted`, and returns
    /// the deployment. Panics, naming the status, if it ends in another final state first.
    pub async fn wait_for(&self, deployment_id: &str, wanted: DeploymentStatus) -> Value {
        self.wait_for_within(deployment_id, wanted, WAIT_TIMEOUT)
            .await
    }

    /// [`TestStack::wait_for`] with a timeout of its own.
    pub async fn wait_for_within(
        &self,
        deployment_id: &str,
        wanted: DeploymentStatus,
        timeout: Duration,
    ) -> Value {
        poll_until(
            &format!("deployment {deployment_id} to be {wanted}"),
            Patience::within(timeout),
            || async {
                let deployment = self.deployment(deployment_id).await;
                let status = deployment_status(&deployment);
                if status == wanted {
                    return Progress::Done(deployment);
                }
                assert!(
                    !status.is_terminal(),
                    "deployment {deployment_id} ended {status} while waiting for {wanted}: {deployment:#}"
                );
                Progress::NotYet(deployment)
            },
        )
        .await
    }

    /// Waits (up to [`WAIT_TIMEOUT`]) until the deployment reaches a final state, whichever,
    /// and returns it.
    pub async fn wait_for_deployment(&self, deployment_id: &str) -> Value {
        self.wait_for_deployment_within(deployment_id, WAIT_TIMEOUT)
            .await
    }

    /// [`TestStack::wait_for_deployment`] with a timeout of its own.
    pub async fn wait_for_deployment_within(
        &self,
        deployment_id: &str,
        timeout: Duration,
    ) -> Value {
        poll_until(
            &format!("deployment {deployment_id} to finish"),
            Patience::within(timeout),
            || async {
                let deployment = self.deployment(deployment_id).await;
                if deployment_status(&deployment).is_terminal() {
                    Progress::Done(deployment)
                } else {
                    Progress::NotYet(deployment)
                }
            },
        )
        .await
    }

    /// Waits (up to [`WAIT_TIMEOUT`]) until the deployment's task log has a line containing
    /// `needle`.
    pub async fn wait_for_log_line(&self, deployment_id: &str, needle: &str) {
        self.wait_for_log_line_within(deployment_id, needle, WAIT_TIMEOUT)
            .await
    }

    /// [`TestStack::wait_for_log_line`] with a timeout of its own.
    pub async fn wait_for_log_line_within(
        &self,
        deployment_id: &str,
        needle: &str,
        timeout: Duration,
    ) {
        poll_until(
            &format!("a line with {needle:?} in the log of deployment {deployment_id}"),
            Patience::within(timeout),
            || async {
                let (_, deployment) = self
                    .get(&format!("/api/deployments/{deployment_id}?include=log"))
                    .await;
                if log_text(&deployment).contains(needle) {
                    Progress::Done(())
                } else {
                    Progress::NotYet(deployment)
                }
            },
        )
        .await
    }
}
