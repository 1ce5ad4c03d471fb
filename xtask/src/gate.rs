//! `cargo xtask gate`: the one gate before every commit (STYLE.md rule 12). Formatting, the
//! tidy invariants, shellcheck over the shell scripts, then clippy with warnings denied; the
//! cheap stages first, and the gate stops at the first stage that fails.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};

use crate::{relative, tidy};

/// Folders whose shell scripts (first line a `sh` or `bash` shebang) go through shellcheck.
const SCRIPT_FOLDERS: &[&str] = &["infra", ".ci"];

pub fn run(root: &Path) -> anyhow::Result<()> {
    command_stage(
        root,
        "cargo",
        &["fmt", "--all", "--", "--check"],
        "formatting differs; run `cargo fmt --all`",
    )?;

    println!("gate: cargo xtask tidy (the architecture invariants)");
    let violations = tidy(root)?;
    if !violations.is_empty() {
        for violation in &violations {
            println!("{violation}");
        }
        bail!(
            "gate failed at tidy: {} violation(s) above; each says what to do",
            violations.len()
        );
    }

    let scripts = shell_scripts(root)?;
    if !scripts.is_empty() {
        ensure_shellcheck()?;
        let arguments: Vec<&str> = scripts.iter().map(String::as_str).collect();
        command_stage(
            root,
            "shellcheck",
            &arguments,
            "shellcheck found problems in the scripts above; fix them (or disable one check on its line, saying why)",
        )?;
    }

    command_stage(
        root,
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
        "clippy warnings are errors; fix them",
    )?;
    println!("gate: passed");
    Ok(())
}

/// Prints `gate: <command>`, runs it in the repository root with the terminal's output, and
/// fails with `hint` when it fails.
fn command_stage(root: &Path, program: &str, arguments: &[&str], hint: &str) -> anyhow::Result<()> {
    let command_line = format!("{program} {}", arguments.join(" "));
    println!("gate: {command_line}");
    let status = Command::new(program)
        .args(arguments)
        .current_dir(root)
        .status()
        .with_context(|| format!("starting `{command_line}`"))?;
    if !status.success() {
        bail!("gate failed at `{command_line}`: {hint}");
    }
    Ok(())
}

/// Files under the script folders whose first line is a `sh` or `bash` shebang, relative.
pub fn shell_scripts(root: &Path) -> anyhow::Result<Vec<String>> {
    let mut scripts = Vec::new();
    let mut folders: Vec<_> = SCRIPT_FOLDERS
        .iter()
        .map(|folder| root.join(folder))
        .collect();
    while let Some(folder) = folders.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                folders.push(path);
            } else if std::fs::read(&path).is_ok_and(|bytes| is_shell_shebang(&bytes)) {
                scripts.push(relative(root, &path));
            }
        }
    }
    scripts.sort();
    Ok(scripts)
}

/// `#!/bin/sh`, `#!/bin/bash -e`, `#!/usr/bin/env bash`, …
fn is_shell_shebang(bytes: &[u8]) -> bool {
    let first_line = bytes
        .split(|&byte| byte == b'\n')
        .next()
        .unwrap_or_default();
    let Some(shebang) = String::from_utf8_lossy(first_line)
        .strip_prefix("#!")
        .map(str::to_owned)
    else {
        return false;
    };
    let mut words = shebang.split_whitespace();
    let mut interpreter = words.next().and_then(|word| word.rsplit('/').next());
    if interpreter == Some("env") {
        interpreter = words.find(|word| !word.starts_with('-'));
    }
    matches!(interpreter, Some("sh" | "bash"))
}

/// Installs shellcheck with apt-get when it is missing (as root, else through sudo).
fn ensure_shellcheck() -> anyhow::Result<()> {
    if Command::new("shellcheck")
        .arg("--version")
        .output()
        .is_ok_and(|output| output.status.success())
    {
        return Ok(());
    }
    let root_user = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0");
    let prefix: &[&str] = if root_user { &[] } else { &["sudo"] };
    let apt = |arguments: &[&str]| -> anyhow::Result<bool> {
        let mut command_line: Vec<&str> = prefix.to_vec();
        command_line.extend(["env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
        command_line.extend(arguments);
        println!("gate: {}", command_line.join(" "));
        let status = Command::new(command_line[0])
            .args(&command_line[1..])
            .status()
            .with_context(|| format!("starting `{}`", command_line.join(" ")))?;
        Ok(status.success())
    };
    println!(
        "gate: shellcheck (the shell script linter) is missing; installing the Debian package with apt-get"
    );
    // A fresh machine may have no package lists yet: update them once and try again.
    let installed = apt(&["install", "-y", "shellcheck"])?
        || (apt(&["update"])? && apt(&["install", "-y", "shellcheck"])?);
    if !installed {
        bail!(
            "gate failed: could not install shellcheck; install it (apt-get install shellcheck) and run the gate again"
        );
    }
    Ok(())
}
