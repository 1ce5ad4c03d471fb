//! Invariants of the code map's "must never depend on" column, checked on the resolved
//! dependency graph (`cargo metadata`, normal and build dependencies, not dev-dependencies):
//! each rule below is one row of ARCHITECTURE.md's code map (the worker and the notifier reach
//! no database crate; the domain, the templates, the secrets and the API's body types reach no
//! tokio, SQL, HTTP or AMQP crate; the CLI no object-store SDK; …).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::{Violation, relative};

mod alone;

pub use alone::ALONE_RULES;
use alone::check_alone;

/// A package and the crates it must never reach. A name ending in `*` is a prefix.
pub struct Rule {
    pub package: &'static str,
    pub forbidden: &'static [&'static str],
    pub why: &'static str,
}

const DATABASE_CRATES: &[&str] = &[
    "ferry-storage",
    "tokio-postgres",
    "postgres*",
    "deadpool-postgres",
    "sqlx*",
    "diesel*",
    "rusqlite",
];

const INPUT_OUTPUT_CRATES: &[&str] = &[
    "tokio",
    "tokio-postgres",
    "postgres*",
    "deadpool*",
    "sqlx",
    "diesel",
    "rusqlite",
    "hyper",
    "http",
    "h2",
    "axum",
    "tower",
    "reqwest",
    "lapin",
    "amq-protocol*",
    "amiquip",
    "ureq",
    "minreq",
    "isahc",
    "curl",
];

/// Ferry's service crates: nothing shared may depend on them.
const SERVICE_CRATES: &[&str] = &["ferry-api", "ferry-worker", "ferry-notifier", "ferry-cli"];

/// A storage crate moves rows: no web framework, no HTTP client, no broker.
const STORAGE_FORBIDDEN: &[&str] = &[
    "axum",
    "hyper",
    "reqwest",
    "tower",
    "lapin",
    "amq-protocol*",
];

/// The broker moves bytes with ids: it knows no deployments and no database.
const BROKER_FORBIDDEN: &[&str] = &["ferry-domain", "ferry-storage", "tokio-postgres", "axum"];

/// Configuration reading stays light: no runtime, no object-store SDK, no HTTP.
const CONFIG_FORBIDDEN: &[&str] = &[
    "tokio",
    "aws-sdk-*",
    "aws-config",
    "hyper",
    "reqwest",
    "axum",
];

pub const RULES: &[Rule] = &[
    Rule {
        package: "ferry-worker",
        forbidden: DATABASE_CRATES,
        why: "workers hold no database credentials: a job carries everything they need",
    },
    Rule {
        package: "ferry-notifier",
        forbidden: DATABASE_CRATES,
        why: "the notifier holds no database credentials: an event carries everything it needs",
    },
    Rule {
        package: "ferry-domain",
        forbidden: INPUT_OUTPUT_CRATES,
        why: "the domain crate is pure: no tokio, SQL, HTTP or AMQP",
    },
    Rule {
        package: "ferry-api-types",
        forbidden: INPUT_OUTPUT_CRATES,
        why: "the API's body types are plain data the CLI shares: no tokio, SQL (so no ferry-storage), HTTP or AMQP",
    },
    Rule {
        package: "ferry-templates",
        forbidden: INPUT_OUTPUT_CRATES,
        why: "the template language does no I/O",
    },
    Rule {
        package: "ferry-secrets",
        forbidden: INPUT_OUTPUT_CRATES,
        why: "encrypting and masking do no I/O",
    },
    Rule {
        package: "ferry-contracts",
        forbidden: SERVICE_CRATES,
        why: "the messages are plain data every service shares",
    },
    Rule {
        package: "ferry-storage",
        forbidden: STORAGE_FORBIDDEN,
        why: "storage knows SQL and the domain, nothing about HTTP or RabbitMQ",
    },
    Rule {
        package: "ferry-broker",
        forbidden: BROKER_FORBIDDEN,
        why: "the broker moves bytes with ids; it knows no deployments and no database",
    },
    Rule {
        package: "ferry-packages",
        forbidden: DATABASE_CRATES,
        why: "packages are archives and objects: no database",
    },
    Rule {
        package: "ferry-secrets",
        forbidden: &["ferry-config"],
        why: "the secrets crate takes its key as a value: it reads no configuration",
    },
    Rule {
        package: "ferry-config",
        forbidden: CONFIG_FORBIDDEN,
        why: "configuration reading stays light enough for the CLI and every service",
    },
];

pub fn check(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let mut violations = check_workspace_graph(root)?;
    for rule in ALONE_RULES {
        violations.extend(check_alone(root, rule)?);
    }
    Ok(violations)
}

fn check_workspace_graph(root: &Path) -> anyhow::Result<Vec<Violation>> {
    let output = Command::new("cargo")
        .args(["metadata", "--format-version", "1"])
        .current_dir(root)
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("parsing the output of cargo metadata")?;
    check_metadata(root, &metadata, RULES)
}

/// The rules on the graph of `cargo metadata --format-version 1` output.
pub fn check_metadata(
    root: &Path,
    metadata: &Value,
    rules: &[Rule],
) -> anyhow::Result<Vec<Violation>> {
    let graph = Graph::from_metadata(metadata)?;
    let mut violations = Vec::new();
    for rule in rules {
        let Some(start) = graph.package_named(rule.package) else {
            violations.push(Violation::new(
                "xtask/src/dependencies.rs",
                1,
                format!(
                    "cargo metadata lists no package `{}`; update the dependency rules to the package's new name",
                    rule.package
                ),
            ));
            continue;
        };
        let manifest = graph
            .manifests
            .get(start)
            .map(|path| relative(root, Path::new(path)))
            .unwrap_or_default();
        for chain in graph.forbidden_chains(start, rule.forbidden) {
            let names: Vec<&str> = chain.iter().map(|id| graph.name(id)).collect();
            let reached = names.last().copied().unwrap_or_default();
            let line = names
                .get(1)
                .map_or(1, |first_hop| declaration_line(root, &manifest, first_hop));
            violations.push(Violation::new(
                &manifest,
                line,
                format!(
                    "{} depends on {reached} ({}), but {} (ARCHITECTURE.md); remove the dependency that leads there",
                    rule.package,
                    names.join(" -> "),
                    rule.why
                ),
            ));
        }
    }
    Ok(violations)
}

struct Graph<'a> {
    names: HashMap<&'a str, &'a str>,
    manifests: HashMap<&'a str, &'a str>,
    /// Normal and build dependencies of each package, in cargo's order.
    dependencies: HashMap<&'a str, Vec<&'a str>>,
    workspace_members: Vec<&'a str>,
}

impl<'a> Graph<'a> {
    fn from_metadata(metadata: &'a Value) -> anyhow::Result<Graph<'a>> {
        let strings = |value: Option<&'a Value>| -> Vec<&'a str> {
            value
                .and_then(Value::as_array)
                .map(|items| items.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default()
        };
        let packages = metadata
            .get("packages")
            .and_then(Value::as_array)
            .context("cargo metadata has no packages")?;
        let nodes = metadata
            .pointer("/resolve/nodes")
            .and_then(Value::as_array)
            .context("cargo metadata has no resolve graph")?;
        let mut graph = Graph {
            names: HashMap::new(),
            manifests: HashMap::new(),
            dependencies: HashMap::new(),
            workspace_members: strings(metadata.get("workspace_members")),
        };
        for package in packages {
            let id = package
                .get("id")
                .and_then(Value::as_str)
                .context("a package without id")?;
            let name = package
                .get("name")
                .and_then(Value::as_str)
                .context("a package without name")?;
            graph.names.insert(id, name);
            if let Some(manifest) = package.get("manifest_path").and_then(Value::as_str) {
                graph.manifests.insert(id, manifest);
            }
        }
        for node in nodes {
            let id = node
                .get("id")
                .and_then(Value::as_str)
                .context("a resolve node without id")?;
            let deps = node
                .get("deps")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let kept = deps
                .iter()
                .filter(|dep| is_normal_or_build(dep))
                .filter_map(|dep| dep.get("pkg")?.as_str());
            graph.dependencies.insert(id, kept.collect());
        }
        Ok(graph)
    }

    fn name(&self, id: &'a str) -> &'a str {
        self.names.get(id).copied().unwrap_or(id)
    }

    /// The package's id; a workspace member wins over a registry crate of the same name.
    fn package_named(&self, name: &str) -> Option<&'a str> {
        let mut ids: Vec<&'a str> = self
            .names
            .iter()
            .filter(|(_, n)| **n == name)
            .map(|(id, _)| *id)
            .collect();
        ids.sort_by_key(|id| (!self.workspace_members.contains(id), *id));
        ids.first().copied()
    }

    /// The shortest chain from `start` to each forbidden crate it reaches, breadth first; a
    /// forbidden crate is not walked through (the nearest one is the one to remove).
    fn forbidden_chains(&self, start: &'a str, forbidden: &[&str]) -> Vec<Vec<&'a str>> {
        let mut came_from: HashMap<&'a str, &'a str> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        let mut chains = Vec::new();
        while let Some(id) = queue.pop_front() {
            for &dependency in self
                .dependencies
                .get(id)
                .map(Vec::as_slice)
                .unwrap_or_default()
            {
                if dependency == start || came_from.contains_key(dependency) {
                    continue;
                }
                came_from.insert(dependency, id);
                if is_forbidden(self.name(dependency), forbidden) {
                    let mut chain = vec![dependency];
                    let mut at = dependency;
                    while let Some(&previous) = came_from.get(at) {
                        chain.push(previous);
                        at = previous;
                    }
                    chain.reverse();
                    chains.push(chain);
                } else {
                    queue.push_back(dependency);
                }
            }
        }
        chains
    }
}

fn is_normal_or_build(dependency: &Value) -> bool {
    let Some(kinds) = dependency.get("dep_kinds").and_then(Value::as_array) else {
        return true;
    };
    kinds.iter().any(|kind| {
        matches!(kind.get("kind"), None | Some(Value::Null))
            || kind.get("kind").and_then(Value::as_str) == Some("build")
    })
}

fn is_forbidden(name: &str, forbidden: &[&str]) -> bool {
    forbidden
        .iter()
        .any(|pattern| match pattern.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == *pattern,
        })
}

/// The line of the manifest that declares `dependency` (`name = …`, `name.workspace = true`
/// or `[dependencies.name]`), else 1.
fn declaration_line(root: &Path, manifest: &str, dependency: &str) -> usize {
    let Ok(text) = std::fs::read_to_string(root.join(manifest)) else {
        return 1;
    };
    let mut in_dependencies = false;
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if let Some(header) = line.strip_prefix('[') {
            let header = header.trim_end_matches(']');
            let section_declares = header.ends_with(&format!("dependencies.{dependency}"))
                && !header.contains("dev-dependencies");
            if section_declares {
                return index + 1;
            }
            in_dependencies =
                header.ends_with("dependencies") && !header.ends_with("dev-dependencies");
        } else if in_dependencies
            && line
                .strip_prefix(dependency)
                .is_some_and(|rest| rest.trim_start().starts_with(['=', '.']))
        {
            return index + 1;
        }
    }
    1
}
