//! Commands for the deployment model: lifecycles, previews, interventions, cancelling and
//! rolling back.

use std::path::Path;

use anyhow::Context;
use serde_json::{Value, json};

use crate::api::{Server, get, post, urlencode};

pub async fn create_lifecycle(server: &Server, file: &Path) -> anyhow::Result<i32> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let lifecycle: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let body = post(server, "/api/lifecycles", &lifecycle).await?;
    println!(
        "Created lifecycle {}",
        body["name"].as_str().unwrap_or_default()
    );
    Ok(0)
}

pub async fn preview(
    server: &Server,
    project: &str,
    release_number: &str,
    environment: &str,
) -> anyhow::Result<i32> {
    let path = format!(
        "/api/projects/{}/releases/{}/preview?environment={}",
        urlencode(project),
        urlencode(release_number),
        urlencode(environment)
    );
    let body = get(server, &path).await?;
    match body["lifecycle"]["allowed"].as_bool() {
        Some(true) => println!("The lifecycle allows deploying {release_number} to {environment}."),
        _ => println!(
            "Not allowed yet: {}",
            body["lifecycle"]["reason"]
                .as_str()
                .unwrap_or("no reason given")
        ),
    }
    for step in body["steps"].as_array().into_iter().flatten() {
        let name = step["name"].as_str().unwrap_or_default();
        if step["runs"].as_bool() == Some(true) {
            println!(
                "  runs     {name}  (on {})",
                step["target"].as_str().unwrap_or_default()
            );
        } else {
            println!(
                "  skipped  {name}  ({})",
                step["reason"].as_str().unwrap_or_default()
            );
        }
        if let Some(error) = step["condition_error"].as_str() {
            println!("           its condition cannot be evaluated: {error}");
        }
    }
    Ok(0)
}

pub async fn interruptions(server: &Server) -> anyhow::Result<i32> {
    let body = get(server, "/api/interruptions").await?;
    let pending = body["interruptions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if pending.is_empty() {
        println!("Nothing is waiting for a person.");
    }
    for interruption in pending {
        let options: Vec<&str> = interruption["options"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        println!(
            "{}  deployment {}  {}{}",
            interruption["interruption_id"].as_str().unwrap_or_default(),
            interruption["deployment_id"].as_str().unwrap_or_default(),
            interruption["kind"].as_str().unwrap_or_default(),
            interruption["taken_by"]
                .as_str()
                .map(|by| format!("  (taken by {by})"))
                .unwrap_or_default()
        );
        println!(
            "    {}",
            interruption["instructions"].as_str().unwrap_or_default()
        );
        println!("    answer with: {}", options.join(" | "));
    }
    Ok(0)
}

/// Takes responsibility (unless it is yours already), then answers. An interruption another
/// person has taken is refused unless `take_over` is set, and the answer is checked against
/// the interruption's options before anything changes.
pub async fn intervene(
    server: &Server,
    interruption_id: &str,
    result: &str,
    note: Option<&str>,
    take_over: bool,
) -> anyhow::Result<i32> {
    let pending = get(server, "/api/interruptions").await?;
    let interruption = pending["interruptions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["interruption_id"] == interruption_id)
        .cloned()
        .with_context(|| {
            format!("no interruption {interruption_id} is waiting (see `ferry interruptions`)")
        })?;
    let options: Vec<&str> = interruption["options"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if !options.contains(&result) {
        anyhow::bail!(
            "`{result}` is not an answer to this interruption; use {}",
            options.join(" or ")
        );
    }
    let me = server.user.as_deref().unwrap_or("api-key");
    let id = urlencode(interruption_id);
    match interruption["taken_by"].as_str() {
        Some(owner) if owner == me => {}
        Some(owner) if !take_over => anyhow::bail!(
            "{owner} has taken responsibility for this interruption; pass --take-over to take it from them"
        ),
        _ => {
            post(server, &format!("/api/interruptions/{id}/take"), &json!({})).await?;
        }
    }
    let mut answer = json!({ "result": result });
    if let Some(note) = note {
        answer["note"] = Value::String(note.to_owned());
    }
    let body = post(server, &format!("/api/interruptions/{id}/submit"), &answer).await?;
    println!(
        "Answered {result} for deployment {}",
        body["deployment_id"].as_str().unwrap_or_default()
    );
    Ok(0)
}

pub async fn cancel(server: &Server, deployment_id: &str) -> anyhow::Result<i32> {
    let body = post(
        server,
        &format!("/api/deployments/{}/cancel", urlencode(deployment_id)),
        &json!({}),
    )
    .await?;
    println!(
        "Deployment {deployment_id} is {}",
        body["status"].as_str().unwrap_or_default()
    );
    Ok(0)
}

/// Starts a rollback; returns the new deployment's id.
pub async fn rollback(server: &Server, project: &str, environment: &str) -> anyhow::Result<String> {
    let body = post(
        server,
        "/api/deployments/rollback",
        &json!({ "project": project, "environment": environment }),
    )
    .await?;
    println!(
        "Rolling {project} in {environment} back from release {} to {}",
        body["rolled_back_from_release"]
            .as_str()
            .unwrap_or_default(),
        body["release_number"].as_str().unwrap_or_default()
    );
    println!(
        "Status page: {}",
        body["status_url"].as_str().unwrap_or_default()
    );
    Ok(body["deployment_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}
