//! The dependency rules checked on one package's own resolution (`cargo tree -p`, as `cargo
//! build -p` builds it), for crates whose forbidden dependencies hide behind a feature that
//! other workspace members enable: the CLI and the helper (`ferry-packages`' `store`).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use super::{Rule, is_forbidden};
use crate::Violation;

/// What a command-line tool has no business carrying: the object store's SDK, the database.
const CLI_FORBIDDEN: &[&str] = &[
    "aws-sdk-*",
    "aws-config",
    "ferry-storage",
    "tokio-postgres",
    "deadpool-postgres",
    "lapin",
];

/// What a program run on every deployment target has no business carrying: a runtime, a
/// network or object-store client, SSH.
const HELPER_FORBIDDEN: &[&str] = &["tokio", "hyper", "reqwest", "lapin", "aws-sdk-*", "russh"];

/// Rules whose forbidden crates hide behind a feature other workspace members enable (the
/// workspace-wide graph unifies features): checked on the package's own resolution, as
/// `cargo build -p` builds it (`cargo tree -p`).
pub const ALONE_RULES: &[Rule] = &[
    Rule {
        package: "ferry-cli",
        forbidden: CLI_FORBIDDEN,
        why: "the CLI packs and pushes over HTTP: no object-store SDK (ferry-packages without `store`), no database, no broker",
    },
    Rule {
        package: "ferry-helper",
        forbidden: HELPER_FORBIDDEN,
        why: "the helper runs on targets that have only sshd, bash and coreutils: no async runtime, no network client, no object-store SDK (ferry-packages without `store`)",
    },
];

/// One rule on the crates `cargo tree -p <package>` lists.
pub(super) fn check_alone(root: &Path, rule: &Rule) -> anyhow::Result<Vec<Violation>> {
    let output = Command::new("cargo")
        .args([
            "tree",
            "-p",
            rule.package,
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}"])
        .current_dir(root)
        .output()
        .with_context(|| format!("running cargo tree -p {}", rule.package))?;
    if !output.status.success() {
        bail!(
            "cargo tree -p {} failed: {}",
            rule.package,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let mut reached: Vec<String> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| is_forbidden(name, rule.forbidden))
        .map(str::to_owned)
        .collect();
    reached.sort();
    reached.dedup();
    Ok(reached
        .into_iter()
        .map(|name| {
            Violation::new(
                "xtask/src/dependencies.rs",
                1,
                format!(
                    "{}, built alone, depends on {name} (see `cargo tree -p {} -i {name}`), but {} (ARCHITECTURE.md); remove the dependency that leads there",
                    rule.package, rule.package, rule.why
                ),
            )
        })
        .collect())
}
