//! Deploying in a scenario: starting a deployment (or being refused), reading it, cancelling
//! it, and rolling an environment back.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::stack::TestStack;

impl TestStack {
    /// Starts a deployment, asserting it was accepted; returns its id.
    pub async fn deploy(&self, project: &str, release_number: &str, environment: &str) -> String {
        self.deploy_with(&deployment_request(project, release_number, environment))
            .await
    }

    /// Asks for a deployment that may be refused: the answer, for the test to judge.
    pub async fn try_deploy(
        &self,
        project: &str,
        release_number: &str,
        environment: &str,
    ) -> (StatusCode, Value) {
        self.post(
            "/api/deployments",
            &deployment_request(project, release_number, environment),
        )
        .await
    }

    /// Starts a deployment from a whole request body (for per-deployment settings such as
    /// `guided_failure` or `excluded_steps`), asserting it was accepted; returns its id.
    pub async fn deploy_with(&self, request: &Value) -> String {
        let (status, body) = self.post("/api/deployments", request).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        deployment_id(&body)
    }

    /// The deployment as the API shows it now.
    pub async fn deployment(&self, deployment_id: &str) -> Value {
        let (status, body) = self
            .get(&format!("/api/deployments/{deployment_id}?include=log"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Cancels a deployment with the API key, asserting it was cancelled; returns the
    /// deployment.
    pub async fn cancel(&self, deployment_id: &str) -> Value {
        let (status, body) = self.try_cancel(deployment_id).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Cancels a deployment as a named person, asserting it was cancelled; returns the
    /// deployment.
    pub async fn cancel_as(&self, user: &str, deployment_id: &str) -> Value {
        let (status, body) = self
            .post_as(user, &cancel_path(deployment_id), &json!({}))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Asks to cancel a deployment that may not be cancellable: the answer.
    pub async fn try_cancel(&self, deployment_id: &str) -> (StatusCode, Value) {
        self.post(&cancel_path(deployment_id), &json!({})).await
    }

    /// Rolls an environment back, asserting a rollback deployment was created; returns the
    /// answer (`deployment_id`, `release_number`, `rolled_back_from_release`).
    pub async fn rollback(&self, project: &str, environment: &str) -> Value {
        let (status, body) = self.try_rollback(project, environment).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// Asks for a rollback that may be refused: the answer.
    pub async fn try_rollback(&self, project: &str, environment: &str) -> (StatusCode, Value) {
        self.post(
            "/api/deployments/rollback",
            &json!({ "project": project, "environment": environment }),
        )
        .await
    }
}

/// The id in an answer that created a deployment.
pub fn deployment_id(answer: &Value) -> String {
    answer["deployment_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no deployment id in {answer}"))
        .to_owned()
}

fn deployment_request(project: &str, release_number: &str, environment: &str) -> Value {
    json!({ "project": project, "release_number": release_number, "environment": environment })
}

fn cancel_path(deployment_id: &str) -> String {
    format!("/api/deployments/{deployment_id}/cancel")
}
