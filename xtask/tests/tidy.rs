//! The tidy checks on scratch trees: each test lays out the few files a check reads and
//! asserts the lines a user would read (`path:line: message`).
#![allow(clippy::unwrap_used)] // A failed unwrap is a failed test, with its location.

use std::path::Path;

use serde_json::json;
use tempfile::TempDir;
use xtask::{
    Violation, dependencies, domain_purity, env_reads, file_header, file_length, http_status,
    routes, state_writes,
};

fn scratch_tree(files: &[(&str, &str)]) -> TempDir {
    let root = tempfile::tempdir().unwrap();
    for (path, contents) in files {
        write(root.path(), path, contents);
    }
    root
}

fn write(root: &Path, path: &str, contents: &str) {
    let full = root.join(path);
    std::fs::create_dir_all(full.parent().unwrap()).unwrap();
    std::fs::write(full, contents).unwrap();
}

fn rendered(violations: Vec<Violation>) -> Vec<String> {
    violations.iter().map(ToString::to_string).collect()
}

const ENV_MESSAGE: &str = "reads the process environment outside configuration code; read it in \
    the crate's config (a `config.rs` file, a `config/` module or the `crates/config` crate) and \
    pass the value in";

#[test]
fn a_file_without_a_doc_line_fails_naming_the_file_and_line_1() {
    let root = scratch_tree(&[
        ("crates/a/src/lib.rs", "//! Owns a.\nmod bad;\n"),
        ("crates/a/src/bad.rs", "use std::fmt;\n//! Too late.\n"),
        ("crates/a/src/empty.rs", ""),
        ("target/debug/build/generated.rs", "fn generated() {}\n"),
        (".ferry-dev/scratch.rs", "fn scratch() {}\n"),
    ]);
    let message = "the file does not start with a `//!` line; make its first line a `//!` comment saying what the file owns";
    assert_eq!(
        rendered(file_header::check(root.path()).unwrap()),
        vec![
            format!("crates/a/src/bad.rs:1: {message}"),
            format!("crates/a/src/empty.rs:1: {message}"),
        ]
    );
}

#[test]
fn reading_the_environment_in_a_route_fails_and_in_config_passes() {
    let reading =
        "//! Example.\n\nfn port() -> Option<String> {\n    std::env::var(\"X\").ok()\n}\n";
    let root = scratch_tree(&[
        ("services/api/src/routes/example.rs", reading),
        ("services/api/src/config.rs", reading),
        ("services/worker/src/config/files.rs", reading),
        ("crates/config/src/lib.rs", reading),
    ]);
    assert_eq!(
        rendered(env_reads::check(root.path()).unwrap()),
        vec![format!(
            "services/api/src/routes/example.rs:4: `std::env::var` {ENV_MESSAGE}"
        )]
    );
}

#[test]
fn environment_reads_through_imports_are_found_and_lookalikes_are_not() {
    let source = r##"//! Lookalikes first, then real reads.
// std::env::var("IN_A_COMMENT")
/* std::env::set_var("IN", "A BLOCK COMMENT") */
const TEXT: &str = "std::env::var(\"IN_A_STRING\")";
const RAW: &str = r#"env::var_os("RAW")"#;
const BUILT_BY: &str = env!("CARGO_PKG_NAME");
const MAYBE: Option<&str> = option_env!("PROFILE");
fn arguments() -> Vec<String> { std::env::args().collect() }
fn unrelated() -> u32 { settings::env::var() }

use std::env;
use std::env::var_os;
use std::{env::home_dir, fs};
fn reads() {
    let _ = env::var("A");
    let _ = ::std::env::temp_dir();
    unsafe { std::env::set_var("K", "V") };
}
"##;
    let through_self = "//! Imports the module with self.\nuse std::env::{self, args};\nfn f() {\n    let _ = env::vars();\n}\n";
    let root = scratch_tree(&[
        ("cli/src/commands.rs", source),
        ("cli/src/self_import.rs", through_self),
    ]);
    let changes = ENV_MESSAGE.replacen("reads", "changes", 1);
    assert_eq!(
        rendered(env_reads::check(root.path()).unwrap()),
        vec![
            format!("cli/src/commands.rs:12: `std::env::var_os` {ENV_MESSAGE}"),
            format!("cli/src/commands.rs:13: `std::env::home_dir` {ENV_MESSAGE}"),
            format!("cli/src/commands.rs:15: `std::env::var` {ENV_MESSAGE}"),
            format!("cli/src/commands.rs:16: `std::env::temp_dir` {ENV_MESSAGE}"),
            format!("cli/src/commands.rs:17: `std::env::set_var` {changes}"),
            format!("cli/src/self_import.rs:4: `std::env::vars` {ENV_MESSAGE}"),
        ]
    );
}

fn status_message(expression: &str, code: u16) -> String {
    format!(
        "`{expression}` ({code}) decides an HTTP error status outside services/api/src/error.rs; \
         return an `ApiError` variant and let `impl IntoResponse for ApiError` pick the status \
         (add a variant there if none fits)"
    )
}

#[test]
fn an_error_status_in_a_handler_fails_while_success_statuses_and_error_rs_pass() {
    let root = scratch_tree(&[
        (
            "services/api/src/routes/handler.rs",
            "//! A handler.\nuse axum::http::StatusCode;\n\npub async fn show() -> impl IntoResponse {\n    (StatusCode::NOT_FOUND, \"x\")\n}\n\nfn parsed() -> StatusCode {\n    axum::http::StatusCode::from_u16(422).unwrap()\n}\n",
        ),
        (
            "services/api/src/routes/created.rs",
            "//! Creates.\npub async fn create() -> (StatusCode, Json<Value>) {\n    (StatusCode::CREATED, Json(json!({})))\n}\nfn ok() -> StatusCode { StatusCode::from_u16(200).unwrap() }\n// StatusCode::NOT_FOUND in a comment\n#[cfg(test)]\nmod tests {\n    const EXPECTED: StatusCode = StatusCode::NOT_FOUND;\n}\n",
        ),
        (
            "services/api/src/error.rs",
            "//! Errors.\nimpl IntoResponse for ApiError {\n    fn into_response(self) -> Response {\n        (StatusCode::NOT_FOUND, \"x\").into_response()\n    }\n}\n",
        ),
        (
            "services/worker/src/events.rs",
            "//! Not the API.\nconst S: StatusCode = StatusCode::BAD_GATEWAY;\n",
        ),
    ]);
    assert_eq!(
        rendered(http_status::check(root.path()).unwrap()),
        vec![
            format!(
                "services/api/src/routes/handler.rs:5: {}",
                status_message("StatusCode::NOT_FOUND", 404)
            ),
            format!(
                "services/api/src/routes/handler.rs:9: {}",
                status_message("StatusCode::from_u16(422)", 422)
            ),
        ]
    );
}

fn lines_of_code(count: usize) -> String {
    (1..=count)
        .map(|n| format!("const C{n}: u32 = {n};\n"))
        .collect()
}

#[test]
fn a_file_of_401_lines_of_code_fails() {
    let root = scratch_tree(&[(
        "crates/a/src/long.rs",
        &format!("//! Too long.\n{}", lines_of_code(401)),
    )]);
    assert_eq!(
        rendered(file_length::check(root.path()).unwrap()),
        vec![
            "crates/a/src/long.rs:1: 401 lines of code, more than 400 (blank lines, comments and \
             #[cfg(test)] modules not counted); split it by concept into smaller files"
                .to_owned()
        ]
    );
}

#[test]
fn test_modules_comments_blank_lines_and_integration_tests_do_not_count() {
    let test_module: String = (1..=197)
        .map(|n| format!("    const T{n}: u32 = {n};\n"))
        .collect();
    let with_tests = format!(
        "//! 380 lines of code and their unit tests.\n{}#[cfg(test)]\nmod tests {{\n{test_module}}}\n",
        lines_of_code(380)
    );
    let commented = format!(
        "//! Wordy.\n{}{}",
        "// a comment\n\n/// a doc comment\n".repeat(100),
        lines_of_code(400)
    );
    let block_comment = format!(
        "//! Block.\n/*\n{}*/\n{}",
        "text\n".repeat(300),
        lines_of_code(300)
    );
    let root = scratch_tree(&[
        ("crates/a/src/with_tests.rs", &with_tests),
        ("crates/a/src/commented.rs", &commented),
        ("crates/a/src/block.rs", &block_comment),
        ("crates/a/tests/integration.rs", &lines_of_code(900)),
        ("crates/a/benches/bench.rs", &lines_of_code(900)),
        ("xtask/tests/tidy.rs", &lines_of_code(900)),
    ]);
    assert_eq!(with_tests.lines().count(), 1 + 380 + 200);
    assert_eq!(
        rendered(file_length::check(root.path()).unwrap()),
        Vec::<String>::new()
    );
}

#[test]
fn the_tests_crate_harness_counts_but_its_integration_tests_do_not() {
    let root = scratch_tree(&[
        ("tests/Cargo.toml", "[package]\nname = \"ferry-tests\"\n"),
        (
            "tests/src/lib.rs",
            &format!("//! Harness.\n{}", lines_of_code(450)),
        ),
        ("tests/tests/end_to_end.rs", &lines_of_code(900)),
    ]);
    let violations = rendered(file_length::check(root.path()).unwrap());
    assert_eq!(violations.len(), 1);
    assert!(violations[0].starts_with("tests/src/lib.rs:1: 450 lines of code, more than 400"));
}

#[test]
fn an_allowed_long_file_may_not_grow_and_a_stale_entry_is_reported() {
    let root = scratch_tree(&[
        (
            "crates/a/src/table.rs",
            &format!("//! A data table.\n{}", lines_of_code(460)),
        ),
        (
            "crates/a/src/short.rs",
            &format!("//! Short now.\n{}", lines_of_code(10)),
        ),
    ]);
    let allowed = [
        file_length::AllowedLongFile {
            path: "crates/a/src/table.rs",
            allowed_at: 450,
            why: "one row per Octopus filter",
        },
        file_length::AllowedLongFile {
            path: "crates/a/src/short.rs",
            allowed_at: 420,
            why: "was long",
        },
    ];
    assert_eq!(
        rendered(file_length::check_with(root.path(), &allowed).unwrap()),
        vec![
            "crates/a/src/short.rs:1: 10 lines of code: within the limit of 400 now; remove its \
             entry (allowed at 420) from ALLOWED_LONG_FILES in xtask/src/file_length.rs"
                .to_owned(),
            "crates/a/src/table.rs:1: 460 lines of code, more than the 450 it was allowed at in \
             xtask/src/file_length.rs (one row per Octopus filter); split it by concept"
                .to_owned(),
        ]
    );
}

#[test]
fn a_router_and_openapi_mismatch_is_reported_both_ways() {
    let router = r#"//! The router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route(
            "/api/deployments/{deployment_id}",
            get(deployments::show).post(deployments::update).layer(limit.get(1)),
        )
        .route("/api/new", axum::routing::post(create))
        .route_layer(middleware::from_fn(require_api_key))
}
"#;
    let document = r#"{
  "openapi": "3.0.3",
  "paths": {
    "/health": { "get": {} },
    "/api/deployments/{id}": {
      "parameters": [],
      "get": {},
      "post": {}
    },
    "/api/old": {
      "delete": { "summary": "gone from the router" }
    }
  }
}
"#;
    let root = scratch_tree(&[
        ("services/api/src/routes/mod.rs", router),
        ("services/api/openapi.json", document),
    ]);
    assert_eq!(
        rendered(routes::check(root.path()).unwrap()),
        vec![
            "services/api/src/routes/mod.rs:9: `POST /api/new` is served by the router but not \
             documented in services/api/openapi.json; add it under \"paths\""
                .to_owned(),
            "services/api/openapi.json:11: `DELETE /api/old` is documented but the router does \
             not serve it; remove it from the document or add the route in \
             services/api/src/routes/mod.rs"
                .to_owned(),
        ]
    );
}

/// A `cargo metadata --format-version 1` shaped graph: the worker reaches tokio-postgres
/// through some-crate, uses sqlx only in its tests, the domain reaches tokio through a
/// build dependency, and the API's body types use tokio only in their tests.
fn metadata_fixture(root: &Path) -> serde_json::Value {
    let package = |name: &str, manifest: &str| {
        json!({
            "name": name,
            "version": "1.0.0",
            "id": format!("{name} 1.0.0"),
            "manifest_path": root.join(manifest).to_string_lossy(),
        })
    };
    let dep = |name: &str, kind: Option<&str>| {
        json!({
            "name": name.replace('-', "_"),
            "pkg": format!("{name} 1.0.0"),
            "dep_kinds": [{ "kind": kind, "target": null }],
        })
    };
    json!({
        "packages": [
            package("ferry-worker", "services/worker/Cargo.toml"),
            package("ferry-notifier", "services/notifier/Cargo.toml"),
            package("ferry-domain", "crates/domain/Cargo.toml"),
            package("ferry-api-types", "crates/api-types/Cargo.toml"),
            package("some-crate", "registry/some-crate/Cargo.toml"),
            package("tokio-postgres", "registry/tokio-postgres/Cargo.toml"),
            package("sqlx", "registry/sqlx/Cargo.toml"),
            package("serde", "registry/serde/Cargo.toml"),
            package("codegen", "registry/codegen/Cargo.toml"),
            package("tokio", "registry/tokio/Cargo.toml"),
        ],
        "workspace_members": [
            "ferry-worker 1.0.0",
            "ferry-notifier 1.0.0",
            "ferry-domain 1.0.0",
            "ferry-api-types 1.0.0",
        ],
        "resolve": {
            "nodes": [
                { "id": "ferry-worker 1.0.0", "deps": [dep("serde", None), dep("some-crate", None), dep("sqlx", Some("dev"))] },
                { "id": "ferry-notifier 1.0.0", "deps": [dep("serde", None)] },
                { "id": "ferry-domain 1.0.0", "deps": [dep("serde", None), dep("codegen", Some("build"))] },
                { "id": "ferry-api-types 1.0.0", "deps": [dep("serde", None), dep("tokio", Some("dev"))] },
                { "id": "some-crate 1.0.0", "deps": [dep("tokio-postgres", None)] },
                { "id": "codegen 1.0.0", "deps": [dep("tokio", None)] },
                { "id": "tokio-postgres 1.0.0", "deps": [dep("tokio", None)] },
                { "id": "sqlx 1.0.0", "deps": [] },
                { "id": "serde 1.0.0", "deps": [] },
                { "id": "tokio 1.0.0", "deps": [] },
            ],
            "root": null
        },
    })
}

#[test]
fn a_worker_reaching_a_postgres_client_fails_naming_the_path() {
    let root = scratch_tree(&[
        (
            "services/worker/Cargo.toml",
            "[package]\nname = \"ferry-worker\"\n\n[dependencies]\nserde = \"1\"\nsome-crate.workspace = true\n\n[dev-dependencies]\nsqlx = \"1\"\n",
        ),
        (
            "crates/domain/Cargo.toml",
            "[package]\nname = \"ferry-domain\"\n\n[build-dependencies]\ncodegen = { version = \"1\" }\n",
        ),
    ]);
    let metadata = metadata_fixture(root.path());
    // The rules about the packages the fixture has.
    let rules: Vec<dependencies::Rule> = dependencies::RULES
        .iter()
        .filter(|rule| {
            [
                "ferry-worker",
                "ferry-notifier",
                "ferry-domain",
                "ferry-api-types",
            ]
            .contains(&rule.package)
        })
        .map(|rule| dependencies::Rule {
            package: rule.package,
            forbidden: rule.forbidden,
            why: rule.why,
        })
        .collect();
    assert_eq!(
        rendered(dependencies::check_metadata(root.path(), &metadata, &rules).unwrap()),
        vec![
            "services/worker/Cargo.toml:6: ferry-worker depends on tokio-postgres (ferry-worker -> \
             some-crate -> tokio-postgres), but workers hold no database credentials: a job carries \
             everything they need (ARCHITECTURE.md); remove the dependency that leads there"
                .to_owned(),
            "crates/domain/Cargo.toml:5: ferry-domain depends on tokio (ferry-domain -> codegen -> \
             tokio), but the domain crate is pure: no tokio, SQL, HTTP or AMQP (ARCHITECTURE.md); \
             remove the dependency that leads there"
                .to_owned(),
        ]
    );
}

#[test]
fn deployment_state_written_outside_the_orchestrator_fails() {
    let progress = "//! Example.\n\npub async fn save_deployment(c: &C) {\n    c.execute(\"UPDATE deployments SET status = $2\", &[]);\n}\n\npub async fn rename_everything(c: &C) {}\n";
    let call = "//! Example.\n\nuse ferry_storage::progress;\n\nasync fn go(c: &C) {\n    progress::save_deployment(c).await;\n}\n";
    let root = scratch_tree(&[
        ("crates/storage/src/progress.rs", progress),
        ("services/api/src/orchestrator/persist.rs", call),
        ("services/api/src/routes/deployments.rs", call),
        ("tests/tests/damage.rs", call),
        (
            "crates/storage/src/projects.rs",
            "//! Example.\n\nfn f() {\n    q(\"UPDATE ONLY public.step_runs SET error = ''\");\n    q(\"SELECT * FROM deployments\");\n    q(\"could not update deployments\");\n}\n",
        ),
        (
            "services/api/src/sneaky.rs",
            "//! Example.\n\nuse ferry_storage::{audit, progress as quietly};\n\nfn f() {\n    client.execute(\"WITH x AS (INSERT INTO \\\"interruptions\\\"(a) VALUES (1)) SELECT 1\", &[]);\n}\n",
        ),
    ]);
    let rendered = rendered(state_writes::check(root.path()).unwrap());
    let located: Vec<&str> = rendered
        .iter()
        .map(|line| line.split(" writes ").next().unwrap())
        .collect();
    assert_eq!(
        located,
        [
            "crates/storage/src/progress.rs:7: `progress::rename_everything`",
            "crates/storage/src/projects.rs:4: SQL writing `step_runs`",
            "services/api/src/routes/deployments.rs:3: `ferry_storage::progress`",
            "services/api/src/routes/deployments.rs:6: `progress::save_deployment`",
            "services/api/src/sneaky.rs:3: `ferry_storage::progress`",
            "services/api/src/sneaky.rs:6: SQL writing `interruptions`",
        ],
        "{rendered:#?}"
    );
    assert!(rendered[3].contains("outside services/api/src/orchestrator/persist.rs"));
    assert!(rendered[3].ends_with("persist it in the orchestrator"));
}

#[test]
fn the_domain_reading_a_clock_or_doing_io_fails() {
    let root = scratch_tree(&[
        (
            "crates/domain/src/machine.rs",
            "//! Example.\n\nfn stamp() {\n    let now = chrono::Utc::now();\n    let id = Uuid::now_v7();\n    std::fs::read(\"x\");\n}\n\n#[cfg(test)]\nmod tests {\n    fn at() { let _ = Utc::now(); }\n}\n",
        ),
        (
            "crates/domain/src/sneaky.rs",
            "//! Example.\n\nuse std::{collections::HashMap, io::Write};\nuse chrono::Utc as Clock;\n\nfn f() {\n    println!(\"hi\");\n}\n",
        ),
        (
            "services/api/src/clock.rs",
            "//! Example.\n\nfn stamp() {\n    let now = chrono::Utc::now();\n}\n",
        ),
    ]);
    let rendered = rendered(domain_purity::check(root.path()).unwrap());
    let located: Vec<&str> = rendered
        .iter()
        .map(|line| line.split(" in the domain crate").next().unwrap())
        .collect();
    assert_eq!(
        located,
        [
            "crates/domain/src/machine.rs:4: `Utc::now` reads a clock or draws randomness",
            "crates/domain/src/machine.rs:5: `Uuid::now_v7` reads a clock or draws randomness",
            "crates/domain/src/machine.rs:6: `std::fs` does I/O",
            "crates/domain/src/sneaky.rs:3: `std::io` does I/O",
            "crates/domain/src/sneaky.rs:4: renaming `Utc` hides a clock read",
            "crates/domain/src/sneaky.rs:7: `println!` writes to the process's output",
        ],
        "{rendered:#?}"
    );
}
