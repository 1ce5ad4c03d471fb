//! The template-level parser: text, `##{` escapes, and the block structure of `#{if}`,
//! `#{unless}` and `#{each}`. What is inside one `#{…}` is read by `tag.rs`.

use super::ast::{Conditional, Node, Position, Repetition};
use super::cursor::Cursor;
use crate::error::{TemplateError, TemplateErrorKind};

/// Parses a whole template into nodes, or reports the first syntax error.
pub(crate) fn parse(source: &str) -> Result<Vec<Node>, TemplateError> {
    parse_with(Cursor::new(source))
}

/// Parses as Octopus does when it does not halt on errors: a tag that does not parse (`#{Foo`,
/// `#{}`, an `#{each}` never closed) stays in the text as written, up to where the parser gave
/// up. Unknown filters, stray closing tags and the nesting limits are still errors, and so is a
/// `#{` that ends the template.
pub(crate) fn parse_lenient(source: &str) -> Result<Vec<Node>, TemplateError> {
    let mut cursor = Cursor::new(source);
    cursor.lenient = true;
    parse_with(cursor)
}

fn parse_with(mut cursor: Cursor<'_>) -> Result<Vec<Node>, TemplateError> {
    let (nodes, closing) = parse_nodes(&mut cursor)?;
    match closing {
        Closing::EndOfInput => Ok(nodes),
        Closing::Else { at } => {
            Err(cursor.syntax_error(at, "`#{else}` is not inside an `#{if …}` or `#{unless …}`"))
        }
        Closing::ElseIf { at } => {
            Err(cursor.syntax_error(at, "`#{elseif …}` is not inside an `#{if …}`"))
        }
        Closing::End { kind, at } => Err(cursor.syntax_error(
            at,
            format!("`#{{/{0}}}` has no matching `#{{{0} …}}`", kind.keyword()),
        )),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockKind {
    If,
    Unless,
    Each,
}

impl BlockKind {
    pub fn keyword(self) -> &'static str {
        match self {
            BlockKind::If => "if",
            BlockKind::Unless => "unless",
            BlockKind::Each => "each",
        }
    }
}

/// What ended a run of nodes; `at` is the byte offset of the closing tag's `#{`.
enum Closing {
    EndOfInput,
    Else {
        at: usize,
    },
    /// The cursor is left at the `#{` of the `#{elseif …}`, for its condition to be read.
    ElseIf {
        at: usize,
    },
    End {
        kind: BlockKind,
        at: usize,
    },
}

/// Reads nodes until the end of the input, an `#{else}` or a closing tag.
fn parse_nodes(cursor: &mut Cursor<'_>) -> Result<(Vec<Node>, Closing), TemplateError> {
    let mut nodes = Vec::new();
    let mut text = String::new();
    loop {
        let Some(next) = cursor.peek() else {
            flush_text(&mut nodes, &mut text);
            return Ok((nodes, Closing::EndOfInput));
        };
        if next != '#' {
            text.push(next);
            cursor.bump();
            continue;
        }
        let rest = cursor.rest();
        if rest.starts_with("##") && rest[2..].starts_with("#{") {
            // `###{X}` is a literal `#` followed by a live `#{X}`.
            text.push('#');
            cursor.advance(2);
        } else if rest.starts_with("##{") {
            // `##{` is the escape for a literal `#{`.
            text.push_str("#{");
            cursor.advance(3);
        } else if rest.starts_with("#{") {
            flush_text(&mut nodes, &mut text);
            let start = cursor.offset;
            if let Some(closing) = read_closing_tag(cursor)? {
                return Ok((nodes, closing));
            }
            cursor.offset = start;
            match parse_tag_or_block(cursor) {
                Ok(node) => nodes.push(node),
                Err(error) => {
                    let resume = recovery_point(cursor, start, &error).ok_or(error)?;
                    text.push_str(&cursor.source[start..resume]);
                    cursor.offset = resume;
                }
            }
        } else {
            // A `#` not starting a tag is text, and so is the character after it.
            text.push('#');
            cursor.bump();
            if let Some(following) = cursor.bump() {
                text.push(following);
            }
        }
    }
}

/// Where lenient parsing goes on after a tag that failed at `start`: where the parser gave up
/// (at least past the `#{`). `None` when the error must be reported even so.
fn recovery_point(cursor: &Cursor<'_>, start: usize, error: &TemplateError) -> Option<usize> {
    let ends_the_template = cursor.source.len() <= start + 2;
    if !cursor.lenient || error.kind != TemplateErrorKind::Syntax || ends_the_template {
        return None;
    }
    let failed_at = cursor.failed_at.take()?;
    Some(failed_at.max(start + 2))
}

fn flush_text(nodes: &mut Vec<Node>, text: &mut String) {
    if !text.is_empty() {
        nodes.push(Node::Text(std::mem::take(text)));
    }
}

/// Recognises `#{else}` and `#{/if}`, `#{/unless}`, `#{/each}` at the cursor.
fn read_closing_tag(cursor: &mut Cursor<'_>) -> Result<Option<Closing>, TemplateError> {
    let at = cursor.offset;
    cursor.advance(2);
    cursor.skip_whitespace();
    let closing_slash = cursor.peek() == Some('/');
    if closing_slash {
        cursor.bump();
    }
    let word_start = cursor.offset;
    while cursor.peek().is_some_and(char::is_alphabetic) {
        cursor.bump();
    }
    let word = cursor.source[word_start..cursor.offset].to_ascii_lowercase();
    cursor.skip_whitespace();
    let closed = cursor.peek() == Some('}');
    if !closing_slash {
        if word == "else" && closed {
            cursor.bump();
            return Ok(Some(Closing::Else { at }));
        }
        // `#{elseif}` alone is a variable named `elseif`, as in Octostache.
        let word_end = word_start + word.len();
        let spaced = cursor.source[word_end..]
            .chars()
            .next()
            .is_some_and(char::is_whitespace);
        if word == "elseif" && spaced {
            cursor.offset = at;
            return Ok(Some(Closing::ElseIf { at }));
        }
        return Ok(None);
    }
    let kind = match word.as_str() {
        "if" => BlockKind::If,
        "unless" => BlockKind::Unless,
        "each" => BlockKind::Each,
        _ => {
            return Err(
                cursor.syntax_error(at, "`#{/` must be followed by `if}`, `unless}` or `each}`")
            );
        }
    };
    if !closed {
        return Err(cursor.syntax_error(
            at,
            format!("`#{{/{}` is never closed by `}}`", kind.keyword()),
        ));
    }
    cursor.bump();
    Ok(Some(Closing::End { kind, at }))
}

/// Parses one `#{…}` at the cursor; for block openers, also their bodies and closing tags.
fn parse_tag_or_block(cursor: &mut Cursor<'_>) -> Result<Node, TemplateError> {
    let start = cursor.offset;
    cursor.nested(start, |cursor| parse_tag_or_block_here(cursor, start))
}

fn parse_tag_or_block_here(cursor: &mut Cursor<'_>, start: usize) -> Result<Node, TemplateError> {
    match super::tag::parse_tag(cursor)? {
        super::tag::ParsedTag::Node(node) => Ok(node),
        super::tag::ParsedTag::OpenConditional {
            tag,
            unless,
            condition,
        } => {
            let kind = if unless {
                BlockKind::Unless
            } else {
                BlockKind::If
            };
            let (body, otherwise) = parse_block_bodies(cursor, kind, start, tag.position)?;
            Ok(Node::Conditional(Conditional {
                tag,
                unless,
                condition,
                body,
                otherwise,
                source: cursor.source[start..cursor.offset].to_owned(),
            }))
        }
        super::tag::ParsedTag::OpenRepetition {
            tag,
            enumerator,
            collection,
        } => {
            let (body, _) = parse_block_bodies(cursor, BlockKind::Each, start, tag.position)?;
            Ok(Node::Repetition(Repetition {
                tag,
                enumerator,
                collection,
                body,
            }))
        }
    }
}

/// Reads a block's body, its optional `#{else}` part, and its closing tag.
fn parse_block_bodies(
    cursor: &mut Cursor<'_>,
    kind: BlockKind,
    open_offset: usize,
    open: Position,
) -> Result<(Vec<Node>, Vec<Node>), TemplateError> {
    let (body, closing) = parse_nodes(cursor)?;
    match closing {
        Closing::End { kind: found, .. } if found == kind => Ok((body, Vec::new())),
        Closing::Else { at } => {
            if kind == BlockKind::Each {
                return Err(cursor.syntax_error(
                    at,
                    format!(
                        "`#{{else}}` cannot be used inside `#{{each` (opened at line {}, column {})",
                        open.line, open.column
                    ),
                ));
            }
            let (otherwise, closing) = parse_nodes(cursor)?;
            match closing {
                Closing::End { kind: found, .. } if found == kind => Ok((body, otherwise)),
                Closing::ElseIf { at } => Err(cursor.syntax_error(
                    at,
                    format!(
                        "`#{{elseif …}}` after the `#{{else}}` of the `#{{{}` at line {}, column {}",
                        kind.keyword(),
                        open.line,
                        open.column
                    ),
                )),
                Closing::Else { at } => Err(cursor.syntax_error(
                    at,
                    format!(
                        "a second `#{{else}}` for the `#{{{}` at line {}, column {}",
                        kind.keyword(),
                        open.line,
                        open.column
                    ),
                )),
                other => Err(unclosed(cursor, kind, open_offset, open, other)),
            }
        }
        Closing::ElseIf { at } => {
            if kind != BlockKind::If {
                return Err(cursor.syntax_error(
                    at,
                    format!(
                        "`#{{elseif …}}` can only be used inside `#{{if` (this is inside the `#{{{}` at line {}, column {})",
                        kind.keyword(),
                        open.line,
                        open.column
                    ),
                ));
            }
            // The rest of the chain is an `#{if}` in the `#{else}` part, as Octostache reads it.
            let (tag, condition) = super::condition::parse_elseif(cursor)?;
            let (elseif_body, elseif_otherwise) = cursor.nested(at, |cursor| {
                parse_block_bodies(cursor, BlockKind::If, open_offset, open)
            })?;
            let chained = Node::Conditional(Conditional {
                tag,
                unless: false,
                condition,
                body: elseif_body,
                otherwise: elseif_otherwise,
                source: cursor.source[at..cursor.offset].to_owned(),
            });
            Ok((body, vec![chained]))
        }
        other => Err(unclosed(cursor, kind, open_offset, open, other)),
    }
}

fn unclosed(
    cursor: &Cursor<'_>,
    kind: BlockKind,
    open_offset: usize,
    open: Position,
    closing: Closing,
) -> TemplateError {
    let keyword = kind.keyword();
    match closing {
        Closing::End { kind: found, at } => cursor.syntax_error(
            at,
            format!(
                "`#{{/{}}}` does not close the `#{{{keyword}` at line {}, column {}; expected `#{{/{keyword}}}`",
                found.keyword(),
                open.line,
                open.column
            ),
        ),
        _ => cursor.syntax_error(
            open_offset,
            format!(
                "`#{{{keyword}` at line {}, column {} is never closed by `#{{/{keyword}}}`",
                open.line, open.column
            ),
        ),
    }
}
