//! Bad input gets a 4xx whose JSON body names the problem, and writes nothing: no row in
//! PostgreSQL, no object in S3.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use ferry_tests::{StackOptions, TestStack, zip_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn message(body: &Value) -> String {
    body["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn nothing_stored(stack: &TestStack) {
    assert_eq!(stack.count("packages").await, 0, "no package row");
    assert_eq!(
        stack.store().list("").await.unwrap_or_default(),
        Vec::<String>::new(),
        "no S3 object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_packages_are_refused_and_store_nothing() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        max_package_bytes: 4096,
        ..StackOptions::default()
    })
    .await;

    let (status, body) = stack
        .post_raw(
            "/api/packages/RandomQuotes/1.0.0",
            "application/octet-stream",
            b"just some text".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(message(&body).contains("not a zip or tar.gz"), "{body}");
    nothing_stored(&stack).await;

    let mut truncated = zip_of(&[("a.txt", &"x".repeat(3000))]);
    truncated.truncate(truncated.len() / 2);
    let (status, body) = stack
        .post_raw(
            "/api/packages/RandomQuotes/1.0.0",
            "application/octet-stream",
            truncated,
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(message(&body).contains("not a valid zip"), "{body}");
    nothing_stored(&stack).await;

    let (status, body) = stack
        .post_raw(
            "/api/packages/RandomQuotes/1.0",
            "application/octet-stream",
            zip_of(&[("a", "b")]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "version", "{body}");
    assert!(
        message(&body).contains("`1.0` is not a semantic version"),
        "{body}"
    );
    nothing_stored(&stack).await;

    let (status, body) = stack
        .post_raw(
            "/api/packages/Random%2FQuotes/1.0.0",
            "application/octet-stream",
            zip_of(&[("a", "b")]),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "package_id", "{body}");

    let too_big = vec![b'P'; 8192];
    let (status, body) = stack
        .post_raw(
            "/api/packages/RandomQuotes/1.0.0",
            "application/octet-stream",
            too_big,
        )
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert!(message(&body).contains("4096 bytes"), "{body}");
    nothing_stored(&stack).await;

    // A good package, then the same version again: 409 unless overwrite is asked.
    stack
        .push_package("RandomQuotes", "1.0.0", zip_of(&[("a.txt", "one")]))
        .await;
    let (status, body) = stack
        .post_raw(
            "/api/packages/RandomQuotes/1.0.0",
            "application/octet-stream",
            zip_of(&[("a.txt", "two")]),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        message(&body).contains("RandomQuotes version 1.0.0 already exists"),
        "{body}"
    );
    assert_eq!(
        stack.store().list("").await.unwrap().len(),
        1,
        "the refused duplicate stored nothing"
    );
    let (status, body) = stack
        .post_raw(
            "/api/packages/RandomQuotes/1.0.0?overwrite=true",
            "application/octet-stream",
            zip_of(&[("a.txt", "two")]),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_name_the_problem_and_write_nothing() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Random Quotes",
            "steps": [{ "name": "Deploy", "package_id": "RandomQuotes", "script": "true" }],
        }))
        .await;

    // A release for a package version that was never pushed.
    let (status, body) = stack
        .post(
            "/api/projects/Random Quotes/releases",
            &json!({ "release_number": "1.0.0", "packages": { "RandomQuotes": "9.9.9" } }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        message(&body).contains("RandomQuotes version 9.9.9 has not been pushed"),
        "{body}"
    );
    let (status, body) = stack
        .post(
            "/api/projects/Random Quotes/releases",
            &json!({ "release_number": "1.0.0" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        message(&body).contains("no version of package RandomQuotes"),
        "{body}"
    );
    assert_eq!(stack.count("releases").await, 0);

    // A NUL character, which PostgreSQL cannot store: in a body, a clear 422 naming where it
    // is; in a path, a 400. Nothing is written.
    let (status, body) = stack
        .post(
            "/api/projects",
            &json!({ "name": "Nul", "steps": [{ "name": "Run", "script": "echo a\u{0}b" }] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "steps[0].script", "{body}");
    let (status, body) = stack.get("/api/projects/a%00b").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(stack.count("projects").await, 1);

    // A method a route does not take is a JSON 405.
    let (status, body) = stack.delete("/api/projects").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["kind"], "method_not_allowed", "{body}");

    // A malformed or missing query parameter is a JSON 422 naming it.
    let (status, body) = stack.get("/api/audit?limit=abc").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "query", "{body}");
    assert!(message(&body).contains("limit"), "{body}");
    let (status, body) = stack
        .get("/api/projects/Random%20Quotes/variables/preview")
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(message(&body).contains("environment"), "{body}");

    // A value of the wrong type is named by its path.
    let (status, body) = stack
        .post(
            "/api/projects",
            &json!({ "name": "Typed", "steps": [{ "name": "Run", "script": "true", "retries": "three" }] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "steps[0].retries", "{body}");

    // A release that exists already.
    stack
        .push_package("RandomQuotes", "1.0.0", zip_of(&[("a", "b")]))
        .await;
    stack.create_release("Random Quotes", "1.0.0").await;
    let (status, body) = stack
        .post(
            "/api/projects/Random Quotes/releases",
            &json!({ "release_number": "1.0.0" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        message(&body).contains("release 1.0.0 of project `Random Quotes` already exists"),
        "{body}"
    );
    assert_eq!(stack.count("releases").await, 1);

    // A deployment to an environment that does not exist.
    let (status, body) = stack.try_deploy("Random Quotes", "1.0.0", "Staging").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "environment");
    assert!(
        message(&body).contains("environment `Staging` does not exist"),
        "{body}"
    );
    assert_eq!(stack.count("deployments").await, 0);
    assert_eq!(stack.count("outbox").await, 0);

    // Malformed JSON.
    let (status, body) = stack
        .post_raw(
            "/api/environments",
            "application/json",
            b"{\"name\": \"Test\"".to_vec(),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(message(&body).contains("not valid JSON"), "{body}");

    // An unknown field.
    let (status, body) = stack
        .post(
            "/api/environments",
            &json!({ "name": "Test", "colour": "red" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(message(&body).contains("unknown field `colour`"), "{body}");

    // An invalid step inside a project names the step.
    let (status, body) = stack
        .post(
            "/api/projects",
            &json!({ "name": "Broken", "steps": [{ "name": "Ok", "script": "true" }, { "name": "", "script": "true" }] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["field"], "steps[1].name", "{body}");

    // A duplicate environment name, whatever its case.
    let (status, body) = stack
        .post("/api/environments", &json!({ "name": "dev" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(stack.count("environments").await, 1);
    assert_eq!(stack.count("projects").await, 1);

    // No key, no entry; the body says how to present one.
    let (status, body) = stack.get_without_key("/api/environments").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(message(&body).contains("X-Ferry-ApiKey"), "{body}");

    // The OpenAPI document and health need no key.
    let (status, document) = stack.get_without_key("/api/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert!(document["paths"]["/api/deployments"].is_object());
    let (status, health) = stack.get("/health").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(health["postgres"], "ok");
    assert_eq!(health["rabbitmq"], "ok");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_is_json_with_the_right_status() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        ..StackOptions::default()
    })
    .await;
    // A path segment that is not UTF-8: axum's own rejection, answered as JSON.
    let (status, body) = stack.get("/api/projects/%FF").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["kind"], "bad_request", "{body}");
    // A JSON body over the limit is too large, not malformed.
    let huge = serde_json::json!({ "name": "x".repeat(3 * 1024 * 1024) });
    // On a connection of its own: the API closes one whose body it did not read.
    let response = reqwest::Client::new()
        .post(format!("{}/api/environments", stack.base_url))
        .header("x-ferry-apikey", ferry_tests::API_KEY)
        .json(&huge)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{body}");
    assert_eq!(body["error"]["kind"], "payload_too_large", "{body}");
    assert_eq!(stack.count("environments").await, 0);
    stack.stop().await;
}
