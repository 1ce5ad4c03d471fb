//! The messages Ferry's services exchange over RabbitMQ, shared by every producer and consumer.
//!
//! Architecture invariant: messages are plain serde data. A message carries everything its
//! consumer needs (a worker never looks anything up in the database, the notifier never
//! either), and every message has an id so a consumer can recognise a redelivery. Names,
//! versions and addresses are the domain's types, on the wire as their text, so a consumer
//! reads them already validated.

pub mod helper;
pub mod target_checks;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use ferry_domain::deploy_step::DeployPackage;
use ferry_domain::{
    DeploymentId, DeploymentStatus, EmailAddress, EnvironmentName, HostKeyFingerprint, HostName,
    LoginName, PackageId, PackageVersion, ProjectName, ReleaseNumber, StepName, StepRunId,
    StepStatus, TargetId, TargetName,
};
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
    ClaimAnswer,
    /// The next step of a deployment for the worker that offered to run it
    /// ([`ChainedJob`]), on that worker's private queue.
    ChainedJob,
    /// A health check or a discovery for a worker of a pool, on the pool's job queue beside
    /// its step jobs ([`target_checks::TargetCheckJob`]).
    TargetCheck,
    /// What a worker found, on its pool's events exchange beside its step events
    /// ([`target_checks::TargetCheckResult`]).
    TargetCheckResult,
}

impl MessageKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::StepJob => "step_job",
            MessageKind::StepEvent => "step_event",
            MessageKind::DeploymentFinished => "deployment_finished",
            MessageKind::StopStep => "stop_step",
            MessageKind::ClaimAnswer => "claim_answer",
            MessageKind::ChainedJob => "chained_job",
            MessageKind::TargetCheck => "target_check",
            MessageKind::TargetCheckResult => "target_check_result",
        }
    }
}

/// A package a step needs, as stored: the worker downloads `object_key` and refuses it unless
/// its SHA-256 and size match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageReference {
    pub package_id: PackageId,
    pub version: PackageVersion,
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
    pub step_name: StepName,
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
    /// How often the worker running the step sends a heartbeat (a quarter of the API's
    /// lease, so three may be lost before the attempt is given up). 0: the default, 15.
    #[serde(default)]
    pub heartbeat_seconds: u64,
    /// For one target's run of a step on targets: the target, and how to reach it. The job's
    /// `step_run_id` is then that run's own.
    #[serde(default)]
    pub target: Option<TargetJob>,
    /// For a deploy-a-package step: its conventions (templates the worker renders).
    #[serde(default)]
    pub deploy: Option<DeployPackage>,
    /// The names the helper on a target needs for folder names and file names.
    #[serde(default)]
    pub project_name: Option<ProjectName>,
    #[serde(default)]
    pub environment_name: Option<EnvironmentName>,
}

/// The target a job runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetJob {
    pub target_id: TargetId,
    pub name: TargetName,
    pub reach: TargetReach,
    /// Where applications go on the target; `None`: `.ferry/Applications` in the login's home.
    pub applications_root: Option<String>,
    /// The target's NGINX: `None` for each, the default (`/etc/nginx/conf.d`, `nginx -t`,
    /// `nginx -s reload`).
    pub nginx_config_folder: Option<String>,
    pub nginx_validate_command: Option<String>,
    pub nginx_reload_command: Option<String>,
}

/// How the worker reaches a target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetReach {
    Ssh {
        host: HostName,
        port: u16,
        user: LoginName,
        /// Only this host key is accepted.
        host_key_fingerprint: HostKeyFingerprint,
        /// Sealed with the variables keyring; the context is `target <id> private key`.
        sealed_private_key: String,
    },
    /// The worker's own host, as the script user.
    Local,
}

/// The keyring context a target's private key is sealed under.
pub fn private_key_context(target_id: TargetId) -> String {
    format!("target {target_id} private key")
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
    /// The start handshake: worker `worker` asks to run this attempt. The API answers with a
    /// [`ClaimAnswer`] on `reply_to` (the worker's private queue); only a granted attempt is
    /// run. A claim is re-sent with the same `event_id` until answered, and an answer for an
    /// `event_id` seen before is the answer it had.
    Claim { worker: String, reply_to: String },
    /// The worker running the attempt it claimed is alive: its lease runs on.
    Heartbeat { worker: String },
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
        /// How many lines of this attempt were sent before this event: the result is applied
        /// only after them, so the log reads in order.
        #[serde(default)]
        lines_before: Option<i64>,
        /// The worker offers to run the deployment's next step itself, already claimed
        /// (ARCHITECTURE.md, "Chained claims"): answered on `reply_to` with a
        /// [`ChainedJob`], or with a refused [`ClaimAnswer`] carrying the offer's id.
        #[serde(default)]
        next: Option<NextClaim>,
    },
}

/// How a worker hands `ferry-helper launch` (run as root) the environment of the program it
/// starts: `FERRY_LAUNCH_ENV_<n>=NAME=value`, names the dynamic loader never reads.
pub const LAUNCH_ENV_PREFIX: &str = "FERRY_LAUNCH_ENV_";

/// A worker's offer, sent with a result, to run the next step of the same deployment: the
/// API grants it in the result's own transaction, so the next step starts without a claim
/// of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextClaim {
    /// The claim id the next attempt is granted under (`StepRun::claim_id`).
    pub claim_id: Uuid,
    pub worker: String,
    /// The worker's private queue (server-named, `amq.gen-…`).
    pub reply_to: String,
}

/// The next step's job, granted to the worker that offered for it ([`NextClaim`]): the
/// worker runs it at once, with no claim of its own, if it still holds the offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainedJob {
    /// The offer's `claim_id`.
    pub claim_id: Uuid,
    pub job: StepJob,
}

/// The API's answer to a [`StepEventBody::Claim`], sent to the claim's `reply_to` queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimAnswer {
    /// The claim's `event_id`.
    pub claim_id: Uuid,
    /// Whether this worker runs the attempt. `false` means never (the attempt is stale,
    /// cancelled, or another delivery has it): the job is acknowledged and dropped.
    pub granted: bool,
    /// Why it was refused, in a sentence.
    #[serde(default)]
    pub reason: Option<String>,
}

/// "Stop this step": sent by the API when a deployment is cancelled, to every worker (a
/// fanout exchange); the worker running that attempt kills its script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StopStep {
    pub message_id: Uuid,
    pub deployment_id: DeploymentId,
    pub step_run_id: StepRunId,
    pub attempt: i32,
    /// Why, as the worker writes it in the log ("the deployment was cancelled" when absent).
    #[serde(default)]
    pub reason: Option<String>,
}

/// "A deployment ended": sent by the API, consumed by the notifier. It carries everything the
/// status email shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentFinished {
    pub event_id: Uuid,
    pub deployment_id: DeploymentId,
    pub project_name: ProjectName,
    pub release_number: ReleaseNumber,
    pub environment_name: EnvironmentName,
    /// `Success`, `Failed` or `Canceled`; on the wire its name (`DeploymentStatus::as_str`),
    /// which the email templates print.
    pub status: DeploymentStatus,
    pub failed_step: Option<StepName>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
    pub status_url: String,
    /// Where the status email goes; empty when the project has no notification address.
    pub recipients: Vec<EmailAddress>,
    pub steps: Vec<StepSummary>,
    pub finished_at: DateTime<Utc>,
}

/// One step's final state, for the email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepSummary {
    pub name: StepName,
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

    /// A name, release number, version or address the domain accepts.
    fn valid<T>(raw: &str) -> T
    where
        T: TryFrom<String>,
        T::Error: std::fmt::Debug,
    {
        T::try_from(raw.to_owned()).unwrap()
    }

    /// The notifier's templates and any consumer written before the statuses, ids and names
    /// were typed read this shape: ids as bare UUIDs, statuses by their names, names,
    /// versions and addresses as their text.
    #[test]
    fn a_finished_event_is_plain_json_with_statuses_by_name() {
        let deployment = "0190b5a2-7c1e-7000-8000-000000000001";
        let event = DeploymentFinished {
            event_id: Uuid::nil(),
            deployment_id: deployment.parse().unwrap(),
            project_name: valid("Random Quotes"),
            release_number: valid("1.0.3"),
            environment_name: valid("Test"),
            status: DeploymentStatus::Failed,
            failed_step: Some(valid("Migrate")),
            exit_code: Some(3),
            error: Some("Step \"Migrate\" failed with exit code 3".into()),
            status_url: format!("http://ferry.example/deployments/{deployment}"),
            recipients: vec![valid("team@example.com")],
            steps: vec![
                StepSummary {
                    name: valid("Migrate"),
                    status: StepStatus::Failed,
                },
                StepSummary {
                    name: valid("Sign off"),
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

    /// A consumer reads names already validated: an event whose name breaks the domain's
    /// rules is refused as a whole (and parked by the broker) rather than read.
    #[test]
    fn a_finished_event_with_a_name_the_domain_refuses_does_not_read() {
        let mut event = serde_json::to_value(DeploymentFinished {
            event_id: Uuid::nil(),
            deployment_id: Uuid::nil().into(),
            project_name: valid("Random Quotes"),
            release_number: valid("1.0.3"),
            environment_name: valid("Test"),
            status: DeploymentStatus::Success,
            failed_step: None,
            exit_code: None,
            error: None,
            status_url: "http://ferry.example/deployments/0".into(),
            recipients: vec![],
            steps: vec![],
            finished_at: "2026-12-01T10:00:00Z".parse().unwrap(),
        })
        .unwrap();
        assert!(serde_json::from_value::<DeploymentFinished>(event.clone()).is_ok());
        event["release_number"] = serde_json::json!("1.0");
        let error = serde_json::from_value::<DeploymentFinished>(event).unwrap_err();
        assert!(error.to_string().contains("release_number"), "{error}");
    }

    /// A worker reads a job's step and package by their text.
    #[test]
    fn a_job_names_its_step_and_package_as_text() {
        let job = StepJob {
            job_id: Uuid::nil(),
            deployment_id: Uuid::nil().into(),
            step_run_id: Uuid::nil().into(),
            attempt: 1,
            step_index: 0,
            step_name: valid("Deploy"),
            script: "true".into(),
            variables: vec![],
            sensitive_variables: BTreeMap::new(),
            lenient_templates: false,
            package: Some(PackageReference {
                package_id: valid("RandomQuotes"),
                version: valid("1.0.3-beta.1"),
                object_key: "packages/sha256/ab".into(),
                sha256: "ab".into(),
                size_bytes: 3,
                format: "zip".into(),
            }),
            timeout_seconds: 10,
            heartbeat_seconds: 15,
            target: None,
            deploy: None,
            project_name: None,
            environment_name: None,
        };
        let written = serde_json::to_value(&job).unwrap();
        assert_eq!(written["step_name"], "Deploy");
        assert_eq!(
            written["package"],
            serde_json::json!({
                "package_id": "RandomQuotes", "version": "1.0.3-beta.1",
                "object_key": "packages/sha256/ab", "sha256": "ab", "size_bytes": 3,
                "format": "zip"
            })
        );
        let read: StepJob = serde_json::from_value(written).unwrap();
        assert_eq!(read, job);
    }
}
