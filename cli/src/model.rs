//! Commands for the deployment model: lifecycles, previews, interventions, cancelling and
//! rolling back.

use std::path::Path;

use anyhow::Context;
use ferry_api_types::{
    AnswerRequest, DeploymentView, InterruptionView, LifecycleView, PendingInterruptions,
    ReleasePreview, RollbackRequest, RolledBack,
};
use ferry_domain::InterruptionId;
use ferry_domain::deployment::Answer;
use serde_json::{Value, json};

use crate::api::{Server, get, post, urlencode};

pub async fn create_lifecycle(server: &Server, file: &Path) -> anyhow::Result<i32> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    // Sent as written: the API checks it and names the field of any mistake.
    let lifecycle: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    let created: LifecycleView = post(server, "/api/lifecycles", &lifecycle).await?;
    println!("Created lifecycle {}", created.name);
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
    let preview: ReleasePreview = get(server, &path).await?;
    if preview.lifecycle.allowed {
        println!("The lifecycle allows deploying {release_number} to {environment}.");
    } else {
        println!(
            "Not allowed yet: {}",
            preview
                .lifecycle
                .reason
                .as_deref()
                .unwrap_or("no reason given")
        );
    }
    for step in &preview.steps {
        let name = &step.name;
        if step.runs {
            println!("  runs     {name}  (on {})", step.target);
        } else {
            println!(
                "  skipped  {name}  ({})",
                step.reason.as_deref().unwrap_or_default()
            );
        }
        if let Some(error) = &step.condition_error {
            println!("           its condition cannot be evaluated: {error}");
        }
    }
    Ok(0)
}

/// The answers an interruption takes, as people type them.
fn option_names(interruption: &InterruptionView) -> Vec<&'static str> {
    interruption
        .options
        .iter()
        .map(|answer| answer.as_str())
        .collect()
}

/// Every interruption waiting for a person, following the listing's pages.
async fn pending_interruptions(server: &Server) -> anyhow::Result<Vec<InterruptionView>> {
    let mut all = Vec::new();
    let mut path = "/api/interruptions?limit=1000".to_owned();
    loop {
        let page: PendingInterruptions = get(server, &path).await?;
        all.extend(page.interruptions);
        match page.next {
            Some(next) => {
                path = format!("/api/interruptions?limit=1000&after={}", urlencode(&next))
            }
            None => return Ok(all),
        }
    }
}

pub async fn interruptions(server: &Server) -> anyhow::Result<i32> {
    let pending = pending_interruptions(server).await?;
    if pending.is_empty() {
        println!("Nothing is waiting for a person.");
    }
    for interruption in &pending {
        println!(
            "{}  deployment {}  {}{}",
            interruption.interruption_id,
            interruption.deployment_id,
            interruption.kind.as_str(),
            interruption
                .taken_by
                .as_deref()
                .map(|by| format!("  (taken by {by})"))
                .unwrap_or_default()
        );
        println!("    {}", interruption.instructions);
        println!(
            "    answer with: {}",
            option_names(interruption).join(" | ")
        );
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
    let wanted = interruption_id.parse::<InterruptionId>().ok();
    let interruption = pending_interruptions(server)
        .await?
        .into_iter()
        .find(|i| Some(i.interruption_id) == wanted)
        .with_context(|| {
            format!("no interruption {interruption_id} is waiting (see `ferry interruptions`)")
        })?;
    if !Answer::parse(result).is_some_and(|answer| interruption.options.contains(&answer)) {
        anyhow::bail!(
            "`{result}` is not an answer to this interruption; use {}",
            option_names(&interruption).join(" or ")
        );
    }
    let me = server.user.as_deref().unwrap_or("api-key");
    let id = urlencode(interruption_id);
    match interruption.taken_by.as_deref() {
        Some(owner) if owner == me => {}
        Some(owner) if !take_over => anyhow::bail!(
            "{owner} has taken responsibility for this interruption; pass --take-over to take it from them"
        ),
        _ => {
            let _taken: InterruptionView =
                post(server, &format!("/api/interruptions/{id}/take"), &json!({})).await?;
        }
    }
    let answer = AnswerRequest {
        result: result.to_owned(),
        note: note.map(str::to_owned),
    };
    let answered: InterruptionView =
        post(server, &format!("/api/interruptions/{id}/submit"), &answer).await?;
    println!(
        "Answered {result} for deployment {}",
        answered.deployment_id
    );
    Ok(0)
}

pub async fn cancel(server: &Server, deployment_id: &str) -> anyhow::Result<i32> {
    let cancelled: DeploymentView = post(
        server,
        &format!("/api/deployments/{}/cancel", urlencode(deployment_id)),
        &json!({}),
    )
    .await?;
    println!("Deployment {deployment_id} is {}", cancelled.status);
    Ok(0)
}

/// Starts a rollback; returns the new deployment's id.
pub async fn rollback(server: &Server, project: &str, environment: &str) -> anyhow::Result<String> {
    let request = RollbackRequest {
        project: project.to_owned(),
        environment: environment.to_owned(),
    };
    let rolled: RolledBack = post(server, "/api/deployments/rollback", &request).await?;
    println!(
        "Rolling {project} in {environment} back from release {} to {}",
        rolled.rolled_back_from_release, rolled.deployment.release_number
    );
    println!("Status page: {}", rolled.deployment.status_url);
    Ok(rolled.deployment.deployment_id.to_string())
}
