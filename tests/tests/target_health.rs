//! Health checks and discovery (issue #9), run by a worker of the target's pool against the
//! dev stack's real OpenSSH targets (the API never touches hosts): a good target is Healthy
//! with its facts; a changed host key is Unhealthy naming the key it presents now; a port
//! nothing listens on is Unavailable; too little free space is Unhealthy saying so; discovery
//! reports exactly what `ssh-keygen -lf` prints for the host's key and pins nothing; a result from another pool's exchange is parked, a
//! repeated one changes nothing; a check no worker takes ends Unavailable naming the pool.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::path::Path;
use std::time::Duration;

use ferry_broker::{FieldTable, OutgoingMessage, Publisher, Topology, dead_letters};
use ferry_contracts::target_checks::{TargetCheckOutcome, TargetCheckResult, TargetFacts};
use ferry_domain::{TargetCheckId, TargetHealthStatus};
use ferry_tests::config::DevTargets;
use ferry_tests::{OpenApi, Patience, Progress, StackOptions, TestStack, poll_until};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// `(fingerprint, key type)` as a person reads them on the host: `ssh-keygen -lf` and the
/// public key file's first word.
fn keygen(public_key: &Path) -> (String, String) {
    let output = std::process::Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let fingerprint = text.split_whitespace().nth(1).unwrap().to_owned();
    let key_type = std::fs::read_to_string(public_key)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    (fingerprint, key_type)
}

/// A loopback port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn ssh_target(targets: &DevTargets, name: &str, port: u16, fingerprint: &str, pool: &str) -> Value {
    json!({
        "name": name,
        "environments": ["Dev"],
        "roles": ["web"],
        "worker_pool": pool,
        "kind": "ssh",
        "host": "127.0.0.1",
        "port": port,
        "user": targets.user,
        "private_key": std::fs::read_to_string(&targets.private_key_file).unwrap(),
        "host_key_fingerprint": fingerprint,
    })
}

/// Asks for a health check of `target` and waits until the target shows its answer.
async fn check(stack: &TestStack, document: &OpenApi, target: &str) -> Value {
    let path = format!("/api/targets/{target}/health");
    let (status, requested) = stack.post(&path, &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{requested}");
    assert!(document.problems("POST", &path, 202, &requested).is_empty());
    let check_id = requested["check_id"].as_str().unwrap().to_owned();
    shown_after(stack, target, &check_id, Duration::from_secs(60)).await
}

/// Waits until `target` shows the answer of check `check_id`; returns its health.
async fn shown_after(stack: &TestStack, target: &str, check_id: &str, within: Duration) -> Value {
    poll_until(
        "the health check's answer",
        Patience::within(within),
        || async {
            let (_, shown) = stack.get(&format!("/api/targets/{target}")).await;
            if shown["health"]["check_id"] == check_id {
                Progress::Done(shown["health"].clone())
            } else {
                Progress::NotYet(shown["health"].to_string())
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_health_check_reports_facts_a_changed_key_and_an_unreachable_port() {
    let stack = TestStack::start().await;
    let document = OpenApi::default();
    let targets = DevTargets::from_env();
    stack.create_environment("Dev").await;
    let (_, port, host_key) = targets.servers[0].clone();
    let (_, _, other_host_key) = targets.servers[1].clone();
    let (fingerprint, _) = keygen(&host_key);
    let (other_fingerprint, _) = keygen(&other_host_key);
    for body in [
        ssh_target(&targets, "good", port, &fingerprint, "default"),
        ssh_target(&targets, "rebuilt", port, &other_fingerprint, "default"),
        ssh_target(&targets, "closed", free_port(), &fingerprint, "default"),
    ] {
        let (status, created) = stack.post("/api/targets", &body).await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["health"]["status"], "Unknown");
    }

    let good = check(&stack, &document, "good").await;
    assert_eq!(good["status"], "Healthy", "{good:#}");
    assert_eq!(good["reason"], Value::Null);
    assert_eq!(good["os"], "Linux");
    assert_eq!(good["architecture"], std::env::consts::ARCH);
    assert_eq!(good["user"], targets.user.as_str());
    assert!(good["free_bytes"].as_u64().unwrap() > 0, "{good:#}");
    assert!(good["checked_at"].is_string() && good["pending_check_id"].is_null());
    let (_, shown) = stack.get("/api/targets/good").await;
    assert!(
        document
            .problems("GET", "/api/targets/good", 200, &shown)
            .is_empty()
    );

    // The pinned key is not the one the host presents: refused before any credential is
    // sent, and the reason says what the key is now.
    let rebuilt = check(&stack, &document, "rebuilt").await;
    assert_eq!(rebuilt["status"], "Unhealthy", "{rebuilt:#}");
    let reason = rebuilt["reason"].as_str().unwrap();
    assert!(
        reason.contains("changed") && reason.contains(&format!("it is now {fingerprint}")),
        "{reason}"
    );
    assert_eq!(rebuilt["os"], Value::Null);

    let closed = check(&stack, &document, "closed").await;
    assert_eq!(closed["status"], "Unavailable", "{closed:#}");
    assert!(
        closed["reason"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{closed:#}"
    );

    // An unknown target is a JSON 404.
    let (status, missing) = stack.post("/api/targets/nowhere/health", &json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert_eq!(missing["error"]["kind"], "not_found");
    assert!(
        document
            .problems("POST", "/api/targets/nowhere/health", 404, &missing)
            .is_empty()
    );

    // People see each target's health and reason on the targets page.
    let (status, page) = stack.get_page_as("alice", "/targets").await;
    assert_eq!(status, StatusCode::OK);
    for text in [
        "good",
        "Healthy",
        "rebuilt",
        "Unhealthy",
        "closed",
        "Unavailable",
    ] {
        assert!(page.contains(text), "{text} on the page:\n{page}");
    }
    let (status, _) = stack.get_without_key("/targets").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Each request is in the audit log.
    let (_, audit) = stack.get("/api/audit").await;
    let requested = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|event| event["action"] == "target.health_check_requested")
        .count();
    assert_eq!(requested, 3, "{audit:#}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_reports_what_ssh_keygen_prints_and_a_target_without_room_is_unhealthy() {
    let stack = TestStack::start_with(StackOptions {
        notifier: false,
        // More than any disk has: a target this worker checks has too little room.
        health_min_free_bytes: u64::MAX,
        ..StackOptions::default()
    })
    .await;
    let document = OpenApi::default();
    let targets = DevTargets::from_env();
    let (host, port, host_key) = targets.servers[1].clone();
    let (fingerprint, key_type) = keygen(&host_key);

    let discover = |port: u16| json!({ "host": host, "port": port });
    let (status, requested) = stack.post("/api/targets/discover", &discover(port)).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{requested}");
    assert!(
        document
            .problems("POST", "/api/targets/discover", 202, &requested)
            .is_empty()
    );
    assert_eq!(requested["status"], "Pending");
    let found = discovered(&stack, &document, &requested).await;
    assert_eq!(found["status"], "Found", "{found:#}");
    assert_eq!(found["host_key_fingerprint"], fingerprint.as_str());
    assert_eq!(found["key_type"], key_type.as_str());
    assert_eq!(stack.count("targets").await, 0, "nothing is pinned");

    let (_, requested) = stack
        .post("/api/targets/discover", &discover(free_port()))
        .await;
    let failed = discovered(&stack, &document, &requested).await;
    assert_eq!(failed["status"], "Failed", "{failed:#}");
    assert!(
        failed["reason"]
            .as_str()
            .unwrap()
            .contains("could not be reached"),
        "{failed:#}"
    );

    let (status, refused) = stack
        .post(
            "/api/targets/discover",
            &json!({ "host": "-oProxyCommand=x" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["error"]["field"], "host");
    // The target reached, with too little room where deployments go: Unhealthy, saying so.
    stack.create_environment("Dev").await;
    let body = ssh_target(&targets, "full", port, &fingerprint, "default");
    let (status, created) = stack.post("/api/targets", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let full = check(&stack, &document, "full").await;
    assert_eq!(full["status"], "Unhealthy", "{full:#}");
    let reason = full["reason"].as_str().unwrap();
    assert!(
        reason.contains("are free in /home/") && reason.contains("a deployment needs at least"),
        "{reason}"
    );
    assert!(full["free_bytes"].as_u64().unwrap() > 0, "{full:#}");

    for missing in [
        "/api/targets/discoveries/nope",
        "/api/targets/discoveries/0190b5a2-7c1e-7000-8000-000000000001",
    ] {
        let (status, body) = stack.get(missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(document.problems("GET", missing, 404, &body).is_empty());
    }
    stack.stop().await;
}

/// Waits until the discovery `requested` answered; returns it.
async fn discovered(stack: &TestStack, document: &OpenApi, requested: &Value) -> Value {
    let path = format!(
        "/api/targets/discoveries/{}",
        requested["discovery_id"].as_str().unwrap()
    );
    let shown = poll_until(
        "the discovery's answer",
        Patience::within(Duration::from_secs(60)),
        || async {
            let (_, shown) = stack.get(&path).await;
            if shown["status"] == "Pending" {
                Progress::NotYet(shown.to_string())
            } else {
                Progress::Done(shown)
            }
        },
    )
    .await;
    assert!(document.problems("GET", &path, 200, &shown).is_empty());
    shown
}

/// Publishes a check result to `exchange` on `connection`, as a worker would.
async fn publish(connection: &lapin::Connection, exchange: &str, result: &TargetCheckResult) {
    let message_id = result.event_id.to_string();
    Publisher::open(connection)
        .await
        .unwrap()
        .publish(OutgoingMessage {
            exchange,
            routing_key: "step_event",
            message_id: &message_id,
            kind: "target_check_result",
            payload: &serde_json::to_vec(result).unwrap(),
            headers: FieldTable::default(),
            expiration_ms: None,
        })
        .await
        .unwrap();
}

fn result(check_id: TargetCheckId, status: TargetHealthStatus, reason: &str) -> TargetCheckResult {
    TargetCheckResult {
        event_id: uuid::Uuid::now_v7(),
        check_id,
        worker: "prod-worker".into(),
        outcome: TargetCheckOutcome::Health {
            status,
            reason: Some(reason.into()),
            facts: Some(TargetFacts {
                os: "Linux".into(),
                architecture: "x86_64".into(),
                user: "deploy".into(),
                free_bytes: 1,
            }),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_targets_pool_speaks_for_its_health_and_only_once() {
    let mut stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        // One result at a time, in the order sent: a later one shows the earlier was handled.
        event_concurrency: 1,
        ..StackOptions::default()
    })
    .await;
    stack.uses_worker_pool("prod");
    let topology = Topology::new(&stack.queue_prefix);
    let admin = ferry_broker::connect(&stack.servers.amqp_url, "test-admin")
        .await
        .unwrap();
    topology.declare_pool(&admin, "prod").await.unwrap();
    let dev_url = stack.create_pool_user("default").await;
    let dev = ferry_broker::connect(&dev_url, "test-dev-user")
        .await
        .unwrap();
    let targets = DevTargets::from_env();
    stack.create_environment("Dev").await;
    let body = ssh_target(
        &targets,
        "prod-web",
        22,
        "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
        "prod",
    );
    let (status, created) = stack.post("/api/targets", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (status, requested) = stack.post("/api/targets/prod-web/health", &json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{requested}");
    let check_id: TargetCheckId = requested["check_id"].as_str().unwrap().parse().unwrap();
    let (_, shown) = stack.get("/api/targets/prod-web").await;
    assert_eq!(shown["health"]["pending_check_id"], check_id.to_string());

    // The dev pool's user can publish only to its own pool's exchange, and a result from
    // there about a prod target's check is parked, not applied.
    let forged = result(check_id, TargetHealthStatus::Healthy, "forged");
    publish(&dev, &topology.worker_events_exchange("default"), &forged).await;
    let dead = topology.step_events().dead_letter_queue();
    let message_id = forged.event_id.to_string();
    let parked = poll_until(
        "the forged result to be parked",
        Patience::within(Duration::from_secs(30)),
        || async {
            let parked = dead_letters::list(&admin, &dead, 10).await.unwrap();
            match parked.iter().find(|parked| parked.message_id == message_id) {
                Some(parked) => Progress::Done(parked.reason.clone()),
                None => Progress::NotYet(format!("{parked:?}")),
            }
        },
    )
    .await;
    assert!(
        parked.contains("arrived from worker pool `default`")
            && parked.contains("sent to pool `prod`"),
        "{parked}"
    );
    let (_, shown) = stack.get("/api/targets/prod-web").await;
    assert_eq!(shown["health"]["status"], "Unknown", "{shown:#}");

    // The prod pool's answer is applied…
    let prod_events = topology.worker_events_exchange("prod");
    let genuine = result(check_id, TargetHealthStatus::Unhealthy, "genuine");
    publish(&admin, &prod_events, &genuine).await;
    let health = shown_after(
        &stack,
        "prod-web",
        &check_id.to_string(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(health["status"], "Unhealthy", "{health:#}");
    assert_eq!(health["reason"], "genuine");
    assert_eq!(health["user"], "deploy");
    assert_eq!(health["pending_check_id"], Value::Null);

    // …once: the same result again, or another answer to the answered check, changes nothing.
    let mut again = genuine.clone();
    again.outcome = result(check_id, TargetHealthStatus::Healthy, "again").outcome;
    publish(&admin, &prod_events, &again).await;
    let later = result(check_id, TargetHealthStatus::Healthy, "later");
    publish(&admin, &prod_events, &later).await;
    let db = stack.db().await;
    poll_until(
        "the later result to be handled",
        Patience::within(Duration::from_secs(30)),
        || async {
            let seen: i64 = db
                .query_one(
                    "SELECT count(*) FROM processed_messages WHERE message_id = $1",
                    &[&later.event_id],
                )
                .await
                .unwrap()
                .get(0);
            if seen == 1 {
                Progress::Done(())
            } else {
                Progress::NotYet("not yet".to_owned())
            }
        },
    )
    .await;
    let (_, shown) = stack.get("/api/targets/prod-web").await;
    assert_eq!(shown["health"]["status"], "Unhealthy", "{shown:#}");
    assert_eq!(shown["health"]["reason"], "genuine", "{shown:#}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_no_worker_takes_ends_unavailable_naming_the_pool() {
    let mut stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        target_check_timeout_seconds: 2,
        ..StackOptions::default()
    })
    .await;
    stack.uses_worker_pool("nobody");
    stack.create_environment("Dev").await;
    let targets = DevTargets::from_env();
    let body = ssh_target(
        &targets,
        "lonely",
        22,
        "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
        "nobody",
    );
    let (status, created) = stack.post("/api/targets", &body).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let (_, requested) = stack.post("/api/targets/lonely/health", &json!({})).await;
    let check_id = requested["check_id"].as_str().unwrap().to_owned();
    let (_, discovery) = stack
        .post(
            "/api/targets/discover",
            &json!({ "host": "127.0.0.1", "worker_pool": "nobody" }),
        )
        .await;
    // The sweeper judges nothing in its first lease and a half after start.
    let health = shown_after(&stack, "lonely", &check_id, Duration::from_secs(90)).await;
    assert_eq!(health["status"], "Unavailable", "{health:#}");
    assert_eq!(
        health["reason"],
        "no worker of pool `nobody` took the check within 2 seconds"
    );
    let path = format!(
        "/api/targets/discoveries/{}",
        discovery["discovery_id"].as_str().unwrap()
    );
    let (_, failed) = stack.get(&path).await;
    assert_eq!(failed["status"], "Failed", "{failed:#}");
    assert_eq!(
        failed["reason"],
        "no worker of pool `nobody` took the check within 2 seconds"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_local_target_is_healthy_with_the_workers_own_facts() {
    let stack = TestStack::start().await;
    let document = OpenApi::default();
    stack.create_environment("Dev").await;
    let (status, created) = stack
        .post(
            "/api/targets",
            &json!({"name": "box", "environments": ["Dev"], "roles": ["app"], "kind": "local"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let health = check(&stack, &document, "box").await;
    assert_eq!(health["status"], "Healthy", "{health}");
    assert_eq!(health["os"], "Linux");
    assert_eq!(health["architecture"], std::env::consts::ARCH);
    assert_eq!(health["user"], ferry_tests::stack::script_user());
    assert!(health["free_bytes"].as_u64().unwrap() > 0, "{health}");
}
