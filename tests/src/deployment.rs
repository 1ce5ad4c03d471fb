//! Reading a deployment as `GET /api/deployments/{id}` returns it: its status and its steps'
//! as typed statuses, and its task log as text, whole or for one step.

use ferry_domain::{DeploymentStatus, StepStatus};
use serde_json::Value;

/// The deployment's status; panics, printing the deployment, if it has none Ferry knows.
pub fn deployment_status(deployment: &Value) -> DeploymentStatus {
    deployment["status"]
        .as_str()
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("a deployment with no known status: {deployment:#}"))
}

/// The status of the step called `step`; panics if there is no such step.
pub fn step_status(deployment: &Value, step: &str) -> StepStatus {
    let found = deployment["steps"]
        .as_array()
        .and_then(|steps| steps.iter().find(|s| s["name"] == step))
        .unwrap_or_else(|| panic!("no step {step}: {deployment:#}"));
    found["status"]
        .as_str()
        .and_then(|status| status.parse().ok())
        .unwrap_or_else(|| panic!("step {step} has no known status: {deployment:#}"))
}

/// The task log of a deployment as one string, one line per log line.
pub fn log_text(deployment: &Value) -> String {
    log_lines(deployment, |_| true)
}

/// The lines of the task log that the step called `step` wrote, as one string.
pub fn step_log(deployment: &Value, step: &str) -> String {
    log_lines(deployment, |line| line["step"] == step)
}

/// Panics when the deployment was read without its log (`?include=log`), so that a test can
/// never pass by looking into an absent log.
fn log_lines(deployment: &Value, wanted: impl Fn(&Value) -> bool) -> String {
    deployment["log"]
        .as_array()
        .expect("a deployment read with its log (GET /api/deployments/{id}?include=log)")
        .iter()
        .filter(|line| wanted(line))
        .map(|line| line["text"].as_str().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}
