//! Reading variable paths: `Name`, `Dotted.Name`, `Name With Spaces`, `Name[index]`,
//! `Name[nested[index]]` and `Name[#{Other}]`.

use super::ast::{Step, Symbol};
use super::cursor::{Cursor, is_name_character};
use crate::error::TemplateError;

/// Where a name is read, which decides where it must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameContext {
    /// Inside `#{…}` and `#{if …}`: names run until a character that is not a name character.
    Ordinary,
    /// The loop variable of `#{each x in …}`: it also stops before ` in `.
    Enumerator,
    /// Inside `#{calc …}`: no whitespace or `-`, `/`, `(`, `)`, which are operators there.
    Calculation,
}

fn accepts(context: NameContext, character: char) -> bool {
    match context {
        NameContext::Ordinary | NameContext::Enumerator => is_name_character(character),
        NameContext::Calculation => {
            character.is_alphanumeric() || matches!(character, '_' | ':' | '~' | '@')
        }
    }
}

/// Reads one name (trimmed). Returns `None`, consuming nothing, when there is no name here.
pub(crate) fn read_name(cursor: &mut Cursor<'_>, context: NameContext) -> Option<String> {
    let start = cursor.offset;
    while let Some(next) = cursor.peek() {
        if !accepts(context, next) {
            break;
        }
        if context == NameContext::Enumerator && next.is_whitespace() && in_keyword_follows(cursor)
        {
            break;
        }
        cursor.bump();
    }
    let name = cursor.source[start..cursor.offset].trim();
    if name.is_empty() {
        cursor.offset = start;
        return None;
    }
    Some(name.to_owned())
}

/// True when the whitespace at the cursor is followed by `in` and more whitespace.
fn in_keyword_follows(cursor: &Cursor<'_>) -> bool {
    let mut characters = cursor.rest().chars();
    characters.next();
    let keyword: String = characters.by_ref().take(2).collect();
    keyword.eq_ignore_ascii_case("in") && characters.next().is_some_and(char::is_whitespace)
}

/// True when a name can start at the cursor.
pub(crate) fn name_starts_here(cursor: &Cursor<'_>, context: NameContext) -> bool {
    cursor
        .peek()
        .is_some_and(|next| accepts(context, next) && !next.is_whitespace())
}

/// Reads a whole path; `tag_offset` is the `#{` that errors point at.
pub(crate) fn read_symbol(
    cursor: &mut Cursor<'_>,
    context: NameContext,
    tag_offset: usize,
) -> Result<Symbol, TemplateError> {
    cursor.skip_whitespace();
    let start = cursor.offset;
    let Some(first) = read_name(cursor, context) else {
        return Err(cursor.syntax_error(
            tag_offset,
            format!("expected a variable name, found {}", cursor.describe_next()),
        ));
    };
    let mut steps = vec![Step::Name(first)];
    loop {
        match cursor.peek() {
            Some('.') => {
                cursor.bump();
                let Some(name) = read_name(cursor, context) else {
                    return Err(cursor.syntax_error(
                        tag_offset,
                        format!(
                            "expected a name after `.` in `{}`",
                            cursor.source[start..cursor.offset].trim()
                        ),
                    ));
                };
                steps.push(Step::Name(name));
            }
            Some('[') => steps.push(read_indexer(cursor, tag_offset)?),
            _ => break,
        }
        if context == NameContext::Calculation {
            continue;
        }
        // A name may be followed by spaces before the next `[`.
        let before_spaces = cursor.offset;
        cursor.skip_whitespace();
        if cursor.peek() != Some('[') {
            cursor.offset = before_spaces;
        }
    }
    let text = cursor.source[start..cursor.offset].trim().to_owned();
    Ok(Symbol { steps, text })
}

/// Reads `[literal]`, `[outer[inner]]` or `[#{Other}]`; the cursor is at the `[`.
fn read_indexer(cursor: &mut Cursor<'_>, tag_offset: usize) -> Result<Step, TemplateError> {
    let open = cursor.offset;
    cursor.bump();
    cursor.skip_whitespace();
    if cursor.starts_with("#{") {
        let nested_offset = cursor.offset;
        let nested = super::tag::parse_substitution(cursor)?;
        cursor.skip_whitespace();
        if cursor.peek() == Some(']') {
            cursor.bump();
            return match (nested.symbol, nested.filters.is_empty()) {
                (Some(symbol), true) => Ok(Step::NestedIndex(Box::new(symbol))),
                _ => Err(cursor.syntax_error(
                    nested_offset,
                    "an index written as `#{…}` must be a plain variable name, without filters",
                )),
            };
        }
        // Not a lone `#{Other}`: read the whole index as text, as Octostache does.
        cursor.offset = open + 1;
    }
    let start = cursor.offset;
    let mut depth = 0usize;
    loop {
        match cursor.peek() {
            None => {
                return Err(cursor.syntax_error(
                    tag_offset,
                    format!(
                        "`[` at column {} is never closed by `]`",
                        cursor.position_of(open).column
                    ),
                ));
            }
            Some('[') => depth += 1,
            Some(']') if depth == 0 => break,
            Some(']') => depth -= 1,
            Some(_) => {}
        }
        cursor.bump();
    }
    let index = cursor.source[start..cursor.offset].trim().to_owned();
    cursor.bump();
    Ok(Step::Index(index))
}

/// Parses a variable's name the way a template would refer to it, so that
/// `Octopus.Action[Deploy].Name` is stored under its path. `None` when the name is not a
/// path (it then only matches itself, ignoring case).
pub(crate) fn parse_variable_name(name: &str) -> Option<Symbol> {
    let mut cursor = Cursor::new(name);
    let symbol = read_symbol(&mut cursor, NameContext::Ordinary, 0).ok()?;
    cursor.skip_whitespace();
    cursor.at_end().then_some(symbol)
}
