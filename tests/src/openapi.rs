//! Checking an answer against what `services/api/openapi.json` says the route answers: the
//! operation is found by method and path, the status must be documented, and the body must
//! match the status's schema. Only the parts of JSON Schema the document uses are read
//! (`$ref`, `allOf`, `oneOf`, `type`, `nullable`, `enum`, `properties`, `required`, `items`),
//! and an object schema with properties is closed: a field it does not list is a problem, so
//! the document cannot fall behind the API in either direction.

use serde_json::Value;

const DOCUMENT: &str = include_str!("../../services/api/openapi.json");

/// The API's OpenAPI document, parsed.
pub struct OpenApi {
    document: Value,
}

impl Default for OpenApi {
    fn default() -> Self {
        OpenApi {
            document: serde_json::from_str(DOCUMENT).expect("openapi.json is JSON"),
        }
    }
}

impl OpenApi {
    /// Everything about an answer that the document does not say, one sentence each; empty
    /// when the answer is as documented. `path` is the path asked for (a query is ignored).
    pub fn problems(&self, method: &str, path: &str, status: u16, body: &Value) -> Vec<String> {
        let method = method.to_lowercase();
        let path = path.split('?').next().unwrap_or_default();
        let Some(template) = self.template_of(&method, path) else {
            return vec![format!("{method} {path} is not in the document")];
        };
        let operation = &self.document["paths"][template.as_str()][method.as_str()];
        let Some(response) = operation["responses"].get(status.to_string()) else {
            return vec![format!(
                "{method} {template} does not document status {status}"
            )];
        };
        let Some(schema) = response.pointer("/content/application~1json/schema") else {
            return vec![format!(
                "{method} {template} documents no JSON body for status {status}"
            )];
        };
        let mut problems = Vec::new();
        self.check(schema, body, "body", &mut problems);
        problems
            .into_iter()
            .map(|problem| format!("{method} {template} {status}: {problem}"))
            .collect()
    }

    /// The documented path that `path` is an instance of: segment by segment, a literal
    /// segment beats a parameter (`/api/deployments/rollback` before `{deployment_id}`).
    fn template_of(&self, method: &str, path: &str) -> Option<String> {
        let asked: Vec<&str> = path.split('/').collect();
        let paths = self.document["paths"].as_object()?;
        paths
            .iter()
            .filter(|(_, operations)| operations.get(method).is_some())
            .filter_map(|(template, _)| {
                let segments: Vec<&str> = template.split('/').collect();
                if segments.len() != asked.len() {
                    return None;
                }
                let mut literal = 0;
                for (segment, given) in segments.iter().zip(&asked) {
                    if segment.starts_with('{') {
                        continue;
                    }
                    if segment != given {
                        return None;
                    }
                    literal += 1;
                }
                Some((literal, template.clone()))
            })
            .max()
            .map(|(_, template)| template)
    }

    fn resolve<'a>(&'a self, schema: &'a Value) -> &'a Value {
        match schema["$ref"].as_str() {
            Some(reference) => {
                let pointer = reference.trim_start_matches('#');
                self.resolve(self.document.pointer(pointer).unwrap_or(&Value::Null))
            }
            None => schema,
        }
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, problems: &mut Vec<String>) {
        let schema = self.resolve(schema);
        if let Some(parts) = schema["allOf"].as_array() {
            self.check_all_of(parts, value, at, problems);
            return;
        }
        if let Some(choices) = schema["oneOf"].as_array() {
            let matching = choices
                .iter()
                .filter(|choice| {
                    let mut found = Vec::new();
                    self.check(choice, value, at, &mut found);
                    found.is_empty()
                })
                .count();
            if matching != 1 {
                problems.push(format!(
                    "{at} matches {matching} of its oneOf choices: {value}"
                ));
            }
            return;
        }
        if value.is_null() {
            if schema["nullable"] != Value::Bool(true) && schema.get("type").is_some() {
                problems.push(format!("{at} is null, which the document does not allow"));
            }
            return;
        }
        if let Some(allowed) = schema["enum"].as_array()
            && !allowed.contains(value)
        {
            problems.push(format!("{at} is {value}, not one of {allowed:?}"));
        }
        let fits = match schema["type"].as_str() {
            None => true,
            Some("object") => value.is_object(),
            Some("array") => value.is_array(),
            Some("string") => value.is_string(),
            Some("integer") => value.is_i64() || value.is_u64(),
            Some("number") => value.is_number(),
            Some("boolean") => value.is_boolean(),
            Some(other) => {
                problems.push(format!("{at}: the document uses type `{other}`"));
                true
            }
        };
        if !fits {
            problems.push(format!("{at} is {value}, not of type {}", schema["type"]));
            return;
        }
        if let (Some(items), Some(values)) = (schema.get("items"), value.as_array()) {
            for (index, item) in values.iter().enumerate() {
                self.check(items, item, &format!("{at}[{index}]"), problems);
            }
        }
        if let Some(object) = value.as_object() {
            self.check_object(schema, object, at, problems);
        }
    }

    /// Each part must hold; their properties together close the object.
    fn check_all_of(&self, parts: &[Value], value: &Value, at: &str, problems: &mut Vec<String>) {
        let mut merged = serde_json::Map::new();
        let mut required = Vec::new();
        for part in parts {
            let part = self.resolve(part);
            if let Some(properties) = part["properties"].as_object() {
                merged.extend(properties.clone());
            }
            required.extend(part["required"].as_array().cloned().unwrap_or_default());
        }
        let whole =
            serde_json::json!({"type": "object", "properties": merged, "required": required});
        self.check(&whole, value, at, problems);
    }

    fn check_object(
        &self,
        schema: &Value,
        object: &serde_json::Map<String, Value>,
        at: &str,
        problems: &mut Vec<String>,
    ) {
        for name in schema["required"].as_array().into_iter().flatten() {
            if let Some(name) = name.as_str()
                && !object.contains_key(name)
            {
                problems.push(format!("{at} lacks the required field `{name}`"));
            }
        }
        let Some(properties) = schema["properties"].as_object() else {
            if let Some(values) = schema.get("additionalProperties").filter(|v| v.is_object()) {
                for (name, item) in object {
                    self.check(values, item, &format!("{at}.{name}"), problems);
                }
            }
            return;
        };
        for (name, item) in object {
            match properties.get(name) {
                Some(property) => self.check(property, item, &format!("{at}.{name}"), problems),
                None => problems.push(format!(
                    "{at} has `{name}`, which the document does not list"
                )),
            }
        }
    }
}
