//! `services/api/openapi.json` describes what the API answers: a scenario that calls every
//! route (and fails in every way a client can make it fail) checks each answer against the
//! document's schema for its route and status.

#![allow(clippy::unwrap_used)]

use ferry_tests::{DeploymentStatus, OpenApi, TestStack, zip_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The stack, the document, and every way an answer differed from it so far.
struct Checked {
    stack: TestStack,
    document: OpenApi,
    problems: Vec<String>,
}

impl Checked {
    fn note(&mut self, method: &str, path: &str, answer: (StatusCode, Value)) -> Value {
        let (status, body) = answer;
        self.problems
            .extend(self.document.problems(method, path, status.as_u16(), &body));
        body
    }

    async fn get(&mut self, path: &str) -> Value {
        let answer = self.stack.get(path).await;
        self.note("GET", path, answer)
    }

    async fn get_with_query(&mut self, path: &str, query: &[(&str, &str)]) -> Value {
        let answer = self.stack.get_with_query(path, query).await;
        self.note("GET", path, answer)
    }

    async fn post(&mut self, path: &str, body: Value) -> Value {
        let answer = self.stack.post(path, &body).await;
        self.note("POST", path, answer)
    }

    async fn post_as(&mut self, user: &str, path: &str, body: Value) -> Value {
        let answer = self.stack.post_as(user, path, &body).await;
        self.note("POST", path, answer)
    }

    async fn post_raw(&mut self, path: &str, content_type: &str, body: Vec<u8>) -> Value {
        let answer = self.stack.post_raw(path, content_type, body).await;
        self.note("POST", path, answer)
    }

    /// A POST from another site's page (refused with 403), or one with a body over the limit
    /// (413). Each on a connection of its own: the API closes a connection whose body it did
    /// not read, which would break the next request on a shared one.
    async fn post_alone(&mut self, path: &str, origin: Option<&str>, body: Value) -> Value {
        let mut request = reqwest::Client::new()
            .post(format!("{}{path}", self.stack.base_url))
            .header("x-ferry-apikey", ferry_tests::API_KEY)
            .json(&body);
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let answer = response.json().await.unwrap_or(Value::Null);
        self.note("POST", path, (status, answer))
    }

    async fn put(&mut self, path: &str, body: Value) -> Value {
        let answer = self.stack.put(path, &body).await;
        self.note("PUT", path, answer)
    }

    /// Deploys `release` to Test and answers its sign-off as alice; returns the deployment.
    async fn deploy_and_sign_off(&mut self, release: &str) -> Value {
        let created = self
            .post(
                "/api/deployments",
                json!({"project": "Web", "release_number": release, "environment": "Test"}),
            )
            .await;
        let deployment_id = created["deployment_id"].as_str().unwrap().to_owned();
        self.stack
            .wait_for(&deployment_id, DeploymentStatus::WaitingForIntervention)
            .await;
        let pending = self.get("/api/interruptions").await;
        let id = pending["interruptions"][0]["interruption_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let take = format!("/api/interruptions/{id}/take");
        self.post_as("alice", &take, json!({})).await;
        let submit = format!("/api/interruptions/{id}/submit");
        let answer = json!({"result": "proceed", "note": "fine"});
        self.post_as("alice", &submit, answer.clone()).await;
        // Answered already: a 409.
        self.post_as("alice", &submit, answer).await;
        self.stack.wait_for_deployment(&deployment_id).await;
        self.get(&format!("/api/deployments/{deployment_id}?include=log"))
            .await;
        self.get(&format!(
            "/api/deployments/{deployment_id}/log?after=0&limit=2"
        ))
        .await;
        self.get(&format!("/api/deployments/{deployment_id}/log?limit=0"))
            .await;
        self.get(&format!(
            "/api/deployments/{deployment_id}?include=everything"
        ))
        .await;
        self.get(&format!("/api/deployments/{deployment_id}")).await
    }
}

fn web_project() -> Value {
    json!({
        "name": "Web", "lifecycle": "Standard", "notification_email": "ops@example.com",
        "variables": [
            {"name": "Port", "value": "8080"},
            {"name": "Port", "value": "9090", "scope": {"environments": ["Production"]}},
            {"name": "Password", "value": "hunter2", "sensitive": true},
        ],
        "steps": [
            {"name": "Deploy", "script": "cat hello.txt; echo port #{Port}", "package_id": "Hello"},
            {"name": "Sign off", "kind": "manual_intervention", "instructions": "Check #{Port}",
             "responsible_team": "Ops"},
            {"name": "Only prod", "script": "echo prod", "environments": {"only_in": ["Production"]}},
            {"name": "Cleanup", "script": "echo done", "run_condition": "always", "retries": 1},
        ],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_as_the_openapi_document_describes_it() {
    let mut api = Checked {
        stack: TestStack::start().await,
        document: OpenApi::default(),
        problems: Vec::new(),
    };
    api.get("/health").await;
    api.get("/api/openapi.json").await;
    api.post("/api/environments", json!({"name": "Test"})).await;
    let production = json!({"name": "Production", "guided_failure": true});
    api.post("/api/environments", production).await;
    let elsewhere = json!({"name": "Elsewhere"});
    api.post_alone(
        "/api/environments",
        Some("https://elsewhere.example"),
        elsewhere,
    )
    .await;
    let huge = json!({"name": "x".repeat(3 * 1024 * 1024)});
    api.post_alone("/api/environments", None, huge).await;
    let guided = json!({"guided_failure": false});
    api.put("/api/environments/Test", guided).await;
    api.get("/api/environments").await;
    let lifecycle = json!({"name": "Standard", "phases": [
        {"name": "Test", "environments": ["Test"], "rule": {"minimum": 1}},
        {"name": "Production", "environments": ["Production"], "rule": "all_must_complete"},
    ]});
    api.post("/api/lifecycles", lifecycle.clone()).await;
    api.put("/api/lifecycles/Standard", lifecycle).await;
    api.get("/api/lifecycles/Standard").await;
    api.get("/api/lifecycles").await;

    let archive = zip_of(&[("hello.txt", "hello")]);
    let push = "/api/packages/Hello/1.0.0";
    api.post_raw(push, "application/octet-stream", archive.clone())
        .await;
    api.post_raw(push, "application/octet-stream", archive)
        .await;
    api.get(push).await;
    api.get("/api/packages").await;

    api.post("/api/projects", web_project()).await;
    api.put("/api/projects/Web", web_project()).await;
    api.get("/api/projects/Web").await;
    api.get("/api/projects").await;
    let first = json!({"release_number": "1.0.0", "notes": "first"});
    api.post("/api/projects/Web/releases", first).await;
    let second = json!({"release_number": "1.0.1", "packages": {"Hello": "1.0.0"}});
    api.post("/api/projects/Web/releases", second).await;
    api.get("/api/projects/Web/releases/1.0.0").await;
    api.get("/api/projects/Web/releases").await;
    let update = "/api/projects/Web/releases/1.0.0/update-variables";
    api.post(update, json!({})).await;
    let preview = "/api/projects/Web/releases/1.0.0/preview";
    api.get_with_query(preview, &[("environment", "Test")])
        .await;
    api.get_with_query(preview, &[("environment", "Production")])
        .await;
    let variables = "/api/projects/Web/variables/preview";
    api.get_with_query(
        variables,
        &[("environment", "Production"), ("step", "Deploy")],
    )
    .await;
    api.get_with_query(variables, &[("environment", "Test")])
        .await;

    api.deploy_and_sign_off("1.0.0").await;
    let done = api.deploy_and_sign_off("1.0.1").await;
    assert_eq!(done["status"], "Success", "{done:#}");
    let back = json!({"project": "Web", "environment": "Test"});
    let rolled = api.post("/api/deployments/rollback", back).await;
    let rollback_id = rolled["deployment_id"].as_str().unwrap().to_owned();
    api.stack
        .wait_for(&rollback_id, DeploymentStatus::WaitingForIntervention)
        .await;
    let cancel = format!("/api/deployments/{rollback_id}/cancel");
    api.post(&cancel, json!({})).await;
    // Finished already: a 409.
    api.post(&cancel, json!({})).await;
    api.get(&format!("/api/deployments/{rollback_id}")).await;
    api.get_with_query("/api/audit", &[("project", "Web"), ("limit", "1000")])
        .await;
    api.get("/api/audit").await;

    // Targets, their health checks and discoveries (answered by the stack's worker; a
    // `local` target is Unhealthy, nothing listens on port 1).
    let local = json!({"name": "box", "environments": ["Test"], "kind": "local"});
    api.post("/api/targets", local.clone()).await;
    api.put("/api/targets/box", local).await;
    api.post("/api/targets/box/health", json!({})).await;
    api.get("/api/targets/box").await;
    api.get("/api/targets").await;
    api.post("/api/targets/nope/health", json!({})).await;
    let discover = json!({"host": "127.0.0.1", "port": 1});
    let discovery = api.post("/api/targets/discover", discover).await;
    let discovery_id = discovery["discovery_id"].as_str().unwrap().to_owned();
    api.get(&format!("/api/targets/discoveries/{discovery_id}"))
        .await;
    api.get("/api/targets/discoveries/nope").await;
    let no_port = json!({"host": "127.0.0.1", "port": 0});
    api.post("/api/targets/discover", no_port).await;

    // Each way a request can fail, on a documented route.
    api.get("/api/projects/Nope").await;
    let unknown_field = json!({"name": "Staging", "colour": "blue"});
    api.post("/api/environments", unknown_field).await;
    api.post("/api/environments", json!({"name": "Test"})).await;
    let not_json = b"{nope".to_vec();
    api.post_raw("/api/environments", "application/json", not_json)
        .await;
    let not_typed = b"{}".to_vec();
    api.post_raw("/api/environments", "text/plain", not_typed)
        .await;
    api.post("/api/deployments", json!({"project": "Web"}))
        .await;
    api.get_with_query("/api/audit", &[("limit", "0")]).await;
    let nothing_before = json!({"project": "Web", "environment": "Production"});
    api.post("/api/deployments/rollback", nothing_before).await;
    let (status, body) = api.stack.get("/api/nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api.problems.extend(
        api.document
            .problems("GET", "/api/projects/Nope", status.as_u16(), &body),
    );

    let problems = std::mem::take(&mut api.problems);
    api.stack.stop().await;
    assert!(
        problems.is_empty(),
        "answers the document does not describe:\n{}",
        problems.join("\n")
    );
}
