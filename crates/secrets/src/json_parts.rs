//! The parts of a sensitive JSON value that a template can print on their own
//! (`#{Creds.password}`, `#{Creds[password]}`, `#{each}` over it): every string and number
//! leaf, so the masker hides a field read from a secret and not only the whole value.

/// The leaves of `value` when it is a JSON object or array, read as loosely as Ferry's
/// templates read JSON (single quotes, unquoted property names): each string as the template
/// prints it and as written with its quotes, each number as written and as a double prints.
/// Property names and `true`/`false`/`null` are not parts. Nothing when `value` is not an
/// object or array (or has a bare word that is none of these, so is not JSON).
pub(crate) fn leaves(value: &str) -> Vec<String> {
    if !value.trim_start().starts_with(['{', '[']) {
        return Vec::new();
    }
    let mut scanner = Scanner {
        text: value,
        position: 0,
    };
    let mut parts = Vec::new();
    while let Some(character) = scanner.peek() {
        match character {
            '"' | '\'' => {
                let start = scanner.position;
                let decoded = scanner.string(character);
                if !scanner.names_a_property() {
                    parts.push(value[start..scanner.position].to_owned());
                    parts.push(decoded);
                }
            }
            character if is_structure(character) || character.is_whitespace() => {
                scanner.position += character.len_utf8();
            }
            _ => {
                let word = scanner.word();
                if scanner.names_a_property() || matches!(word, "true" | "false" | "null") {
                    continue;
                }
                // Any other bare word means this is not JSON, which a template cannot read into.
                let Ok(number) = word.parse::<f64>() else {
                    return Vec::new();
                };
                parts.push(word.to_owned());
                parts.push(number.to_string());
            }
        }
    }
    parts
}

fn is_structure(character: char) -> bool {
    matches!(character, '{' | '}' | '[' | ']' | ',' | ':')
}

struct Scanner<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Scanner<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.position..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let character = self.peek()?;
        self.position += character.len_utf8();
        Some(character)
    }

    /// A quoted string from its opening quote to its closing one (or the end), decoded.
    fn string(&mut self, quote: char) -> String {
        self.position += quote.len_utf8();
        let mut decoded = String::new();
        while let Some(character) = self.next() {
            match character {
                '\\' => match self.next() {
                    Some('n') => decoded.push('\n'),
                    Some('r') => decoded.push('\r'),
                    Some('t') => decoded.push('\t'),
                    Some('b') => decoded.push('\u{8}'),
                    Some('f') => decoded.push('\u{c}'),
                    Some('u') => {
                        let digits = self.text.get(self.position..self.position + 4);
                        if let Some(unit) = digits.and_then(|d| u32::from_str_radix(d, 16).ok()) {
                            self.position += 4;
                            decoded.push(char::from_u32(unit).unwrap_or('\u{fffd}'));
                        }
                    }
                    Some(other) => decoded.push(other),
                    None => break,
                },
                closing if closing == quote => break,
                other => decoded.push(other),
            }
        }
        decoded
    }

    /// An unquoted word: up to whitespace, a quote or a structural character.
    fn word(&mut self) -> &'a str {
        let start = self.position;
        while let Some(character) = self.peek() {
            if character.is_whitespace()
                || is_structure(character)
                || matches!(character, '"' | '\'')
            {
                break;
            }
            self.position += character.len_utf8();
        }
        if self.position == start {
            // Never stall on a character no rule takes.
            self.next();
        }
        &self.text[start..self.position]
    }

    /// Whether what was just read is followed by `:` (so it names a property).
    fn names_a_property(&self) -> bool {
        self.text[self.position..].trim_start().starts_with(':')
    }
}
