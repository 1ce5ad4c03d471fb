//! The rest of the deployment model on the real stack: immutable releases and *update
//! variables*, sensitive variables, one deployment at a time per project and environment,
//! cancel, rollback, previews, and the bad input each part refuses.

#![allow(clippy::unwrap_used)]

use ferry_tests::{
    DeploymentStatus, StackOptions, StepStatus, TestStack, deployment_id, deployment_status,
    log_text, step_status,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn project(name: &str, script: &str, variables: Value) -> Value {
    json!({ "name": name, "variables": variables, "steps": [{ "name": "Run", "script": script }] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn releases_keep_their_snapshot_until_variables_are_updated() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&project(
            "Snap",
            "echo colour=#{Colour}",
            json!({ "Colour": "red" }),
        ))
        .await;
    stack.create_release("Snap", "1.0.0").await;
    let (status, body) = stack
        .put(
            "/api/projects/Snap",
            &project(
                "Snap",
                "echo changed #{Colour}",
                json!({ "Colour": "blue" }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The old release still has the old process and variables.
    let old = stack.deploy("Snap", "1.0.0", "Dev").await;
    let old = stack.wait_for_deployment(&old).await;
    assert!(log_text(&old).contains("colour=red"), "{}", log_text(&old));
    // A new release takes the new ones.
    stack.create_release("Snap", "1.0.1").await;
    let new = stack.deploy("Snap", "1.0.1", "Dev").await;
    let new = stack.wait_for_deployment(&new).await;
    assert!(log_text(&new).contains("changed blue"));

    // Update variables re-snapshots the variables only, and is audited.
    let (status, body) = stack
        .post_as(
            "erin",
            "/api/projects/Snap/releases/1.0.0/update-variables",
            &json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let again = stack.deploy("Snap", "1.0.0", "Dev").await;
    let again = stack.wait_for_deployment(&again).await;
    assert!(
        log_text(&again).contains("colour=blue"),
        "{}",
        log_text(&again)
    );
    let audit = stack.audit_log("Snap").await;
    let update = audit
        .iter()
        .find(|event| event.action == "release.variables_updated")
        .expect("an audit record of the update");
    assert_eq!(update.actor, "erin");
    assert_eq!(update.details["before"][0]["value"], "red");

    // A release number that exists is a 409 naming it.
    let (status, body) = stack
        .post(
            "/api/projects/Snap/releases",
            &json!({ "release_number": "1.0.0" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("release 1.0.0"),
        "{body}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sensitive_values_are_encrypted_hidden_and_masked() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    let secret = "hunter2-very-secret";
    let body = json!({
        "name": "Vault",
        "notification_email": stack.recipient,
        "variables": [
            { "name": "Db Password", "value": secret, "sensitive": true },
            { "name": "Db User", "value": "app" },
            { "name": "Conn", "value": "user=app;password=#{Db Password}" },
            { "name": "Private Key", "value": "-----BEGIN KEY-----\nkey-line-one-abcdef\n-----END KEY-----", "sensitive": true },
            { "name": "Path", "value": "/nowhere" }
        ],
        "steps": [{
            "name": "Connect",
            "script": "echo \"template: #{Db Password}\"\necho \"env: $DB_PASSWORD\"\necho \"function: $(get_octopusvariable 'Db Password')\"\necho \"user #{Db User}\"\necho \"conn: $CONN\"\necho \"$PRIVATE_KEY\"\nls / >/dev/null && echo \"PATH intact, the variable is $(get_octopusvariable Path)\"\nexit 4"
        }]
    });
    let created = stack.create_project(&body).await;
    assert!(!created.to_string().contains(secret), "{created}");
    assert_eq!(created["variables"][0]["value"], Value::Null);
    let (_, shown) = stack.get("/api/projects/Vault").await;
    assert!(!shown.to_string().contains(secret));
    let stored: String = stack
        .db()
        .await
        .query_one("SELECT variables::text FROM projects", &[])
        .await
        .unwrap()
        .get(0);
    assert!(!stored.contains(secret), "stored in clear: {stored}");
    let key_id = ferry_secrets::SecretKey::from_base64(&stack.variables_key)
        .unwrap()
        .id();
    assert!(
        stored.contains(&format!("\"v2:{key_id}:")),
        "stored sealed by the current key, which it names: {stored}"
    );

    stack.create_release("Vault", "1.0.0").await;
    let id = stack.deploy("Vault", "1.0.0", "Dev").await;
    let done = stack.wait_for(&id, DeploymentStatus::Failed).await;
    let log = log_text(&done);
    assert!(log.contains("template: *****"), "{log}");
    assert!(log.contains("env: *****"), "{log}");
    assert!(log.contains("function: *****"), "{log}");
    assert!(log.contains("user app"), "{log}");
    // A value built from a secret is masked once expanded; so is each line of a multi-line
    // secret; a project variable never replaces the shell's PATH.
    assert!(log.contains("conn: *****"), "{log}");
    assert!(!log.contains("key-line-one-abcdef"), "{log}");
    assert!(
        log.contains("PATH intact, the variable is /nowhere"),
        "{log}"
    );
    assert!(!done.to_string().contains(secret));
    let emails = stack.wait_for_emails(1).await;
    assert!(!emails[0].contains(secret));
    let outbox: String = stack
        .db()
        .await
        .query_one("SELECT string_agg(payload::text, ' ') FROM outbox", &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        !outbox.contains(secret),
        "the job carried the secret in clear"
    );

    // Updating with `null` keeps the stored value; the variable preview masks it.
    let mut update = body.clone();
    update["variables"][0]["value"] = Value::Null;
    let (status, response) = stack.put("/api/projects/Vault", &update).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let (status, preview) = stack
        .get("/api/projects/Vault/variables/preview?environment=Dev")
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    let password = preview["variables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "Db Password")
        .unwrap();
    assert_eq!(password["value"], "*****");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_deployment_at_a_time_cancel_and_rollback() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    let gate = stack.scripts_folder.path().join("gate");
    stack
        .create_project(&project(
            "Serial",
            &format!(
                "echo start #{{Octopus.Release.Number}}\nfor i in $(seq 1 600); do [ -f '{}' ] && break; sleep 0.05; done\necho end #{{Octopus.Release.Number}}",
                gate.display()
            ),
            json!({}),
        ))
        .await;
    stack.create_release("Serial", "1.0.0").await;
    stack.create_release("Serial", "2.0.0").await;

    let first = stack.deploy("Serial", "1.0.0", "Dev").await;
    stack.wait_for_log_line(&first, "start 1.0.0").await;
    let second = stack.deploy("Serial", "2.0.0", "Dev").await;
    let queued = stack.deployment(&second).await;
    assert_eq!(deployment_status(&queued), DeploymentStatus::Queued);
    assert!(log_text(&queued).contains(&format!("Queued behind deployment {first}")));

    // Cancel the running one: its script is stopped, and the queued one starts.
    let cancelled = stack.cancel_as("frank", &first).await;
    assert_eq!(deployment_status(&cancelled), DeploymentStatus::Canceled);
    assert_eq!(step_status(&cancelled, "Run"), StepStatus::Canceled);
    stack.wait_for_log_line(&second, "start 2.0.0").await;
    let (status, _) = stack.try_cancel(&first).await;
    assert_eq!(status, StatusCode::CONFLICT, "already finished");
    std::fs::write(&gate, "").unwrap();
    stack.wait_for(&second, DeploymentStatus::Success).await;
    let first_done = stack.wait_for_deployment(&first).await;
    assert!(
        !log_text(&first_done).contains("end 1.0.0"),
        "the cancelled script ran on"
    );

    // 2.0.0 is current in Dev; 1.0.0 never succeeded there, so there is nothing to roll back to.
    let (status, body) = stack.try_rollback("Serial", "Dev").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // Deploy 1.0.0 (succeeds), then 2.0.0 again: a rollback now goes back to 1.0.0.
    let id = stack.deploy("Serial", "1.0.0", "Dev").await;
    stack.wait_for_deployment(&id).await;
    let id = stack.deploy("Serial", "2.0.0", "Dev").await;
    stack.wait_for_deployment(&id).await;
    let rollback = stack.rollback("Serial", "Dev").await;
    assert_eq!(rollback["release_number"], "1.0.0");
    assert_eq!(rollback["rolled_back_from_release"], "2.0.0");
    let rolled = stack
        .wait_for(&deployment_id(&rollback), DeploymentStatus::Success)
        .await;
    assert!(log_text(&rolled).contains("Rolling back to release 1.0.0"));
    // Rolling back again goes further back, never forward to 2.0.0 again: nothing is older.
    let (status, body) = stack.try_rollback("Serial", "Dev").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn previews_explain_without_deploying() {
    let stack = TestStack::start().await;
    for environment in ["Dev", "Test"] {
        stack.create_environment(environment).await;
    }
    stack
        .create_project(&json!({
            "name": "Planned",
            "variables": [
                { "name": "Port", "value": "1", "scope": { "environments": ["Dev"] } },
                { "name": "Port", "value": "2" },
                { "name": "Port", "value": "3", "scope": { "steps": ["Smoke"] } },
                { "name": "Run Smoke", "value": "False" }
            ],
            "steps": [
                { "name": "Deploy", "script": "true" },
                { "name": "Sign off", "kind": "manual_intervention", "instructions": "ok?", "environments": { "only_in": ["Test"] } },
                { "name": "Smoke", "script": "true", "run_condition": { "variable": "#{Run Smoke}" } },
                { "name": "Cleanup", "script": "true", "run_condition": "failure" }
            ]
        }))
        .await;
    stack.create_release("Planned", "1.0.0").await;
    let (status, preview) = stack
        .get("/api/projects/Planned/releases/1.0.0/preview?environment=Test")
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    // The default lifecycle: Test needs Dev first.
    assert_eq!(preview["lifecycle"]["allowed"], false);
    assert!(
        preview["lifecycle"]["reason"]
            .as_str()
            .unwrap()
            .contains("phase `Dev`")
    );
    let steps: Vec<_> = preview["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["runs"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("Deploy".into(), true),
            ("Sign off".into(), true),
            ("Smoke".into(), false),
            ("Cleanup".into(), false)
        ]
    );
    assert_eq!(
        preview["steps"][2]["reason"],
        "its variable condition evaluated to false"
    );
    assert_eq!(
        preview["steps"][3]["reason"],
        "its run condition does not hold"
    );
    let (_, dev) = stack
        .get("/api/projects/Planned/releases/1.0.0/preview?environment=Dev")
        .await;
    assert_eq!(dev["lifecycle"]["allowed"], true);
    assert_eq!(
        dev["steps"][1]["reason"],
        "its environment condition excludes this environment"
    );
    assert_eq!(
        stack.count("deployments").await,
        0,
        "a preview deploys nothing"
    );

    // The variable preview shows which scoped value won.
    let port = |body: &Value| {
        body["variables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "Port")
            .cloned()
            .unwrap()
    };
    let (_, dev_vars) = stack
        .get("/api/projects/Planned/variables/preview?environment=Dev")
        .await;
    assert_eq!(port(&dev_vars)["value"], "1");
    assert_eq!(port(&dev_vars)["scope"], "environment Dev");
    let (_, smoke_vars) = stack
        .get("/api/projects/Planned/variables/preview?environment=Dev&step=Smoke")
        .await;
    assert_eq!(port(&smoke_vars)["value"], "3");
    assert_eq!(port(&smoke_vars)["values_that_applied"], 3);
    let (_, test_vars) = stack
        .get("/api/projects/Planned/variables/preview?environment=Test")
        .await;
    assert_eq!(port(&test_vars)["value"], "2");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deployment_model_input_is_refused_and_writes_nothing() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    let projects_before = stack.count("projects").await;
    let cases = [
        (
            "/api/lifecycles",
            json!({ "name": "L", "phases": [{ "name": "P", "environments": ["Staging"], "rule": "optional" }] }),
            "phases[0].environments",
            "Staging",
        ),
        (
            "/api/projects",
            json!({ "name": "A", "steps": [{ "name": "Run", "script": "true" }],
                    "variables": [{ "name": "X", "value": "1", "scope": { "steps": ["Missing"] } }] }),
            "variables[0].scope.steps",
            "Missing",
        ),
        (
            "/api/projects",
            json!({ "name": "A", "steps": [{ "name": "Run", "script": "true" }],
                    "variables": [
                        { "name": "X", "value": "1", "scope": { "environments": ["Dev"] } },
                        { "name": "x", "value": "2", "scope": { "environments": ["Dev"] } }
                    ] }),
            "variables[1].scope",
            "environment `Dev`",
        ),
        (
            "/api/projects",
            json!({ "name": "A", "steps": [{ "name": "Run", "script": "echo ok\necho #{if Broken}never closed" }] }),
            "steps[0].script",
            "line 2",
        ),
        (
            "/api/projects",
            json!({ "name": "A", "steps": [{ "name": "Run", "script": "echo #{Name | NoSuchFilter}" }] }),
            "steps[0].script",
            "NoSuchFilter",
        ),
        (
            "/api/projects",
            json!({ "name": "A", "steps": [{ "name": "Run", "script": "true", "environments": { "only_in": ["Nowhere"] } }] }),
            "steps[0].environments",
            "Nowhere",
        ),
        (
            "/api/projects",
            json!({ "name": "A", "lifecycle": "No such lifecycle", "steps": [{ "name": "Run", "script": "true" }] }),
            "lifecycle",
            "No such lifecycle",
        ),
        (
            "/api/projects",
            json!({ "name": "A", "steps": [{ "name": "Ask", "kind": "manual_intervention" }] }),
            "steps[0].instructions",
            "instructions",
        ),
    ];
    for (path, body, field, named) in cases {
        let (status, response) = stack.post(path, &body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path} {body}: {response}"
        );
        assert_eq!(response["error"]["field"], field, "{response}");
        let message = response["error"]["message"].as_str().unwrap();
        assert!(message.contains(named), "{message} should name {named}");
    }
    assert_eq!(stack.count("projects").await, projects_before);
    assert_eq!(stack.count("lifecycles").await, 0);

    // A required step cannot be excluded; an unknown one is named.
    stack
        .create_project(&json!({ "name": "Req", "steps": [
            { "name": "Must", "script": "true", "required": true },
            { "name": "May", "script": "true" }
        ] }))
        .await;
    stack.create_release("Req", "1.0.0").await;
    for (excluded, named) in [("Must", "required"), ("Nope", "Nope")] {
        let (status, response) = stack
            .post(
                "/api/deployments",
                &json!({ "project": "Req", "release_number": "1.0.0", "environment": "Dev", "excluded_steps": [excluded] }),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{response}");
        assert!(
            response["error"]["message"]
                .as_str()
                .unwrap()
                .contains(named)
        );
    }
    assert_eq!(stack.count("deployments").await, 0);
    let id = stack
        .deploy_with(&json!({ "project": "Req", "release_number": "1.0.0", "environment": "Dev", "excluded_steps": ["May"] }))
        .await;
    let done = stack.wait_for_deployment(&id).await;
    assert_eq!(step_status(&done, "May"), StepStatus::Skipped);
    assert!(log_text(&done).contains("it was excluded from this deployment"));

    // A template that only fails at run time fails its step with line and column.
    stack
        .create_project(&json!({ "name": "Loud", "steps": [
            { "name": "Typo", "script": "echo fine\necho #{Nginx Prot}" }
        ] }))
        .await;
    stack.create_release("Loud", "1.0.0").await;
    let id = stack.deploy("Loud", "1.0.0", "Dev").await;
    let failed = stack.wait_for(&id, DeploymentStatus::Failed).await;
    let error = failed["steps"][0]["error"].as_str().unwrap();
    assert!(error.contains("line 2, column 6"), "{error}");
    assert!(error.contains("Nginx Prot"), "{error}");

    // So does a variable condition that names an unknown variable, when the step is reached.
    stack
        .create_project(&json!({ "name": "Loud condition", "steps": [
            { "name": "First", "script": "echo first" },
            { "name": "Maybe", "script": "echo maybe", "run_condition": { "variable": "#{Run Maybee}" } }
        ] }))
        .await;
    stack.create_release("Loud condition", "1.0.0").await;
    let id = stack.deploy("Loud condition", "1.0.0", "Dev").await;
    let failed = stack.wait_for(&id, DeploymentStatus::Failed).await;
    assert_eq!(step_status(&failed, "First"), StepStatus::Succeeded);
    let error = failed["steps"][1]["error"].as_str().unwrap();
    assert!(
        error.contains("its run condition could not be evaluated"),
        "{error}"
    );
    assert!(error.contains("Run Maybee"), "{error}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_and_paused_deployments_can_be_cancelled() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({ "name": "Paused", "steps": [
            { "name": "Ask", "kind": "manual_intervention", "instructions": "ok?" },
            { "name": "After", "script": "echo after" },
            { "name": "Always", "script": "echo always", "run_condition": "always" }
        ] }))
        .await;
    stack.create_release("Paused", "1.0.0").await;
    let waiting = stack.deploy("Paused", "1.0.0", "Dev").await;
    stack
        .wait_for(&waiting, DeploymentStatus::WaitingForIntervention)
        .await;
    let queued = stack.deploy("Paused", "1.0.0", "Dev").await;
    let third = stack.deploy("Paused", "1.0.0", "Dev").await;

    // Cancelling a queued deployment abandons its steps and leaves the line as it was.
    let cancelled = stack.cancel(&queued).await;
    assert_eq!(deployment_status(&cancelled), DeploymentStatus::Canceled);
    for step in ["Ask", "After", "Always"] {
        assert_eq!(
            step_status(&cancelled, step),
            StepStatus::Abandoned,
            "{step}"
        );
    }
    let still = stack.deployment(&waiting).await;
    assert_eq!(
        deployment_status(&still),
        DeploymentStatus::WaitingForIntervention
    );
    let third_now = stack.deployment(&third).await;
    assert_eq!(deployment_status(&third_now), DeploymentStatus::Queued);

    // Cancelling the paused one closes its question, runs nothing more, and lets the next
    // queued deployment start.
    let cancelled = stack.cancel(&waiting).await;
    assert_eq!(deployment_status(&cancelled), DeploymentStatus::Canceled);
    assert_eq!(step_status(&cancelled, "Ask"), StepStatus::Canceled);
    assert_eq!(
        step_status(&cancelled, "Always"),
        StepStatus::Abandoned,
        "always steps do not run after a cancel"
    );
    assert_eq!(cancelled["interruptions"][0]["resolution"], "abort");
    let pending = stack.pending_interruptions().await;
    assert!(
        pending
            .iter()
            .all(|interruption| interruption.deployment_id != waiting),
        "{pending:#?}"
    );
    stack
        .wait_for(&third, DeploymentStatus::WaitingForIntervention)
        .await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_for_a_pool_without_workers_says_so() {
    let mut stack = TestStack::start().await;
    stack.uses_worker_pool("lonely");
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({ "name": "Lonely", "worker_pool": "lonely",
            "steps": [{ "name": "Run", "script": "echo never" }] }))
        .await;
    stack
        .create_project(&project("Served", "echo served", json!({})))
        .await;
    for name in ["Lonely", "Served"] {
        stack.create_release(name, "1.0.0").await;
    }
    let lonely = stack.deploy("Lonely", "1.0.0", "Dev").await;
    stack
        .wait_for_log_line(
            &lonely,
            "No worker is taking jobs from worker pool `lonely` right now",
        )
        .await;
    let served = stack.deploy("Served", "1.0.0", "Dev").await;
    let served = stack.wait_for(&served, DeploymentStatus::Success).await;
    assert!(!log_text(&served).contains("No worker is taking jobs"));
    stack.cancel(&lonely).await;
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_survives_a_deployment_that_cannot_start() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(
            &json!({ "name": "Line", "notification_email": stack.recipient, "steps": [
            { "name": "Ask", "kind": "manual_intervention", "instructions": "ok?" }
        ] }),
        )
        .await;
    stack.create_release("Line", "1.0.0").await;
    let first = stack.deploy("Line", "1.0.0", "Dev").await;
    stack
        .wait_for(&first, DeploymentStatus::WaitingForIntervention)
        .await;
    let broken = stack.deploy("Line", "1.0.0", "Dev").await;
    let damaged_row = stack.deploy("Line", "1.0.0", "Dev").await;
    let third = stack.deploy("Line", "1.0.0", "Dev").await;
    // Damage the second one's stored variables and the third one's own row, as a bug or a
    // bad migration might (moving the state version on, as ARCHITECTURE.md asks of any change
    // made by hand, so the API reads the rows again).
    let db = stack.db().await;
    db.execute(
        "UPDATE deployments SET variables = '\"not a variable list\"', state_version = state_version + 1 WHERE deployment_id = $1::text::uuid",
        &[&broken],
    )
    .await
    .unwrap();
    db.execute(
        "UPDATE deployments SET excluded_steps = ARRAY['']::text[], state_version = state_version + 1 WHERE deployment_id = $1::text::uuid",
        &[&damaged_row],
    )
    .await
    .unwrap();
    stack.cancel(&first).await;
    let broken_now = stack.deployment(&broken).await;
    assert_eq!(
        deployment_status(&broken_now),
        DeploymentStatus::Failed,
        "{broken_now:#}"
    );
    assert!(
        broken_now["error"]
            .as_str()
            .unwrap()
            .contains("could not start"),
        "{broken_now:#}"
    );
    assert_eq!(
        step_status(&broken_now, "Ask"),
        StepStatus::Abandoned,
        "a failed deployment has no step left to run: {broken_now:#}"
    );
    // A damaged row cannot be shown, but it had its turn and failed in it.
    let row = db
        .query_one(
            "SELECT status, error FROM deployments WHERE deployment_id = $1::text::uuid",
            &[&damaged_row],
        )
        .await
        .unwrap();
    let (status, error): (String, Option<String>) = (row.get(0), row.get(1));
    assert_eq!(status, "Failed", "{error:?}");
    assert!(
        error
            .as_deref()
            .unwrap_or_default()
            .contains("could not start"),
        "{error:?}"
    );
    stack
        .wait_for(&third, DeploymentStatus::WaitingForIntervention)
        .await;
    // The one whose own row is damaged still says by email that it could not start (what
    // the email says, its project and release, can be read), beside the cancelled one's;
    // the one whose variables are damaged cannot (its release cannot be read whole).
    let emails = stack.wait_for_emails(2).await;
    assert!(
        emails
            .iter()
            .any(|email| email.contains(&damaged_row) && email.contains("could not start")),
        "{emails:#?}"
    );

    // A deployment left Queued with nothing running (as an older bug could leave one) starts
    // as soon as another deployment of the pair is created.
    let stranded = stack.deploy("Line", "1.0.0", "Dev").await;
    stack
        .db()
        .await
        .execute(
            "UPDATE deployments SET status = 'Canceled', finished_at = now(), state_version = state_version + 1 WHERE deployment_id = $1::text::uuid",
            &[&third],
        )
        .await
        .unwrap();
    let before = stack.deployment(&stranded).await;
    assert_eq!(deployment_status(&before), DeploymentStatus::Queued);
    let newest = stack.deploy("Line", "1.0.0", "Dev").await;
    stack
        .wait_for(&stranded, DeploymentStatus::WaitingForIntervention)
        .await;
    let newest_now = stack.deployment(&newest).await;
    assert_eq!(deployment_status(&newest_now), DeploymentStatus::Queued);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployment_with_damaged_data_can_still_be_cancelled() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    stack
        .create_project(&json!({ "name": "Damaged", "steps": [
            { "name": "Ask", "kind": "manual_intervention", "instructions": "ok?" }
        ] }))
        .await;
    stack.create_release("Damaged", "1.0.0").await;
    let damaged = stack.deploy("Damaged", "1.0.0", "Dev").await;
    stack
        .wait_for(&damaged, DeploymentStatus::WaitingForIntervention)
        .await;
    let behind = stack.deploy("Damaged", "1.0.0", "Dev").await;
    stack
        .db()
        .await
        .execute(
            "UPDATE deployments SET variables = '\"not a variable list\"', state_version = state_version + 1 WHERE deployment_id = $1::text::uuid",
            &[&damaged],
        )
        .await
        .unwrap();
    // Its data cannot be read, but it must not hold its project and environment for ever.
    let cancelled = stack.cancel(&damaged).await;
    assert_eq!(
        deployment_status(&cancelled),
        DeploymentStatus::Canceled,
        "{cancelled:#}"
    );
    assert_eq!(step_status(&cancelled, "Ask"), StepStatus::Canceled);
    let read = stack.deployment(&damaged).await;
    assert!(
        log_text(&read).contains("its stored data cannot be read"),
        "{read:#}"
    );
    assert!(
        stack
            .pending_interruptions()
            .await
            .iter()
            .all(|i| i.deployment_id != damaged),
        "its question is closed"
    );
    stack
        .wait_for(&behind, DeploymentStatus::WaitingForIntervention)
        .await;
    let (status, _) = stack.try_cancel(&damaged).await;
    assert_eq!(status, StatusCode::CONFLICT, "already finished");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_deployment_with_damaged_data_is_cancelled_and_its_script_stopped() {
    let stack = TestStack::start().await;
    stack.create_environment("Dev").await;
    let gate = stack.scripts_folder.path().join("gate");
    stack
        .create_project(&project(
            "Runs on",
            &format!(
                "echo started\nfor i in $(seq 1 600); do [ -f '{}' ] && break; sleep 0.05; done\necho ran to the end",
                gate.display()
            ),
            json!({}),
        ))
        .await;
    stack.create_release("Runs on", "1.0.0").await;
    let running = stack.deploy("Runs on", "1.0.0", "Dev").await;
    stack.wait_for_log_line(&running, "started").await;
    stack
        .db()
        .await
        .execute(
            "UPDATE deployments SET variables = '\"not a variable list\"', state_version = state_version + 1 WHERE deployment_id = $1::text::uuid",
            &[&running],
        )
        .await
        .unwrap();
    let cancelled = stack.cancel(&running).await;
    assert_eq!(deployment_status(&cancelled), DeploymentStatus::Canceled);
    assert_eq!(step_status(&cancelled, "Run"), StepStatus::Canceled);
    // The worker was told to stop: opening the gate now lets nothing run to the end.
    stack
        .wait_for_log_line(
            &running,
            "Stopping the script: the deployment was cancelled",
        )
        .await;
    std::fs::write(&gate, "").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let after = stack.deployment(&running).await;
    assert!(
        !log_text(&after).contains("ran to the end"),
        "the cancelled script ran on: {after:#}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_before_a_worker_took_it_never_runs() {
    let stack = TestStack::start_with(StackOptions {
        worker_concurrency: 1,
        ..StackOptions::default()
    })
    .await;
    stack.create_environment("Dev").await;
    let gate = stack.scripts_folder.path().join("gate");
    let ran = stack.scripts_folder.path().join("ran");
    stack
        .create_project(&project(
            "Busy",
            &format!(
                "echo busy\nfor i in $(seq 1 600); do [ -f '{}' ] && break; sleep 0.05; done",
                gate.display()
            ),
            json!({}),
        ))
        .await;
    stack
        .create_project(&project(
            "Waiting",
            &format!("touch '{}'", ran.display()),
            json!({}),
        ))
        .await;
    for name in ["Busy", "Waiting"] {
        stack.create_release(name, "1.0.0").await;
    }
    // The only worker slot is taken, so the second job waits in the queue.
    let busy = stack.deploy("Busy", "1.0.0", "Dev").await;
    stack.wait_for_log_line(&busy, "busy").await;
    let waiting = stack.deploy("Waiting", "1.0.0", "Dev").await;
    stack.cancel(&waiting).await;
    std::fs::write(&gate, "").unwrap();
    stack.wait_for_deployment(&busy).await;
    // The worker takes the cancelled job, and its claim is refused.
    stack.wait_until_jobs_taken("default").await;
    assert!(!ran.exists(), "the cancelled job's script ran");
    let log = log_text(&stack.deployment(&waiting).await);
    assert!(!log.contains("started on worker"), "{log}");
    stack.stop().await;
}
