//! The status page makes the API key a browser credential (HTTP Basic), which any site the
//! browser visits can make it send. So a request that changes something is refused when it
//! comes from another origin, or with Basic credentials but not as JSON (what a cross-site
//! form would send); reading stays open to the browser.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use ferry_tests::{API_KEY, StackOptions, TestStack};
use reqwest::StatusCode;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_requests_cannot_change_anything() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        ..StackOptions::default()
    })
    .await;
    let url = format!("{}/api/environments", stack.base_url);
    let answer = |response: reqwest::Response| async move {
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        (status, body)
    };

    // What a form on another site makes the browser send.
    let (status, body) = answer(
        stack
            .http
            .post(&url)
            .basic_auth("someone", Some(API_KEY))
            .header("content-type", "application/x-www-form-urlencoded")
            .body("name=Evil")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["kind"], "forbidden");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("must send JSON"),
        "{body}"
    );

    // Another origin is refused even with the key header and JSON.
    let (status, body) = answer(
        stack
            .http
            .post(&url)
            .header("x-ferry-apikey", API_KEY)
            .header("origin", "https://evil.example")
            .json(&serde_json::json!({ "name": "Evil" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("https://evil.example"),
        "{body}"
    );
    assert_eq!(stack.count("environments").await, 0, "nothing was created");

    // The server's own origin, with JSON, is let through; so is reading from anywhere.
    let (status, body) = answer(
        stack
            .http
            .post(&url)
            .basic_auth("someone", Some(API_KEY))
            .header("origin", &stack.base_url)
            .json(&serde_json::json!({ "name": "Dev" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = answer(
        stack
            .http
            .get(&url)
            .basic_auth("someone", Some(API_KEY))
            .header("origin", "https://elsewhere.example")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    stack.stop().await;
}
