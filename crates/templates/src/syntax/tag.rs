//! Reading what is inside one `#{…}`: a substitution with its filters, the header of an
//! `#{if}`, `#{unless}` or `#{each}`, or a `#{calc}`.

use super::ast::{
    Calculation, Condition, FilterArgument, FilterCall, Node, Substitution, Symbol, Tag,
};
use super::cursor::{Cursor, is_filter_name_character};
use super::symbol::{NameContext, name_starts_here, read_name, read_symbol};
use crate::error::{TemplateError, TemplateErrorKind};

pub(crate) enum ParsedTag {
    Node(Node),
    OpenConditional {
        tag: Tag,
        unless: bool,
        condition: Condition,
    },
    OpenRepetition {
        tag: Tag,
        enumerator: String,
        collection: Symbol,
    },
}

/// Parses the `#{…}` at the cursor (which is at the `#`).
pub(crate) fn parse_tag(cursor: &mut Cursor<'_>) -> Result<ParsedTag, TemplateError> {
    let start = cursor.offset;
    cursor.advance(2);
    cursor.skip_whitespace();
    let unless = cursor.keyword_then_whitespace("unless");
    if unless || cursor.keyword_then_whitespace("if") {
        let condition = super::condition::read_condition(cursor, start)?;
        let tag = finish_tag(cursor, start, if unless { "unless" } else { "if" })?;
        return Ok(ParsedTag::OpenConditional {
            tag,
            unless,
            condition,
        });
    }
    if cursor.keyword_then_whitespace("each") {
        cursor.skip_whitespace();
        let Some(enumerator) = read_name(cursor, NameContext::Enumerator) else {
            return Err(bad_each(cursor, start));
        };
        cursor.skip_whitespace();
        if !cursor.keyword_then_whitespace("in") {
            return Err(bad_each(cursor, start));
        }
        let collection = read_symbol(cursor, NameContext::Ordinary, start)?;
        let tag = finish_tag(cursor, start, "each")?;
        return Ok(ParsedTag::OpenRepetition {
            tag,
            enumerator,
            collection,
        });
    }
    if cursor.keyword_then_whitespace("calc") {
        let expression = super::calc::read_calculation(cursor, start)?;
        let tag = finish_tag(cursor, start, "calc")?;
        return Ok(ParsedTag::Node(Node::Calculation(Calculation {
            tag,
            expression,
        })));
    }
    cursor.offset = start;
    Ok(ParsedTag::Node(Node::Substitution(parse_substitution(
        cursor,
    )?)))
}

fn bad_each(cursor: &Cursor<'_>, start: usize) -> TemplateError {
    cursor.syntax_error(
        start,
        "expected `#{each <name> in <collection>}`, for example `#{each step in Octopus.Step}`",
    )
}

/// Expects the closing `}` of a tag and returns the tag's position and text.
pub(super) fn finish_tag(
    cursor: &mut Cursor<'_>,
    start: usize,
    what: &str,
) -> Result<Tag, TemplateError> {
    cursor.skip_whitespace();
    match cursor.peek() {
        Some('}') => {
            cursor.bump();
            Ok(Tag {
                position: cursor.position_of(start),
                source: cursor.source[start..cursor.offset].to_owned(),
            })
        }
        None => Err(cursor.syntax_error(start, format!("`#{{{what}` is never closed by `}}`"))),
        Some(_) => Err(cursor.syntax_error(
            start,
            format!("unexpected {} in `#{{{what} …}}`", cursor.describe_next()),
        )),
    }
}

/// Reads `"text"`, `'text'` or `\"text\"` when one starts at the cursor.
pub(super) fn read_quoted(
    cursor: &mut Cursor<'_>,
    start: usize,
) -> Result<Option<String>, TemplateError> {
    let closing = if cursor.starts_with("\\\"") {
        "\\\""
    } else if cursor.starts_with("\"") {
        "\""
    } else if cursor.starts_with("'") {
        "'"
    } else {
        return Ok(None);
    };
    let open = cursor.offset;
    cursor.advance(closing.len());
    let Some(length) = cursor.rest().find(closing) else {
        return Err(cursor.syntax_error(
            start,
            format!(
                "the quoted text starting at column {} is never closed by `{closing}`",
                cursor.position_of(open).column
            ),
        ));
    };
    let text = cursor.rest()[..length].to_owned();
    cursor.advance(length + closing.len());
    Ok(Some(text))
}

/// Parses `#{Name | Filter arg "quoted arg" #{Nested}}` at the cursor (which is at the `#`).
pub(crate) fn parse_substitution(cursor: &mut Cursor<'_>) -> Result<Substitution, TemplateError> {
    let start = cursor.offset;
    cursor.nested(start, |cursor| parse_substitution_here(cursor, start))
}

fn parse_substitution_here(
    cursor: &mut Cursor<'_>,
    start: usize,
) -> Result<Substitution, TemplateError> {
    cursor.advance(2);
    cursor.skip_whitespace();
    let symbol = if name_starts_here(cursor, NameContext::Ordinary) {
        Some(read_symbol(cursor, NameContext::Ordinary, start)?)
    } else {
        None
    };
    cursor.skip_whitespace();
    let mut filters = Vec::new();
    while cursor.peek() == Some('|') {
        push_filter_call(cursor, start, FilterPlace::Substitution, &mut filters)?;
        cursor.skip_whitespace();
    }
    let tag = match cursor.peek() {
        Some('}') => {
            cursor.bump();
            Tag {
                position: cursor.position_of(start),
                source: cursor.source[start..cursor.offset].to_owned(),
            }
        }
        None => return Err(cursor.syntax_error(start, "`#{` is never closed by `}`")),
        Some(_) => {
            let found = cursor.describe_next();
            let written = cursor.source[start..cursor.offset].trim_end();
            return Err(cursor.syntax_error(start, format!("unexpected {found} after `{written}`")));
        }
    };
    if symbol.is_none() && filters.is_empty() {
        return Err(cursor.syntax_error(start, "`#{}` names no variable"));
    }
    Ok(Substitution {
        tag,
        symbol,
        filters,
    })
}

/// Where a filter is written, which decides where its arguments end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum FilterPlace {
    Substitution,
    /// In an `#{if}` condition, `==` and `!=` end the arguments.
    Condition,
}

/// The most filters one tag may apply: each is a call nested in the one before it in the
/// compiled template, which minijinja compiles recursively, so a chain of tens of thousands
/// would exhaust the stack.
pub(super) const MOST_FILTERS: usize = 100;

/// Reads `| Name arg arg…` (the cursor is at the `|`) into `filters`, refusing more than
/// [`MOST_FILTERS`] in one tag.
pub(super) fn push_filter_call(
    cursor: &mut Cursor<'_>,
    start: usize,
    place: FilterPlace,
    filters: &mut Vec<FilterCall>,
) -> Result<(), TemplateError> {
    if filters.len() >= MOST_FILTERS {
        return Err(cursor.syntax_error(
            cursor.offset,
            format!("a tag may apply at most {MOST_FILTERS} filters"),
        ));
    }
    cursor.bump();
    filters.push(read_filter_call(cursor, start, place)?);
    Ok(())
}

/// Reads `Name arg arg…` after a `|`; unknown filter names are errors here, so `check`
/// catches them.
fn read_filter_call(
    cursor: &mut Cursor<'_>,
    start: usize,
    place: FilterPlace,
) -> Result<FilterCall, TemplateError> {
    cursor.skip_whitespace();
    let name_start = cursor.offset;
    while cursor.peek().is_some_and(is_filter_name_character) {
        cursor.bump();
    }
    let name = cursor.source[name_start..cursor.offset].to_owned();
    if name.is_empty() {
        return Err(cursor.syntax_error(
            start,
            format!(
                "expected a filter name after `|`, found {}",
                cursor.describe_next()
            ),
        ));
    }
    if crate::filters::find(&name).is_none() {
        return Err(cursor.error_at(
            start,
            TemplateErrorKind::UnknownFilter,
            format!("unknown filter `{name}`"),
        ));
    }
    let mut arguments = Vec::new();
    loop {
        cursor.skip_whitespace();
        if place == FilterPlace::Condition && (cursor.starts_with("==") || cursor.starts_with("!="))
        {
            break;
        }
        match cursor.peek() {
            None | Some('}') | Some('|') => break,
            Some('#') if cursor.peek_second() == Some('{') => {
                let nested = parse_substitution(cursor)?;
                arguments.push(FilterArgument::Substitution(Box::new(nested)));
            }
            Some(_) => {
                if let Some(text) = read_quoted(cursor, start)? {
                    arguments.push(FilterArgument::Text(text));
                    continue;
                }
                arguments.push(FilterArgument::Text(read_bare_argument(cursor)));
            }
        }
    }
    Ok(FilterCall { name, arguments })
}

/// A bare argument runs until whitespace, `}`, `|`, a quote or a nested `#{`.
fn read_bare_argument(cursor: &mut Cursor<'_>) -> String {
    let begin = cursor.offset;
    while let Some(next) = cursor.peek() {
        let nested = next == '#' && cursor.peek_second() == Some('{');
        if next.is_whitespace() || matches!(next, '}' | '|' | '"' | '\'') || nested {
            break;
        }
        cursor.bump();
    }
    cursor.source[begin..cursor.offset].to_owned()
}
