//! Invariant: every change of a deployment goes through the state machine
//! (`ferry_domain::deployment::transition`). The storage functions that write a deployment's
//! state — its progress, its step runs' progress, its interruptions — are called only by the
//! orchestrator's persist step (`services/api/src/orchestrator/persist.rs`), which writes what
//! the machine decided; the one exception is the queue marking a deployment whose stored data
//! cannot even be loaded as failed (`fail_unreadable`, in `queue.rs`).

use std::path::Path;

use crate::source::SourceFile;
use crate::{Violation, is_test_or_bench_file, rust_files};

/// `module::function` pairs that write deployment state, and the files allowed to call them.
pub const WRITERS: &[(&str, &str, &str)] = &[
    (
        "deployments",
        "save_progress",
        "services/api/src/orchestrator/persist.rs",
    ),
    (
        "deployments",
        "save_step_progress",
        "services/api/src/orchestrator/persist.rs",
    ),
    (
        "deployments",
        "fail_unreadable",
        "services/api/src/orchestrator/queue.rs",
    ),
    (
        "interruptions",
        "open",
        "services/api/src/orchestrator/persist.rs",
    ),
    (
        "interruptions",
        "take",
        "services/api/src/orchestrator/persist.rs",
    ),
    (
        "interruptions",
        "resolve",
        "services/api/src/orchestrator/persist.rs",
    ),
    (
        "interruptions",
        "close_all",
        "services/api/src/orchestrator/persist.rs",
    ),
];

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

/// Calls `module::function(` of a state writer outside the file allowed to make them.
pub fn state_writes(file: &SourceFile) -> Vec<Violation> {
    let tokens = &file.tokens;
    let mut violations = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        let [separator, function, open] = [index + 1, index + 2, index + 3].map(|i| tokens.get(i));
        let (Some(separator), Some(function), Some(open)) = (separator, function, open) else {
            continue;
        };
        if !separator.is_punct("::") || !open.is_punct("(") || file.in_test_module(token.line) {
            continue;
        }
        for (module, name, allowed) in WRITERS {
            if token.is_ident(module) && function.is_ident(name) && file.path != *allowed {
                violations.push(Violation::new(
                    &file.path,
                    token.line,
                    format!(
                        "`{module}::{name}` writes a deployment's state outside {allowed}; every \
                         change of a deployment goes through the state machine \
                         (`ferry_domain::deployment::transition`): add a command or an effect \
                         there and persist it in the orchestrator"
                    ),
                ));
            }
        }
    }
    violations
}
