//! What both halves of `ferry-bench-hosts` share: the dev targets' pinned host keys (as
//! Ferry takes them and as a `known_hosts` file for plain `ssh`/`scp`), registering targets,
//! a worker in a process of its own, and reading a process's memory from `/proc`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use anyhow::Context;
use ferry_tests::TestStack;
use ferry_tests::config::DevTargets;
use reqwest::StatusCode;
use serde_json::json;

/// The dev targets, with what plain OpenSSH needs to check their host keys strictly.
pub struct Hosts {
    pub targets: DevTargets,
    pub private_key: String,
    /// `SHA256:…` per server, in the order of `targets.servers`.
    pub fingerprints: Vec<String>,
    /// Holds `known_hosts`, written from the servers' host public keys.
    folder: tempfile::TempDir,
}

impl Hosts {
    pub fn new(targets: DevTargets) -> anyhow::Result<Hosts> {
        let folder = tempfile::tempdir()?;
        let mut known_hosts = String::new();
        let mut fingerprints = Vec::new();
        for (host, port, public_key) in &targets.servers {
            let key = std::fs::read_to_string(public_key)
                .with_context(|| format!("reading {}", public_key.display()))?;
            let mut words = key.split_whitespace();
            let (Some(kind), Some(blob)) = (words.next(), words.next()) else {
                anyhow::bail!("{} is not an OpenSSH public key", public_key.display());
            };
            known_hosts.push_str(&format!("[{host}]:{port} {kind} {blob}\n"));
            fingerprints.push(fingerprint(public_key)?);
        }
        std::fs::write(folder.path().join("known_hosts"), known_hosts)?;
        let private_key = std::fs::read_to_string(&targets.private_key_file)?;
        Ok(Hosts {
            targets,
            private_key,
            fingerprints,
            folder,
        })
    }

    /// `ssh` or `scp` with the dev key, batch mode and the pinned host keys only.
    pub fn openssh(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .args([
                "-q",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=yes",
            ])
            .arg("-o")
            .arg(format!(
                "UserKnownHostsFile={}",
                self.folder.path().join("known_hosts").display()
            ))
            .arg("-i")
            .arg(&self.targets.private_key_file);
        command
    }

    /// Runs `true` on `server` with plain `ssh`.
    pub fn ssh_true(&self, server: usize) -> anyhow::Result<()> {
        let (host, port, _) = &self.targets.servers[server];
        let status = self
            .openssh("ssh")
            .args(["-p", &port.to_string()])
            .arg(format!("{}@{host}", self.targets.user))
            .arg("true")
            .status()?;
        anyhow::ensure!(status.success(), "ssh exited with {status}");
        Ok(())
    }

    /// Copies `file` to `remote_name` in the target account's home on `server` with `scp`.
    pub fn scp(&self, server: usize, file: &Path, remote_name: &str) -> anyhow::Result<()> {
        let (host, port, _) = &self.targets.servers[server];
        let status = self
            .openssh("scp")
            .args(["-P", &port.to_string()])
            .arg(file)
            .arg(format!("{}@{host}:{remote_name}", self.targets.user))
            .status()?;
        anyhow::ensure!(status.success(), "scp exited with {status}");
        Ok(())
    }

    /// The target account's home (the dev targets run on this machine).
    pub fn home(&self) -> PathBuf {
        Path::new("/home").join(&self.targets.user)
    }

    /// Registers an SSH target with role `web` on `server` in `environment`; returns its id.
    pub async fn register(
        &self,
        stack: &TestStack,
        target: &TargetPlace<'_>,
    ) -> anyhow::Result<String> {
        let (host, port, _) = &self.targets.servers[target.server];
        let body = json!({
            "name": target.name,
            "environments": [target.environment],
            "roles": ["web"],
            "kind": "ssh",
            "host": host,
            "port": port,
            "user": self.targets.user,
            "private_key": self.private_key,
            "host_key_fingerprint": self.fingerprints[target.server],
            "applications_root": target.applications_root,
        });
        let (status, created) = stack.post("/api/targets", &body).await;
        anyhow::ensure!(
            status == StatusCode::CREATED,
            "registering {}: {status} {created}",
            target.name
        );
        created["target_id"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no target_id in {created}"))
    }
}

/// One target to register: its name, where it is reached and what it belongs to.
pub struct TargetPlace<'a> {
    pub name: &'a str,
    pub server: usize,
    pub environment: &'a str,
    /// Relative to the target account's home; `None` for the default.
    pub applications_root: Option<&'a str>,
}

fn fingerprint(public_key: &Path) -> anyhow::Result<String> {
    let output = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()?;
    anyhow::ensure!(output.status.success(), "ssh-keygen -l: {output:?}");
    let text = String::from_utf8(output.stdout)?;
    text.split_whitespace()
        .nth(1)
        .map(str::to_owned)
        .context("ssh-keygen -l output")
}

/// A worker in a process of its own (`ferry-test-worker`, built beside this program), so its
/// memory and CPU are its own. Stopped with SIGTERM when [`WorkerProcess::stop`] is called,
/// killed if dropped before.
pub struct WorkerProcess {
    child: tokio::process::Child,
    pub pid: u32,
    _work_root: tempfile::TempDir,
}

impl WorkerProcess {
    pub async fn start(stack: &TestStack, concurrency: u16) -> anyhow::Result<WorkerProcess> {
        let program = std::env::current_exe()?.with_file_name("ferry-test-worker");
        anyhow::ensure!(
            program.exists(),
            "{} is missing: build it with `cargo build --release -p ferry-tests --bin ferry-test-worker`",
            program.display()
        );
        let helper = ferry_tests::config::helper_path();
        anyhow::ensure!(
            helper.exists(),
            "{} is missing: build it with `cargo build --release -p ferry-helper`",
            helper.display()
        );
        let work_root = tempfile::tempdir()?;
        let mut environment = stack.worker_environment(work_root.path());
        environment.push(("FERRY_WORKER_CONCURRENCY".into(), concurrency.to_string()));
        environment.push(("FERRY_HELPER_PATH".into(), helper.display().to_string()));
        environment.push(("FERRY_WORKER_NAME".into(), "bench-worker".into()));
        let program = program.display().to_string();
        let child = ferry_tests::spawn_worker_process(&program, environment);
        let pid = child.id().context("the worker process has a pid")?;
        // The worker declares nothing; give it a moment to bind its queues and settle, so its
        // peak memory so far is its idle peak.
        tokio::time::sleep(Duration::from_secs(2)).await;
        Ok(WorkerProcess {
            child,
            pid,
            _work_root: work_root,
        })
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmHWM:`, `VmRSS:`).
    pub fn status_kib(&self, field: &str) -> anyhow::Result<u64> {
        status_kib(self.pid, field)
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        Command::new("kill")
            .args(["-TERM", &self.pid.to_string()])
            .status()?;
        if tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .is_err()
        {
            self.child.kill().await?;
        }
        Ok(())
    }
}

pub fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/{pid}/status"))
}
