//! Finding variables for `octo_lookup` and `octo_items`: loop variables first, then the
//! variable set; expanding values that contain templates, and catching self-reference.

use minijinja::value::{Object, Value};
use minijinja::{Error, State};

use super::json::{self, Json};
use super::{Scope, render_program, text_of};
use crate::compile::{StepSpec, SymbolInfo, compile};
use crate::error::TemplateErrorKind;
use crate::variables::{Key, KeyStep, Store};

/// How deep values may refer to values, so a long chain cannot exhaust the stack.
const MOST_NESTED_VALUES: usize = 32;

/// What a variable lookup costs in steps (a byte of produced text costs one).
const LOOKUP_STEPS: u64 = 16;

/// What one loop iteration costs in steps.
const ITERATION_STEPS: u64 = 64;

/// One iteration of `#{each}`: the text `#{item}` prints, and for an indexed family
/// (`Octopus.Step[Deploy]`) the path under which `#{item.Status.Code}` is found.
#[derive(Debug)]
pub(super) struct LoopItem {
    value: String,
    prefix: Option<Key>,
    /// An item of a JSON array or object: `#{item.Name}` reads into it.
    json: Option<JsonItem>,
}

/// What a JSON item answers below itself.
#[derive(Debug)]
enum JsonItem {
    /// An array element: its own text is read as JSON.
    Element,
    /// An object's property: `#{item}` is its name, `#{item.Key}` too, and `#{item.Value}`
    /// its value (read as JSON further down).
    Property { value: String },
}

impl Object for LoopItem {}

enum Found {
    /// A loop item itself: its text is final.
    Item(String),
    /// A variable: its value may contain templates to expand.
    Variable {
        key: Key,
        raw: String,
    },
    Nothing,
}

struct Target {
    /// The path the symbol resolved to, for families; none for a plain list item.
    path: Option<Key>,
    found: Found,
}

/// `octo_lookup(symbol, mode, nested_indexes, loop_items)`: a variable's expanded value.
pub(super) fn lookup(
    state: &State,
    symbol: usize,
    mode: String,
    nested: Vec<Value>,
    scopes: Vec<Value>,
) -> Result<Value, Error> {
    let scope = Scope::of(state)?;
    let info = symbol_info(&scope, symbol)?;
    scope.render().charge(&scope, info.tag, LOOKUP_STEPS)?;
    let Some(key) = key_for(info, &nested) else {
        return missing(&scope, info, &mode);
    };
    let written = written_path(info, &nested);
    let target = resolve(&scope, info.tag, &key, &written, &scopes)?;
    let value = match target.found {
        Found::Item(value) => value,
        Found::Variable { key, raw } => expand(&scope, &key, &info.text, &raw, info.tag)?,
        Found::Nothing => match inside_json_value(&scope, info, &key, &written)? {
            Some(value) => value,
            None => return missing(&scope, info, &mode),
        },
    };
    // Every byte a lookup produces is work, and may be output.
    scope
        .render()
        .charge(&scope, info.tag, value.len() as u64)?;
    Ok(Value::from(value))
}

fn missing(scope: &Scope, info: &SymbolInfo, mode: &str) -> Result<Value, Error> {
    match mode {
        "condition" => Ok(Value::from("")),
        "value" if !scope.render().lenient => Err(scope.fail(
            info.tag,
            TemplateErrorKind::UnknownVariable,
            format!("unknown variable `{}`", info.text),
        )),
        _ => Ok(Value::from(())),
    }
}

/// `octo_items(symbol, nested_indexes, loop_items)`: what `#{each}` iterates over. An indexed
/// family gives one item per distinct index; otherwise the value is split at commas (not
/// trimmed, as in Octostache). A missing collection is empty.
pub(super) fn items(
    state: &State,
    symbol: usize,
    nested: Vec<Value>,
    scopes: Vec<Value>,
) -> Result<Value, Error> {
    let scope = Scope::of(state)?;
    let info = symbol_info(&scope, symbol)?;
    scope.render().charge(&scope, info.tag, LOOKUP_STEPS)?;
    let Some(key) = key_for(info, &nested) else {
        return Ok(Value::from(Vec::<Value>::new()));
    };
    let store = &scope.render().store;
    let written = written_path(info, &nested);
    let target = resolve(&scope, info.tag, &key, &written, &scopes)?;
    if let Some(path) = &target.path {
        let family = store.family(path);
        if !family.is_empty() {
            // Each iteration of the loop is a step.
            scope
                .render()
                .charge(&scope, info.tag, family.len() as u64 * ITERATION_STEPS)?;
            let mut items = Vec::with_capacity(family.len());
            for member in family {
                let mut prefix = path.clone();
                prefix.push(KeyStep::Index(member.key.clone()));
                let value = match store.value(&prefix) {
                    Some(raw) => {
                        let display = format!("{}[{}]", info.text, member.index);
                        expand(&scope, &prefix, &display, raw, info.tag)?
                    }
                    None => member.index.clone(),
                };
                items.push(Value::from_object(LoopItem {
                    value,
                    prefix: Some(prefix),
                    json: None,
                }));
            }
            return Ok(Value::from(items));
        }
    }
    let list = match target.found {
        Found::Item(value) => value,
        Found::Variable { key, raw } => expand(&scope, &key, &info.text, &raw, info.tag)?,
        Found::Nothing => match inside_json_value(&scope, info, &key, &written)? {
            Some(value) => value,
            None => return Ok(Value::from(Vec::<Value>::new())),
        },
    };
    if let Some(items) = json_items(&scope, info.tag, &list)? {
        return Ok(Value::from(items));
    }
    scope.render().charge(
        &scope,
        info.tag,
        list.split(',').count() as u64 * ITERATION_STEPS,
    )?;
    let items: Vec<Value> = list
        .split(',')
        .map(|piece| {
            Value::from_object(LoopItem {
                value: piece.to_owned(),
                prefix: None,
                json: None,
            })
        })
        .collect();
    Ok(Value::from(items))
}

fn symbol_info(scope: &Scope, symbol: usize) -> Result<&SymbolInfo, Error> {
    scope
        .program()
        .symbols
        .get(symbol)
        .ok_or_else(|| Error::new(minijinja::ErrorKind::InvalidOperation, "unknown symbol"))
}

/// The concrete path, with nested indexes filled in; `None` when a nested index has no value.
fn key_for(info: &SymbolInfo, nested: &[Value]) -> Option<Key> {
    let mut nested = nested.iter();
    let mut key = Vec::with_capacity(info.steps.len());
    for step in &info.steps {
        key.push(match step {
            StepSpec::Name(name) => KeyStep::Name(name.clone()),
            StepSpec::Index(index) => KeyStep::Index(index.clone()),
            StepSpec::NestedIndex => {
                let value = nested.next()?;
                if value.is_none() || value.is_undefined() {
                    return None;
                }
                KeyStep::Index(text_of(value).to_lowercase())
            }
        });
    }
    Some(key)
}

/// The path with each step as written, nested indexes filled in.
fn written_path(info: &SymbolInfo, nested: &[Value]) -> Vec<String> {
    let mut nested = nested.iter();
    info.steps
        .iter()
        .zip(&info.written_steps)
        .map(|(step, written)| match step {
            StepSpec::NestedIndex => nested.next().map(text_of).unwrap_or_default(),
            _ => written.clone(),
        })
        .collect()
}

/// Tries the loop items named by the path's first name (innermost first), then the
/// variable set, as Octostache walks from the innermost context outwards. Reading into a
/// JSON loop item is charged at `tag`.
fn resolve(
    scope: &Scope,
    tag: usize,
    key: &Key,
    written: &[String],
    scopes: &[Value],
) -> Result<Target, Error> {
    let store = &scope.render().store;
    let rest = key.get(1..).unwrap_or_default();
    for loop_scope in scopes {
        let Some(item) = loop_scope.downcast_object_ref::<LoopItem>() else {
            continue;
        };
        if rest.is_empty() {
            return Ok(Target {
                path: item.prefix.clone(),
                found: Found::Item(item.value.clone()),
            });
        }
        if let Some(json_item) = &item.json {
            let written_rest = written.get(1..).unwrap_or_default();
            let found = match within_json_item(scope, tag, item, json_item, written_rest)? {
                Some(value) => Found::Item(value),
                None => Found::Nothing,
            };
            return Ok(Target { path: None, found });
        }
        let Some(prefix) = &item.prefix else {
            continue;
        };
        let mut path = prefix.clone();
        path.extend_from_slice(rest);
        let path = with_wildcards(store, path);
        if let Some(raw) = store.value(&path) {
            let found = Found::Variable {
                key: path.clone(),
                raw: raw.to_owned(),
            };
            return Ok(Target {
                path: Some(path),
                found,
            });
        }
        if !store.family(&path).is_empty() {
            return Ok(Target {
                path: Some(path),
                found: Found::Nothing,
            });
        }
    }
    let path = with_wildcards(store, key.clone());
    let found = match store.value(&path) {
        Some(raw) => Found::Variable {
            key: path.clone(),
            raw: raw.to_owned(),
        },
        None => Found::Nothing,
    };
    Ok(Target {
        path: Some(path),
        found,
    })
}

/// Below a JSON loop item: `Key` and `Value` of an object's property, or a path into an
/// array element.
fn within_json_item(
    scope: &Scope,
    tag: usize,
    item: &LoopItem,
    json_item: &JsonItem,
    rest: &[String],
) -> Result<Option<String>, Error> {
    match json_item {
        JsonItem::Element => json::walk(scope, tag, &item.value, rest),
        JsonItem::Property { value } => {
            let Some((first, deeper)) = rest.split_first() else {
                return Ok(None);
            };
            if first.eq_ignore_ascii_case("key") && deeper.is_empty() {
                return Ok(Some(item.value.clone()));
            }
            if first.eq_ignore_ascii_case("value") {
                return json::walk(scope, tag, value, deeper);
            }
            Ok(None)
        }
    }
}

/// A path below a variable whose value is JSON (`Config.Items[0].Name` with `Config` set):
/// the longest defined prefix is expanded and the rest walked into it. A prefix that is being
/// expanded right now is read as written, as Octostache does: so a JSON value may refer to its
/// own properties, and a value referring below itself that is not JSON is just missing.
fn inside_json_value(
    scope: &Scope,
    info: &SymbolInfo,
    key: &Key,
    written: &[String],
) -> Result<Option<String>, Error> {
    let store = &scope.render().store;
    for length in (1..key.len()).rev() {
        let prefix = key[..length].to_vec();
        let Some(raw) = store.value(&prefix) else {
            continue;
        };
        let being_expanded = scope
            .render()
            .expanding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .any(|(seen, _)| *seen == prefix);
        let value = if being_expanded {
            raw.to_owned()
        } else {
            expand(scope, &prefix, &written[..length].join("."), raw, info.tag)?
        };
        return json::walk(scope, info.tag, &value, &written[length..]);
    }
    Ok(None)
}

/// The items of a JSON array (each element) or object (each property), or `None` when the
/// text is not a JSON array or object.
fn json_items(scope: &Scope, tag: usize, text: &str) -> Result<Option<Vec<Value>>, Error> {
    if !text.trim_start().starts_with(['[', '{']) {
        return Ok(None);
    }
    scope.render().charge(scope, tag, text.len() as u64)?;
    let items: Vec<LoopItem> = match Json::parse(text) {
        Some(Json::Array(elements)) => elements
            .iter()
            .map(|element| LoopItem {
                value: element.as_variable_text(),
                prefix: None,
                json: Some(JsonItem::Element),
            })
            .collect(),
        Some(Json::Object(properties)) => properties
            .iter()
            .map(|(name, value)| LoopItem {
                value: name.clone(),
                prefix: None,
                json: Some(JsonItem::Property {
                    value: value.as_variable_text(),
                }),
            })
            .collect(),
        _ => return Ok(None),
    };
    scope
        .render()
        .charge(scope, tag, items.len() as u64 * ITERATION_STEPS)?;
    Ok(Some(items.into_iter().map(Value::from_object).collect()))
}

/// `Name[*]` stands for the first index of the family.
fn with_wildcards(store: &Store, mut path: Key) -> Key {
    for position in 0..path.len() {
        if path[position] == KeyStep::Index("*".to_owned())
            && let Some(first) = store.family(&path[..position]).first()
        {
            path[position] = KeyStep::Index(first.key.clone());
        }
    }
    path
}

/// A variable's value with its own `#{…}` rendered, in the variable set's scope (loop
/// variables of the referencing template are not visible, as in Octostache). A value that
/// is not a valid template is used as written, as Octostache does.
fn expand(scope: &Scope, key: &Key, name: &str, raw: &str, tag: usize) -> Result<String, Error> {
    if !raw.contains("#{") {
        return Ok(raw.to_owned());
    }
    if let Some(value) = scope
        .render()
        .expanded
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .get(key)
    {
        return Ok(value.clone());
    }
    {
        let mut expanding = scope
            .render()
            .expanding
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(start) = expanding.iter().position(|(seen, _)| seen == key) {
            let mut chain: Vec<&str> = expanding[start..].iter().map(|(_, n)| n.as_str()).collect();
            chain.push(name);
            let message = format!(
                "variable `{}` refers to itself ({})",
                expanding[start].1,
                chain.join(" → ")
            );
            return Err(scope.fail(tag, TemplateErrorKind::SelfReference, message));
        }
        if expanding.len() >= MOST_NESTED_VALUES {
            let message = format!(
                "variables refer to variables more than {MOST_NESTED_VALUES} levels deep (at `{name}`)"
            );
            return Err(scope.fail(tag, TemplateErrorKind::SelfReference, message));
        }
        expanding.push((key.clone(), name.to_owned()));
    }
    let result = match crate::syntax::parse(raw) {
        Ok(nodes) => render_program(compile(&nodes), scope.render_value.clone()),
        Err(_) => Ok(raw.to_owned()),
    };
    scope
        .render()
        .expanding
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .pop();
    let position = scope
        .tag(tag)
        .map(|info| (info.position.line, info.position.column))
        .unwrap_or((1, 1));
    let value = result.map_err(|failure| failure.seen_through(name, position).into_minijinja())?;
    scope
        .render()
        .check_size(scope, tag, value.len(), &format!("the value of `{name}`"))?;
    scope
        .render()
        .expanded
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(key.clone(), value.clone());
    Ok(value)
}
