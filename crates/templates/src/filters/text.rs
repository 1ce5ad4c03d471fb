//! Text filters: case, trimming, cutting, regular-expression replace and match, comparisons,
//! appending and indenting.

use regex::Regex;

use super::{FilterInput, FilterResult, boolean, fits, no_arguments, one_argument, shown};

pub(super) fn to_lower(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    Ok(input.value.to_lowercase())
}

pub(super) fn to_upper(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    Ok(input.value.to_uppercase())
}

/// `Trim`, `Trim start`, `Trim end`.
pub(super) fn trim(input: &FilterInput<'_>) -> FilterResult {
    match input.arguments.first().map(|side| side.to_lowercase()) {
        None => Ok(input.value.trim().to_owned()),
        Some(side) if side == "start" => Ok(input.value.trim_start().to_owned()),
        Some(side) if side == "end" => Ok(input.value.trim_end().to_owned()),
        Some(_) => Err(format!(
            "takes `start` or `end` or nothing, not `{}`",
            shown(&input.arguments[0])
        )
        .into()),
    }
}

/// `Truncate N [SUFFIX]`: the first N characters followed by the suffix (`...` unless given;
/// `""` omits it), or the value when it is short enough. Further options are ignored, as in
/// Octostache.
pub(super) fn truncate(input: &FilterInput<'_>) -> FilterResult {
    let length = count_argument(input.arguments.first(), "a length")?;
    let suffix = input.arguments.get(1).map_or("...", String::as_str);
    if length < input.value.chars().count() {
        let kept: String = input.value.chars().take(length).collect();
        Ok(format!("{kept}{suffix}"))
    } else {
        Ok(input.value.to_owned())
    }
}

/// `Substring LENGTH` (from the start) or `Substring START LENGTH`; out of range is an error.
pub(super) fn substring(input: &FilterInput<'_>) -> FilterResult {
    let (start, length) = match input.arguments {
        [length] => (0, count_argument(Some(length), "a length")?),
        [start, length] => (
            count_argument(Some(start), "a start")?,
            count_argument(Some(length), "a length")?,
        ),
        _ => return Err("takes a length, or a start and a length".to_owned().into()),
    };
    let available = input.value.chars().count();
    if start.checked_add(length).is_none_or(|end| end > available) {
        return Err(format!(
            "cannot take {length} characters from position {start} of the {available}-character value"
        ).into());
    }
    Ok(input.value.chars().skip(start).take(length).collect())
}

fn count_argument(argument: Option<&String>, what: &str) -> Result<usize, String> {
    let Some(text) = argument else {
        return Err(format!("needs {what}"));
    };
    text.trim().parse::<usize>().map_err(|_| {
        format!(
            "needs {what} that is a whole number of at least 0, not `{}`",
            shown(text)
        )
    })
}

/// `Replace PATTERN [REPLACEMENT]`: every match of the regular expression; a missing
/// replacement removes the matches. `$1` and `${name}` refer to groups, as in .NET.
pub(super) fn replace(input: &FilterInput<'_>) -> FilterResult {
    let Some(pattern) = input.arguments.first() else {
        return Err("needs a pattern to replace".to_owned().into());
    };
    let regex = compile(pattern)?;
    let replacement = dotnet_replacement(input.arguments.get(1).map_or("", String::as_str));
    let groups = group_references(&replacement);
    // An empty pattern matches between every two characters, and each `$0` repeats the
    // match: the output is built match by match, each checked against the budget before it
    // is written (a replacement writes at most its own text plus each group's match).
    let mut replaced = String::new();
    let mut copied = 0;
    for captures in regex.captures_iter(input.value) {
        let Some(found) = captures.get(0) else {
            continue;
        };
        let most = replaced.len()
            + (found.start() - copied)
            + replacement.len()
            + groups.saturating_mul(found.len());
        fits(input, most)?;
        replaced.push_str(&input.value[copied..found.start()]);
        captures.expand(&replacement, &mut replaced);
        copied = found.end();
    }
    fits(input, replaced.len() + (input.value.len() - copied))?;
    replaced.push_str(&input.value[copied..]);
    Ok(replaced)
}

/// How many groups a replacement (in the `regex` crate's syntax) refers to: each `${…}`
/// (`$$` is a literal `$`).
fn group_references(replacement: &str) -> usize {
    let mut references = 0;
    let mut rest = replacement;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            rest = after;
        } else if rest.starts_with('{') {
            references += 1;
        }
    }
    references
}

/// `Match PATTERN`: `true` when the regular expression matches anywhere in the value.
pub(super) fn matches(input: &FilterInput<'_>) -> FilterResult {
    let regex = compile(one_argument(input)?)?;
    boolean(regex.is_match(input.value))
}

pub(super) fn starts_with(input: &FilterInput<'_>) -> FilterResult {
    boolean(input.value.starts_with(one_argument(input)?))
}

pub(super) fn ends_with(input: &FilterInput<'_>) -> FilterResult {
    boolean(input.value.ends_with(one_argument(input)?))
}

pub(super) fn contains(input: &FilterInput<'_>) -> FilterResult {
    boolean(input.value.contains(one_argument(input)?))
}

pub(super) fn append(input: &FilterInput<'_>) -> FilterResult {
    if input.arguments.is_empty() {
        return Err("needs the text to append".to_owned().into());
    }
    Ok(format!("{}{}", input.value, input.arguments.concat()))
}

pub(super) fn prepend(input: &FilterInput<'_>) -> FilterResult {
    if input.arguments.is_empty() {
        return Err("needs the text to prepend".to_owned().into());
    }
    Ok(format!("{}{}", input.arguments.concat(), input.value))
}

/// `Indent` (4 spaces), `Indent N`, `Indent INITIAL/SUBSEQUENT`, `Indent /SUBSEQUENT`,
/// `Indent TEXT`, or `Indent INITIAL_TEXT SUBSEQUENT_TEXT`: indents every line.
pub(super) fn indent(input: &FilterInput<'_>) -> FilterResult {
    if input.value.is_empty() {
        return Ok(String::new());
    }
    let (initial, subsequent) = match input.arguments {
        [] => ("    ".to_owned(), "    ".to_owned()),
        [single] => sized_indents(single).unwrap_or_else(|| (single.clone(), single.clone())),
        [initial, subsequent] => (initial.clone(), subsequent.clone()),
        _ => return Err("takes at most two arguments".to_owned().into()),
    };
    let line_breaks = input.value.bytes().filter(|byte| *byte == b'\n').count();
    fits(
        input,
        initial.len() + input.value.len() + line_breaks.saturating_mul(subsequent.len()),
    )?;
    Ok(format!(
        "{initial}{}",
        input.value.replace('\n', &format!("\n{subsequent}"))
    ))
}

/// Reads `N`, `I/S` and `/S` (each at most three digits and 255) as numbers of spaces.
fn sized_indents(option: &str) -> Option<(String, String)> {
    let spaces = |digits: &str| -> Option<String> {
        if digits.is_empty() || digits.len() > 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let count: u8 = digits.parse().ok()?;
        Some(" ".repeat(usize::from(count)))
    };
    match option.split_once('/') {
        None => spaces(option).map(|both| (both.clone(), both)),
        Some(("", subsequent)) => Some((String::new(), spaces(subsequent)?)),
        Some((initial, subsequent)) => Some((spaces(initial)?, spaces(subsequent)?)),
    }
}

fn compile(pattern: &str) -> Result<Regex, String> {
    Regex::new(&literal_braces(pattern)).map_err(|error| {
        let detail = error.to_string();
        let last_line = detail.lines().last().unwrap_or_default().trim().to_owned();
        format!("cannot use the pattern `{}`: {last_line}", shown(pattern))
    })
}

/// .NET reads a `{` that does not start a `{n}`, `{n,}` or `{n,m}` quantifier as a literal
/// brace (so `#{Name}` is a fine pattern); the `regex` crate needs such braces escaped.
fn literal_braces(pattern: &str) -> String {
    let mut converted = String::with_capacity(pattern.len());
    let mut rest = pattern;
    let mut in_class = false;
    while let Some(character) = rest.chars().next() {
        let mut length = character.len_utf8();
        match character {
            '\\' => {
                length += rest[1..].chars().next().map_or(0, char::len_utf8);
                converted.push_str(&rest[..length]);
            }
            '[' if !in_class => {
                in_class = true;
                converted.push('[');
                // A `]` straight after `[` or `[^` is part of the class.
                for prefix in ["^]", "]", "^"] {
                    if rest[1..].starts_with(prefix) {
                        converted.push_str(prefix);
                        length += prefix.len();
                        break;
                    }
                }
            }
            ']' if in_class => {
                in_class = false;
                converted.push(']');
            }
            '{' if !in_class => match quantifier_length(rest) {
                Some(quantifier) => {
                    length = quantifier;
                    converted.push_str(&rest[..quantifier]);
                }
                None => converted.push_str("\\{"),
            },
            '}' if !in_class => converted.push_str("\\}"),
            other => converted.push(other),
        }
        rest = &rest[length..];
    }
    converted
}

/// The length of a `{n}`, `{n,}` or `{n,m}` at the start of `text`.
fn quantifier_length(text: &str) -> Option<usize> {
    let close = text.find('}')?;
    let inside = &text[1..close];
    let (low, high) = inside.split_once(',').unwrap_or((inside, "0"));
    let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
    (!low.is_empty() && digits(low) && digits(high)).then_some(close + 1)
}

/// Turns a .NET replacement string into the `regex` crate's: `$1` becomes `${1}` (so `$1s`
/// stays group 1 followed by `s`), `$&` becomes the whole match, other `$` are literal.
fn dotnet_replacement(replacement: &str) -> String {
    let mut converted = String::with_capacity(replacement.len());
    let mut characters = replacement.chars().peekable();
    while let Some(character) = characters.next() {
        if character != '$' {
            converted.push(character);
            continue;
        }
        match characters.peek().copied() {
            Some('$') => {
                characters.next();
                converted.push_str("$$");
            }
            Some('&') => {
                characters.next();
                converted.push_str("${0}");
            }
            Some(digit) if digit.is_ascii_digit() => {
                let mut number = String::new();
                while let Some(digit) = characters.peek().copied().filter(char::is_ascii_digit) {
                    number.push(digit);
                    characters.next();
                }
                converted.push_str(&format!("${{{number}}}"));
            }
            Some('{') => {
                characters.next();
                let name: String = characters.by_ref().take_while(|c| *c != '}').collect();
                converted.push_str(&format!("${{{name}}}"));
            }
            _ => converted.push_str("$$"),
        }
    }
    converted
}
