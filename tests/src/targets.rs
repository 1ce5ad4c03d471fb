//! Deployment targets in a scenario: the dev stack's OpenSSH servers registered as targets
//! (their host keys pinned as a person reads them with `ssh-keygen -lf`), and a TCP relay in
//! front of one of them that a test can take away mid-deployment.

use std::path::Path;

use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

use crate::config::DevTargets;

/// The fingerprint of a host public key file, as `ssh-keygen -lf` prints it.
pub fn host_fingerprint(public_key: &Path) -> String {
    let output = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .expect("ssh-keygen runs");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .expect("ssh-keygen prints text")
        .split_whitespace()
        .nth(1)
        .expect("ssh-keygen -l prints the fingerprint second")
        .to_owned()
}

/// The body registering dev server `server` as an SSH target with role `web`, its NGINX the
/// dev stack's and its applications under `applications_root` (in the target account's home).
pub fn ssh_target(
    targets: &DevTargets,
    name: &str,
    server: usize,
    environments: &[&str],
    applications_root: &str,
) -> Value {
    let (host, port, host_key) = &targets.servers[server];
    json!({
        "name": name,
        "environments": environments,
        "roles": ["web"],
        "kind": "ssh",
        "host": host,
        "port": port,
        "user": targets.user,
        "private_key": std::fs::read_to_string(&targets.private_key_file)
            .expect("the dev stack's target key is readable"),
        "host_key_fingerprint": host_fingerprint(host_key),
        "applications_root": applications_root,
        "nginx_config_folder": targets.nginx_config_folder,
        "nginx_validate_command": targets.nginx_validate_command,
        "nginx_reload_command": targets.nginx_reload_command,
    })
}

/// A TCP relay on a loopback port of its own to `host:port`; [`Relay::vanish`] drops every
/// connection through it and stops listening, as a host that goes away does.
pub struct Relay {
    pub port: u16,
    tasks: JoinSet<()>,
}

impl Relay {
    pub async fn start(host: &str, port: u16) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let local = listener.local_addr().expect("a bound port").port();
        let upstream = format!("{host}:{port}");
        let mut tasks = JoinSet::new();
        tasks.spawn(async move {
            let mut connections = JoinSet::new();
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                connections.spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Relay { port: local, tasks }
    }

    /// Every connection through the relay is cut and its port refuses new ones.
    pub async fn vanish(&mut self) {
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
    }
}
