//! The messages Ferry's services exchange over RabbitMQ, shared by every producer and consumer.
//!
//! Architecture invariant: messages are plain serde data. A message carries everything its
//! consumer needs (a worker never looks anything up in the database, the notifier never
//! either), and every message has an id so a consumer can recognise a redelivery.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_domain::{DeploymentId, DeploymentStatus, StepRunId, StepStatus};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What kind of message a payload is; sent as the AMQP `type` property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    StepJob,
    StepEvent,
    DeploymentFinished,
    StopStep,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::StepJob => "step_job",
            MessageKind::StepEvent => "step_event",
            MessageKind::DeploymentFinished => "deployment_finished",
            MessageKind::StopStep => "stop_step",
        }
    }
}

/// A package a step needs, as stored: the worker downloads `object_key` and refuses it unless
/// its SHA-256 and size match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageReference {
    pub package_id: String,
    pub version: String,
    pub object_key: String,
    pub sha256: String,
    pub size_bytes: u64,
    /// `zip` or `tar.gz`.
    pub format: String,
}

/// "Run this step": sent by the API to a worker pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepJob {
    /// Unique per dispatch; equal to the AMQP message id.
    pub job_id: Uuid,
    pub deployment_id: DeploymentId,
    pub step_run_id: StepRunId,
    /// Which dispatch of this step run this is (1 for the first). Events carry it back so a
    /// late event from an earlier attempt is recognised as stale.
    pub attempt: i32,
    pub step_index: i32,
    pub step_name: String,
    /// The script as written in the process: a template the worker renders with the
    /// variables (and the machine's own) before running it.
    pub script: String,
    /// The step's variables, resolved for its environment and step: given to the template,
    /// to the script as environment variables and through `get_octopusvariable`. A list of
    /// `[name, value]` pairs, not a JSON object, because the order matters (indexed families
    /// such as `Octopus.Step[<name>]` iterate in process order) and the outbox stores jobs
    /// as `jsonb`, which reorders object keys.
    #[serde(deserialize_with = "pairs_or_object")]
    pub variables: Vec<(String, String)>,
    /// Sensitive variables, still encrypted (see `ferry-secrets`; the context is the name).
    /// The worker decrypts them just before the step and masks them in every line it sends.
    #[serde(default)]
    pub sensitive_variables: BTreeMap<String, String>,
    /// Octopus's pass-through mode: an unknown variable in the script is left as written
    /// instead of failing the step.
    #[serde(default)]
    pub lenient_templates: bool,
    pub package: Option<PackageReference>,
    /// How long the script may run before it is killed and the step fails.
    pub timeout_seconds: u64,
}

/// Where a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    Stdout,
    Stderr,
    /// Written by Ferry itself (downloading, extracting, exit code).
    System,
}

impl LogStream {
    pub const ALL: [LogStream; 3] = [LogStream::Stdout, LogStream::Stderr, LogStream::System];

    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
            LogStream::System => "system",
        }
    }

    pub fn parse(raw: &str) -> Option<LogStream> {
        LogStream::ALL
            .into_iter()
            .find(|stream| stream.as_str() == raw)
    }
}

/// One line of a step's task log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Position of the line within one attempt of one step run, from 0. Together with the step
    /// run and attempt it identifies the line, so a redelivered batch inserts nothing twice.
    pub sequence: i64,
    pub stream: LogStream,
    pub logged_at: DateTime<Utc>,
    pub text: String,
}

/// How a step ended on the worker: the domain's type, so the API hands it to the deployment
/// state machine as it arrived.
pub use ferry_domain::deployment::StepOutcome;

/// What happened to a step; sent by a worker to the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepEvent {
    /// Unique per event; equal to the AMQP message id.
    pub event_id: Uuid,
    pub deployment_id: DeploymentId,
    pub step_run_id: StepRunId,
    pub attempt: i32,
    pub body: StepEventBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StepEventBody {
    /// Log lines written while the step runs.
    Log { lines: Vec<LogLine> },
    /// The step ended; `lines` holds the last log lines not sent yet.
    Finished {
        lines: Vec<LogLine>,
        outcome: StepOutcome,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
        /// Output variables for later steps (`Package.InstallationDirectoryPath`), without
        /// the `Octopus.Action[<step>].Output.` prefix.
        #[serde(default)]
        outputs: BTreeMap<String, String>,
    },
}

/// "Stop this step": sent by the API when a deployment is cancelled, to every worker (a
/// fanout exchange); the worker running that attempt kills its script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopStep {
    pub message_id: Uuid,
    pub deployment_id: DeploymentId,
    pub step_run_id: StepRunId,
    pub attempt: i32,
}

/// "A deployment ended": sent by the API, consumed by the notifier. It carries everything the
/// status email shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentFinished {
    pub event_id: Uuid,
    pub deployment_id: DeploymentId,
    pub project_name: String,
    pub release_number: String,
    pub environment_name: String,
    /// `Success`, `Failed` or `Canceled`; on the wire its name (`DeploymentStatus::as_str`),
    /// which the email templates print.
    pub status: DeploymentStatus,
    pub failed_step: Option<String>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub status_url: String,
    /// Where the status email goes; empty when the project has no notification address.
    pub recipients: Vec<String>,
    pub steps: Vec<StepSummary>,
    pub finished_at: DateTime<Utc>,
}

/// One step's final state, for the email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSummary {
    pub name: String,
    /// On the wire its name (`StepStatus::as_str`).
    pub status: StepStatus,
}

/// Reads job variables as `[[name, value], …]`, or as the `{name: value}` object jobs written
/// by Ferry 0.1's spine carried, so jobs queued across an upgrade still run.
fn pairs_or_object<'de, D>(deserializer: D) -> Result<Vec<(String, String)>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        Pairs(Vec<(String, String)>),
        Object(BTreeMap<String, String>),
    }
    Ok(match Form::deserialize(deserializer)? {
        Form::Pairs(pairs) => pairs,
        Form::Object(object) => object.into_iter().collect(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn job_variables_read_both_forms_and_keep_their_order() {
        let job = |variables: serde_json::Value| {
            serde_json::json!({
                "job_id": Uuid::nil(), "deployment_id": Uuid::nil(), "step_run_id": Uuid::nil(),
                "attempt": 1, "step_index": 0, "step_name": "Run", "script": "true",
                "variables": variables, "package": null, "timeout_seconds": 10
            })
        };
        let pairs: StepJob =
            serde_json::from_value(job(serde_json::json!([["B", "2"], ["A", "1"]]))).unwrap();
        assert_eq!(
            pairs.variables,
            [("B".into(), "2".into()), ("A".into(), "1".into())]
        );
        let object: StepJob =
            serde_json::from_value(job(serde_json::json!({ "B": "2", "A": "1" }))).unwrap();
        assert_eq!(object.variables.len(), 2);
        let written = serde_json::to_value(&pairs).unwrap();
        assert_eq!(
            written["variables"],
            serde_json::json!([["B", "2"], ["A", "1"]])
        );
    }

    /// The notifier's templates and any consumer written before the statuses and ids were
    /// typed read this shape: ids as bare UUIDs, statuses by their names.
    #[test]
    fn a_finished_event_is_plain_json_with_statuses_by_name() {
        let deployment = "0190b5a2-7c1e-7000-8000-000000000001";
        let event = DeploymentFinished {
            event_id: Uuid::nil(),
            deployment_id: deployment.parse().unwrap(),
            project_name: "Random Quotes".into(),
            release_number: "1.0.3".into(),
            environment_name: "Test".into(),
            status: DeploymentStatus::Failed,
            failed_step: Some("Migrate".into()),
            exit_code: Some(3),
            error: Some("Step \"Migrate\" failed with exit code 3".into()),
            status_url: format!("http://ferry.example/deployments/{deployment}"),
            recipients: vec!["team@example.com".into()],
            steps: vec![
                StepSummary {
                    name: "Migrate".into(),
                    status: StepStatus::Failed,
                },
                StepSummary {
                    name: "Sign off".into(),
                    status: StepStatus::Abandoned,
                },
            ],
            finished_at: "2026-12-01T10:00:00Z".parse().unwrap(),
        };
        let expected = serde_json::json!({
            "event_id": "00000000-0000-0000-0000-000000000000",
            "deployment_id": deployment,
            "project_name": "Random Quotes",
            "release_number": "1.0.3",
            "environment_name": "Test",
            "status": "Failed",
            "failed_step": "Migrate",
            "exit_code": 3,
            "error": "Step \"Migrate\" failed with exit code 3",
            "status_url": format!("http://ferry.example/deployments/{deployment}"),
            "recipients": ["team@example.com"],
            "steps": [
                { "name": "Migrate", "status": "Failed" },
                { "name": "Sign off", "status": "Abandoned" }
            ],
            "finished_at": "2026-12-01T10:00:00Z"
        });
        assert_eq!(serde_json::to_value(&event).unwrap(), expected);
        let read: DeploymentFinished = serde_json::from_value(expected).unwrap();
        assert_eq!(read, event);
    }
}
