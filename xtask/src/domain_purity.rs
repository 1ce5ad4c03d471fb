//! Invariant: the domain crate reads no clock, makes no random ids and does no I/O — time
//! comes in with each command, ids are made by the shell. Its dependencies cannot stop it
//! (the workspace enables chrono's clock and uuid's generators for the services), so this
//! check reads its source: `Utc::now()`, `SystemTime::now()`, `Instant::now()`,
//! `Uuid::now_v7()`/`new_v4()` and friends, a clock type renamed on import, the printing
//! macros, and `std::fs`, `io`, `net`, `process`, `thread`, `time` (also inside `use std::{…}`).

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
    ("Uuid", "now_v1"),
    ("Uuid", "now_v6"),
    ("Uuid", "now_v7"),
    ("Uuid", "new_v4"),
    ("Uuid", "new_v7"),
    ("SystemTime", "UNIX_EPOCH"),
];

/// `std` modules that do I/O or run things.
const IMPURE_MODULES: &[&str] = &["fs", "io", "net", "process", "thread", "time"];

/// Macros that write to the process's output.
const PRINTING_MACROS: &[&str] = &["print", "println", "eprint", "eprintln", "dbg"];

/// Clock types, whose renaming on import (`use chrono::Utc as Clock`) would hide a read.
const CLOCKS: &[&str] = &["Utc", "Local", "SystemTime", "Instant"];

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
    let mut found = |line: usize, what: String| {
        violations.push(Violation::new(
            &file.path,
            line,
            format!(
                "{what} in the domain crate, which must stay pure; take the time or the id as \
                 a parameter (the shell reads the database's clock and makes ids)"
            ),
        ));
    };
    for (index, token) in tokens.iter().enumerate() {
        if file.in_test_module(token.line) {
            continue;
        }
        let next = tokens.get(index + 1);
        if PRINTING_MACROS.iter().any(|name| token.is_ident(name))
            && next.is_some_and(|t| t.is_punct("!"))
        {
            found(
                token.line,
                format!("`{}!` writes to the process's output", token.text),
            );
            continue;
        }
        if CLOCKS.iter().any(|clock| token.is_ident(clock))
            && next.is_some_and(|t| t.is_ident("as"))
        {
            found(
                token.line,
                format!("renaming `{}` hides a clock read", token.text),
            );
            continue;
        }
        if !next.is_some_and(|t| t.is_punct("::")) {
            continue;
        }
        let Some(after) = tokens.get(index + 2) else {
            continue;
        };
        if let Some((owner, function)) = IMPURE_CALLS
            .iter()
            .find(|(owner, function)| token.is_ident(owner) && after.is_ident(function))
        {
            found(
                token.line,
                format!("`{owner}::{function}` reads a clock or draws randomness"),
            );
            continue;
        }
        if !token.is_ident("std") {
            continue;
        }
        // `std::fs` or `use std::{fs, io::Read}`.
        let mentioned: Vec<&crate::lexer::Token> = if after.is_punct("{") {
            let mut depth = 0usize;
            let mut inside = Vec::new();
            for token in &tokens[index + 2..] {
                if token.is_punct("{") {
                    depth += 1;
                } else if token.is_punct("}") {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                } else if depth == 1 {
                    inside.push(token);
                }
            }
            inside
        } else {
            vec![after]
        };
        for module in mentioned {
            if IMPURE_MODULES.iter().any(|name| module.is_ident(name)) {
                found(module.line, format!("`std::{}` does I/O", module.text));
            }
        }
    }
    violations
}
