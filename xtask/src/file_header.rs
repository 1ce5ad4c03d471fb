//! Invariant: every Rust file starts with a `//!` line saying what it owns (STYLE.md rule 10).

use std::path::Path;

use anyhow::Context;

use crate::{Violation, rust_files};

pub fn check(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut violations = Vec::new();
    for path in rust_files(root)? {
        let text =
            std::fs::read_to_string(root.join(&path)).with_context(|| format!("reading {path}"))?;
        let first_line = text
            .strip_prefix('\u{feff}')
            .unwrap_or(&text)
            .lines()
            .next();
        if !first_line.is_some_and(|line| line.starts_with("//!")) {
            violations.push(Violation::new(
                path,
                1,
                "the file does not start with a `//!` line; make its first line a `//!` comment saying what the file owns",
            ));
        }
    }
    Ok(violations)
}
