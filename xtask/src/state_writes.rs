//! Invariant: every change of a deployment goes through the state machine
//! (`ferry_domain::deployment::transition`). The storage functions that write a deployment's
//! state — its progress, its step runs' progress, its interruptions — are called only by the
//! orchestrator's persist step (`services/api/src/orchestrator/persist.rs`), which writes what
//! the machine decided; a new deployment's rows only by `create.rs`; and the two ways out for
//! a deployment whose stored data cannot be read only by `unreadable.rs`. Outside storage, no
//! SQL string writes those tables at all.

use std::path::Path;

use crate::lexer::TokenKind;
use crate::source::SourceFile;
use crate::{Violation, is_test_or_bench_file, rust_files};

const PERSIST: &str = "services/api/src/orchestrator/persist.rs";
const CREATE: &str = "services/api/src/orchestrator/create.rs";
const UNREADABLE: &str = "services/api/src/orchestrator/unreadable.rs";

/// `module::function` pairs that write deployment state, and the file allowed to call them.
/// The names unique to state writing are also caught unqualified (an import or an alias).
pub const WRITERS: &[(&str, &str, &str)] = &[
    ("deployments", "save_progress", PERSIST),
    ("deployments", "save_step_progress", PERSIST),
    ("deployments", "insert", CREATE),
    ("deployments", "fail_unreadable", UNREADABLE),
    ("deployments", "cancel_unreadable", UNREADABLE),
    ("interruptions", "open", PERSIST),
    ("interruptions", "take", PERSIST),
    ("interruptions", "resolve", PERSIST),
    ("interruptions", "close_all", PERSIST),
];

/// Writer names no other function in the workspace has: any mention outside their file is one.
const UNIQUE_NAMES: &[&str] = &[
    "save_progress",
    "save_step_progress",
    "fail_unreadable",
    "cancel_unreadable",
];

/// The tables that hold a deployment's state.
const TABLES: &[&str] = &["deployments", "step_runs", "interruptions"];

/// Where the writers are defined (calls inside storage itself are its own business).
const STORAGE: &str = "crates/storage/";

pub fn check(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut violations = Vec::new();
    for path in rust_files(root)? {
        if path.starts_with(STORAGE) || path.starts_with("xtask/") {
            continue;
        }
        if is_test_or_bench_file(root, &path) {
            continue;
        }
        violations.extend(state_writes(&SourceFile::read(root, &path)?));
    }
    Ok(violations)
}

fn violation(file: &SourceFile, line: usize, what: &str, allowed: &str) -> Violation {
    Violation::new(
        &file.path,
        line,
        format!(
            "{what} writes a deployment's state outside {allowed}; every change of a \
             deployment goes through the state machine (`ferry_domain::deployment::transition`): \
             add a command or an effect there and persist it in the orchestrator"
        ),
    )
}

/// State writes outside the files allowed to make them: `module::function` paths (also in
/// `use module::{…}` lists), the writer names unique to state writing wherever they appear,
/// and SQL strings that insert into, update or delete from the state's tables.
pub fn state_writes(file: &SourceFile) -> Vec<Violation> {
    let tokens = &file.tokens;
    let from_storage = storage_modules(file);
    let mut violations = Vec::new();
    let mut imported_from: Option<&str> = None;
    for (index, token) in tokens.iter().enumerate() {
        if file.in_test_module(token.line) {
            continue;
        }
        if token.kind == TokenKind::Str {
            if let Some(table) = sql_write(&token.text) {
                violations.push(violation(
                    file,
                    token.line,
                    &format!("SQL writing `{table}`"),
                    "crates/storage",
                ));
            }
            continue;
        }
        // `deployments::{…}` or `interruptions::{…}`: the names inside come from that module.
        let next = tokens.get(index + 1);
        let after = tokens.get(index + 2);
        if next.is_some_and(|t| t.is_punct("::")) && after.is_some_and(|t| t.is_punct("{")) {
            imported_from = WRITERS
                .iter()
                .map(|(module, _, _)| *module)
                .find(|module| token.is_ident(module) && from_storage.contains(module));
        }
        if token.is_punct("}") {
            imported_from = None;
        }
        for (module, name, allowed) in WRITERS {
            if file.path == *allowed || !token.is_ident(name) {
                continue;
            }
            let qualified = index >= 2
                && tokens[index - 1].is_punct("::")
                && tokens[index - 2].is_ident(module)
                && from_storage.contains(module);
            let imported = imported_from == Some(module);
            if qualified || imported || UNIQUE_NAMES.contains(name) {
                violations.push(violation(
                    file,
                    token.line,
                    &format!("`{module}::{name}`"),
                    allowed,
                ));
            }
        }
    }
    violations.dedup();
    violations
}

/// The state modules a file takes from `ferry_storage` (`use ferry_storage::interruptions;`,
/// `use ferry_storage::{deployments, …}`, or a path `ferry_storage::deployments::…`): a local
/// module of the same name (the route handlers' `interruptions`) is not storage.
fn storage_modules(file: &SourceFile) -> Vec<&'static str> {
    let tokens = &file.tokens;
    let mut found = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        if !token.is_ident("ferry_storage")
            || !tokens.get(index + 1).is_some_and(|t| t.is_punct("::"))
        {
            continue;
        }
        let mut depth = 0;
        for next in &tokens[index + 2..] {
            if next.is_punct("{") {
                depth += 1;
            } else if next.is_punct("}") {
                depth -= 1;
                if depth <= 0 {
                    break;
                }
            } else if depth == 0 && !next.is_punct("::") && next.kind != TokenKind::Ident {
                break;
            }
            if let Some(module) = WRITERS
                .iter()
                .map(|(module, _, _)| *module)
                .find(|module| next.is_ident(module))
                && !found.contains(&module)
            {
                found.push(module);
            }
            if depth == 0 && next.kind == TokenKind::Ident && !next.is_ident("ferry_storage") {
                // `ferry_storage::x` followed by `::` continues the path; anything else ends it.
                continue;
            }
        }
    }
    found
}

/// The table a SQL string writes, when it writes one of the state's tables.
fn sql_write(text: &str) -> Option<&'static str> {
    let sql = text.to_ascii_lowercase();
    let words: Vec<&str> = sql.split_whitespace().collect();
    for pair in words.windows(2) {
        let writes = matches!(pair[0], "update" | "into" | "from") && {
            // `from` only as `delete from`.
            pair[0] != "from" || sql.contains("delete")
        };
        if writes && let Some(table) = TABLES.iter().find(|table| pair[1] == **table) {
            return Some(table);
        }
    }
    None
}
