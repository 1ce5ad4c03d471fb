//! JSON-valued variables: a variable whose value is JSON can be indexed (`#{Config[Key]}`,
//! `#{Config.Key}`, `#{Config.Items[0].Name}`) and iterated, as Octostache does with
//! Newtonsoft.Json: property names are matched exactly, a JSON `null` is empty, and an object
//! or array inside is printed as compact JSON. A missing property, an index past the end and a
//! property of a scalar are unknown variables when strict; lenient reading answers them as
//! Octostache does (empty, and a scalar answers any property with itself).
//!
//! The reader accepts what Newtonsoft accepts in practice (unquoted property names, single
//! quotes) and nests at most [`MOST_NESTED`] deep, so hostile values cannot exhaust the stack.

use super::Scope;

/// How deep arrays and objects may nest in a value that is read as JSON.
const MOST_NESTED: usize = 64;

#[derive(Debug, Clone)]
pub(super) enum Json {
    Null,
    Boolean(bool),
    /// As written.
    Number(String),
    Text(String),
    Array(Vec<Json>),
    /// Properties in the order written.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Reads a whole text as JSON; `None` when it is not JSON (or is empty).
    pub fn parse(text: &str) -> Option<Json> {
        let mut reader = Reader {
            bytes: text.as_bytes(),
            text,
            position: 0,
        };
        reader.skip_whitespace();
        let value = reader.value(0)?;
        reader.skip_whitespace();
        (reader.position == text.len()).then_some(value)
    }

    /// What a template sees for this value: a scalar's text (`True`/`False` as .NET prints
    /// booleans, nothing for `null`), or compact JSON for an object or array.
    pub fn as_variable_text(&self) -> String {
        match self {
            Json::Null => String::new(),
            Json::Boolean(true) => "True".to_owned(),
            Json::Boolean(false) => "False".to_owned(),
            Json::Number(number) => number.clone(),
            Json::Text(text) => text.clone(),
            Json::Array(_) | Json::Object(_) => {
                let mut compact = String::new();
                self.write_compact(&mut compact);
                compact
            }
        }
    }

    fn write_compact(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Boolean(value) => out.push_str(if *value { "true" } else { "false" }),
            Json::Number(number) => out.push_str(number),
            Json::Text(text) => write_string(text, out),
            Json::Array(items) => {
                out.push('[');
                for (position, item) in items.iter().enumerate() {
                    if position > 0 {
                        out.push(',');
                    }
                    item.write_compact(out);
                }
                out.push(']');
            }
            Json::Object(properties) => {
                out.push('{');
                for (position, (name, value)) in properties.iter().enumerate() {
                    if position > 0 {
                        out.push(',');
                    }
                    write_string(name, out);
                    out.push(':');
                    value.write_compact(out);
                }
                out.push('}');
            }
        }
    }

    /// One step into the value: `None` when the step does not apply (an array indexed by a
    /// name, a text that is not JSON), so the variable counts as missing. Strict reading also
    /// counts a missing property, an index past the end and a step into a scalar as missing
    /// (so a typo is an unknown variable); lenient reading answers them as Newtonsoft does:
    /// empty, and a scalar answers any property with itself. A JSON `null` is empty either way.
    pub fn step(&self, property: &str, lenient: bool) -> Option<String> {
        match self {
            Json::Object(properties) => {
                let found = properties.iter().find(|(name, _)| name == property);
                match found {
                    Some((_, value)) => Some(value.as_variable_text()),
                    None => lenient.then(String::new),
                }
            }
            Json::Array(items) => {
                let index: i32 = property.trim().parse().ok()?;
                let found = usize::try_from(index)
                    .ok()
                    .and_then(|index| items.get(index));
                match found {
                    Some(item) => Some(item.as_variable_text()),
                    None => lenient.then(String::new),
                }
            }
            scalar => lenient.then(|| scalar.as_variable_text()),
        }
    }
}

/// Walks `steps` into `text`, reading each intermediate value as JSON again, as Octostache
/// does. Each read is charged to the render's budget (a step per byte) before it is made, so
/// no caller can read JSON for free.
pub(super) fn walk(
    scope: &Scope,
    tag: usize,
    text: &str,
    steps: &[String],
) -> Result<Option<String>, minijinja::Error> {
    let mut current = text.to_owned();
    for step in steps {
        if current.is_empty() {
            return Ok(None);
        }
        scope.render().charge(scope, tag, current.len() as u64)?;
        let lenient = scope.render().lenient;
        let Some(next) = Json::parse(&current).and_then(|json| json.step(step, lenient)) else {
            return Ok(None);
        };
        current = next;
    }
    Ok(Some(current))
}

/// A double as .NET's default formatting prints it: the shortest text that reads back the
/// same, in exponent form (`1E+308`, `1.5E-07`, at least two exponent digits) below 1E-05 and
/// from 1E+15 on. Never longer than about 25 bytes, whatever the exponent.
fn dotnet_double(number: f64) -> String {
    let scientific = format!("{number:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if number != 0.0 && !(-5..15).contains(&exponent) {
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}E{sign}{:02}", exponent.unsigned_abs());
    }
    format!("{number}")
}

fn write_string(text: &str, out: &mut String) {
    out.push('"');
    for character in text.chars() {
        match character {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            control if u32::from(control) < 0x20 => {
                out.push_str(&format!("\\u{:04x}", u32::from(control)));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

struct Reader<'a> {
    bytes: &'a [u8],
    text: &'a str,
    position: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_whitespace()) {
            self.position += 1;
        }
    }

    fn value(&mut self, depth: usize) -> Option<Json> {
        if depth > MOST_NESTED {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(depth),
            b'[' => self.array(depth),
            quote @ (b'"' | b'\'') => self.string(quote).map(Json::Text),
            b't' => self.word("true", Json::Boolean(true)),
            b'f' => self.word("false", Json::Boolean(false)),
            b'n' => self.word("null", Json::Null),
            _ => self.number(),
        }
    }

    fn word(&mut self, word: &str, value: Json) -> Option<Json> {
        if !self.text[self.position..].starts_with(word) {
            return None;
        }
        self.position += word.len();
        Some(value)
    }

    fn number(&mut self) -> Option<Json> {
        let start = self.position;
        while self.peek().is_some_and(|byte| {
            byte.is_ascii_digit() || matches!(byte, b'-' | b'+' | b'.' | b'e' | b'E')
        }) {
            self.position += 1;
        }
        let written = &self.text[start..self.position];
        let number: f64 = written.parse().ok()?;
        // Newtonsoft reads decimals as doubles and prints them back as .NET does.
        if written.contains(['.', 'e', 'E']) && number.is_finite() {
            return Some(Json::Number(dotnet_double(number)));
        }
        Some(Json::Number(written.trim_start_matches('+').to_owned()))
    }

    fn string(&mut self, quote: u8) -> Option<String> {
        self.position += 1;
        let mut text = String::new();
        loop {
            let rest = &self.text[self.position..];
            let next = rest.chars().next()?;
            self.position += next.len_utf8();
            match next {
                '\\' => {
                    let escaped = self.text[self.position..].chars().next()?;
                    self.position += escaped.len_utf8();
                    match escaped {
                        'n' => text.push('\n'),
                        'r' => text.push('\r'),
                        't' => text.push('\t'),
                        'b' => text.push('\u{8}'),
                        'f' => text.push('\u{c}'),
                        'u' => {
                            let digits = self.text.get(self.position..self.position + 4)?;
                            let unit = u32::from_str_radix(digits, 16).ok()?;
                            self.position += 4;
                            text.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                        }
                        other => text.push(other),
                    }
                }
                closing if closing as u32 == u32::from(quote) => return Some(text),
                other => text.push(other),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Option<Json> {
        self.position += 1;
        let mut items = Vec::new();
        loop {
            self.skip_whitespace();
            if self.peek()? == b']' {
                self.position += 1;
                return Some(Json::Array(items));
            }
            items.push(self.value(depth + 1)?);
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.position += 1,
                b']' => {}
                _ => return None,
            }
        }
    }

    fn object(&mut self, depth: usize) -> Option<Json> {
        self.position += 1;
        let mut properties = Vec::new();
        loop {
            self.skip_whitespace();
            let name = match self.peek()? {
                b'}' => {
                    self.position += 1;
                    return Some(Json::Object(properties));
                }
                quote @ (b'"' | b'\'') => self.string(quote)?,
                _ => self.unquoted_name()?,
            };
            self.skip_whitespace();
            if self.peek()? != b':' {
                return None;
            }
            self.position += 1;
            self.skip_whitespace();
            let value = self.value(depth + 1)?;
            properties.push((name, value));
            self.skip_whitespace();
            match self.peek()? {
                b',' => self.position += 1,
                b'}' => {}
                _ => return None,
            }
        }
    }

    /// Newtonsoft reads an unquoted property name up to whitespace or `:`.
    fn unquoted_name(&mut self) -> Option<String> {
        let start = self.position;
        while self.peek().is_some_and(|byte| {
            !byte.is_ascii_whitespace()
                && !matches!(byte, b':' | b',' | b'{' | b'}' | b'[' | b']' | b'"' | b'\'')
        }) {
            self.position += 1;
        }
        (self.position > start).then(|| self.text[start..self.position].to_owned())
    }
}
