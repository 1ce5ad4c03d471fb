//! Reading a project's audit log: who did what.

use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::Value;

use crate::stack::TestStack;

/// One record of the audit log.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditEvent {
    /// What was done, such as `interruption.proceed`.
    pub action: String,
    /// Who did it: the HTTP Basic user name, else `api-key`.
    pub actor: String,
    /// What the action recorded beside (before and after values, notes).
    #[serde(default)]
    pub details: Value,
}

impl TestStack {
    /// The audit log of one project, as `GET /api/audit?project=…` returns it.
    pub async fn audit_log(&self, project: &str) -> Vec<AuditEvent> {
        let (status, body) = self
            .get_with_query("/api/audit", &[("project", project)])
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body["events"].clone())
            .unwrap_or_else(|error| panic!("a list of audit events ({error}): {body:#}"))
    }
}
