//! Talking to the Ferry API: the server settings every command shares, JSON requests with the
//! API key (or HTTP Basic with `FERRY_USER`, so the audit log names a person), and following
//! a deployment's task log.

use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::Value;

#[derive(Args, Clone)]
pub struct Server {
    /// The Ferry API's address.
    #[arg(long, env = "FERRY_SERVER", default_value = "http://127.0.0.1:58080")]
    pub server: String,
    /// The API key (better given as FERRY_API_KEY than on the command line).
    #[arg(long, env = "FERRY_API_KEY", hide_env_values = true)]
    pub api_key: String,
    /// Who you are, for the audit log and interventions (sent as the HTTP Basic user name).
    #[arg(long, env = "FERRY_USER")]
    pub user: Option<String>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.trim_end_matches('/'))
    }

    /// A request carrying the credentials.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = client().request(method, self.url(path));
        match &self.user {
            Some(user) => request.basic_auth(user, Some(&self.api_key)),
            None => request.header("x-ferry-apikey", &self.api_key),
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

pub async fn post(server: &Server, path: &str, body: &Value) -> anyhow::Result<Value> {
    let response = server
        .request(reqwest::Method::POST, path)
        .json(body)
        .send()
        .await
        .context("reaching the Ferry API")?;
    answer(response).await
}

pub async fn get(server: &Server, path: &str) -> anyhow::Result<Value> {
    let response = server
        .request(reqwest::Method::GET, path)
        .send()
        .await
        .context("reaching the Ferry API")?;
    answer(response).await
}

/// The JSON body of a successful response, or the API's error message as an error.
pub async fn answer(response: reqwest::Response) -> anyhow::Result<Value> {
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status.is_success() {
        return Ok(body);
    }
    let message = body["error"]["message"].as_str().unwrap_or("no details");
    bail!("the API answered {status}: {message}")
}

/// Prints new task-log lines until the deployment ends; the exit code is 0 only on success.
pub async fn follow(
    server: &Server,
    deployment_id: &str,
    timeout: Duration,
) -> anyhow::Result<i32> {
    let started = std::time::Instant::now();
    let mut printed = 0;
    let mut announced_wait = false;
    loop {
        let deployment = get(server, &format!("/api/deployments/{deployment_id}")).await?;
        if let Some(lines) = deployment["log"].as_array() {
            for line in lines.iter().skip(printed) {
                let step = line["step"]
                    .as_str()
                    .map(|s| format!("[{s}] "))
                    .unwrap_or_default();
                println!("{step}{}", line["text"].as_str().unwrap_or_default());
            }
            printed = printed.max(lines.len());
        }
        let status = deployment["status"].as_str().unwrap_or_default();
        match status {
            "Success" => {
                println!("Deployment succeeded");
                return Ok(0);
            }
            "Failed" | "Canceled" => {
                println!(
                    "Deployment {}: {}",
                    status.to_lowercase(),
                    deployment["error"].as_str().unwrap_or("no reason recorded")
                );
                return Ok(1);
            }
            "WaitingForIntervention" if !announced_wait => {
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
