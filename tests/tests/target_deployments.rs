//! Deploying to real hosts: the sample app (`examples/random-quotes`, Sinatra under unicorn)
//! through the tutorial's *Deploy to NGINX* step onto the dev stack's OpenSSH targets and its
//! NGINX, Dev and Test on their own ports, each page naming its environment over HTTP; a
//! redeploy of the same version finds the package cached (0 bytes sent), installs into
//! `<Version>_1` and switches `current`; an invalid directive fails with nginx's message and
//! the old site still answers; a changed host key fails saying so; a role no target has
//! fails naming role and environment; role- and target-scoped variables reach the target.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::path::Path;
use std::time::Duration;

use ferry_domain::{DeploymentStatus, StepStatus};
use ferry_tests::config::DevTargets;
use ferry_tests::targets::{host_fingerprint, ssh_target};
use ferry_tests::{TestStack, deployment_status, log_text, step_status};
use reqwest::StatusCode;
use serde_json::{Value, json};
use uuid::Uuid;

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The sample app as a package of its own: a marker file makes its bytes this test's only,
/// so no other test's deployment has put it in the targets' shared cache.
fn sample_package() -> Vec<u8> {
    let folder = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/random-quotes");
    let copied = std::process::Command::new("cp")
        .arg("-R")
        .arg(example.join("."))
        .arg(folder.path())
        .status()
        .unwrap();
    assert!(copied.success());
    std::fs::write(folder.path().join("BUILD"), Uuid::new_v4().to_string()).unwrap();
    let zip =
        ferry_packages::archive::pack_zip(folder.path(), std::io::Cursor::new(Vec::new())).unwrap();
    zip.into_inner()
}

/// A place of this test's own on the targets: its applications root and app sockets.
struct Place {
    id: String,
    socket_folder: String,
    /// In the target account's home: `.ferry-test/<id>`.
    folder: std::path::PathBuf,
}

impl Place {
    fn new(targets: &DevTargets) -> Place {
        let id = Uuid::new_v4().simple().to_string()[..12].to_owned();
        // The dev NGINX's own folder (per checkout, in the target account's home) holds the
        // sockets: short enough for a unix socket's path, reachable by NGINX and the app.
        let base = Path::new(&targets.nginx_config_folder)
            .parent()
            .and_then(Path::parent)
            .unwrap();
        Place {
            socket_folder: base.join("run").display().to_string(),
            folder: Path::new("/home")
                .join(&targets.user)
                .join(".ferry-test")
                .join(&id),
            id,
        }
    }

    fn socket(&self, environment: &str) -> String {
        format!("{}/rq-{}-{environment}.sock", self.socket_folder, self.id)
    }
}

/// The apps this test started on the targets stop with it (their pid files sit beside their
/// sockets), and its applications root goes.
impl Drop for Place {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.folder);
        let Ok(entries) = std::fs::read_dir(&self.socket_folder) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(&format!("rq-{}-", self.id))
                && name.ends_with(".pid")
                && let Ok(pid) = std::fs::read_to_string(entry.path())
            {
                let _ = std::process::Command::new("kill")
                    .args(["-QUIT", pid.trim()])
                    .status();
            }
        }
    }
}

async fn register(
    stack: &TestStack,
    targets: &DevTargets,
    place: &Place,
    name: &str,
    server: usize,
    environments: &[&str],
    fingerprint_override: Option<&str>,
) -> Value {
    let applications = format!(".ferry-test/{}/Applications", place.id);
    let mut body = ssh_target(targets, name, server, environments, &applications);
    if let Some(pinned) = fingerprint_override {
        body["host_key_fingerprint"] = json!(pinned);
    }
    let (status, created) = stack.post("/api/targets", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    created
}

/// The tutorial's process: *Deploy to NGINX* with role `web`, `Nginx Port` per environment.
fn project(
    name: &str,
    place: &Place,
    ports: &[(&str, u16)],
    extra_directive: Option<(&str, &str)>,
) -> Value {
    let mut directives = vec![json!({"name": "proxy_read_timeout", "value": "30s"})];
    if let Some((name, value)) = extra_directive {
        directives.push(json!({"name": name, "value": value}));
    }
    let mut variables: Vec<Value> = ports
        .iter()
        .map(|(environment, port)| {
            json!({"name": "Nginx Port", "value": port.to_string(), "scope": {"environments": [environment]}})
        })
        .collect();
    for (environment, _) in ports {
        variables.push(json!({"name": "App Socket", "value": place.socket(environment), "scope": {"environments": [environment]}}));
    }
    variables.push(
        json!({"name": "Greeting", "value": "hello from the role", "scope": {"roles": ["web"]}}),
    );
    variables.push(json!({"name": "Greeting", "value": "hello from web-dev", "scope": {"targets": ["web-dev"]}}));
    json!({
        "name": name,
        "variables": variables,
        "steps": [{
            "name": "Deploy to NGINX",
            "kind": "deploy_package",
            "package_id": "random-quotes",
            "target_roles": ["web"],
            "substitute_files": ["config/settings.json"],
            "scripts": {"deploy": "echo \"greeting: #{Greeting} on #{Octopus.Machine.Name} (#{Octopus.Machine.Roles})\""},
            "nginx": {
                "bindings": [{"protocol": "http", "address": "127.0.0.1", "port": "#{Nginx Port}"}],
                "locations": [{"path": "/", "reverse_proxy": "http://unix:#{App Socket}", "directives": directives}]
            }
        }]
    })
}

async fn page(port: u16, path: &str) -> Result<String, String> {
    let answer = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_err(|error| error.to_string())?;
    let status = answer.status();
    let body = answer.text().await.map_err(|error| error.to_string())?;
    if status.is_success() {
        Ok(body)
    } else {
        Err(format!("{status}: {body}"))
    }
}

async fn deployed(stack: &TestStack, project: &str, release: &str, environment: &str) -> Value {
    let id = stack.deploy(project, release, environment).await;
    stack
        .wait_for_deployment_within(&id, Duration::from_secs(120))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sample_app_is_deployed_to_nginx_on_ssh_targets_per_environment() {
    let stack = TestStack::start().await;
    let targets = DevTargets::from_env();
    let place = Place::new(&targets);
    for environment in ["Dev", "Test"] {
        stack.create_environment(environment).await;
    }
    register(&stack, &targets, &place, "web-dev", 0, &["Dev"], None).await;
    register(&stack, &targets, &place, "web-test", 1, &["Test"], None).await;
    let (dev_port, test_port) = (free_port(), free_port());
    let name = format!("Random Quotes {}", place.id);
    stack
        .create_project(&project(
            &name,
            &place,
            &[("Dev", dev_port), ("Test", test_port)],
            None,
        ))
        .await;
    stack
        .push_package("random-quotes", "1.0.0", sample_package())
        .await;
    stack.create_release(&name, "1.0.0").await;

    let dev = deployed(&stack, &name, "1.0.0", "Dev").await;
    assert_eq!(
        deployment_status(&dev),
        DeploymentStatus::Success,
        "{}",
        log_text(&dev)
    );
    let test = deployed(&stack, &name, "1.0.0", "Test").await;
    assert_eq!(
        deployment_status(&test),
        DeploymentStatus::Success,
        "{}",
        log_text(&test)
    );

    for (environment, port, log) in [("Dev", dev_port, &dev), ("Test", test_port, &test)] {
        let home = page(port, "/").await.unwrap();
        assert!(
            home.contains(environment),
            "the {environment} page names it: {home}"
        );
        let quote: Value = serde_json::from_str(&page(port, "/api/quote").await.unwrap()).unwrap();
        assert_eq!(quote["environment"], environment, "{quote}");
        assert_eq!(quote["version"], "1.0.0");
        let text = log_text(log);
        assert!(
            text.contains("Step \"Deploy to NGINX\" Succeeded on target web-"),
            "{text}"
        );
        assert!(
            text.contains("bytes, SHA-256 verified") || text.contains("received"),
            "{text}"
        );
    }
    // The deployment shows the step once, with its run on the target beneath it, as its
    // schema says.
    let steps = dev["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1, "{steps:?}");
    assert_eq!(steps[0]["targets"][0]["target"], "web-dev");
    assert_eq!(steps[0]["targets"][0]["status"], "Succeeded");
    assert_eq!(steps[0]["targets"][0]["attempt"], 1);
    let shown = stack
        .deployment(dev["deployment_id"].as_str().unwrap())
        .await;
    let problems = ferry_tests::OpenApi::default().problems(
        "GET",
        "/api/deployments/{deployment_id}",
        200,
        &shown,
    );
    assert!(problems.is_empty(), "{problems:?}");
    // Role- and target-scoped values, and the machine's own variables, per target.
    assert!(
        log_text(&dev).contains("[web-dev] greeting: hello from web-dev on web-dev (web)"),
        "{}",
        log_text(&dev)
    );
    assert!(
        log_text(&test).contains("[web-test] greeting: hello from the role on web-test (web)"),
        "{}",
        log_text(&test)
    );

    // The same version again: found in the target's cache, a `_1` folder, `current` moved.
    let again = deployed(&stack, &name, "1.0.0", "Dev").await;
    let text = log_text(&again);
    assert_eq!(
        deployment_status(&again),
        DeploymentStatus::Success,
        "{text}"
    );
    assert!(
        text.contains("found in the target's cache, 0 bytes sent"),
        "{text}"
    );
    let folder = "1.0.0_1".to_owned();
    assert!(
        text.contains(&folder),
        "the second installation is {folder}: {text}"
    );
    let root = place.folder.join("Applications/Dev/random-quotes");
    let current = std::fs::read_link(root.join("current")).unwrap();
    assert!(
        current.ends_with(&folder),
        "current points at {}",
        current.display()
    );
    assert!(page(dev_port, "/").await.unwrap().contains("Dev"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_directive_fails_with_nginxs_message_and_the_old_site_keeps_answering() {
    let stack = TestStack::start().await;
    let targets = DevTargets::from_env();
    let place = Place::new(&targets);
    stack.create_environment("Dev").await;
    register(&stack, &targets, &place, "web-dev", 0, &["Dev"], None).await;
    let port = free_port();
    let name = format!("Quotes {}", place.id);
    stack
        .create_project(&project(&name, &place, &[("Dev", port)], None))
        .await;
    stack
        .push_package("random-quotes", "1.0.0", sample_package())
        .await;
    stack.create_release(&name, "1.0.0").await;
    let good = deployed(&stack, &name, "1.0.0", "Dev").await;
    assert_eq!(
        deployment_status(&good),
        DeploymentStatus::Success,
        "{}",
        log_text(&good)
    );
    // The site file, as the log names it: one per project, environment and step.
    let text = log_text(&good);
    let site = text
        .lines()
        .find_map(|line| {
            line.split_once("Wrote the NGINX site ")
                .map(|(_, path)| path.trim())
        })
        .unwrap_or_else(|| panic!("the log names the site file: {text}"))
        .to_owned();
    assert!(
        site.starts_with(&format!(
            "{}/ferry-quotes-{}-dev-",
            targets.nginx_config_folder, place.id
        )),
        "{site}"
    );
    let before = std::fs::read_to_string(&site).unwrap();

    let (status, body) = stack
        .put(
            &format!("/api/projects/{name}"),
            &project(
                &name,
                &place,
                &[("Dev", port)],
                Some(("bogus_directive", "on")),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    stack.create_release(&name, "1.0.1").await;
    let bad = deployed(&stack, &name, "1.0.1", "Dev").await;
    let text = log_text(&bad);
    assert_eq!(deployment_status(&bad), DeploymentStatus::Failed, "{text}");
    assert!(
        text.contains("unknown directive \"bogus_directive\""),
        "nginx's own message: {text}"
    );
    assert_eq!(
        std::fs::read_to_string(&site).unwrap(),
        before,
        "the previous site file is back"
    );
    assert!(
        page(port, "/").await.unwrap().contains("Dev"),
        "the old site still answers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_host_key_and_a_role_without_targets_fail_saying_so() {
    let stack = TestStack::start().await;
    let targets = DevTargets::from_env();
    let place = Place::new(&targets);
    stack.create_environment("Dev").await;
    let pinned = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
    register(
        &stack,
        &targets,
        &place,
        "web-dev",
        0,
        &["Dev"],
        Some(pinned),
    )
    .await;
    let name = format!("Keys {}", place.id);
    stack
        .create_project(&json!({
            "name": name,
            "steps": [{"name": "Hello", "script": "echo hello from #{Octopus.Machine.Name}", "target_roles": ["web"]}]
        }))
        .await;
    stack.create_release(&name, "1.0.0").await;

    let changed = deployed(&stack, &name, "1.0.0", "Dev").await;
    let text = log_text(&changed);
    assert_eq!(
        deployment_status(&changed),
        DeploymentStatus::Failed,
        "{text}"
    );
    assert!(text.contains("host key") && text.contains(pinned), "{text}");
    let now = host_fingerprint(&targets.servers[0].2);
    assert!(
        text.contains(&now),
        "the message says what the key is now ({now}): {text}"
    );
    assert!(text.contains("(permanent)"), "{text}");

    // A role no target of the environment has: the step fails naming both.
    let lonely = format!("Lonely {}", place.id);
    stack
        .create_project(&json!({
            "name": lonely,
            "steps": [{"name": "Hello", "script": "echo hello", "target_roles": ["db", "cache"]}]
        }))
        .await;
    stack.create_release(&lonely, "1.0.0").await;
    let nobody = deployed(&stack, &lonely, "1.0.0", "Dev").await;
    assert_eq!(step_status(&nobody, "Hello"), StepStatus::Failed);
    assert!(
        log_text(&nobody).contains("no target in environment Dev has the roles `db` or `cache`"),
        "{}",
        log_text(&nobody)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_target_runs_the_same_helper_as_the_script_user_on_the_workers_host() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    let (status, created) = stack
        .post(
            "/api/targets",
            &json!({"name": "box", "environments": ["Dev"], "roles": ["app"], "kind": "local"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let target_id = created["target_id"].as_str().unwrap().to_owned();
    stack
        .create_project(&json!({
            "name": "Single Box",
            "variables": {"Greeting": "hi"},
            "steps": [{
                "name": "Install",
                "kind": "deploy_package",
                "package_id": "box-app",
                "target_roles": ["app"],
                "substitute_files": ["greeting.txt"],
                "scripts": {"post_deploy": "echo \"installed as $(id -un) into $PWD: $(cat greeting.txt)\""}
            }]
        }))
        .await;
    let package =
        ferry_tests::zip_of(&[("greeting.txt", "#{Greeting} from #{Octopus.Machine.Name}")]);
    stack.push_package("box-app", "1.0.0", package).await;
    stack.create_release("Single Box", "1.0.0").await;

    let first = deployed(&stack, "Single Box", "1.0.0", "Dev").await;
    let text = log_text(&first);
    assert_eq!(
        deployment_status(&first),
        DeploymentStatus::Success,
        "{text}"
    );
    let home = stack.work_root.path().join("targets").join(&target_id);
    let installed = home.join(".ferry/Applications/Dev/box-app/1.0.0");
    assert!(
        text.contains(&format!(
            "[box] installed as {} into {}: hi from box",
            ferry_tests::stack::script_user(),
            installed.display()
        )),
        "the helper ran as the script user in the target's own home: {text}"
    );
    let again = deployed(&stack, "Single Box", "1.0.0", "Dev").await;
    let text = log_text(&again);
    assert_eq!(
        deployment_status(&again),
        DeploymentStatus::Success,
        "{text}"
    );
    assert!(
        text.contains("found in the target's cache, 0 bytes sent"),
        "{text}"
    );
    assert!(
        home.join(".ferry/Applications/Dev/box-app/1.0.0_1")
            .is_dir(),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_step_with_a_misspelt_setting_is_refused_naming_it() {
    let stack = ferry_tests::TestStack::start_with(ferry_tests::StackOptions {
        worker: false,
        notifier: false,
        ..ferry_tests::StackOptions::default()
    })
    .await;
    let step = |extra: Value| {
        let mut step = json!({
            "name": "Deploy", "kind": "deploy_package", "package_id": "app", "target_roles": ["web"],
        });
        for (key, value) in extra.as_object().unwrap() {
            step[key] = value.clone();
        }
        json!({"name": "Typos", "steps": [step]})
    };
    for (extra, field) in [
        (
            json!({"scripts": {"post_deply": "echo"}}),
            "steps[0].scripts",
        ),
        (
            json!({"nginx": {"bindings": [{"port": "80"}], "locations": [{"path": "/", "reverseProxy": "http://x"}]}}),
            "steps[0].nginx",
        ),
        (
            json!({"nginx": {"bindings": [{"port": "80"}], "locations": [{"path": "/api"}]}}),
            "steps[0].nginx.locations",
        ),
        (json!({"target_roles": []}), "steps[0].target_roles"),
    ] {
        let (status, body) = stack.post("/api/projects", &step(extra.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{extra}: {body}");
        assert_eq!(body["error"]["field"], field, "{extra}: {body}");
    }
}
