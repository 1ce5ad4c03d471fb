//! A small Rust tokenizer for the tidy checks: identifiers, literals and punctuation with the
//! lines they sit on, comments dropped, so that no check ever matches text inside a comment or
//! a string literal. It is not a parser: the checks match short token sequences.

/// What a token is; enough to tell code from literals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// An identifier or keyword (`r#type` is the identifier `type`).
    Ident,
    /// A lifetime or loop label, without its `'`.
    Lifetime,
    /// A string literal of any flavour (`"…"`, `r#"…"#`, `b"…"`, `c"…"`): its text is the
    /// content between the quotes, escapes left as written.
    Str,
    /// A character or byte literal, content only.
    Char,
    /// A numeric literal as written (`404`, `0x1f`, `1.5e3` stops at the `e3` sign).
    Number,
    /// One punctuation character, except `::`, which is one token.
    Punct,
}

/// One token and the lines it spans (1-based; a multi-line string spans several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub text: String,
    pub line: usize,
    pub end_line: usize,
}

impl Token {
    pub fn is_ident(&self, name: &str) -> bool {
        self.kind == TokenKind::Ident && self.text == name
    }

    pub fn is_punct(&self, punct: &str) -> bool {
        self.kind == TokenKind::Punct && self.text == punct
    }
}

struct Cursor {
    chars: Vec<char>,
    position: usize,
    line: usize,
}

impl Cursor {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.position + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let next = self.peek(0)?;
        self.position += 1;
        if next == '\n' {
            self.line += 1;
        }
        Some(next)
    }

    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> String {
        let mut taken = String::new();
        while let Some(next) = self.peek(0).filter(|&c| keep(c)) {
            taken.push(next);
            self.bump();
        }
        taken
    }
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Splits Rust source into tokens. Unterminated literals and comments end at the end of the
/// file instead of failing: the tidy checks files that compile, and must not panic on others.
pub fn tokenize(source: &str) -> Vec<Token> {
    let mut cursor = Cursor {
        chars: source.chars().collect(),
        position: 0,
        line: 1,
    };
    let mut tokens = Vec::new();
    while let Some(next) = cursor.peek(0) {
        let line = cursor.line;
        let token = |kind, text: String, end_line| Token {
            kind,
            text,
            line,
            end_line,
        };
        if next.is_whitespace() {
            cursor.bump();
        } else if next == '/' && cursor.peek(1) == Some('/') {
            cursor.take_while(|c| c != '\n');
        } else if next == '/' && cursor.peek(1) == Some('*') {
            skip_block_comment(&mut cursor);
        } else if is_ident_start(next) {
            let word = cursor.take_while(is_ident_continue);
            let (after, after_next) = (cursor.peek(0), cursor.peek(1));
            let raw_prefix = matches!(word.as_str(), "r" | "br" | "cr");
            if raw_prefix && (after == Some('"') || (after == Some('#') && opens_raw(&cursor))) {
                let text = raw_string(&mut cursor);
                tokens.push(token(TokenKind::Str, text, cursor.line));
            } else if word == "r" && after == Some('#') && after_next.is_some_and(is_ident_start) {
                cursor.bump();
                let name = cursor.take_while(is_ident_continue);
                tokens.push(token(TokenKind::Ident, name, line));
            } else if matches!(word.as_str(), "b" | "c") && after == Some('"') {
                let text = quoted_string(&mut cursor);
                tokens.push(token(TokenKind::Str, text, cursor.line));
            } else if word == "b" && after == Some('\'') {
                let (kind, text) = quote_or_lifetime(&mut cursor);
                tokens.push(token(kind, text, line));
            } else {
                tokens.push(token(TokenKind::Ident, word, line));
            }
        } else if next == '"' {
            let text = quoted_string(&mut cursor);
            tokens.push(token(TokenKind::Str, text, cursor.line));
        } else if next == '\'' {
            let (kind, text) = quote_or_lifetime(&mut cursor);
            tokens.push(token(kind, text, line));
        } else if next.is_ascii_digit() {
            let text = number(&mut cursor);
            tokens.push(token(TokenKind::Number, text, line));
        } else if next == ':' && cursor.peek(1) == Some(':') {
            cursor.bump();
            cursor.bump();
            tokens.push(token(TokenKind::Punct, "::".to_owned(), line));
        } else {
            cursor.bump();
            tokens.push(token(TokenKind::Punct, next.to_string(), line));
        }
    }
    tokens
}

/// Block comments nest in Rust: `/* a /* b */ still a comment */`.
fn skip_block_comment(cursor: &mut Cursor) {
    cursor.bump();
    cursor.bump();
    let mut depth = 1;
    while depth > 0 && cursor.peek(0).is_some() {
        if cursor.peek(0) == Some('/') && cursor.peek(1) == Some('*') {
            depth += 1;
            cursor.bump();
        } else if cursor.peek(0) == Some('*') && cursor.peek(1) == Some('/') {
            depth -= 1;
            cursor.bump();
        }
        cursor.bump();
    }
}

/// At `#`: true when the hashes are followed by `"` (a raw string, not a raw identifier).
fn opens_raw(cursor: &Cursor) -> bool {
    let mut ahead = 0;
    while cursor.peek(ahead) == Some('#') {
        ahead += 1;
    }
    cursor.peek(ahead) == Some('"')
}

/// At the hashes or quote after `r`: reads `#…#"…"#…#` and returns the content.
fn raw_string(cursor: &mut Cursor) -> String {
    let hashes = cursor.take_while(|c| c == '#').len();
    cursor.bump();
    let mut content = String::new();
    while let Some(next) = cursor.bump() {
        if next == '"' && (0..hashes).all(|ahead| cursor.peek(ahead) == Some('#')) {
            for _ in 0..hashes {
                cursor.bump();
            }
            break;
        }
        content.push(next);
    }
    content
}

/// At `"`: reads a string with escapes and returns the content as written.
fn quoted_string(cursor: &mut Cursor) -> String {
    cursor.bump();
    let mut content = String::new();
    while let Some(next) = cursor.bump() {
        match next {
            '"' => break,
            '\\' => {
                content.push(next);
                if let Some(escaped) = cursor.bump() {
                    content.push(escaped);
                }
            }
            _ => content.push(next),
        }
    }
    content
}

/// At `'`: a character literal (`'x'`, `'\n'`, `'\u{1F600}'`) or a lifetime (`'a`).
fn quote_or_lifetime(cursor: &mut Cursor) -> (TokenKind, String) {
    cursor.bump();
    if cursor.peek(0) == Some('\\') {
        let mut content = String::new();
        while let Some(next) = cursor.bump() {
            if next == '\'' && !content.is_empty() && content != "\\" {
                break;
            }
            content.push(next);
        }
        return (TokenKind::Char, content);
    }
    if cursor.peek(1) == Some('\'') {
        let content = cursor.bump().map(String::from).unwrap_or_default();
        cursor.bump();
        return (TokenKind::Char, content);
    }
    let name = cursor.take_while(is_ident_continue);
    if name.is_empty() {
        return (TokenKind::Punct, "'".to_owned());
    }
    (TokenKind::Lifetime, name)
}

/// Digits, letters and underscores (`0x1F`, `1_000u32`), and a `.` only before a digit, so
/// that `0..10` stays a range.
fn number(cursor: &mut Cursor) -> String {
    let mut text = String::new();
    while let Some(next) = cursor.peek(0) {
        let decimal_point = next == '.' && cursor.peek(1).is_some_and(|c| c.is_ascii_digit());
        if !(is_ident_continue(next) || decimal_point) {
            break;
        }
        text.push(next);
        cursor.bump();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::{TokenKind, tokenize};

    fn texts(source: &str) -> Vec<(TokenKind, String)> {
        tokenize(source)
            .into_iter()
            .map(|token| (token.kind, token.text))
            .collect()
    }

    #[test]
    fn comments_disappear_and_strings_keep_their_content() {
        let tokens =
            texts("a // std::env::var\n/* b /* nested */ c */ \"std::env::var(\\\"X\\\")\"");
        assert_eq!(
            tokens,
            vec![
                (TokenKind::Ident, "a".to_owned()),
                (TokenKind::Str, "std::env::var(\\\"X\\\")".to_owned()),
            ]
        );
    }

    #[test]
    fn raw_strings_raw_identifiers_and_prefixed_literals() {
        let tokens = texts("r#\"say \"hi\"\"# r#type br\"x\" b'y' c\"z\"");
        assert_eq!(
            tokens,
            vec![
                (TokenKind::Str, "say \"hi\"".to_owned()),
                (TokenKind::Ident, "type".to_owned()),
                (TokenKind::Str, "x".to_owned()),
                (TokenKind::Char, "y".to_owned()),
                (TokenKind::Str, "z".to_owned()),
            ]
        );
    }

    #[test]
    fn characters_and_lifetimes_are_told_apart() {
        let tokens = texts("fn f<'a>(x: &'a str) { let q = '\"'; let e = '\\''; }");
        let kinds: Vec<_> = tokens
            .iter()
            .filter(|(kind, _)| matches!(kind, TokenKind::Char | TokenKind::Lifetime))
            .cloned()
            .collect();
        assert_eq!(
            kinds,
            vec![
                (TokenKind::Lifetime, "a".to_owned()),
                (TokenKind::Lifetime, "a".to_owned()),
                (TokenKind::Char, "\"".to_owned()),
                (TokenKind::Char, "\\'".to_owned()),
            ]
        );
    }

    #[test]
    fn tokens_know_their_lines() {
        let tokens = tokenize("a\n\"one\ntwo\"\n  ::b 0..10");
        let lines: Vec<_> = tokens
            .iter()
            .map(|token| (token.text.as_str(), token.line, token.end_line))
            .collect();
        assert_eq!(
            lines,
            vec![
                ("a", 1, 1),
                ("one\ntwo", 2, 3),
                ("::", 4, 4),
                ("b", 4, 4),
                ("0", 4, 4),
                (".", 4, 4),
                (".", 4, 4),
                ("10", 4, 4),
            ]
        );
    }
}
