//! What the benchmark's newer phases share: an HTTP client for the stack's API that can be
//! moved into tasks (the harness's helpers borrow the stack and panic on a refusal), setting
//! up projects and releases with bounded concurrency, creating deployments as fast as the API
//! takes them, waiting for a set of them to end (all `Success`, or the bench fails), the
//! benchmark's knobs from the environment, and this process's memory.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Requests the benchmark keeps in flight while it sets things up.
const SETUP_IN_FLIGHT: usize = 16;

/// The stack's API as the benchmark calls it: cheap to clone (the client shares its pool).
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base_url: String,
}

impl Api {
    pub fn of(stack: &ferry_tests::TestStack) -> Api {
        Api {
            http: stack.http.clone(),
            base_url: stack.base_url.clone(),
        }
    }

    /// A `GET` with the API key, answered by its status and whole body.
    pub async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, String)> {
        let response = self
            .http
            .get(format!("{}{path}", self.base_url))
            .header("x-ferry-apikey", ferry_tests::API_KEY)
            .send()
            .await?;
        let status = response.status();
        Ok((status, response.text().await?))
    }

    /// A `POST` with the API key that must answer 201 Created; returns the answer.
    pub async fn create(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base_url))
            .header("x-ferry-apikey", ferry_tests::API_KEY)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "POST {path}: {status} {text}"
        );
        Ok(serde_json::from_str(&text)?)
    }

    /// Starts a deployment; returns its id.
    pub async fn deploy(&self, project: &str, environment: &str) -> anyhow::Result<String> {
        let body =
            json!({ "project": project, "release_number": "1.0.0", "environment": environment });
        let answer = self.create("/api/deployments", &body).await?;
        answer["deployment_id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no deployment_id in {answer}"))
    }

    /// Creates each project (a `name` and `steps`, perhaps a `lifecycle`) and its release
    /// 1.0.0, several at once.
    pub async fn create_projects(&self, projects: Vec<Value>) -> anyhow::Result<()> {
        let mut created = futures_util::stream::iter(projects)
            .map(|project| async move {
                self.create("/api/projects", &project).await?;
                let name = project["name"].as_str().context("a project has a name")?;
                let path = format!("/api/projects/{name}/releases");
                self.create(&path, &json!({ "release_number": "1.0.0" }))
                    .await
            })
            .buffer_unordered(SETUP_IN_FLIGHT);
        while let Some(result) = created.next().await {
            result?;
        }
        Ok(())
    }

    /// Creates one deployment of release 1.0.0 per `(project, environment)`, in order, with
    /// `in_flight` requests at once; returns their ids.
    pub async fn deploy_all(
        &self,
        pairs: &[(String, String)],
        in_flight: usize,
    ) -> anyhow::Result<Vec<String>> {
        let mut ids = Vec::with_capacity(pairs.len());
        let mut pending = FuturesUnordered::new();
        let mut next = pairs.iter();
        loop {
            while pending.len() < in_flight {
                let Some((project, environment)) = next.next() else {
                    break;
                };
                pending.push(self.deploy(project, environment));
            }
            match pending.next().await {
                Some(id) => ids.push(id?),
                None => return Ok(ids),
            }
        }
    }
}

/// One-step no-op projects (`{prefix} 0` …), for throughput runs.
pub fn noop_projects(prefix: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|n| {
            json!({ "name": format!("{prefix} {n}"), "steps": [{ "name": "Nothing", "script": "true" }] })
        })
        .collect()
}

/// Waits until `count` deployments of the projects whose names start with `prefix ` have
/// ended, each `Success` (any other end fails the bench at once), polling PostgreSQL lightly.
pub async fn wait_all_succeeded(
    db: &tokio_postgres::Client,
    prefix: &str,
    count: usize,
    patience: Duration,
) -> anyhow::Result<()> {
    let pattern = format!("{prefix} %");
    let deadline = Instant::now() + patience;
    loop {
        let row = db
            .query_one(
                "SELECT count(*) FILTER (WHERE d.status = 'Success'),
                        count(*) FILTER (WHERE d.status IN ('Failed', 'Canceled'))
                 FROM deployments d JOIN projects p ON p.project_id = d.project_id
                 WHERE p.name LIKE $1",
                &[&pattern],
            )
            .await?;
        let (succeeded, failed): (i64, i64) = (row.get(0), row.get(1));
        anyhow::ensure!(
            failed == 0,
            "{failed} deployments of the `{prefix}` projects did not succeed"
        );
        if succeeded as usize >= count {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {succeeded} of {count} `{prefix}` deployments succeeded in {} s",
            patience.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The number of deployments of the `prefix` projects that ended `Success`.
pub async fn succeeded(db: &tokio_postgres::Client, prefix: &str) -> anyhow::Result<i64> {
    let pattern = format!("{prefix} %");
    let row = db
        .query_one(
            "SELECT count(*) FROM deployments d JOIN projects p ON p.project_id = d.project_id
             WHERE p.name LIKE $1 AND d.status = 'Success'",
            &[&pattern],
        )
        .await?;
    Ok(row.get(0))
}

/// This process's resident memory now and at its peak (`VmRSS`, `VmHWM`), in MiB.
pub fn memory_mib() -> anyhow::Result<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let field = |name: &str| -> anyhow::Result<f64> {
        let kib: f64 = status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .with_context(|| format!("no {name} in /proc/self/status"))?
            .parse()?;
        Ok(kib / 1024.0)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// The highest `VmRSS` of this process (MiB), sampled every 50 ms until `stop`: the peak of a
/// phase, where `VmHWM` is the peak of the whole run.
pub async fn peak_rss_mib(stop: tokio_util::sync::CancellationToken) -> anyhow::Result<f64> {
    let mut peak = 0.0_f64;
    loop {
        peak = peak.max(memory_mib()?.0);
        tokio::select! {
            () = stop.cancelled() => return Ok(peak),
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}
