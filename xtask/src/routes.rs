//! Invariant: the OpenAPI document describes exactly the routes the router serves. The routes
//! are read from the `.route("<path>", get(…).post(…))` calls in the router's file, the
//! operations from the `paths` object of `openapi.json`; path parameters compare by position
//! (`{deployment_id}` and `{id}` are the same segment).

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context;
use serde_json::Value;

use crate::Violation;
use crate::lexer::TokenKind;
use crate::source::{SourceFile, matching_close};

pub const ROUTER_FILE: &str = "services/api/src/routes/mod.rs";
pub const OPENAPI_FILE: &str = "services/api/openapi.json";

/// axum's method routers, as functions (`get(…)`) and as chained methods (`.post(…)`).
const METHODS: &[&str] = &[
    "get", "post", "put", "delete", "patch", "head", "options", "trace",
];

/// Router calls this check cannot compare with the document; it says so instead of guessing.
const UNSUPPORTED: &[&str] = &["nest", "nest_service", "route_service"];

/// One operation: `GET /api/deployments/{deployment_id}`, and where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    pub method: String,
    pub path: String,
    pub line: usize,
}

impl Operation {
    /// The method and the path with every parameter segment written `{}`.
    fn key(&self) -> (String, String) {
        (self.method.clone(), normalised_path(&self.path))
    }
}

pub fn normalised_path(path: &str) -> String {
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| match segment.strip_prefix('{') {
            Some(rest) if rest.starts_with('*') && segment.ends_with('}') => "{*}",
            Some(_) if segment.ends_with('}') => "{}",
            _ => segment,
        })
        .collect();
    segments.join("/")
}

pub fn check(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let router = SourceFile::read(root, ROUTER_FILE)?;
    let document = std::fs::read_to_string(root.join(OPENAPI_FILE))
        .with_context(|| format!("reading {OPENAPI_FILE}"))?;
    let (served, mut violations) = served_operations(&router);
    let documented = documented_operations(&document)?;
    let served_keys: BTreeSet<_> = served.iter().map(Operation::key).collect();
    let documented_keys: BTreeSet<_> = documented.iter().map(Operation::key).collect();
    for operation in served
        .iter()
        .filter(|op| !documented_keys.contains(&op.key()))
    {
        violations.push(Violation::new(
            ROUTER_FILE,
            operation.line,
            format!(
                "`{} {}` is served by the router but not documented in {OPENAPI_FILE}; add it under \"paths\"",
                operation.method, operation.path
            ),
        ));
    }
    for operation in documented
        .iter()
        .filter(|op| !served_keys.contains(&op.key()))
    {
        violations.push(Violation::new(
            OPENAPI_FILE,
            operation.line,
            format!(
                "`{} {}` is documented but the router does not serve it; remove it from the \
                 document or add the route in {ROUTER_FILE}",
                operation.method, operation.path
            ),
        ));
    }
    Ok(violations)
}

/// The operations of every `.route("<path>", <method>(…).<method>(…)…)` call, and violations
/// for router code the check cannot read.
pub fn served_operations(router: &SourceFile) -> (Vec<Operation>, Vec<Violation>) {
    let tokens = &router.tokens;
    let mut operations = Vec::new();
    let mut violations = Vec::new();
    for index in 0..tokens.len() {
        let call = |name: &str| {
            tokens[index].is_punct(".")
                && tokens.get(index + 1).is_some_and(|t| t.is_ident(name))
                && tokens.get(index + 2).is_some_and(|t| t.is_punct("("))
        };
        if let Some(unsupported) = UNSUPPORTED.iter().find(|name| call(name)) {
            violations.push(Violation::new(
                &router.path,
                tokens[index].line,
                format!(
                    "`.{unsupported}(…)`: the router/OpenAPI check reads only `.route(\"<path>\", …)` \
                     calls; teach xtask/src/routes.rs this form or write the routes with `.route`"
                ),
            ));
        }
        if !call("route") {
            continue;
        }
        let route_line = tokens[index].line;
        let (Some(path), Some(comma)) = (tokens.get(index + 3), tokens.get(index + 4)) else {
            continue;
        };
        if path.kind != TokenKind::Str || !comma.is_punct(",") {
            violations.push(Violation::new(
                &router.path,
                route_line,
                "`.route(…)` whose first argument is not a string literal; the router/OpenAPI check \
                 cannot read it: write the path as a literal",
            ));
            continue;
        }
        let close = matching_close(tokens, index + 2, "(", ")").unwrap_or(tokens.len());
        let mut depth = 0usize;
        let mut methods = Vec::new();
        for (position, token) in tokens.iter().enumerate().take(close).skip(index + 5) {
            if ["(", "[", "{"].iter().any(|p| token.is_punct(p)) {
                depth += 1;
            } else if [")", "]", "}"].iter().any(|p| token.is_punct(p)) {
                depth = depth.saturating_sub(1);
            } else if depth == 0
                && token.kind == TokenKind::Ident
                && METHODS.contains(&token.text.as_str())
                && tokens.get(position + 1).is_some_and(|t| t.is_punct("("))
            {
                methods.push(token.text.to_uppercase());
            }
        }
        if methods.is_empty() {
            violations.push(Violation::new(
                &router.path,
                route_line,
                format!(
                    "`.route(\"{}\", …)` names no method router (`get(…)`, `post(…)`, …) the \
                     router/OpenAPI check can read; write it as `get(handler).post(handler)`",
                    path.text
                ),
            ));
        }
        operations.extend(methods.into_iter().map(|method| Operation {
            method,
            path: path.text.clone(),
            line: route_line,
        }));
    }
    if operations.is_empty() && violations.is_empty() {
        violations.push(Violation::new(
            &router.path,
            1,
            "found no `.route(\"<path>\", …)` calls: the router moved or changed shape; update \
             ROUTER_FILE or the parsing in xtask/src/routes.rs",
        ));
    }
    (operations, violations)
}

/// The operations under `paths` in the OpenAPI document, each with the line of its method key.
pub fn documented_operations(document_text: &str) -> anyhow::Result<Vec<Operation>> {
    let document: Value =
        serde_json::from_str(document_text).with_context(|| format!("parsing {OPENAPI_FILE}"))?;
    let paths = document
        .get("paths")
        .and_then(Value::as_object)
        .with_context(|| format!("{OPENAPI_FILE} has no \"paths\" object"))?;
    let paths_offset = key_offset(document_text, 0, "paths").unwrap_or(0);
    let mut operations = Vec::new();
    for (path, item) in paths {
        let path_offset = key_offset(document_text, paths_offset, path).unwrap_or(paths_offset);
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in item.keys().filter(|key| METHODS.contains(&key.as_str())) {
            let offset = key_offset(document_text, path_offset, method).unwrap_or(path_offset);
            operations.push(Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                line: line_at(document_text, offset),
            });
        }
    }
    Ok(operations)
}

/// The offset of the first `"<key>":` at or after `from`.
fn key_offset(text: &str, from: usize, key: &str) -> Option<usize> {
    let quoted = format!("\"{key}\"");
    let mut start = from;
    while let Some(found) = text.get(start..)?.find(&quoted) {
        let at = start + found;
        let after = &text[at + quoted.len()..];
        if after.trim_start().starts_with(':') {
            return Some(at);
        }
        start = at + quoted.len();
    }
    None
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}
