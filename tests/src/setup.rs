//! Setting up what a scenario deploys, each call asserting it was created: environments,
//! lifecycles, projects, packages and releases.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::stack::TestStack;

impl TestStack {
    pub async fn create_environment(&self, name: &str) -> Value {
        let (status, body) = self
            .post("/api/environments", &json!({ "name": name }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn create_lifecycle(&self, lifecycle: &Value) -> Value {
        let (status, body) = self.post("/api/lifecycles", lifecycle).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn create_project(&self, project: &Value) -> Value {
        let (status, body) = self.post("/api/projects", project).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn push_package(&self, package_id: &str, version: &str, bytes: Vec<u8>) -> Value {
        let (status, body) = self
            .post_raw(
                &format!("/api/packages/{package_id}/{version}"),
                "application/octet-stream",
                bytes,
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn create_release(&self, project: &str, release_number: &str) -> Value {
        let (status, body) = self
            .post(
                &format!("/api/projects/{project}/releases"),
                &json!({ "release_number": release_number }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }
}
