//! Invariant: a source file holds one concept, at most 400 lines of code (STYLE.md rule 9).
//! Blank lines, comment-only lines and `#[cfg(test)]` modules do not count; integration tests
//! and benchmarks (`tests/`, `benches/` folders) are not checked.

use std::path::Path;

use crate::source::SourceFile;
use crate::{Violation, is_test_or_bench_file, rust_files};

pub const MAX_LINES_OF_CODE: usize = 400;

/// A file allowed past the limit, for a reason that splitting would not serve (a data table,
/// generated code). Never a file that is only too long today.
pub struct AllowedLongFile {
    pub path: &'static str,
    /// Its lines of code when it was allowed: it may not grow past them.
    pub allowed_at: usize,
    pub why: &'static str,
}

/// Each entry says why it is justified and the count it was allowed at. Empty: no file is.
pub const ALLOWED_LONG_FILES: &[AllowedLongFile] = &[];

pub fn check(root: &Path) -> anyhow::Result<Vec<Violation>> {
    check_with(root, ALLOWED_LONG_FILES)
}

/// The check with a given allow-list, so tests can exercise it.
pub fn check_with(root: &Path, allowed: &[AllowedLongFile]) -> anyhow::Result<Vec<Violation>> {
    let mut violations = Vec::new();
    let files = rust_files(root)?;
    for path in &files {
        if is_test_or_bench_file(root, path) {
            continue;
        }
        let lines = SourceFile::read(root, path)?.lines_of_code();
        match allowed.iter().find(|entry| entry.path == path) {
            Some(entry) if lines > entry.allowed_at => violations.push(Violation::new(
                path,
                1,
                format!(
                    "{lines} lines of code, more than the {} it was allowed at in \
                     xtask/src/file_length.rs ({}); split it by concept",
                    entry.allowed_at, entry.why
                ),
            )),
            Some(entry) if lines <= MAX_LINES_OF_CODE => violations.push(Violation::new(
                path,
                1,
                format!(
                    "{lines} lines of code: within the limit of {MAX_LINES_OF_CODE} now; remove \
                     its entry (allowed at {}) from ALLOWED_LONG_FILES in xtask/src/file_length.rs",
                    entry.allowed_at
                ),
            )),
            Some(_) => {}
            None if lines > MAX_LINES_OF_CODE => violations.push(Violation::new(
                path,
                1,
                format!(
                    "{lines} lines of code, more than {MAX_LINES_OF_CODE} (blank lines, comments \
                     and #[cfg(test)] modules not counted); split it by concept into smaller files"
                ),
            )),
            None => {}
        }
    }
    for entry in allowed {
        if !files.iter().any(|path| path == entry.path) {
            violations.push(Violation::new(
                "xtask/src/file_length.rs",
                1,
                format!(
                    "ALLOWED_LONG_FILES names {}, which no longer exists; remove the entry",
                    entry.path
                ),
            ));
        }
    }
    Ok(violations)
}
