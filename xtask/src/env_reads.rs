//! Invariant: the process environment is read only in configuration code (STYLE.md rule 7):
//! files named `config.rs`, files under a `config/` folder, and the `crates/config` crate.
//! `std::env::args` (program arguments) and the compile-time `env!`/`option_env!` macros are
//! not environment reads.

use std::collections::HashSet;
use std::path::Path;

use crate::lexer::{Token, TokenKind};
use crate::source::{SourceFile, matching_close};
use crate::{Violation, rust_files};

/// The `std::env` functions that read or change the process environment.
const ENVIRONMENT_FUNCTIONS: &[&str] = &[
    "var",
    "var_os",
    "vars",
    "vars_os",
    "temp_dir",
    "home_dir",
    "set_var",
    "remove_var",
];

/// Where reading the environment is the job.
pub fn is_config_path(path: &str) -> bool {
    let mut parts: Vec<&str> = path.split('/').collect();
    let file_name = parts.pop();
    path.starts_with("crates/config/")
        || file_name == Some("config.rs")
        || parts.contains(&"config")
}

pub fn check(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut violations = Vec::new();
    for path in rust_files(root)? {
        if !is_config_path(&path) {
            violations.extend(environment_reads(&SourceFile::read(root, &path)?));
        }
    }
    Ok(violations)
}

/// Every use of a `std::env` environment function in the file: `std::env::var(…)`,
/// `env::var(…)` after `use std::env;`, and imports such as `use std::env::var;` or
/// `use std::env::{self, var_os};`.
pub fn environment_reads(file: &SourceFile) -> Vec<Violation> {
    let tokens = &file.tokens;
    let in_std_group = std_group_members(tokens);
    let is_std_env = |index: usize| {
        let qualified =
            index >= 2 && tokens[index - 1].is_punct("::") && tokens[index - 2].is_ident("std");
        tokens[index].is_ident("env") && (qualified || in_std_group.contains(&index))
    };
    // `use std::env;`, `use std::{env, fs};`, `use std::env as e;`, `use std::env::{self, …};`
    let imports_env_module = (0..tokens.len()).any(|index| {
        let ends_import = tokens.get(index + 1).is_some_and(|next| {
            [";", ",", "}"].iter().any(|p| next.is_punct(p)) || next.is_ident("as")
        });
        let imports_self = tokens.get(index + 2).is_some_and(|t| t.is_punct("{"))
            && matching_close(tokens, index + 2, "{", "}")
                .is_some_and(|close| tokens[index + 3..close].iter().any(|t| t.is_ident("self")));
        is_std_env(index) && (ends_import || imports_self)
    });
    let mut found = Vec::new();
    for index in 0..tokens.len() {
        let bare =
            tokens[index].is_ident("env") && (index == 0 || !tokens[index - 1].is_punct("::"));
        let names_std_env = is_std_env(index) || (bare && imports_env_module);
        if !names_std_env || !tokens.get(index + 1).is_some_and(|t| t.is_punct("::")) {
            continue;
        }
        match tokens.get(index + 2) {
            Some(open) if open.is_punct("{") => {
                let close = matching_close(tokens, index + 2, "{", "}").unwrap_or(tokens.len() - 1);
                found.extend(
                    tokens[index + 3..close]
                        .iter()
                        .filter(|t| is_environment_function(t)),
                );
            }
            Some(name) if is_environment_function(name) => found.push(name),
            _ => {}
        }
    }
    found
        .into_iter()
        .map(|function| {
            let verb = if function.text.ends_with("_var") {
                "changes"
            } else {
                "reads"
            };
            Violation::new(
                &file.path,
                function.line,
                format!(
                    "`std::env::{}` {verb} the process environment outside configuration code; \
                     read it in the crate's config (a `config.rs` file, a `config/` module or the \
                     `crates/config` crate) and pass the value in",
                    function.text
                ),
            )
        })
        .collect()
}

fn is_environment_function(token: &Token) -> bool {
    token.kind == TokenKind::Ident && ENVIRONMENT_FUNCTIONS.contains(&token.text.as_str())
}

/// Indices of the tokens directly inside a `std::{ … }` import group (`env` in
/// `use std::{env, fs};`).
fn std_group_members(tokens: &[Token]) -> HashSet<usize> {
    let mut members = HashSet::new();
    for index in 0..tokens.len().saturating_sub(2) {
        let opens = tokens[index].is_ident("std")
            && tokens[index + 1].is_punct("::")
            && tokens[index + 2].is_punct("{");
        if !opens {
            continue;
        }
        let close = matching_close(tokens, index + 2, "{", "}").unwrap_or(tokens.len());
        let mut depth = 0usize;
        for (member, token) in tokens.iter().enumerate().take(close).skip(index + 3) {
            if token.is_punct("{") {
                depth += 1;
            } else if token.is_punct("}") {
                depth = depth.saturating_sub(1);
            } else if depth == 0 {
                members.insert(member);
            }
        }
    }
    members
}
