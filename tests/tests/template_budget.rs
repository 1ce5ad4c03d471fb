//! A template that would take hours to render (values that double at every level) fails
//! fast with a template error naming the variable, in the worker (a script) and in the API
//! (a run condition, rendered under the deployment's locks), while other deployments go on.

#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use ferry_tests::{DeploymentStatus, StepStatus, TestStack, step_status};
use serde_json::{Value, json};

/// `V1 = #{V2}#{V2}`, … `V31 = x`: `#{V1}` would be 2^30 bytes.
fn doubling_variables() -> Value {
    let mut variables = serde_json::Map::new();
    for level in 1..31 {
        let next = format!("#{{V{}}}", level + 1);
        variables.insert(format!("V{level}"), json!(format!("{next}{next}")));
    }
    variables.insert("V31".to_owned(), json!("x"));
    Value::Object(variables)
}

fn is_budget_error(error: &str) -> bool {
    (error.contains("longer than the most a render may produce")
        || error.contains("steps to render"))
        && error.contains("in the value of `V1`")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_doubling_template_bomb_fails_fast_while_others_deploy() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({
            "name": "Script Bomb",
            "variables": doubling_variables(),
            "steps": [{ "name": "Render", "script": "echo #{V1}" }],
        }))
        .await;
    stack
        .create_project(&json!({
            "name": "Condition Bomb",
            "variables": doubling_variables(),
            "steps": [
                { "name": "First", "script": "echo first" },
                { "name": "Guarded", "script": "echo guarded", "run_condition": { "variable": "#{V1}" } }
            ],
        }))
        .await;
    stack
        .create_project(&json!({
            "name": "Honest",
            "variables": { "Greeting": "hello #{Name}", "Name": "world" },
            "steps": [{ "name": "Greet", "script": "echo #{Greeting}" }],
        }))
        .await;
    for project in ["Script Bomb", "Condition Bomb", "Honest"] {
        stack.create_release(project, "1.0.0").await;
    }
    let script_bomb = stack.deploy("Script Bomb", "1.0.0", "Dev").await;
    let condition_bomb = stack.deploy("Condition Bomb", "1.0.0", "Dev").await;
    let honest = stack.deploy("Honest", "1.0.0", "Dev").await;

    let done = stack.wait_for(&honest, DeploymentStatus::Success).await;
    assert!(
        ferry_tests::log_text(&done).contains("hello world"),
        "the honest deployment rendered its template"
    );

    let failed = stack.wait_for(&script_bomb, DeploymentStatus::Failed).await;
    let error = failed["steps"][0]["error"].as_str().unwrap();
    assert!(error.contains("is not a valid template"), "{error}");
    assert!(is_budget_error(error), "{error}");

    let failed = stack
        .wait_for(&condition_bomb, DeploymentStatus::Failed)
        .await;
    assert_eq!(step_status(&failed, "First"), StepStatus::Succeeded);
    let error = failed["steps"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("its run condition could not be evaluated"),
        "{error}"
    );
    assert!(is_budget_error(error), "{error}");
    stack.stop().await;
}
