//! Deployment targets through the API (`/api/targets`): an SSH target is registered with its
//! pinned host key and a private key that is sealed as it arrives and never answered (not in
//! the target, the listing, the audit log or the database in clear); every wrong field is a
//! 422 naming it; an update without a key keeps the stored one.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use ferry_tests::{OpenApi, StackOptions, TestStack};
use reqwest::StatusCode;
use serde_json::{Value, json};

const FINGERPRINT: &str = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

/// A private key in OpenSSH's form, made for this test.
fn private_key() -> String {
    let folder = tempfile::tempdir().unwrap();
    let path = folder.path().join("key");
    let made = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(made.success());
    std::fs::read_to_string(&path).unwrap()
}

/// A line from the middle of the key: what would show if any of it leaked.
fn key_material(key: &str) -> String {
    key.lines().nth(1).unwrap().to_owned()
}

fn web_target(key: &str) -> Value {
    json!({
        "name": "web-01",
        "environments": ["Dev", "Test"],
        "roles": ["web", "web"],
        "kind": "ssh",
        "host": "127.0.0.1",
        "port": 55222,
        "user": "ferry-target",
        "private_key": key,
        "host_key_fingerprint": FINGERPRINT,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_keeps_its_private_key_to_itself() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        ..StackOptions::default()
    })
    .await;
    let document = OpenApi::default();
    for environment in ["Dev", "Test"] {
        stack.create_environment(environment).await;
    }
    let key = private_key();
    let secret = key_material(&key);

    let (status, created) = stack.post("/api/targets", &web_target(&key)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert!(
        document
            .problems("POST", "/api/targets", 201, &created)
            .is_empty()
    );
    assert_eq!(created["environments"], json!(["Dev", "Test"]));
    assert_eq!(
        created["roles"],
        json!(["web"]),
        "a role given twice counts once"
    );
    assert_eq!(created["worker_pool"], "default");
    assert_eq!(created["host_key_fingerprint"], FINGERPRINT);
    assert_eq!(created["has_private_key"], true);
    assert_eq!(created["health"]["status"], "Unknown");

    let (status, shown) = stack.get("/api/targets/web-01").await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert!(
        document
            .problems("GET", "/api/targets/web-01", 200, &shown)
            .is_empty()
    );
    let (_, listed) = stack.get("/api/targets").await;
    assert!(
        document
            .problems("GET", "/api/targets", 200, &listed)
            .is_empty()
    );
    assert_eq!(listed["targets"][0]["name"], "web-01");

    // An update without a key keeps the stored one (sealed as it was).
    let db = stack.db().await;
    let sealed = |row: tokio_postgres::Row| row.get::<_, String>(0);
    let before = sealed(
        db.query_one("SELECT sealed_private_key FROM targets", &[])
            .await
            .unwrap(),
    );
    let mut changed = web_target(&key);
    changed["roles"] = json!(["web", "canary"]);
    changed.as_object_mut().unwrap().remove("private_key");
    let (status, updated) = stack.put("/api/targets/web-01", &changed).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["roles"], json!(["web", "canary"]));
    let after = sealed(
        db.query_one("SELECT sealed_private_key FROM targets", &[])
            .await
            .unwrap(),
    );
    assert_eq!(after, before);

    // The key is nowhere in clear: not in any answer, the audit log or the database.
    let (_, audit) = stack.get("/api/audit").await;
    let actions: Vec<&str> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"target.created") && actions.contains(&"target.updated"));
    for answer in [&created, &shown, &listed, &updated, &audit] {
        assert!(!answer.to_string().contains(&secret), "{answer}");
    }
    assert!(
        !before.contains(&secret) && before.starts_with("v2:"),
        "sealed: {before}"
    );
    let dump = db
        .query_one("SELECT row_to_json(t)::text FROM targets t", &[])
        .await
        .unwrap()
        .get::<_, String>(0);
    assert!(!dump.contains(&secret));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_wrong_field_of_a_target_is_named() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        ..StackOptions::default()
    })
    .await;
    let document = OpenApi::default();
    stack.create_environment("Dev").await;
    stack.create_environment("Test").await;
    let key = private_key();
    let with = |field: &str, value: Value| {
        let mut target = web_target(&key);
        target[field] = value;
        target
    };
    let without = |field: &str| {
        let mut target = web_target(&key);
        target.as_object_mut().unwrap().remove(field);
        target
    };
    let local = |field: &str, value: Value| {
        let mut target = json!({ "name": "box", "environments": ["Dev"], "kind": "local" });
        target[field] = value;
        target
    };
    let cases = [
        (
            with("host_key_fingerprint", json!("MD5:aa:bb")),
            "host_key_fingerprint",
        ),
        (without("host_key_fingerprint"), "host_key_fingerprint"),
        (without("private_key"), "private_key"),
        (
            with("private_key", json!("not a key at all")),
            "private_key",
        ),
        (without("host"), "host"),
        (with("host", json!("-oProxyCommand=touch /tmp/x")), "host"),
        (with("user", json!("root user")), "user"),
        (with("port", json!(0)), "port"),
        (
            with("environments", json!(["Dev", "Staging"])),
            "environments[1]",
        ),
        (with("environments", json!([])), "environments"),
        (with("roles", json!(["web", ""])), "roles[1]"),
        (with("name", json!("")), "name"),
        (local("host", json!("127.0.0.1")), "host"),
        (local("private_key", json!("x")), "private_key"),
    ];
    for (body, field) in cases {
        let (status, answer) = stack.post("/api/targets", &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {answer}"
        );
        assert_eq!(answer["error"]["field"], field, "{answer}");
        assert!(
            !answer.to_string().contains(&key_material(&key)),
            "{answer}"
        );
        let problems = document.problems("POST", "/api/targets", 422, &answer);
        assert!(problems.is_empty(), "{problems:#?}");
    }
    let (status, answer) = stack
        .post(
            "/api/targets",
            &json!({ "name": "x", "kind": "ftp", "environments": ["Dev"] }),
        )
        .await;
    assert!(status.is_client_error(), "{status} {answer}");
    assert_eq!(stack.count("targets").await, 0, "nothing half-written");

    // A local target needs nothing but its name and environments; names are unique.
    let (status, created) = stack
        .post(
            "/api/targets",
            &json!({ "name": "box", "environments": ["Dev"], "kind": "local" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["has_private_key"], false);
    assert_eq!(created["host"], Value::Null);
    let (status, answer) = stack
        .post(
            "/api/targets",
            &json!({ "name": "BOX", "environments": ["Dev"], "kind": "local" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{answer}");
    let (status, answer) = stack.get("/api/targets/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    stack.stop().await;
}
