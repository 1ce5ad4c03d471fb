//! Talking to the Ferry API: JSON requests with the API key (or HTTP Basic with `FERRY_USER`, so the audit log names a person), answers read
//! into the API's own types (`ferry-api-types`), and following a deployment's task log.

use std::time::Duration;

use anyhow::{Context, bail};
use ferry_api_types::{DeploymentView, ErrorBody, TaskLogPage};
use ferry_domain::DeploymentStatus;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::config::Server;

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }

    /// A request carrying the credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = client()
            .request(method, self.url(path))
            .header("x-ferry-apikey", &self.api_key);
        match &self.user {
            // Percent-encoded: a header value is ASCII, a name need not be.
            Some(user) => request.header("x-ferry-user", urlencode(user)),
            None => request,
        }
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

pub fn urlencode(segment: &str) -> String {
    segment
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub async fn post<Answer: DeserializeOwned>(
    server: &Server,
    path: &str,
    body: &impl Serialize,
) -> anyhow::Result<Answer> {
    let response = server
        .request(reqwest::Method::POST, path)
        .json(body)
        .send()
        .await
        .context("reaching the Ferry API")?;
    answer(response).await
}

pub async fn get<Answer: DeserializeOwned>(server: &Server, path: &str) -> anyhow::Result<Answer> {
    let response = server
        .request(reqwest::Method::GET, path)
        .send()
        .await
        .context("reaching the Ferry API")?;
    answer(response).await
}

/// The body of a successful response read as `Answer`, or the API's error message as an
/// error.
pub async fn answer<Answer: DeserializeOwned>(
    response: reqwest::Response,
) -> anyhow::Result<Answer> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .with_context(|| format!("reading the API's answer ({status})"))?;
    if status.is_success() {
        return serde_json::from_slice(&body)
            .with_context(|| format!("the API's answer ({status}) is not what this ferry reads"));
    }
    let message = serde_json::from_slice::<ErrorBody>(&body)
        .map(|body| body.error.message)
        .unwrap_or_else(|_| "no details".to_owned());
    bail!("the API answered {status}: {message}")
}

/// A log line as it may reach a terminal: control characters (escape sequences a script
/// printed to move the cursor, recolour or retitle the operator's terminal, or fake a line)
/// become U+FFFD; tabs stay.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// Prints the task-log lines written after `cursor`, page by page; returns the cursor to go
/// on from.
async fn print_new_lines(
    server: &Server,
    deployment_id: &str,
    mut cursor: i64,
) -> anyhow::Result<i64> {
    loop {
        let page: TaskLogPage = get(
            server,
            &format!("/api/deployments/{deployment_id}/log?after={cursor}&limit=5000"),
        )
        .await?;
        for line in &page.lines {
            let step = line
                .step
                .as_ref()
                .map(|s| format!("[{}] ", printable(s.as_str())))
                .unwrap_or_default();
            println!("{step}{}", printable(&line.text));
        }
        cursor = page.next_cursor;
        if !page.more {
            return Ok(cursor);
        }
    }
}

/// Prints new task-log lines until the deployment ends; the exit code is 0 only on success.
/// The log is read from where the last read ended (`?after=<cursor>`), never again whole.
pub async fn follow(
    server: &Server,
    deployment_id: &str,
    timeout: Duration,
) -> anyhow::Result<i32> {
    let started = std::time::Instant::now();
    let mut cursor = 0;
    let mut announced_wait = false;
    loop {
        // The status first: lines written before a final status are then all printed.
        let deployment: DeploymentView =
            get(server, &format!("/api/deployments/{deployment_id}")).await?;
        cursor = print_new_lines(server, deployment_id, cursor).await?;
        let status = deployment.status;
        match status {
            DeploymentStatus::Success => {
                println!("Deployment succeeded");
                return Ok(0);
            }
            DeploymentStatus::Failed | DeploymentStatus::Canceled => {
                println!(
                    "Deployment {}: {}",
                    status.as_str().to_lowercase(),
                    deployment.error.as_deref().unwrap_or("no reason recorded")
                );
                return Ok(1);
            }
            DeploymentStatus::WaitingForIntervention if !announced_wait => {
                announced_wait = true;
                println!(
                    "Waiting for a person: see `ferry interruptions`, then `ferry intervene <id> proceed|abort|retry|ignore`"
                );
            }
            _ => {}
        }
        if started.elapsed() > timeout {
            bail!(
                "deployment {deployment_id} still {status} after {} seconds",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn escape_sequences_from_a_script_do_not_reach_the_terminal() {
        assert_eq!(
            super::printable("ok\u{1b}[2K\rDeployment succeeded\tdone"),
            "ok\u{FFFD}[2K\u{FFFD}Deployment succeeded\tdone"
        );
    }
}
