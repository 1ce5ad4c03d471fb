//! A position in the template text, with the small reading helpers both parsers share.

use std::cell::Cell;

use super::ast::Position;
use crate::error::{TemplateError, TemplateErrorKind};

/// How deep tags, blocks and parentheses may nest, so a hostile template cannot exhaust the
/// stack of the parser or of minijinja.
const MOST_NESTED: usize = 50;

/// How many operators one `#{calc}` may have (each one nests the expression deeper).
const MOST_CALC_OPERATORS: usize = 100;

pub(crate) struct Cursor<'a> {
    pub source: &'a str,
    /// Byte offset of the next character.
    pub offset: usize,
    /// Byte offsets where each line starts, for turning offsets into line and column.
    line_starts: Vec<usize>,
    /// How many tags, blocks or parentheses the cursor is inside.
    depth: usize,
    /// Operators read so far in the current `#{calc}`.
    pub calc_operators: usize,
    /// Lenient parsing leaves a tag that does not parse in the text as written, as Octostache
    /// does when it does not halt on errors.
    pub lenient: bool,
    /// Where the parser stood when it made its last syntax error: lenient parsing resumes
    /// there. `None` after an error that must not be passed over (the nesting limits).
    pub failed_at: Cell<Option<usize>>,
}

impl<'a> Cursor<'a> {
    pub fn new(source: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(source.match_indices('\n').map(|(index, _)| index + 1));
        Cursor {
            source,
            offset: 0,
            line_starts,
            depth: 0,
            calc_operators: 0,
            lenient: false,
            failed_at: Cell::new(None),
        }
    }

    /// Runs `read` one nesting level deeper, failing at `offset` past the limit.
    pub fn nested<T>(
        &mut self,
        offset: usize,
        read: impl FnOnce(&mut Self) -> Result<T, TemplateError>,
    ) -> Result<T, TemplateError> {
        if self.depth >= MOST_NESTED {
            return Err(self.limit_error(
                offset,
                format!("tags, blocks or parentheses nest more than {MOST_NESTED} deep here"),
            ));
        }
        self.depth += 1;
        let result = read(self);
        self.depth -= 1;
        result
    }

    /// Counts one `#{calc}` operator, failing at `offset` past the limit.
    pub fn count_calc_operator(&mut self, offset: usize) -> Result<(), TemplateError> {
        self.calc_operators += 1;
        if self.calc_operators > MOST_CALC_OPERATORS {
            return Err(self.limit_error(
                offset,
                format!("a `#{{calc}}` may have at most {MOST_CALC_OPERATORS} operators"),
            ));
        }
        Ok(())
    }

    pub fn rest(&self) -> &'a str {
        &self.source[self.offset..]
    }

    pub fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub fn peek_second(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    pub fn at_end(&self) -> bool {
        self.offset >= self.source.len()
    }

    pub fn starts_with(&self, text: &str) -> bool {
        self.rest().starts_with(text)
    }

    /// Advances past one character and returns it.
    pub fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.offset += next.len_utf8();
        Some(next)
    }

    pub fn advance(&mut self, bytes: usize) {
        self.offset += bytes;
    }

    pub fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    /// Consumes `word` (any case) when it is followed by whitespace, as the block keywords are.
    pub fn keyword_then_whitespace(&mut self, word: &str) -> bool {
        let rest = self.rest();
        let Some(candidate) = rest.get(..word.len()) else {
            return false;
        };
        let followed_by_space = rest[word.len()..]
            .chars()
            .next()
            .is_some_and(char::is_whitespace);
        if candidate.eq_ignore_ascii_case(word) && followed_by_space {
            self.offset += word.len();
            return true;
        }
        false
    }

    pub fn position_of(&self, offset: usize) -> Position {
        let line_index = self.line_starts.partition_point(|start| *start <= offset) - 1;
        let line_start = self.line_starts[line_index];
        let column = self.source[line_start..offset].chars().count() + 1;
        Position {
            line: line_index + 1,
            column,
        }
    }

    pub fn error_at(
        &self,
        offset: usize,
        kind: TemplateErrorKind,
        message: impl Into<String>,
    ) -> TemplateError {
        let position = self.position_of(offset);
        TemplateError {
            kind,
            message: message.into(),
            line: position.line,
            column: position.column,
        }
    }

    pub fn syntax_error(&self, offset: usize, message: impl Into<String>) -> TemplateError {
        self.failed_at.set(Some(self.offset));
        self.error_at(offset, TemplateErrorKind::Syntax, message)
    }

    /// A syntax error that even lenient parsing reports: a limit that keeps hostile templates
    /// from exhausting the stack.
    fn limit_error(&self, offset: usize, message: impl Into<String>) -> TemplateError {
        self.failed_at.set(None);
        self.error_at(offset, TemplateErrorKind::Syntax, message)
    }

    /// Describes what is at the cursor for "unexpected …" messages.
    pub fn describe_next(&self) -> String {
        match self.peek() {
            None => "the end of the template".to_owned(),
            Some('\n') => "a line break".to_owned(),
            Some(character) => format!("`{character}`"),
        }
    }
}

/// Octostache's name characters: letters, digits, whitespace and `_ - : / ~ ( ) @`.
pub(crate) fn is_name_character(character: char) -> bool {
    character.is_alphanumeric()
        || character.is_whitespace()
        || matches!(character, '_' | '-' | ':' | '/' | '~' | '(' | ')' | '@')
}

/// Filter names are name characters without whitespace.
pub(crate) fn is_filter_name_character(character: char) -> bool {
    is_name_character(character) && !character.is_whitespace()
}
