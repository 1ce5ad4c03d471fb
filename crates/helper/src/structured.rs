//! Structured configuration variables: in the JSON and YAML files a step's globs name, each
//! key that already exists and whose colon-separated path (`Logging:LogLevel:Default`,
//! `Servers:0:Name`; case-insensitive, array elements by zero-based index) is a variable's
//! name takes that variable's value. Numbers and booleans stay numbers and booleans when the
//! value parses as one; an object or array is replaced by the value read as JSON. Variables
//! whose names start with `Octopus` or `Ferry` are not used, as Octopus does not use them.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

use crate::failure::Failure;
use crate::folders::replace_atomically;
use crate::glob;
use crate::protocol::Events;
use crate::substitute::{parse_globs, read_text};
use crate::tree::Node;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

/// The variables that may replace keys, by lower-cased name (a later one wins).
pub fn replacements(variables: &[(String, String)]) -> HashMap<String, String> {
    variables
        .iter()
        .filter(|(name, _)| {
            let lower = name.to_lowercase();
            !lower.starts_with("octopus") && !lower.starts_with("ferry")
        })
        .map(|(name, value)| (name.to_lowercase(), value.clone()))
        .collect()
}

pub fn apply<W: Write>(
    installation_directory: &Path,
    patterns: &[String],
    variables: &[(String, String)],
    events: &mut Events<W>,
) -> Result<(), Failure> {
    let globs = parse_globs(patterns)?;
    let files = glob::files_under(installation_directory)
        .map_err(|error| Failure::from_io("listing the installation folder", &error))?;
    let (matched, unmatched) = glob::matching(&files, &globs);
    for glob in unmatched {
        events.ferry(format!(
            "No file matches `{}` for structured configuration",
            glob.written()
        ));
    }
    let lookup = replacements(variables);
    for file in matched {
        let relative = file.join("/");
        let path = file
            .iter()
            .fold(installation_directory.to_path_buf(), |path, name| {
                path.join(name)
            });
        let fail = |why: String| {
            Failure::permanent(format!(
                "structured configuration of {relative} failed: {why}"
            ))
        };
        let (text, mode) = read_text(&path).map_err(fail)?;
        let (format, mut document) = parse(&relative, &text).map_err(fail)?;
        let mut replaced = Vec::new();
        replace_in(&mut document, &mut Vec::new(), &lookup, &mut replaced);
        if replaced.is_empty() {
            events.ferry(format!(
                "Structured configuration: no variable names a key of {relative}"
            ));
            continue;
        }
        let mut written = match format {
            Format::Json => {
                serde_json::to_string_pretty(&document).map_err(|error| error.to_string())
            }
            Format::Yaml => serde_yaml::to_string(&document).map_err(|error| error.to_string()),
        }
        .map_err(fail)?;
        if text.ends_with('\n') && !written.ends_with('\n') {
            written.push('\n');
        }
        replace_atomically(&path, written.as_bytes(), mode)
            .map_err(|error| fail(error.to_string()))?;
        events.ferry(format!(
            "Structured configuration: replaced {} in {relative}",
            replaced.join(", ")
        ));
    }
    Ok(())
}

/// By the extension (`.json`, `.yaml`, `.yml`), else whichever reads the text.
fn parse(relative: &str, text: &str) -> Result<(Format, Node), String> {
    let lower = relative.to_lowercase();
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let json = || {
        serde_json::from_str::<Node>(text).map_err(|error| format!("it is not valid JSON: {error}"))
    };
    let yaml = || {
        serde_yaml::from_str::<Node>(text).map_err(|error| format!("it is not valid YAML: {error}"))
    };
    if lower.ends_with(".json") {
        json().map(|node| (Format::Json, node))
    } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        yaml().map(|node| (Format::Yaml, node))
    } else if let Ok(node) = json() {
        Ok((Format::Json, node))
    } else {
        match yaml() {
            Ok(node @ (Node::Object(_) | Node::Array(_))) => Ok((Format::Yaml, node)),
            _ => Err("it is neither JSON nor YAML".to_owned()),
        }
    }
}

/// Replaces, below `node`, every node whose path is a variable's name; a replaced node's
/// children are not visited.
fn replace_in(
    node: &mut Node,
    path: &mut Vec<String>,
    lookup: &HashMap<String, String>,
    replaced: &mut Vec<String>,
) {
    let mut visit = |child: &mut Node, key: String, path: &mut Vec<String>| {
        path.push(key);
        let name = path.join(":");
        match lookup.get(&name.to_lowercase()) {
            Some(value) => {
                *child = converted(child, value);
                replaced.push(name);
            }
            None => replace_in(child, path, lookup, replaced),
        }
        path.pop();
    };
    match node {
        Node::Object(entries) => {
            for (key, child) in entries {
                visit(child, key.key_text(), path);
            }
        }
        Node::Array(items) => {
            for (index, child) in items.iter_mut().enumerate() {
                visit(child, index.to_string(), path);
            }
        }
        _ => {}
    }
}

/// The new value, typed after the value it replaces.
fn converted(existing: &Node, value: &str) -> Node {
    let trimmed = value.trim();
    match existing {
        Node::Number(_) => match serde_json::from_str::<serde_json::Number>(trimmed) {
            Ok(number) => Node::Number(number),
            Err(_) => Node::String(value.to_owned()),
        },
        Node::Bool(_) if trimmed.eq_ignore_ascii_case("true") => Node::Bool(true),
        Node::Bool(_) if trimmed.eq_ignore_ascii_case("false") => Node::Bool(false),
        Node::Object(_) | Node::Array(_) => match serde_json::from_str::<Node>(trimmed) {
            Ok(node @ (Node::Object(_) | Node::Array(_))) => node,
            _ => Node::String(value.to_owned()),
        },
        _ => Node::String(value.to_owned()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn replace(text: &str, variables: &[(&str, &str)]) -> (String, Vec<String>) {
        let variables: Vec<(String, String)> = variables
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        let mut node: Node = serde_json::from_str(text).unwrap();
        let mut replaced = Vec::new();
        replace_in(
            &mut node,
            &mut Vec::new(),
            &replacements(&variables),
            &mut replaced,
        );
        (serde_json::to_string(&node).unwrap(), replaced)
    }

    #[test]
    fn existing_keys_are_replaced_with_their_types() {
        let (text, replaced) = replace(
            r#"{"Logging":{"Level":"Info"},"Port":80,"Debug":false,"Servers":[{"Name":"a"}]}"#,
            &[
                ("logging:level", "Debug"),
                ("Port", "8080"),
                ("Debug", "True"),
                ("Servers:0:Name", "b"),
                ("Missing:Key", "x"),
                ("Octopus.Port", "1"),
            ],
        );
        assert_eq!(
            text,
            r#"{"Logging":{"Level":"Debug"},"Port":8080,"Debug":true,"Servers":[{"Name":"b"}]}"#
        );
        assert_eq!(
            replaced,
            ["Logging:Level", "Port", "Debug", "Servers:0:Name"]
        );
    }

    #[test]
    fn objects_take_json_and_numbers_that_do_not_parse_become_text() {
        let (text, _) = replace(
            r#"{"Servers":[1],"Port":80}"#,
            &[("Servers", r#"[{"Name":"x"}]"#), ("Port", "eighty")],
        );
        assert_eq!(text, r#"{"Servers":[{"Name":"x"}],"Port":"eighty"}"#);
    }
}
