//! Invariant: the domain crate reads no clock, makes no random ids and does no I/O — time
//! comes in with each command, ids are made by the shell. Its dependencies cannot stop it
//! (the workspace enables chrono's clock and uuid's generators for the services), so this
//! check reads its source: `Utc::now()`, `SystemTime::now()`, `Instant::now()`,
//! `Uuid::now_v7()`/`new_v4()`, and `std::fs`, `std::net`, `std::process`, `std::thread`.

use std::path::Path;

use crate::source::SourceFile;
use crate::{Violation, is_test_or_bench_file, rust_files};

pub const DOMAIN_SOURCE: &str = "crates/domain/src/";

/// `Type::function` calls that read a clock or draw randomness.
const IMPURE_CALLS: &[(&str, &str)] = &[
    ("Utc", "now"),
    ("Local", "now"),
    ("SystemTime", "now"),
    ("Instant", "now"),
    ("Uuid", "now_v7"),
    ("Uuid", "new_v4"),
    ("Uuid", "new_v7"),
];

/// `std` modules that do I/O or run things.
const IMPURE_MODULES: &[&str] = &["fs", "net", "process", "thread"];

pub fn check(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut violations = Vec::new();
    for path in rust_files(root)? {
        if path.starts_with(DOMAIN_SOURCE) && !is_test_or_bench_file(root, &path) {
            violations.extend(impurities(&SourceFile::read(root, &path)?));
        }
    }
    Ok(violations)
}

/// Clock reads, random ids and I/O modules outside `#[cfg(test)]` modules.
pub fn impurities(file: &SourceFile) -> Vec<Violation> {
    let tokens = &file.tokens;
    let mut violations = Vec::new();
    for (index, token) in tokens.iter().enumerate() {
        if file.in_test_module(token.line)
            || !tokens.get(index + 1).is_some_and(|t| t.is_punct("::"))
        {
            continue;
        }
        let Some(next) = tokens.get(index + 2) else {
            continue;
        };
        let call = IMPURE_CALLS
            .iter()
            .find(|(owner, function)| token.is_ident(owner) && next.is_ident(function));
        let module =
            token.is_ident("std") && IMPURE_MODULES.iter().any(|module| next.is_ident(module));
        let what = match (call, module) {
            (Some((owner, function)), _) => {
                format!("`{owner}::{function}` reads a clock or draws randomness")
            }
            (None, true) => format!("`std::{}` does I/O", next.text),
            (None, false) => continue,
        };
        violations.push(Violation::new(
            &file.path,
            token.line,
            format!(
                "{what} in the domain crate, which must stay pure; take the time or the id as \
                 a parameter (the shell reads the database's clock and makes ids)"
            ),
        ));
    }
    violations
}
