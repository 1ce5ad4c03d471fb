//! The variables a template is rendered against: names are case-insensitive paths, and every
//! `Name[index]` family remembers its indexes in first-insertion order for `#{each}`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::syntax::ast::Step;
use crate::syntax::parse_variable_name;

/// One step of a normalised (lower-cased) variable path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum KeyStep {
    Name(String),
    Index(String),
    /// A whole name that is not a path (it has characters a template cannot write).
    Raw(String),
}

pub(crate) type Key = Vec<KeyStep>;

/// Names (compared without regard to case) mapped to string values.
///
/// Cloning is cheap: the contents are shared until the next `insert`, so a render can hold
/// its own copy without copying every variable.
#[derive(Debug, Clone, Default)]
pub struct Variables {
    store: Arc<Store>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Store {
    /// Original-cased names and values, in first-insertion order.
    entries: Vec<(String, String)>,
    by_key: HashMap<Key, usize>,
    /// For each path that is followed by an index somewhere (`Octopus.Step` in
    /// `Octopus.Step[Deploy].Status.Code`), its distinct indexes in first-insertion order.
    families: HashMap<Key, Vec<FamilyMember>>,
}

#[derive(Debug, Clone)]
pub(crate) struct FamilyMember {
    /// The index as first written, which is what `#{step}` prints.
    pub index: String,
    pub key: String,
}

impl Variables {
    pub fn new() -> Self {
        Variables::default()
    }

    /// Sets a variable; a name that differs only in case replaces the earlier value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        let (key, written_indexes) = parse_name(&name);
        let store = Arc::make_mut(&mut self.store);
        if let Some(position) = store.by_key.get(&key) {
            store.entries[*position].1 = value;
            return;
        }
        let mut written_indexes = written_indexes.into_iter();
        for (position, step) in key.iter().enumerate() {
            if let KeyStep::Index(index_key) = step {
                let written = written_indexes.next().unwrap_or_default();
                let members = store.families.entry(key[..position].to_vec()).or_default();
                if !members.iter().any(|member| &member.key == index_key) {
                    members.push(FamilyMember {
                        index: written,
                        key: index_key.clone(),
                    });
                }
            }
        }
        store.by_key.insert(key, store.entries.len());
        store.entries.push((name, value));
    }

    /// The raw (unexpanded) value of a variable, ignoring case.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.store.value(&parse_name(name).0)
    }

    /// Every variable with its name as first inserted, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.store
            .entries
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    pub(crate) fn store(&self) -> Arc<Store> {
        Arc::clone(&self.store)
    }
}

impl FromIterator<(String, String)> for Variables {
    fn from_iter<T: IntoIterator<Item = (String, String)>>(iter: T) -> Self {
        let mut variables = Variables::new();
        for (name, value) in iter {
            variables.insert(name, value);
        }
        variables
    }
}

impl Store {
    pub fn value(&self, key: &[KeyStep]) -> Option<&str> {
        let position = self.by_key.get(key)?;
        Some(self.entries[*position].1.as_str())
    }

    pub fn family(&self, key: &[KeyStep]) -> &[FamilyMember] {
        self.families
            .get(key)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }
}

/// The normalised path of a variable name, and its indexes as written.
fn parse_name(name: &str) -> (Key, Vec<String>) {
    let raw = || (vec![KeyStep::Raw(name.trim().to_lowercase())], Vec::new());
    let Some(symbol) = parse_variable_name(name) else {
        return raw();
    };
    let mut key = Vec::with_capacity(symbol.steps.len());
    let mut written_indexes = Vec::new();
    for step in symbol.steps {
        match step {
            Step::Name(name) => key.push(KeyStep::Name(name.to_lowercase())),
            Step::Index(index) => {
                key.push(KeyStep::Index(index.to_lowercase()));
                written_indexes.push(index);
            }
            Step::NestedIndex(_) => return raw(),
        }
    }
    (key, written_indexes)
}
