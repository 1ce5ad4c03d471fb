//! `/api/audit`: the audit log, newest first.

use ferry_domain::{EnvironmentId, ProjectId};
use serde::{Deserialize, Serialize};

use crate::Timestamp;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditLog {
    pub events: Vec<AuditEventView>,
    /// The cursor of the next page (pass it as `?after=`); `null` on the last page.
    #[serde(default)]
    pub next: Option<String>,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEventView {
    pub occurred_at: Timestamp,
    /// Who did it, as the request named them.
    pub actor: String,
    /// The dotted name (`release.variables_updated`, `interruption.proceed`). Text rather
    /// than the domain's `AuditAction`, so that actions a newer version recorded still read.
    pub action: String,
    pub project_id: Option<ProjectId>,
    pub environment_id: Option<EnvironmentId>,
    /// What it happened to, as a person reads it (`Random Quotes release 1.0.3`).
    pub subject: String,
    /// Whatever the action recorded (often the view of what it created or changed).
    pub details: serde_json::Value,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::{TIME_TEXT, time, uuid, uuid_text};

    #[test]
    fn an_audit_event_writes_null_for_what_it_does_not_concern() {
        let log = AuditLog {
            events: vec![AuditEventView {
                occurred_at: time(),
                actor: "alice".to_owned(),
                action: "environment.created".to_owned(),
                project_id: None,
                environment_id: Some(EnvironmentId::from(uuid(4))),
                subject: "environment Test".to_owned(),
                details: json!({"name": "Test"}),
            }],
            next: None,
        };
        let expected = json!({"events": [{
            "occurred_at": TIME_TEXT,
            "actor": "alice",
            "action": "environment.created",
            "project_id": null,
            "environment_id": uuid_text(4),
            "subject": "environment Test",
            "details": {"name": "Test"},
        }], "next": null});
        assert_eq!(serde_json::to_value(&log).ok(), Some(expected.clone()));
        let read: Option<AuditLog> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(log));
    }
}
