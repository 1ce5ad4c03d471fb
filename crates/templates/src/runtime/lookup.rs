//! Finding variables for `octo_lookup` and `octo_items`: loop variables first, then the
//! variable set; expanding values that contain templates, and catching self-reference.

use minijinja::value::{Object, Value};
use minijinja::{Error, State};

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
    let target = resolve(&scope.render().store, &key, &scopes);
    let value = match target.found {
        Found::Item(value) => value,
        Found::Variable { key, raw } => expand(&scope, &key, &info.text, &raw, info.tag)?,
        Found::Nothing => return missing(&scope, info, &mode),
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
    let target = resolve(store, &key, &scopes);
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
                }));
            }
            return Ok(Value::from(items));
        }
    }
    let list = match target.found {
        Found::Item(value) => value,
        Found::Variable { key, raw } => expand(&scope, &key, &info.text, &raw, info.tag)?,
        Found::Nothing => return Ok(Value::from(Vec::<Value>::new())),
    };
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

/// Tries the loop items named by the path's first name (innermost first), then the
/// variable set, as Octostache walks from the innermost context outwards.
fn resolve(store: &Store, key: &Key, scopes: &[Value]) -> Target {
    let rest = key.get(1..).unwrap_or_default();
    for scope in scopes {
        let Some(item) = scope.downcast_object_ref::<LoopItem>() else {
            continue;
        };
        if rest.is_empty() {
            return Target {
                path: item.prefix.clone(),
                found: Found::Item(item.value.clone()),
            };
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
            return Target {
                path: Some(path),
                found,
            };
        }
        if !store.family(&path).is_empty() {
            return Target {
                path: Some(path),
                found: Found::Nothing,
            };
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
    Target {
        path: Some(path),
        found,
    }
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
