//! One Rust source file as the checks see it: its text, its tokens, and where its
//! `#[cfg(test)] mod … { … }` unit-test modules are.

use std::ops::RangeInclusive;
use std::path::Path;

use anyhow::Context;

use crate::lexer::{Token, TokenKind, tokenize};

pub struct SourceFile {
    /// The path relative to the repository root, with `/` separators, as violations print it.
    pub path: String,
    pub text: String,
    pub tokens: Vec<Token>,
    /// Line ranges of `#[cfg(test)]` modules, from the attribute to the closing brace.
    test_modules: Vec<RangeInclusive<usize>>,
}

impl SourceFile {
    pub fn read(root: &Path, path: &str) -> anyhow::Result<SourceFile> {
        let text =
            std::fs::read_to_string(root.join(path)).with_context(|| format!("reading {path}"))?;
        Ok(SourceFile::parse(path, text))
    }

    pub fn parse(path: &str, text: String) -> SourceFile {
        let tokens = tokenize(&text);
        let test_modules = test_modules(&tokens);
        SourceFile {
            path: path.to_owned(),
            text,
            tokens,
            test_modules,
        }
    }

    /// True when the line is inside a `#[cfg(test)]` module.
    pub fn in_test_module(&self, line: usize) -> bool {
        self.test_modules
            .iter()
            .any(|module| module.contains(&line))
    }

    /// Lines that are not blank and hold code (not only comments), outside test modules.
    pub fn lines_of_code(&self) -> usize {
        let line_count = self.text.lines().count();
        let mut has_code = vec![false; line_count + 2];
        for token in &self.tokens {
            if let Some(lines) = has_code.get_mut(token.line..=token.end_line.min(line_count)) {
                lines.fill(true);
            }
        }
        self.text
            .lines()
            .enumerate()
            .map(|(index, text)| (index + 1, text))
            .filter(|&(line, text)| has_code[line] && !text.trim().is_empty())
            .filter(|&(line, _)| !self.in_test_module(line))
            .count()
    }
}

/// Finds `#[cfg(test)]` followed (after any other attributes) by `mod name { … }` or
/// `mod name;`, optionally `pub`/`pub(crate)`.
fn test_modules(tokens: &[Token]) -> Vec<RangeInclusive<usize>> {
    let mut modules = Vec::new();
    let mut index = 0;
    while index < tokens.len() {
        if !is_cfg_test(&tokens[index..]) {
            index += 1;
            continue;
        }
        let start_line = tokens[index].line;
        let mut next = index + 7;
        // Further attributes: `#[allow(…)]` and the like.
        while tokens.get(next).is_some_and(|t| t.is_punct("#"))
            && tokens.get(next + 1).is_some_and(|t| t.is_punct("["))
        {
            next =
                matching_close(tokens, next + 1, "[", "]").map_or(tokens.len(), |close| close + 1);
        }
        if tokens.get(next).is_some_and(|t| t.is_ident("pub")) {
            next += 1;
            if tokens.get(next).is_some_and(|t| t.is_punct("(")) {
                next =
                    matching_close(tokens, next, "(", ")").map_or(tokens.len(), |close| close + 1);
            }
        }
        let is_mod = tokens.get(next).is_some_and(|t| t.is_ident("mod"))
            && tokens
                .get(next + 1)
                .is_some_and(|t| t.kind == TokenKind::Ident);
        if !is_mod {
            index = next.max(index + 1);
            continue;
        }
        let body = next + 2;
        let end = match tokens.get(body) {
            Some(token) if token.is_punct("{") => matching_close(tokens, body, "{", "}"),
            Some(token) if token.is_punct(";") => Some(body),
            _ => None,
        };
        let end_index = end.unwrap_or(tokens.len() - 1);
        modules.push(start_line..=tokens[end_index].end_line);
        index = end_index + 1;
    }
    modules
}

/// `# [ cfg ( test ) ]`
fn is_cfg_test(tokens: &[Token]) -> bool {
    tokens.len() >= 6
        && tokens[0].is_punct("#")
        && tokens[1].is_punct("[")
        && tokens[2].is_ident("cfg")
        && tokens[3].is_punct("(")
        && tokens[4].is_ident("test")
        && tokens[5].is_punct(")")
        && tokens.get(6).is_some_and(|t| t.is_punct("]"))
}

/// The index of the token closing the bracket opened at `open_index`.
pub fn matching_close(
    tokens: &[Token],
    open_index: usize,
    open: &str,
    close: &str,
) -> Option<usize> {
    let mut depth = 0usize;
    for (index, token) in tokens.iter().enumerate().skip(open_index) {
        if token.is_punct(open) {
            depth += 1;
        } else if token.is_punct(close) {
            depth = depth.saturating_sub(1);
            if depth == 0 {
                return Some(index);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::SourceFile;

    #[test]
    fn comments_blank_lines_and_test_modules_are_not_code() {
        let text = "//! Owns x.\n\n/// Doc.\nfn a() {} // trailing\n/*\n  block\n*/\nconst S: &str = \"\nin a string\n\";\n#[cfg(test)]\n#[allow(unused)]\nmod tests {\n    fn t() {}\n}\nfn after() {}\n";
        let file = SourceFile::parse("x.rs", text.to_owned());
        // `fn a`, the three lines of `const S` (a string's lines are code), `fn after`.
        assert_eq!(file.lines_of_code(), 5);
        assert!(file.in_test_module(11));
        assert!(file.in_test_module(15));
        assert!(!file.in_test_module(16));
    }

    #[test]
    fn cfg_test_on_something_else_is_not_a_test_module() {
        let file = SourceFile::parse("x.rs", "#[cfg(test)]\nfn helper() {}\n".to_owned());
        assert!(!file.in_test_module(2));
        assert_eq!(file.lines_of_code(), 2);
    }
}
