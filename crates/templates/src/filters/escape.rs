//! Encoding filters: HTML, XML, JSON, YAML, Java properties, URIs and Base64. The character
//! tables follow Octostache's.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::{FilterInput, FilterResult, no_arguments, shown};

fn escape_each(value: &str, mapping: impl Fn(char) -> Option<&'static str>) -> String {
    let mut escaped = String::with_capacity(value.len());
    for character in value.chars() {
        match mapping(character) {
            Some(replacement) => escaped.push_str(replacement),
            None => escaped.push(character),
        }
    }
    escaped
}

pub(super) fn html(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    Ok(escape_each(input.value, |character| match character {
        '/' => Some("&#x2F;"),
        other => xml_entity(other),
    }))
}

pub(super) fn xml(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    Ok(escape_each(input.value, xml_entity))
}

fn xml_entity(character: char) -> Option<&'static str> {
    match character {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&apos;"),
        _ => None,
    }
}

/// Escapes quotes, backslashes, and CR, LF and tab, as Octostache does (other control
/// characters pass through).
pub(super) fn json(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    Ok(escape_each(input.value, |character| match character {
        '"' => Some("\\\""),
        '\r' => Some("\\r"),
        '\t' => Some("\\t"),
        '\n' => Some("\\n"),
        '\\' => Some("\\\\"),
        _ => None,
    }))
}

/// For inside a single-quoted YAML string: `'` doubles, and each run of line breaks gets one
/// more line break, because YAML folds a single line break into a space.
pub(super) fn yaml_single_quote(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    let mut escaped = String::with_capacity(input.value.len());
    let mut rest = input.value;
    while let Some(character) = rest.chars().next() {
        let run_length = line_break_run(rest);
        if run_length > 0 {
            escaped.push_str(if rest.starts_with('\r') { "\r\n" } else { "\n" });
            escaped.push_str(&rest[..run_length]);
            rest = &rest[run_length..];
            continue;
        }
        if character == '\'' {
            escaped.push_str("''");
        } else {
            escaped.push(character);
        }
        rest = &rest[character.len_utf8()..];
    }
    Ok(escaped)
}

/// The length in bytes of a run of `\n` and `\r\n` at the start of `text`.
fn line_break_run(text: &str) -> usize {
    let mut length = 0;
    loop {
        if text[length..].starts_with("\r\n") {
            length += 2;
        } else if text[length..].starts_with('\n') {
            length += 1;
        } else {
            return length;
        }
    }
}

/// For inside a double-quoted YAML string: backslash escapes, `\uXXXX` beyond printable ASCII.
pub(super) fn yaml_double_quote(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    let mut escaped = String::with_capacity(input.value.len());
    for character in input.value.chars() {
        match character {
            '\r' => escaped.push_str("\\r"),
            '\n' => escaped.push_str("\\n"),
            '\t' => escaped.push_str("\\t"),
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            ' '..='~' => escaped.push(character),
            other => push_unicode_escapes(&mut escaped, other),
        }
    }
    Ok(escaped)
}

/// Writes `\uXXXX` for each UTF-16 unit of `character`, as .NET's per-`char` escaping does.
fn push_unicode_escapes(escaped: &mut String, character: char) {
    let mut units = [0u16; 2];
    for unit in character.encode_utf16(&mut units) {
        escaped.push_str(&format!("\\u{unit:04x}"));
    }
}

fn properties_common(escaped: &mut String, character: char) {
    match character {
        '\\' => escaped.push_str("\\\\"),
        '\r' => escaped.push_str("\\r"),
        '\n' => escaped.push_str("\\n"),
        '\t' => escaped.push_str("\\t"),
        other if u32::from(other) < 0xFF => escaped.push(other),
        other => push_unicode_escapes(escaped, other),
    }
}

pub(super) fn properties_key(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    let mut escaped = String::with_capacity(input.value.len());
    for character in input.value.chars() {
        match character {
            ' ' => escaped.push_str("\\ "),
            ':' => escaped.push_str("\\:"),
            '=' => escaped.push_str("\\="),
            other => properties_common(&mut escaped, other),
        }
    }
    Ok(escaped)
}

pub(super) fn properties_value(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    let mut escaped = String::with_capacity(input.value.len());
    for (position, character) in input.value.chars().enumerate() {
        match character {
            ' ' if position == 0 => escaped.push_str("\\ "),
            other => properties_common(&mut escaped, other),
        }
    }
    Ok(escaped)
}

/// .NET's `Uri.EscapeUriString`: keeps letters, digits, `-._~` and the URI delimiters
/// `:/?#[]@!$&'()*+,;=`; percent-encodes everything else (as UTF-8).
pub(super) fn uri(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    Ok(percent_encode(input.value, |byte| {
        b":/?#[]@!$&'()*+,;=".contains(&byte)
    }))
}

/// .NET's `Uri.EscapeDataString`: keeps only letters, digits and `-._~`.
pub(super) fn uri_data(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    Ok(percent_encode(input.value, |_| false))
}

fn percent_encode(value: &str, also_keep: impl Fn(u8) -> bool) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) || also_keep(byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Text to bytes in the encoding Octostache accepts as an option: UTF-8 (default) or
/// `unicode` (UTF-16 little-endian).
fn encode_text(value: &str, encoding: Option<&String>) -> Result<Vec<u8>, String> {
    match encoding.map(|name| name.to_lowercase()).as_deref() {
        None | Some("utf8") | Some("utf-8") => Ok(value.as_bytes().to_vec()),
        Some("unicode") => Ok(value.encode_utf16().flat_map(u16::to_le_bytes).collect()),
        Some(_) => Err(unknown_encoding(encoding)),
    }
}

fn unknown_encoding(encoding: Option<&String>) -> String {
    format!(
        "knows the encodings `utf8` and `unicode`, not `{}`",
        shown(encoding.map(String::as_str).unwrap_or_default())
    )
}

pub(super) fn to_base64(input: &FilterInput<'_>) -> FilterResult {
    if input.arguments.len() > 1 {
        return Err("takes at most one argument, the encoding".to_owned().into());
    }
    Ok(STANDARD.encode(encode_text(input.value, input.arguments.first())?))
}

pub(super) fn from_base64(input: &FilterInput<'_>) -> FilterResult {
    if input.arguments.len() > 1 {
        return Err("takes at most one argument, the encoding".to_owned().into());
    }
    let bytes = STANDARD
        .decode(input.value.trim())
        .map_err(|error| format!("cannot decode the value as Base64: {error}"))?;
    match input
        .arguments
        .first()
        .map(|name| name.to_lowercase())
        .as_deref()
    {
        None | Some("utf8") | Some("utf-8") => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Some("unicode") => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]))
                .collect();
            Ok(String::from_utf16_lossy(&units))
        }
        Some(_) => Err(unknown_encoding(input.arguments.first()).into()),
    }
}
