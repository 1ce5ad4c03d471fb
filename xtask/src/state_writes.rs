//! Invariant: every change of a deployment goes through the state machine
//! (`ferry_domain::deployment::transition`). All SQL that writes a deployment's state (the
//! `deployments`, `step_runs` and `interruptions` tables) lives in one storage module,
//! `crates/storage/src/progress.rs`, and each of its functions is called from one file of the
//! orchestrator: the persist step (`persist.rs`, which writes what the machine decided),
//! `create.rs` (a new deployment's rows), `unreadable.rs` (the two ways out for a deployment
//! whose stored data cannot be read) or `lease.rs` (a heartbeat, which moves an attempt's
//! lease on and changes nothing the machine sees). Nothing else names the module or its functions, and no
//! other SQL string writes those tables.

use std::path::Path;

use crate::lexer::TokenKind;
use crate::source::SourceFile;
use crate::{Violation, is_test_or_bench_file, rust_files};

/// The storage module that holds every state write.
pub const PROGRESS: &str = "crates/storage/src/progress.rs";
const PERSIST: &str = "services/api/src/orchestrator/persist.rs";
const CREATE: &str = "services/api/src/orchestrator/create.rs";
const UNREADABLE: &str = "services/api/src/orchestrator/unreadable.rs";
const LEASE: &str = "services/api/src/orchestrator/lease.rs";

/// Which file may call each function of the progress module. A function the module gains
/// must be added here, with its caller, or the check fails.
pub const CALLERS: &[(&str, &str)] = &[
    ("save_deployment", PERSIST),
    ("open_interruption", PERSIST),
    ("take_interruption", PERSIST),
    ("resolve_interruption", PERSIST),
    ("close_interruptions", PERSIST),
    ("insert_deployment", CREATE),
    ("fail_unreadable", UNREADABLE),
    ("cancel_unreadable", UNREADABLE),
    ("record_heartbeat", LEASE),
];

/// The tables that hold a deployment's state.
const TABLES: &[&str] = &["deployments", "step_runs", "interruptions"];

pub fn check(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut violations = Vec::new();
    let functions = if root.join(PROGRESS).is_file() {
        let progress = SourceFile::read(root, PROGRESS)?;
        let functions = public_functions(&progress);
        for (line, name) in &functions {
            if !CALLERS.iter().any(|(known, _)| known == name) {
                violations.push(Violation::new(
                    PROGRESS,
                    *line,
                    format!(
                        "`progress::{name}` writes a deployment's state but xtask/src/state_writes.rs \
                         does not say which orchestrator file may call it; add it to `CALLERS`"
                    ),
                ));
            }
        }
        functions.into_iter().map(|(_, name)| name).collect()
    } else {
        Vec::new()
    };
    for path in rust_files(root)? {
        if path == PROGRESS || path.starts_with("xtask/") || is_test_or_bench_file(root, &path) {
            continue;
        }
        let file = SourceFile::read(root, &path)?;
        violations.extend(sql_writes(&file));
        if !path.starts_with("crates/storage/") {
            violations.extend(progress_uses(&file, &functions));
        }
    }
    violations.sort();
    Ok(violations)
}

/// `pub async fn` / `pub fn` names of a file, with their lines.
fn public_functions(file: &SourceFile) -> Vec<(usize, String)> {
    let tokens = &file.tokens;
    let mut functions = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        if token.is_ident("fn")
            && index >= 1
            && (tokens[index - 1].is_ident("pub")
                || (tokens[index - 1].is_ident("async")
                    && index >= 2
                    && tokens[index - 2].is_ident("pub")))
            && let Some(name) = tokens.get(index + 1)
            && !file.in_test_module(token.line)
        {
            functions.push((name.line, name.text.clone()));
        }
    }
    functions
}

fn violation(file: &SourceFile, line: usize, what: &str, instead: &str) -> Violation {
    Violation::new(
        &file.path,
        line,
        format!(
            "{what} writes a deployment's state {instead}; every change of a deployment goes \
             through the state machine (`ferry_domain::deployment::transition`): add a command \
             or an effect there and persist it in the orchestrator"
        ),
    )
}

/// Mentions of the progress module or its functions outside the file allowed each one:
/// `ferry_storage::progress` in a path or a `use` (aliases and globs included), and the
/// function names anywhere.
pub fn progress_uses(file: &SourceFile, functions: &[String]) -> Vec<Violation> {
    let tokens = &file.tokens;
    let allowed = [PERSIST, CREATE, UNREADABLE, LEASE].contains(&file.path.as_str());
    let mut violations = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        if file.in_test_module(token.line) {
            continue;
        }
        if !allowed
            && token.is_ident("ferry_storage")
            && tokens.get(index + 1).is_some_and(|t| t.is_punct("::"))
        {
            for line in module_mentions(&tokens[index + 2..]) {
                violations.push(violation(
                    file,
                    line,
                    "`ferry_storage::progress`",
                    "outside the orchestrator's persist step",
                ));
            }
        }
        // A call (not a field or a method of the same name): `name(` after `::` or alone.
        let called = tokens.get(index + 1).is_some_and(|t| t.is_punct("("))
            && (index == 0
                || !(tokens[index - 1].is_punct(".") || tokens[index - 1].is_ident("fn")));
        if called
            && let Some((name, owner)) = CALLERS
                .iter()
                .find(|(name, _)| token.is_ident(name) && functions.iter().any(|f| f == name))
            && file.path != *owner
        {
            violations.push(violation(
                file,
                token.line,
                &format!("`progress::{name}`"),
                &format!("outside {owner}"),
            ));
        }
    }
    violations.dedup();
    violations
}

/// The lines where `progress` follows `ferry_storage::` directly or inside its `{…}` list.
fn module_mentions(after_path: &[crate::lexer::Token]) -> Vec<usize> {
    match after_path.first() {
        Some(first) if first.is_ident("progress") => vec![first.line],
        Some(first) if first.is_punct("{") => {
            let mut depth = 0usize;
            let mut lines = Vec::new();
            for token in after_path {
                if token.is_punct("{") {
                    depth += 1;
                } else if token.is_punct("}") {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                } else if depth == 1 && token.is_ident("progress") {
                    lines.push(token.line);
                }
            }
            lines
        }
        _ => Vec::new(),
    }
}

/// SQL strings that insert into, update or delete from the state's tables.
pub fn sql_writes(file: &SourceFile) -> Vec<Violation> {
    file.tokens
        .iter()
        .filter(|token| token.kind == TokenKind::Str && !file.in_test_module(token.line))
        .filter_map(|token| sql_write(&token.text).map(|table| (token.line, table)))
        .map(|(line, table)| {
            violation(
                file,
                line,
                &format!("SQL writing `{table}`"),
                &format!("outside {PROGRESS}"),
            )
        })
        .collect()
}

/// The table a SQL string writes, when it writes one of the state's tables: `UPDATE [ONLY]
/// [public.]t … SET`, `INSERT INTO [public.]t`, `DELETE FROM [public.]t`, quoted or not, also
/// inside a `WITH`.
fn sql_write(text: &str) -> Option<&'static str> {
    let sql = text.to_ascii_lowercase();
    let words: Vec<&str> = sql
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| !word.is_empty())
        .collect();
    for (index, word) in words.iter().enumerate() {
        let table_at = match *word {
            "update" if words[index + 1..].contains(&"set") => index + 1,
            "into" if index >= 1 && words[index - 1] == "insert" => index + 1,
            "from" if index >= 1 && words[index - 1] == "delete" => index + 1,
            _ => continue,
        };
        let mut rest = words[table_at.min(words.len())..].iter();
        let mut table = rest.next();
        while let Some(skipped) = table
            && matches!(*skipped, "only" | "public")
        {
            table = rest.next();
        }
        if let Some(table) = table
            && let Some(found) = TABLES.iter().find(|known| **known == *table)
        {
            return Some(found);
        }
    }
    None
}
