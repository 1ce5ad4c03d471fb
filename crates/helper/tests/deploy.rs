//! A deploy step on a target, end to end through the real `ferry-helper` binary: packages
//! received and cached, installation folders and `current`, Calamari's order of conventions,
//! substitution and structured configuration, failure handling, retention and the cache.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

mod common;

use std::fs;
use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;

use common::*;

const SCRIPT: u32 = 0o755;
const FILE: u32 = 0o644;

#[test]
fn a_fresh_install_extracts_the_package_and_points_current_at_it() {
    let target = Target::new();
    let bytes = tar_gz(&[("index.html", "<h1>Shop</h1>\n", FILE)]);
    let package = described("Shop", "1.0.0", &bytes, "tar.gz");
    let run = target.run(&deploy_request(package.clone()), Some(&bytes));
    run.assert_succeeded();
    let folder = target.package_folder("Shop");
    assert_eq!(
        run.result.installation_directory.as_deref(),
        Some(folder.join("1.0.0").to_str().unwrap())
    );
    assert_eq!(run.result.package_bytes_received, bytes.len() as u64);
    assert_eq!(current_of(&folder), "1.0.0");
    assert_eq!(
        fs::read_to_string(folder.join("current/index.html")).unwrap(),
        "<h1>Shop</h1>\n"
    );
    assert!(
        run.log()
            .contains(&format!("received {} bytes, SHA-256 verified", bytes.len())),
        "{}",
        run.log()
    );
    let cached = target.path(&format!(".ferry/packages/{}", package.sha256));
    assert_eq!(fs::read(&cached).unwrap(), bytes);
    let mode = |path: &str| {
        fs::metadata(target.path(path))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&format!(".ferry/packages/{}", package.sha256)), 0o600);
    assert_eq!(mode(".ferry/packages"), 0o700);
    assert_eq!(mode(".ferry/locks"), 0o700);
}

#[test]
fn the_same_version_again_goes_to_a_numbered_folder_from_the_cache() {
    let target = Target::new();
    let bytes = tar_gz(&[("index.html", "v1\n", FILE)]);
    let package = described("Shop", "1.0.0", &bytes, "tar.gz");
    target
        .run(&deploy_request(package.clone()), Some(&bytes))
        .assert_succeeded();
    let cached = cached(package);
    let run = target.run(&deploy_request(cached), None);
    run.assert_succeeded();
    let folder = target.package_folder("Shop");
    assert_eq!(current_of(&folder), "1.0.0_1");
    assert_eq!(run.result.package_bytes_received, 0);
    assert!(
        run.log().contains("found in the package cache"),
        "{}",
        run.log()
    );
    assert_eq!(installations(&folder), ["1.0.0", "1.0.0_1", "current"]);
}

#[test]
fn a_missing_or_damaged_cached_package_is_a_retryable_failure() {
    let target = Target::new();
    let bytes = tar_gz(&[("index.html", "v1\n", FILE)]);
    let package = cached(described("Shop", "1.0.0", &bytes, "tar.gz"));
    let missing = target.run(&deploy_request(package.clone()), None);
    assert!(!missing.result.succeeded);
    assert!(missing.result.retryable);
    assert!(
        missing
            .reason()
            .contains("is not in the target's package cache"),
        "{}",
        missing.reason()
    );

    let mut sent = package.clone();
    sent.follows = true;
    target
        .run(&deploy_request(sent), Some(&bytes))
        .assert_succeeded();
    let cached = target.path(&format!(".ferry/packages/{}", package.sha256));
    fs::write(&cached, vec![b'x'; bytes.len()]).unwrap();
    let damaged = target.run(&deploy_request(package), None);
    assert!(!damaged.result.succeeded);
    assert!(damaged.result.retryable);
    assert!(
        damaged.reason().contains("is damaged"),
        "{}",
        damaged.reason()
    );
    assert!(
        !cached.exists(),
        "a damaged copy is removed so it is sent again"
    );
    assert_eq!(current_of(&target.package_folder("Shop")), "1.0.0");
}

#[test]
fn bytes_that_do_not_match_the_sha256_are_refused_and_not_cached() {
    let target = Target::new();
    let bytes = tar_gz(&[("index.html", "v1\n", FILE)]);
    let mut package = described("Shop", "1.0.0", &bytes, "tar.gz");
    package.sha256 = described("Shop", "1.0.0", b"other", "tar.gz").sha256;
    let run = target.run(&deploy_request(package), Some(&bytes));
    assert!(!run.result.succeeded);
    assert!(run.reason().contains("SHA-256"), "{}", run.reason());
    assert!(run.reason().contains("not cached"), "{}", run.reason());
    assert_eq!(
        fs::read_dir(target.path(".ferry/packages"))
            .unwrap()
            .count(),
        0
    );
    assert!(!target.package_folder("Shop").exists());
}

#[test]
fn a_hostile_archive_fails_naming_the_entry_and_writes_nothing_outside() {
    let target = Target::new();
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default();
    writer.start_file("ok.txt", options).unwrap();
    writer.write_all(b"fine").unwrap();
    writer.start_file("../escaped.txt", options).unwrap();
    writer.write_all(b"escaped").unwrap();
    let bytes = writer.finish().unwrap().into_inner();
    let run = target.run(
        &deploy_request(described("Shop", "1.0.0", &bytes, "zip")),
        Some(&bytes),
    );
    assert!(!run.result.succeeded);
    assert!(!run.result.retryable);
    assert!(
        run.reason()
            .contains("the package was refused: entry `../escaped.txt`"),
        "{}",
        run.reason()
    );
    let folder = target.package_folder("Shop");
    assert!(!folder.join("escaped.txt").exists());
    assert!(
        !folder.join("1.0.0").exists(),
        "the refused installation is removed"
    );
    assert!(!folder.join("current").exists());
    assert_eq!(run.result.installation_directory, None);
}

/// A package whose every stage appends its name to `$HOME/order.log`.
fn staged_package(deploy_exit: u32) -> Vec<u8> {
    let append = |name: &str| format!("#!/bin/bash\necho {name} >> \"$HOME/order.log\"\n");
    tar_gz(&[
        (
            "PreDeploy.sh",
            &format!(
                "{}echo \"pre sees $(cat config/app.conf)\" >> \"$HOME/order.log\"\n[ \"$OCTOPUS_ACTION_PACKAGE_INSTALLATIONDIRECTORYPATH\" = \"$PWD\" ] && echo 'in the installation folder' >> \"$HOME/order.log\"\n",
                append("PreDeploy.sh")
            ),
            SCRIPT,
        ),
        (
            "Deploy.sh",
            &format!(
                "{}echo \"deploy sees $(cat config/app.conf) $(grep -o '\"Level\": *\"[A-Za-z]*\"' appsettings.json)\" >> \"$HOME/order.log\"\nexit {deploy_exit}\n",
                append("Deploy.sh")
            ),
            SCRIPT,
        ),
        ("PostDeploy.sh", &append("PostDeploy.sh"), SCRIPT),
        (
            "DeployFailed.sh",
            "echo \"DeployFailed.sh: $(get_octopusvariable Octopus.Deployment.Error)\" >> \"$HOME/order.log\"\n",
            SCRIPT,
        ),
        ("config/app.conf", "greeting=#{Greeting}", FILE),
        (
            "appsettings.json",
            "{\"Logging\": {\"Level\": \"Info\"}}\n",
            FILE,
        ),
    ])
}

fn staged_request(bytes: &[u8], version: &str) -> ferry_contracts::helper::HelperRequest {
    let mut request = deploy_request(described("Shop", version, bytes, "tar.gz"));
    request
        .variables
        .push(("Logging:Level".into(), "Debug".into()));
    let deploy = deploy_of(&mut request);
    deploy.substitute_files = vec!["config/*.conf".into()];
    deploy.structured_files = vec!["*.json".into()];
    deploy.scripts.pre_deploy = Some("echo step-pre >> \"$HOME/order.log\"".into());
    deploy.scripts.deploy = Some("echo step-deploy >> \"$HOME/order.log\"".into());
    deploy.scripts.post_deploy = Some("echo step-post >> \"$HOME/order.log\"".into());
    deploy.scripts.deploy_failed =
        Some("echo step-deploy-failed >> \"$HOME/order.log\"; exit 9".into());
    request
}

#[test]
fn the_conventions_run_in_calamaris_order() {
    let target = Target::new();
    let bytes = staged_package(0);
    let run = target.run(&staged_request(&bytes, "1.0.0"), Some(&bytes));
    run.assert_succeeded();
    assert_eq!(
        fs::read_to_string(target.path("order.log")).unwrap(),
        "PreDeploy.sh\npre sees greeting=#{Greeting}\nin the installation folder\nstep-pre\n\
         Deploy.sh\ndeploy sees greeting=hello \"Level\": \"Debug\"\nstep-deploy\n\
         PostDeploy.sh\nstep-post\n"
    );
    assert!(
        run.log()
            .contains("Structured configuration: replaced Logging:Level in appsettings.json"),
        "{}",
        run.log()
    );
}

#[test]
fn a_failing_deploy_runs_deploy_failed_and_leaves_current_alone() {
    let target = Target::new();
    let good = staged_package(0);
    target
        .run(&staged_request(&good, "1.0.0"), Some(&good))
        .assert_succeeded();
    fs::remove_file(target.path("order.log")).unwrap();
    let bad = staged_package(3);
    let run = target.run(&staged_request(&bad, "1.0.1"), Some(&bad));
    assert!(!run.result.succeeded);
    assert_eq!(run.result.exit_code, Some(3));
    assert_eq!(run.reason(), "Deploy.sh exited with code 3");
    let order = fs::read_to_string(target.path("order.log")).unwrap();
    assert!(
        order.ends_with(
            "Deploy.sh\ndeploy sees greeting=hello \"Level\": \"Debug\"\n\
             DeployFailed.sh: Deploy.sh exited with code 3\nstep-deploy-failed\n"
        ),
        "{order}"
    );
    assert!(!order.contains("PostDeploy"), "{order}");
    assert!(
        run.log()
            .contains("the step's deploy-failed script failed too"),
        "{}",
        run.log()
    );
    assert_eq!(current_of(&target.package_folder("Shop")), "1.0.0");
}

#[test]
fn strict_substitution_names_the_file_and_line_and_lenient_leaves_the_tag() {
    let target = Target::new();
    let bytes = tar_gz(&[(
        "config/settings.json",
        "{\n  \"Url\": \"#{Missing}\"\n}\n",
        FILE,
    )]);
    let mut request = deploy_request(described("Shop", "1.0.0", &bytes, "tar.gz"));
    deploy_of(&mut request).substitute_files = vec!["config/settings.json".into()];
    let strict = target.run(&request, Some(&bytes));
    assert!(!strict.result.succeeded);
    assert!(
        strict
            .reason()
            .starts_with("substituting config/settings.json failed: line 2, column 11:"),
        "{}",
        strict.reason()
    );
    assert!(strict.reason().contains("Missing"), "{}", strict.reason());

    request.lenient_templates = true;
    request.package.as_mut().unwrap().follows = false;
    let lenient = target.run(&request, None);
    lenient.assert_succeeded();
    let installed = target
        .package_folder("Shop")
        .join("current/config/settings.json");
    assert_eq!(
        fs::read_to_string(installed).unwrap(),
        "{\n  \"Url\": \"#{Missing}\"\n}\n"
    );
}

#[test]
fn structured_configuration_replaces_only_existing_keys_keeping_types() {
    let target = Target::new();
    let json = r#"{"Logging":{"LogLevel":{"Default":"Information"}},"Port":80,"Debug":false,
        "Servers":[{"Name":"a"},{"Name":"b"}],"Keep":"as is","Limits":{"Max":1}}"#;
    let yaml = "database:\n  host: localhost\n  port: 5432\nfeatures:\n  - name: search\n    enabled: false\n";
    let bytes = tar_gz(&[
        ("appsettings.json", json, FILE),
        ("config/app.yaml", yaml, FILE),
    ]);
    let mut request = deploy_request(described("Shop", "1.0.0", &bytes, "tar.gz"));
    request.variables.extend(
        [
            ("logging:loglevel:default", "Warning"),
            ("Port", "8080"),
            ("DEBUG", "true"),
            ("Servers:1:Name", "b2"),
            ("Limits", r#"{"Max": 5, "Min": 1}"#),
            ("New:Key", "not added"),
            ("Octopus.Port", "1"),
            ("Database:Host", "db.internal"),
            ("database:port", "6543"),
            ("Features:0:Enabled", "True"),
        ]
        .map(|(name, value)| (name.to_owned(), value.to_owned())),
    );
    deploy_of(&mut request).structured_files = vec!["*.json".into(), "config/*.yaml".into()];
    let run = target.run(&request, Some(&bytes));
    run.assert_succeeded();
    let current = target.package_folder("Shop").join("current");
    let json: serde_json::Value =
        serde_json::from_str(&fs::read_to_string(current.join("appsettings.json")).unwrap())
            .unwrap();
    assert_eq!(
        json,
        serde_json::json!({"Logging":{"LogLevel":{"Default":"Warning"}},"Port":8080,"Debug":true,
            "Servers":[{"Name":"a"},{"Name":"b2"}],"Keep":"as is","Limits":{"Max":5,"Min":1}})
    );
    let yaml: serde_yaml::Value =
        serde_yaml::from_str(&fs::read_to_string(current.join("config/app.yaml")).unwrap())
            .unwrap();
    let expected: serde_yaml::Value = serde_yaml::from_str(
        "database:\n  host: db.internal\n  port: 6543\nfeatures:\n  - name: search\n    enabled: true\n",
    )
    .unwrap();
    assert_eq!(yaml, expected);
    assert!(
        run.log().contains(
            "replaced database:host, database:port, features:0:enabled in config/app.yaml"
        ),
        "{}",
        run.log()
    );
}

#[test]
fn retention_keeps_current_and_the_previous_successful_ones() {
    let target = Target::new();
    for (version, exit) in [
        ("1.0.1", 0),
        ("1.0.2", 0),
        ("1.0.3", 1),
        ("1.0.4", 0),
        ("1.0.5", 0),
    ] {
        let bytes = tar_gz(&[("Deploy.sh", &format!("exit {exit}\n"), SCRIPT)]);
        let mut request = deploy_request(described("Shop", version, &bytes, "tar.gz"));
        deploy_of(&mut request).keep_previous = 2;
        let run = target.run(&request, Some(&bytes));
        assert_eq!(
            run.result.succeeded,
            exit == 0,
            "{version}: {:?}",
            run.result
        );
    }
    let folder = target.package_folder("Shop");
    assert_eq!(current_of(&folder), "1.0.5");
    // 1.0.3 failed (it does not count), 1.0.1 is the third previous success.
    assert_eq!(
        installations(&folder),
        ["1.0.2", "1.0.4", "1.0.5", "current"]
    );
}

#[test]
fn the_package_cache_keeps_the_most_recently_used_packages() {
    let target = Target::new();
    let mut shas = Vec::new();
    for version in ["1.0.1", "1.0.2", "1.0.3"] {
        let bytes = tar_gz(&[("version.txt", version, FILE)]);
        let package = described("Shop", version, &bytes, "tar.gz");
        shas.push(package.sha256.clone());
        let mut request = deploy_request(package);
        deploy_of(&mut request).cache_keep = 2;
        target.run(&request, Some(&bytes)).assert_succeeded();
    }
    let mut cached: Vec<String> = fs::read_dir(target.path(".ferry/packages"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    cached.sort();
    let mut expected = vec![shas[1].clone(), shas[2].clone()];
    expected.sort();
    assert_eq!(cached, expected);
}

#[test]
fn the_package_cache_makes_room_while_free_space_is_low_but_keeps_the_package_in_use() {
    let target = Target::new();
    let mut last = String::new();
    for (version, min_free) in [("1.0.1", 0), ("1.0.2", 0), ("1.0.3", u64::MAX)] {
        let bytes = tar_gz(&[("version.txt", version, FILE)]);
        let package = described("Shop", version, &bytes, "tar.gz");
        last = package.sha256.clone();
        let mut request = deploy_request(package);
        deploy_of(&mut request).cache_min_free_bytes = min_free;
        let run = target.run(&request, Some(&bytes));
        run.assert_succeeded();
        if min_free > 0 {
            assert!(
                run.log().contains("Package cache: removed"),
                "{}",
                run.log()
            );
        }
    }
    let cached: Vec<String> = fs::read_dir(target.path(".ferry/packages"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(cached, [last]);
}
