//! `infra/dev ssh-fanout [N]`: a first measure of SSH fan-out with `ferry-ssh` alone (no
//! deployment around it): one connection, login and `true` to each of N target names spread
//! over the dev stack's two sshd servers, all at once (at most 256 in flight), beside plain
//! `ssh` one target after another for a sample, so the figure can be compared on one machine
//! in one run. Prints `ssh fan-out <N> connections: <s> s (<ms> ms each; sequential ssh:
//! <ms> ms each)`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use ferry_ssh::{ConnectOptions, Connection, Endpoint, HostKeyFingerprint};
use ferry_tests::config::DevTargets;

/// Connections in flight at once (sshd's MaxStartups on the dev targets is 2000).
const IN_FLIGHT: usize = 256;
/// Plain `ssh` runs timed one after another.
const SEQUENTIAL_SAMPLE: usize = 10;

fn fingerprint(public_key: &std::path::Path) -> anyhow::Result<HostKeyFingerprint> {
    let output = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()?;
    let text = String::from_utf8(output.stdout)?;
    let raw = text
        .split_whitespace()
        .nth(1)
        .context("ssh-keygen -l output")?;
    Ok(HostKeyFingerprint::parse(raw)?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let count: usize = std::env::args()
        .nth(1)
        .map(|raw| raw.parse())
        .transpose()?
        .unwrap_or(100);
    let targets = DevTargets::from_env();
    let key = Arc::new(std::fs::read_to_string(&targets.private_key_file)?);
    let mut servers = Vec::new();
    for (host, port, host_key) in &targets.servers {
        let endpoint = Endpoint {
            host: host.clone(),
            port: *port,
            user: targets.user.clone(),
        };
        servers.push((endpoint, fingerprint(host_key)?));
    }
    let servers = Arc::new(servers);
    let options = ConnectOptions {
        connect_timeout: Duration::from_secs(60),
        ..ConnectOptions::default()
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(IN_FLIGHT));
    let started = Instant::now();
    let mut runs = tokio::task::JoinSet::new();
    for index in 0..count {
        let (servers, key, slots) = (servers.clone(), key.clone(), slots.clone());
        runs.spawn(async move {
            let _slot = slots.acquire_owned().await?;
            let (endpoint, pinned) = &servers[index % servers.len()];
            let connection = Connection::open(endpoint, pinned, &key, &options).await?;
            let status = connection.run("true", b"", |_| {}).await?;
            connection.close().await;
            anyhow::ensure!(status == 0, "`true` exited with {status}");
            anyhow::Ok(())
        });
    }
    let mut failed = 0;
    while let Some(run) = runs.join_next().await {
        if let Err(error) = run? {
            failed += 1;
            eprintln!("ssh-fanout: {error:#}");
        }
    }
    let fanned = started.elapsed();
    anyhow::ensure!(failed == 0, "{failed} of {count} connections failed");

    let (endpoint, _) = &servers[0];
    let started = Instant::now();
    for _ in 0..SEQUENTIAL_SAMPLE {
        let status = std::process::Command::new("ssh")
            .args([
                "-q",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=no",
            ])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-i"])
            .arg(&targets.private_key_file)
            .args(["-p", &endpoint.port.to_string()])
            .arg(format!("{}@{}", endpoint.user, endpoint.host))
            .arg("true")
            .status()?;
        anyhow::ensure!(status.success(), "ssh exited with {status}");
    }
    let sequential = started.elapsed() / SEQUENTIAL_SAMPLE as u32;
    println!(
        "ssh fan-out {count} connections: {:.1} s ({:.1} ms each; sequential ssh: {:.1} ms each)",
        fanned.as_secs_f64(),
        fanned.as_secs_f64() * 1000.0 / count as f64,
        sequential.as_secs_f64() * 1000.0
    );
    Ok(())
}
