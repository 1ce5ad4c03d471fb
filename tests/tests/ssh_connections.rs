//! Reaching a target over SSH (`ferry-ssh`), against the dev stack's real OpenSSH servers:
//! discovery shows the fingerprint `ssh-keygen -l` prints for the host's key; a connection
//! accepts only the pinned key, and a changed key fails saying what the key is now; output,
//! input and exit status pass through; each failure says whether to try again.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::path::Path;
use std::time::Duration;

use ferry_ssh::{ConnectOptions, Connection, Endpoint, HostKeyFingerprint, Output, SshError};
use ferry_tests::config::DevTargets;

/// The fingerprint as a person reads it on the host: `ssh-keygen -lf <public key>`.
fn keygen_fingerprint(public_key: &Path) -> HostKeyFingerprint {
    let output = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    HostKeyFingerprint::parse(text.split_whitespace().nth(1).unwrap()).unwrap()
}

fn options() -> ConnectOptions {
    ConnectOptions {
        connect_timeout: Duration::from_secs(10),
        ..ConnectOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_host_runs_commands_and_a_changed_key_is_refused_saying_so() {
    let targets = DevTargets::from_env();
    let (host, port, host_key) = targets.servers[0].clone();
    let (_, other_port, other_host_key) = targets.servers[1].clone();
    let pinned = keygen_fingerprint(&host_key);
    assert_eq!(
        ferry_ssh::discover(&host, port, &options()).await.unwrap(),
        pinned
    );
    assert_ne!(
        keygen_fingerprint(&other_host_key),
        pinned,
        "each server has its own key"
    );

    let private_key = std::fs::read_to_string(&targets.private_key_file).unwrap();
    let endpoint = Endpoint {
        host: host.clone(),
        port,
        user: targets.user.clone(),
    };
    let connection = Connection::open(&endpoint, &pinned, &private_key, &options())
        .await
        .unwrap();
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let status = connection
        .run(
            "cat; echo \"as $(id -un)\"; echo oops >&2; exit 3",
            b"from stdin\n",
            |output| match output {
                Output::Stdout(bytes) => stdout.extend_from_slice(bytes),
                Output::Stderr(bytes) => stderr.extend_from_slice(bytes),
            },
        )
        .await
        .unwrap();
    assert_eq!(status, 3);
    assert_eq!(
        String::from_utf8(stdout).unwrap(),
        format!("from stdin\nas {}\n", targets.user)
    );
    assert_eq!(String::from_utf8(stderr).unwrap(), "oops\n");
    // A health check's facts, from the same connection.
    let facts = ferry_ssh::facts(&connection).await.unwrap().unwrap();
    assert_eq!(facts.os, "Linux");
    assert_eq!(facts.architecture, std::env::consts::ARCH);
    assert_eq!(facts.user, targets.user);
    assert!(facts.home.starts_with('/'), "{facts:?}");
    assert!(facts.free_bytes > 0, "{facts:?}");
    // Several commands share one connection.
    let status = connection.run("kill -TERM $$", b"", |_| {}).await.unwrap();
    assert_eq!(status, 128 + 15, "a command killed by a signal");
    connection.close().await;

    // The other server presents another key: refused before any credential is sent, naming
    // the key pinned and the key presented; not worth retrying.
    let moved = Endpoint {
        port: other_port,
        ..endpoint.clone()
    };
    let refused = Connection::open(&moved, &pinned, &private_key, &options())
        .await
        .err()
        .unwrap();
    let presented = keygen_fingerprint(&other_host_key);
    assert!(
        matches!(&refused, SshError::HostKeyChanged { presented: shown, .. } if *shown == presented),
        "{refused}"
    );
    let message = refused.to_string();
    assert!(
        message.contains(pinned.as_str()) && message.contains(presented.as_str()),
        "{message}"
    );
    assert!(!refused.is_retryable());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_host_is_retryable_and_a_refused_login_is_not() {
    let targets = DevTargets::from_env();
    let (host, port, host_key) = targets.servers[0].clone();
    let pinned = keygen_fingerprint(&host_key);
    let private_key = std::fs::read_to_string(&targets.private_key_file).unwrap();

    // Nothing listens on this port (it was just free).
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nowhere = Endpoint {
        host: host.clone(),
        port: free_port,
        user: targets.user.clone(),
    };
    let unreachable = Connection::open(&nowhere, &pinned, &private_key, &options())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(unreachable, SshError::Unreachable { .. }),
        "{unreachable}"
    );
    assert!(unreachable.is_retryable());
    let undiscovered = ferry_ssh::discover(&host, free_port, &options())
        .await
        .err()
        .unwrap();
    assert!(undiscovered.is_retryable(), "{undiscovered}");

    // A key the target does not know: refused, and retrying will not help.
    let folder = tempfile::tempdir().unwrap();
    let stranger = folder.path().join("stranger");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&stranger)
        .status()
        .unwrap();
    assert!(made.success());
    let stranger_key = std::fs::read_to_string(&stranger).unwrap();
    let endpoint = Endpoint {
        host,
        port,
        user: targets.user.clone(),
    };
    let refused = Connection::open(&endpoint, &pinned, &stranger_key, &options())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(refused, SshError::LoginRefused { .. }),
        "{refused}"
    );
    assert!(!refused.is_retryable());
    let unreadable = Connection::open(&endpoint, &pinned, "not a key", &options())
        .await
        .err()
        .unwrap();
    assert!(
        matches!(unreadable, SshError::PrivateKey(_)),
        "{unreadable}"
    );
}
