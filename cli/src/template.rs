//! `ferry template render`: renders an Octostache template file with variables from a JSON
//! file, locally, so template authors can try a template before saving it.

use std::fmt;
use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};
use ferry_templates::{Options, Variables, render};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;

pub struct RenderRequest {
    pub template_file: PathBuf,
    pub variables_file: PathBuf,
    /// Leave unknown variables as written instead of failing.
    pub lenient: bool,
}

/// Prints the rendered template exactly and returns 0, or prints
/// `ferry: FILE:LINE:COLUMN: message` and returns 1. Unreadable files and bad JSON are
/// errors (exit code 2 in `main`).
pub fn render_file(request: &RenderRequest) -> anyhow::Result<i32> {
    let template = std::fs::read_to_string(&request.template_file)
        .with_context(|| format!("reading {}", request.template_file.display()))?;
    let variables = read_variables(&request.variables_file)?;
    let now = chrono::Utc::now();
    let options = if request.lenient {
        Options::lenient(now)
    } else {
        Options::strict(now)
    };
    match render(&template, &variables, &options) {
        Ok(rendered) => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(rendered.as_bytes())
                .and_then(|()| stdout.flush())
                .context("writing the rendered template")?;
            Ok(0)
        }
        Err(error) => {
            eprintln!(
                "ferry: {}:{}:{}: {}",
                request.template_file.display(),
                error.line,
                error.column,
                error.message
            );
            Ok(1)
        }
    }
}

/// Reads a flat JSON object; numbers and booleans count as their JSON text.
fn read_variables(path: &PathBuf) -> anyhow::Result<Variables> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let object: OrderedObject = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a JSON object of variables", path.display()))?;
    let mut variables = Variables::new();
    for (name, value) in object.0 {
        let text = match value {
            Value::String(text) => text,
            Value::Number(number) => number.to_string(),
            Value::Bool(flag) => flag.to_string(),
            Value::Null | Value::Array(_) | Value::Object(_) => bail!(
                "{}: the value of `{name}` must be a string, a number or a boolean",
                path.display()
            ),
        };
        variables.insert(name, text);
    }
    Ok(variables)
}

/// A JSON object's entries in file order, which decides the order of `#{each}` over an
/// indexed family such as `Octopus.Step[…]`.
struct OrderedObject(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for OrderedObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(OrderedObjectVisitor)
    }
}

struct OrderedObjectVisitor;

impl<'de> Visitor<'de> for OrderedObjectVisitor {
    type Value = OrderedObject;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an object of variable names to values")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedObject, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, Value>()? {
            entries.push(entry);
        }
        Ok(OrderedObject(entries))
    }
}
