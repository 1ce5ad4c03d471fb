//! ferry-helper on an SSH target: sent once, found by the next run, sent again when the copy
//! on the target is damaged, and older versions pruned so `~/.ferry/helpers` keeps three.
//! The test's worker carries a helper of its own (the workspace's with bytes appended, so
//! its hash is this test's only) and so never touches the copy other tests use.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ferry_tests::config::DevTargets;
use ferry_tests::targets::ssh_target;
use ferry_tests::{DeploymentStatus, StackOptions, TestStack, deployment_status, log_text};
use reqwest::StatusCode;
use uuid::Uuid;

fn sha256(path: &Path) -> String {
    let out = std::process::Command::new("sha256sum")
        .arg(path)
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()[..64].to_owned()
}

/// The names in the target account's `~/.ferry/helpers`, hidden ones (uploads under way)
/// left out.
fn helpers_on_target(folder: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_helper_is_sent_once_again_when_damaged_and_old_versions_are_pruned() {
    let own = tempfile::tempdir().unwrap();
    let helper: PathBuf = own.path().join("ferry-helper");
    let mut bytes = std::fs::read(ferry_tests::config::helper_path()).unwrap();
    bytes.extend_from_slice(Uuid::new_v4().as_bytes());
    std::fs::write(&helper, &bytes).unwrap();
    // It is the worker's launcher too (`ferry-helper launch`), so it must run.
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let sha = sha256(&helper);
    let stack = TestStack::start_with(StackOptions {
        helper_path: Some(helper.clone()),
        ..StackOptions::default()
    })
    .await;
    let targets = DevTargets::from_env();
    let folder = Path::new("/home")
        .join(&targets.user)
        .join(".ferry/helpers");
    // Three versions from long ago, as older workers leave them.
    std::fs::create_dir_all(&folder).unwrap();
    let stale: Vec<String> = (0..3)
        .map(|n| format!("{:064x}", 0xdead_0000_u64 + n))
        .collect();
    for name in &stale {
        let path = folder.join(name);
        std::fs::write(&path, b"an old helper").unwrap();
        let touched = std::process::Command::new("touch")
            .args(["-d", "3 days ago"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(touched.success());
    }

    stack.create_environment("Dev").await;
    let id = Uuid::new_v4().simple().to_string();
    let body = ssh_target(&targets, "web-h", 0, &["Dev"], &format!(".ferry-test/{id}"));
    let (status, created) = stack.post("/api/targets", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    stack
        .create_project(&serde_json::json!({
            "name": "Helper",
            "steps": [{"name": "Hello", "target_roles": ["web"], "script": "echo hello from the target"}]
        }))
        .await;
    stack.create_release("Helper", "1.0.0").await;
    let deploy = || async {
        let id = stack.deploy("Helper", "1.0.0", "Dev").await;
        let done = stack
            .wait_for_deployment_within(&id, Duration::from_secs(120))
            .await;
        let text = log_text(&done);
        assert_eq!(
            deployment_status(&done),
            DeploymentStatus::Success,
            "{text}"
        );
        assert!(text.contains("[web-h] hello from the target"), "{text}");
        text
    };

    let first = deploy().await;
    assert!(first.contains("Uploaded ferry-helper"), "{first}");
    let on_target = folder.join(&sha);
    assert_eq!(
        std::fs::read(&on_target).unwrap(),
        bytes,
        "the copy is whole"
    );
    let kept = helpers_on_target(&folder);
    assert!(kept.len() <= 3, "three versions kept at most: {kept:?}");
    assert!(kept.contains(&sha), "{kept:?}");
    assert!(
        stale.iter().all(|name| !kept.contains(name)),
        "the oldest went first: {kept:?}"
    );

    let second = deploy().await;
    assert!(
        !second.contains("Uploaded ferry-helper"),
        "found on the target: {second}"
    );

    // A copy cut short (a full disk, a crash mid-write outside Ferry) is sent again.
    std::fs::write(&on_target, &bytes[..bytes.len() / 2]).unwrap();
    let third = deploy().await;
    assert!(third.contains("Uploaded ferry-helper"), "{third}");
    assert_eq!(std::fs::read(&on_target).unwrap(), bytes);
    let _ = std::fs::remove_file(&on_target);
    let _ = std::fs::remove_dir_all(
        Path::new("/home")
            .join(&targets.user)
            .join(".ferry-test")
            .join(&id),
    );
}
