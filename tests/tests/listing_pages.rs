//! Every listing answers a page at a time (`?limit=&after=`): following `next` from the first
//! page visits every item once, in the listing's order, even while items are added between
//! pages; a cursor the listing never gave out and a limit out of range are refused naming
//! the parameter; every page is as the OpenAPI document says.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use ferry_tests::{OpenApi, StackOptions, TestStack, zip_of};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Follows `next` from the first page of `path` (`limit` items a page), returning each page's
/// items by `field`; checks every page against the OpenAPI document.
async fn every_page(stack: &TestStack, path: &str, items: &str, limit: &str) -> Vec<Vec<Value>> {
    let document = OpenApi::default();
    let mut pages = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut query = vec![("limit", limit)];
        if let Some(cursor) = &after {
            query.push(("after", cursor.as_str()));
        }
        let (status, body) = stack.get_with_query(path, &query).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let problems = document.problems("GET", path, 200, &body);
        assert!(problems.is_empty(), "{problems:#?}");
        pages.push(body[items].as_array().unwrap().clone());
        assert!(pages.len() < 100, "{path}: paging does not end");
        match body["next"].as_str() {
            Some(next) => after = Some(next.to_owned()),
            None => return pages,
        }
    }
}

fn names(pages: &[Vec<Value>], field: &str) -> Vec<Vec<String>> {
    pages
        .iter()
        .map(|page| {
            page.iter()
                .map(|item| item[field].as_str().unwrap().to_owned())
                .collect()
        })
        .collect()
}

fn project(name: &str) -> Value {
    json!({ "name": name, "steps": [
        { "name": "Run", "kind": "run_script", "script": "true" }
    ] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn following_next_visits_every_item_once_in_order() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        ..StackOptions::default()
    })
    .await;
    for environment in ["Dev", "Test", "Prod"] {
        stack.create_environment(environment).await;
    }
    for name in ["Delta", "Alpha", "Echo", "Charlie", "Bravo"] {
        stack.create_project(&project(name)).await;
    }
    for number in ["1.0.0", "1.0.1", "1.0.2"] {
        stack.create_release("Alpha", number).await;
    }
    for (package_id, version) in [("Web", "1.0.0"), ("Api", "1.0.0"), ("Api", "2.0.0")] {
        let zip = zip_of(&[("index.txt", version)]);
        stack.push_package(package_id, version, zip).await;
    }

    assert_eq!(
        names(
            &every_page(&stack, "/api/environments", "environments", "2").await,
            "name"
        ),
        [vec!["Dev", "Test"], vec!["Prod"]],
        "environments page in promotion order"
    );
    assert_eq!(
        names(
            &every_page(&stack, "/api/projects", "projects", "2").await,
            "name"
        ),
        [
            vec!["Alpha", "Bravo"],
            vec!["Charlie", "Delta"],
            vec!["Echo"]
        ],
        "projects page by name"
    );
    assert_eq!(
        names(
            &every_page(&stack, "/api/projects/Alpha/releases", "releases", "1").await,
            "release_number"
        ),
        [vec!["1.0.2"], vec!["1.0.1"], vec!["1.0.0"]],
        "releases page newest first"
    );
    let packages: Vec<Vec<String>> = every_page(&stack, "/api/packages", "packages", "1")
        .await
        .iter()
        .map(|page| {
            page.iter()
                .map(|package| format!("{} {}", package["package_id"], package["version"]))
                .collect()
        })
        .collect();
    assert_eq!(
        packages,
        [
            vec![r#""Api" "2.0.0""#],
            vec![r#""Api" "1.0.0""#],
            vec![r#""Web" "1.0.0""#]
        ],
        "packages page by id, the newest upload first"
    );
    // Exactly a page's worth: the last page says so, rather than sending an empty one.
    let (status, body) = stack
        .get_with_query("/api/environments", &[("limit", "3")])
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["environments"].as_array().unwrap().len(), 3);
    assert_eq!(body["next"], Value::Null, "{body}");

    // Projects created between pages: one before the cursor is not shown (it belongs to a
    // page already read), one after it is, and nothing is shown twice.
    let (_, first) = stack
        .get_with_query("/api/projects", &[("limit", "2")])
        .await;
    stack.create_project(&project("Aardvark")).await;
    stack.create_project(&project("Zulu")).await;
    let cursor = first["next"].as_str().unwrap();
    let (status, rest) = stack
        .get_with_query("/api/projects", &[("limit", "10"), ("after", cursor)])
        .await;
    assert_eq!(status, StatusCode::OK, "{rest}");
    let rest: Vec<&str> = rest["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|project| project["name"].as_str().unwrap())
        .collect();
    assert_eq!(rest, ["Charlie", "Delta", "Echo", "Zulu"]);

    // The audit log pages newest first, and its pages add up to the whole log.
    let audit_pages = every_page(&stack, "/api/audit", "events", "4").await;
    let paged: Vec<Value> = audit_pages.concat();
    let (_, whole) = stack
        .get_with_query("/api/audit", &[("limit", "1000")])
        .await;
    assert_eq!(paged, *whole["events"].as_array().unwrap());
    assert!(paged.len() > 8, "{} audit events", paged.len());
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_page_request_is_refused_naming_the_parameter() {
    let stack = TestStack::start_with(StackOptions {
        worker: false,
        notifier: false,
        ..StackOptions::default()
    })
    .await;
    stack.create_project(&project("Alpha")).await;
    stack.create_project(&project("Bravo")).await;
    stack.create_release("Alpha", "1.0.0").await;
    let bravo_release = stack.create_release("Bravo", "1.0.0").await;
    let document = OpenApi::default();

    let refusals = [
        ("/api/projects", vec![("limit", "0")], "limit"),
        ("/api/projects", vec![("limit", "1001")], "limit"),
        ("/api/projects", vec![("limit", "ten")], "query"),
        ("/api/projects", vec![("after", "not-a-cursor")], "after"),
        // A well-formed id that names no project.
        (
            "/api/projects",
            vec![("after", "00000000-0000-0000-0000-000000000001")],
            "after",
        ),
        ("/api/packages", vec![("after", "RandomQuotes")], "after"),
        (
            "/api/packages",
            vec![("after", "RandomQuotes/1.0.0")],
            "after",
        ),
        ("/api/audit", vec![("after", "last")], "after"),
        ("/api/interruptions", vec![("page", "2")], "query"),
        // Another project's release is no cursor for this project's releases.
        (
            "/api/projects/Alpha/releases",
            vec![("after", bravo_release["release_id"].as_str().unwrap())],
            "after",
        ),
    ];
    for (path, query, field) in refusals {
        let (status, body) = stack.get_with_query(path, &query).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {query:?}: {body}"
        );
        assert_eq!(body["error"]["field"], field, "{path} {query:?}: {body}");
        let problems = document.problems("GET", path, status.as_u16(), &body);
        assert!(problems.is_empty(), "{problems:#?}");
    }
    stack.stop().await;
}
