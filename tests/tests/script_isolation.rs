//! A step script reaches nothing of the worker that runs it: it runs as the script user, and
//! the worker's environment, configuration file, memory and work root are closed to it.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::os::unix::fs::PermissionsExt;

use ferry_tests::ferry_worker::isolation::ScriptUser;
use ferry_tests::stack::script_user;
use ferry_tests::stack::spawn_worker_process;
use ferry_tests::{DeploymentStatus, StackOptions, TestStack, log_text};
use serde_json::json;

/// What a hostile script tries first: the worker's environment (its parent's), every
/// process's command line and environment (`ps e`, where the dev servers' and the worker's
/// secrets would show), the worker's configuration file and memory, the package cache.
const PROBE: &str = r##"echo "running as $(id -un) ($(id -u)) in $(stat -c %U .)"
tr '\0' '\n' </proc/$PPID/environ || echo "probe: environ refused"
ps eww -A && echo "probe: ps e listed every process"
cat "#{Worker Config}" || echo "probe: config file refused"
head -c 4096 /proc/$PPID/mem >/dev/null || echo "probe: memory refused"
ls "#{Work Root}" || echo "probe: work root refused"
ls "#{Work Root}/packages" || echo "probe: package cache refused"
sudo -n true || echo "probe: no sudo"
grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb):' /proc/self/status
echo "probe: done""##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_reaches_nothing_of_its_worker() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        ..StackOptions::default()
    })
    .await;
    let work_root = tempfile::tempdir().unwrap();
    let config_folder = tempfile::tempdir().unwrap();
    // Half of the worker's secrets in its configuration file, all of them in its environment:
    // both are places a script must not read.
    let environment = stack.worker_environment(work_root.path());
    let secrets: Vec<String> = environment
        .iter()
        .filter(|(name, _)| {
            [
                "FERRY_AMQP_URL",
                "FERRY_S3_SECRET_KEY",
                "FERRY_VARIABLES_KEY",
            ]
            .contains(&name.as_str())
        })
        .map(|(_, value)| value.clone())
        .collect();
    assert_eq!(secrets.len(), 3);
    let config_file = config_folder.path().join("worker.env");
    let file_contents: String = environment
        .iter()
        .filter(|(name, _)| name.contains("S3") || name == "FERRY_VARIABLES_KEY")
        .map(|(name, value)| format!("{name}={value}\n"))
        .collect();
    std::fs::write(&config_file, file_contents).unwrap();
    std::fs::set_permissions(&config_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut environment = environment;
    environment.push((
        "FERRY_CONFIG_FILE".into(),
        config_file.display().to_string(),
    ));
    let mut worker = spawn_worker_process(env!("CARGO_BIN_EXE_ferry-test-worker"), environment);

    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Hostile",
            "variables": {
                "Worker Config": config_file.display().to_string(),
                "Work Root": work_root.path().display().to_string(),
            },
            "steps": [{ "name": "Probe", "script": PROBE }],
        }))
        .await;
    stack.create_release("Hostile", "1.0.0").await;
    let id = stack.deploy("Hostile", "1.0.0", "Dev").await;
    let deployment = stack.wait_for(&id, DeploymentStatus::Success).await;
    let log = log_text(&deployment);

    let user = ScriptUser::lookup(&script_user()).unwrap();
    assert!(
        log.contains(&format!(
            "running as {} ({}) in {}",
            user.name, user.uid, user.name
        )),
        "the script runs as the script user, in a folder it owns:\n{log}"
    );
    for refused in [
        "environ refused",
        "ps e listed every process",
        "config file refused",
        "memory refused",
        "work root refused",
        "package cache refused",
        "no sudo",
        "done",
    ] {
        assert!(
            log.contains(&format!("probe: {refused}")),
            "probe: {refused}\n{log}"
        );
    }
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        assert!(
            log.contains(&format!("{set}:\t0000000000000000")),
            "the script holds no capability, not even in its bounding set ({set}):\n{log}"
        );
    }
    for secret in &secrets {
        assert!(
            !log.contains(secret.as_str()),
            "a secret of the worker reached the task log:\n{log}"
        );
    }
    worker.start_kill().unwrap();
    let _ = worker.wait().await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_script_leaves_in_its_home_reaches_no_later_step() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    let plant = r#"mkdir -p ~/.ssh && echo 'Host *' >~/.ssh/config && echo planted in "$HOME"
account_home=$(getent passwd "$(id -un)" | cut -d: -f6)
touch "$account_home/.planted" 2>/dev/null || echo "probe: account home refused""#;
    let look = r#"test -e ~/.ssh/config && echo "probe: found the planted file" || echo "probe: fresh home"
account_home=$(getent passwd "$(id -un)" | cut -d: -f6)
test -e "$account_home/.planted" && echo "probe: found it in the account home" || echo "probe: account home clean""#;
    for (name, script) in [("Planter", plant), ("Victim", look)] {
        stack
            .create_project(
                &json!({ "name": name, "steps": [{ "name": "Run", "script": script }] }),
            )
            .await;
        stack.create_release(name, "1.0.0").await;
    }
    let planter = stack.deploy("Planter", "1.0.0", "Dev").await;
    let planted = log_text(&stack.wait_for(&planter, DeploymentStatus::Success).await);
    assert!(planted.contains("planted in /"), "{planted}");
    assert!(planted.contains("probe: account home refused"), "{planted}");
    let victim = stack.deploy("Victim", "1.0.0", "Dev").await;
    let looked = log_text(&stack.wait_for(&victim, DeploymentStatus::Success).await);
    assert!(looked.contains("probe: fresh home"), "{looked}");
    assert!(looked.contains("probe: account home clean"), "{looked}");
    stack.stop().await;
}

/// An audit library for the dynamic loader that appends the user id of every program that
/// loads it to `marker`.
fn audit_library(folder: &std::path::Path, marker: &std::path::Path) -> std::path::PathBuf {
    let source = folder.join("audit.c");
    let library = folder.join("audit.so");
    std::fs::write(
        &source,
        format!(
            "#include <stdio.h>\n#include <unistd.h>\n\
             unsigned int la_version(unsigned int version) {{\n\
               FILE *marker = fopen(\"{}\", \"a\");\n\
               if (marker) {{ fprintf(marker, \"%d\\n\", (int) getuid()); fclose(marker); }}\n\
               return version;\n\
             }}\n",
            marker.display()
        ),
    )
    .unwrap();
    let built = std::process::Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&library)
        .arg(&source)
        .status()
        .unwrap();
    assert!(built.success(), "cc could not build the audit library");
    std::fs::set_permissions(&library, std::fs::Permissions::from_mode(0o755)).unwrap();
    library
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loader_variable_from_a_project_reaches_no_root_process() {
    // The launcher that starts a script runs as root: a project variable named `LD_AUDIT`
    // (or `GLIBC_TUNABLES`, …) in its environment would have the loader run the variable's
    // library as root before anything else.
    let stack = TestStack::start().await;
    let marker = stack.scripts_folder.path().join("loaded-by");
    let library = audit_library(stack.scripts_folder.path(), &marker);
    std::fs::write(&marker, "").unwrap();
    std::fs::set_permissions(&marker, std::fs::Permissions::from_mode(0o666)).unwrap();
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Loader",
            "variables": { "LD_AUDIT": library.display().to_string() },
            "steps": [{ "name": "Plain", "script": "echo hello" }],
        }))
        .await;
    stack.create_release("Loader", "1.0.0").await;
    let id = stack.deploy("Loader", "1.0.0", "Dev").await;
    stack.wait_for(&id, DeploymentStatus::Success).await;
    let loaded_by = std::fs::read_to_string(&marker).unwrap();
    let script_uid = ScriptUser::lookup(&script_user()).unwrap().uid.to_string();
    // The script's own programs may load it (they run as the script user): that shows the
    // variable was there to be read.
    assert!(
        loaded_by.lines().any(|uid| uid == script_uid),
        "the script's bash never loaded the library: {loaded_by:?}"
    );
    assert!(
        loaded_by.lines().all(|uid| uid == script_uid),
        "a process of another user (root: the launcher) loaded the project's library: {loaded_by:?}"
    );
    stack.stop().await;
}
