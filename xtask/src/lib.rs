//! Ferry's project chores: `tidy` checks the architecture invariants (ARCHITECTURE.md) on the
//! source tree, `gate` runs everything a commit must pass. Each check is a function from the
//! repository root to the violations it found, so tests run it on a scratch tree.

mod config;
pub mod dependencies;
pub mod domain_purity;
pub mod env_reads;
pub mod file_header;
pub mod file_length;
pub mod gate;
pub mod http_status;
pub mod lexer;
pub mod routes;
pub mod source;
pub mod state_writes;

use std::fmt;
use std::path::Path;

use anyhow::Context;

/// One broken invariant, printed as `path:line: what is wrong and what to do`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// Relative to the repository root, with `/` separators.
    pub path: String,
    /// 1-based.
    pub line: usize,
    pub message: String,
}

impl Violation {
    pub fn new(path: impl Into<String>, line: usize, message: impl Into<String>) -> Violation {
        Violation {
            path: path.into(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

/// A tidy check: the repository root in, the violations out.
pub type Check = fn(&Path) -> anyhow::Result<Vec<Violation>>;

/// Every tidy check, named as `cargo xtask tidy` reports them.
pub const CHECKS: &[(&str, Check)] = &[
    ("every file starts with a //! line", file_header::check),
    ("std::env only in config code", env_reads::check),
    (
        "HTTP error statuses only in services/api/src/error.rs",
        http_status::check,
    ),
    ("at most 400 lines of code per file", file_length::check),
    ("the router and openapi.json agree", routes::check),
    ("dependency rules of the code map", dependencies::check),
    (
        "the domain reads no clock and does no I/O",
        domain_purity::check,
    ),
    (
        "deployment state is written only by the orchestrator",
        state_writes::check,
    ),
];

/// Runs every check and returns all violations, in check order.
pub fn tidy(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut violations = Vec::new();
    for (name, check) in CHECKS {
        violations.extend(check(root).with_context(|| format!("tidy check `{name}`"))?);
    }
    Ok(violations)
}

pub use config::project_root;

/// Folders at the repository root that hold no source of ours.
const SKIPPED_TOP_LEVEL: &[&str] = &["target", ".ferry-dev", ".git"];

/// Every `.rs` file under the root, relative, sorted, skipping build output, the dev services'
/// state and git's own folder.
pub fn rust_files(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    collect_rust_files(root, root, &mut files)?;
    files.sort();
    Ok(files)
}

fn collect_rust_files(root: &Path, dir: &Path, files: &mut Vec<String>) -> anyhow::Result<()> {
    let entries = std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            let top_level = dir == root && SKIPPED_TOP_LEVEL.contains(&name.as_ref());
            if !top_level && name != ".git" {
                collect_rust_files(root, &path, files)?;
            }
        } else if file_type.is_file() && name.ends_with(".rs") {
            files.push(relative(root, &path));
        }
    }
    Ok(())
}

/// `path` relative to `root`, with `/` separators.
pub fn relative(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<_> = relative
        .components()
        .map(|part| part.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// True for integration tests and benchmarks: files under a `tests/` or `benches/` folder
/// that is not itself a package (the `tests` crate at the root is a package; its `tests/`
/// folder holds integration tests).
pub fn is_test_or_bench_file(root: &Path, path: &str) -> bool {
    let mut folder = root.to_path_buf();
    let mut parts: Vec<&str> = path.split('/').collect();
    parts.pop();
    for part in parts {
        folder.push(part);
        if (part == "tests" || part == "benches") && !folder.join("Cargo.toml").is_file() {
            return true;
        }
    }
    false
}
