//! `/api/deployments`: the request that deploys a release to an environment, what creating a
//! deployment answers, and a deployment as `GET /api/deployments/{id}` and the status page
//! show it (its steps, interruptions and task log).

use ferry_domain::{
    DeploymentId, DeploymentStatus, EnvironmentName, ProjectName, ReleaseNumber, StepName,
    StepStatus,
};
use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::interruptions::InterruptionView;

/// The body of `POST /api/deployments`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    /// Project id or name.
    pub project: String,
    pub release_number: String,
    /// Environment id or name.
    pub environment: String,
    /// Steps to leave out of this deployment (not allowed for required steps).
    #[serde(default)]
    pub excluded_steps: Vec<String>,
    /// Overrides the project's and environment's guided-failure setting; left out when
    /// `None`, so the server's defaults apply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guided_failure: Option<bool>,
}

/// What creating a deployment answers (`201`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedDeployment {
    pub deployment_id: DeploymentId,
    /// The project's name (as stored, whatever the request called it).
    pub project: ProjectName,
    pub release_number: ReleaseNumber,
    /// The environment's name.
    pub environment: EnvironmentName,
    /// The status page of the deployment, for people.
    pub status_url: String,
}

/// A deployment with everything the API knows about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentView {
    pub deployment_id: DeploymentId,
    pub project: ProjectName,
    pub release_number: ReleaseNumber,
    pub environment: EnvironmentName,
    pub status: DeploymentStatus,
    /// Why it failed or was cancelled, in a sentence.
    pub error: Option<String>,
    pub created_at: Timestamp,
    /// When it left the queue.
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// Whether a failed step pauses for a person's decision (fixed at creation).
    pub guided_failure: bool,
    pub excluded_steps: Vec<StepName>,
    /// The deployment this one rolls back, when it is a rollback.
    pub rollback_of: Option<DeploymentId>,
    pub status_url: String,
    /// One per step of the release's process, in order.
    pub steps: Vec<StepRunView>,
    /// Every question the deployment asked, answered or open, oldest first.
    pub interruptions: Vec<InterruptionView>,
    /// The whole task log, in order: only with `?include=log` (followers read it in pages
    /// from `GET /api/deployments/{id}/log`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<Vec<TaskLogLine>>,
}

/// `GET /api/deployments/{id}/log?after=<cursor>`: the task-log lines written after a cursor,
/// oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLogPage {
    pub lines: Vec<TaskLogLine>,
    /// Where the next page starts: the cursor of the last line here, or the `after` asked
    /// for when there is none.
    pub next_cursor: i64,
    /// Whether more lines were already written than this page holds.
    pub more: bool,
}

/// One step of a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepRunView {
    pub name: StepName,
    pub status: StepStatus,
    /// How many times the step was started; 0 while it is pending.
    pub attempt: i32,
    /// The script's exit code, when it ran and exited.
    pub exit_code: Option<i32>,
    /// Why the step failed or was cancelled.
    pub error: Option<String>,
    /// A failure a person chose to ignore: the step counts as succeeded.
    pub failure_ignored: bool,
    /// When the worker started and finished it (the worker's clock).
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
    /// For a step on targets: its run on each target, in name order (empty otherwise).
    #[serde(default)]
    pub targets: Vec<TargetRunView>,
}

/// One target's run of a step on targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetRunView {
    pub target: ferry_domain::TargetName,
    pub status: StepStatus,
    /// How many times this target's run was started; 0 while it waits for the window.
    pub attempt: i32,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub started_at: Option<Timestamp>,
    pub finished_at: Option<Timestamp>,
}

/// One line of a deployment's task log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskLogLine {
    /// The line's place in the log: a later line has a greater cursor.
    pub cursor: i64,
    /// The step it belongs to; `null` for lines about the deployment as a whole.
    pub step: Option<StepName>,
    pub attempt: i32,
    /// `stdout`, `stderr` or `system` (written by Ferry itself). Text, as
    /// `ferry_contracts::LogStream::as_str` spells it: these body types do not depend on the
    /// message contracts.
    pub stream: String,
    pub logged_at: Timestamp,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use ferry_domain::InterruptionId;
    use ferry_domain::deployment::{Answer, InterruptionKind};
    use serde_json::json;

    use super::*;
    use crate::fixtures::{TIME_TEXT, name, time, uuid, uuid_text};

    fn interruption() -> InterruptionView {
        InterruptionView {
            interruption_id: InterruptionId::from(uuid(2)),
            deployment_id: DeploymentId::from(uuid(1)),
            step: Some(name("Sign off")),
            kind: InterruptionKind::ManualIntervention,
            instructions: "Check the site".to_owned(),
            responsible_team: None,
            options: Answer::options(InterruptionKind::ManualIntervention).to_vec(),
            created_at: time(),
            taken_by: None,
            taken_at: None,
            resolution: None,
            note: None,
            resolved_by: None,
            resolved_at: None,
        }
    }

    #[test]
    fn a_created_deployment_names_what_it_deploys_and_its_status_page() {
        let created = CreatedDeployment {
            deployment_id: DeploymentId::from(uuid(1)),
            project: name("Random Quotes"),
            release_number: name("1.0.3"),
            environment: name("Test"),
            status_url: "http://ferry/deployments/1".to_owned(),
        };
        assert_eq!(
            serde_json::to_value(&created).ok(),
            Some(json!({
                "deployment_id": uuid_text(1),
                "project": "Random Quotes",
                "release_number": "1.0.3",
                "environment": "Test",
                "status_url": "http://ferry/deployments/1",
            }))
        );
    }

    #[test]
    fn a_deployment_view_writes_nulls_and_octopus_statuses() {
        let view = DeploymentView {
            deployment_id: DeploymentId::from(uuid(1)),
            project: name("Random Quotes"),
            release_number: name("1.0.3"),
            environment: name("Test"),
            status: DeploymentStatus::WaitingForIntervention,
            error: None,
            created_at: time(),
            started_at: Some(time()),
            finished_at: None,
            guided_failure: false,
            excluded_steps: vec![],
            rollback_of: None,
            status_url: "http://ferry/deployments/1".to_owned(),
            steps: vec![StepRunView {
                name: name("Sign off"),
                status: StepStatus::Running,
                attempt: 1,
                exit_code: None,
                error: None,
                failure_ignored: false,
                started_at: None,
                finished_at: None,
                targets: vec![],
            }],
            interruptions: vec![interruption()],
            log: Some(vec![TaskLogLine {
                cursor: 7,
                step: None,
                attempt: 0,
                stream: "system".to_owned(),
                logged_at: time(),
                text: "Deploying".to_owned(),
            }]),
        };
        let expected = json!({
            "deployment_id": uuid_text(1),
            "project": "Random Quotes",
            "release_number": "1.0.3",
            "environment": "Test",
            "status": "WaitingForIntervention",
            "error": null,
            "created_at": TIME_TEXT,
            "started_at": TIME_TEXT,
            "finished_at": null,
            "guided_failure": false,
            "excluded_steps": [],
            "rollback_of": null,
            "status_url": "http://ferry/deployments/1",
            "steps": [{
                "name": "Sign off",
                "status": "Running",
                "attempt": 1,
                "exit_code": null,
                "error": null,
                "failure_ignored": false,
                "started_at": null,
                "finished_at": null,
                "targets": [],
            }],
            "interruptions": [{
                "interruption_id": uuid_text(2),
                "deployment_id": uuid_text(1),
                "step": "Sign off",
                "kind": "manual_intervention",
                "instructions": "Check the site",
                "responsible_team": null,
                "options": ["proceed", "abort"],
                "created_at": TIME_TEXT,
                "taken_by": null,
                "taken_at": null,
                "resolution": null,
                "note": null,
                "resolved_by": null,
                "resolved_at": null,
            }],
            "log": [{
                "cursor": 7,
                "step": null,
                "attempt": 0,
                "stream": "system",
                "logged_at": TIME_TEXT,
                "text": "Deploying",
            }],
        });
        assert_eq!(serde_json::to_value(&view).ok(), Some(expected.clone()));
        let read: Option<DeploymentView> = serde_json::from_value(expected).ok();
        assert_eq!(read, Some(view));
    }

    #[test]
    fn a_deployment_request_leaves_out_an_unset_guided_failure_and_refuses_unknown_fields() {
        let request = CreateDeployment {
            project: "Random Quotes".to_owned(),
            release_number: "1.0.3".to_owned(),
            environment: "Test".to_owned(),
            excluded_steps: vec!["Smoke test".to_owned()],
            guided_failure: None,
        };
        assert_eq!(
            serde_json::to_value(&request).ok(),
            Some(json!({
                "project": "Random Quotes",
                "release_number": "1.0.3",
                "environment": "Test",
                "excluded_steps": ["Smoke test"],
            }))
        );
        let unknown = json!({"project": "p", "release_number": "1", "environment": "e", "x": 1});
        assert!(serde_json::from_value::<CreateDeployment>(unknown).is_err());
    }
}
