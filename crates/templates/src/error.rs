//! The one error type of the crate, and the internal failure that travels through minijinja.

use std::fmt;

/// What went wrong, so callers can tell a broken template (fix the text) from missing data
/// (define the variable) without parsing the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateErrorKind {
    /// The template text is not valid Octostache: an unclosed `#{`, a stray `#{/if}`, a bad name.
    Syntax,
    /// A `#{Name}` outside an `#{if}` condition names no variable (strict mode only).
    UnknownVariable,
    /// A `| Filter` names no known filter. Reported by `check` too.
    UnknownFilter,
    /// A known filter could not be applied to its value and arguments.
    FilterArgument,
    /// A variable's value refers back to the variable itself.
    SelfReference,
    /// A `#{calc}` expression could not be computed (not a number, division by zero).
    Calculation,
    /// The render went over its [`Limits`](crate::Limits): too much output or too many steps
    /// (values that double at every level, loops inside loops).
    OverBudget,
}

/// A template error, positioned at the `#{` that failed (1-based line and column, the column
/// counting characters).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct TemplateError {
    pub kind: TemplateErrorKind,
    pub message: String,
    pub line: usize,
    pub column: usize,
}

/// A failure raised while rendering, carried out of minijinja as the source of its error.
///
/// It remembers the variables whose values were being expanded when it happened, so the final
/// message can say where the fault really is while the position stays in the outer template.
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub kind: TemplateErrorKind,
    pub message: String,
    pub line: usize,
    pub column: usize,
    /// Innermost first: the variables whose values contained the failing `#{`.
    pub inside_values_of: Vec<String>,
}

impl Failure {
    pub fn new(kind: TemplateErrorKind, message: String, (line, column): (usize, usize)) -> Self {
        Failure {
            kind,
            message,
            line,
            column,
            inside_values_of: Vec::new(),
        }
    }

    /// Moves the failure out of the value of `variable` to the `#{` that referenced it.
    pub fn seen_through(mut self, variable: &str, (line, column): (usize, usize)) -> Self {
        if self.kind != TemplateErrorKind::SelfReference {
            self.inside_values_of.push(variable.to_owned());
        }
        self.line = line;
        self.column = column;
        self
    }

    pub fn into_template_error(self) -> TemplateError {
        let message = if self.inside_values_of.is_empty() {
            self.message
        } else {
            let places: Vec<String> = self
                .inside_values_of
                .iter()
                .map(|name| format!("in the value of `{name}`"))
                .collect();
            format!("{} ({})", self.message, places.join(", "))
        };
        TemplateError {
            kind: self.kind,
            message,
            line: self.line,
            column: self.column,
        }
    }

    /// Wraps the failure into a minijinja error so it survives the trip through the renderer.
    pub fn into_minijinja(self) -> minijinja::Error {
        minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, "template failure")
            .with_source(self)
    }

    /// Finds the failure inside a minijinja error, if one of ours caused it.
    pub fn from_minijinja(error: &minijinja::Error) -> Option<Failure> {
        let mut source = std::error::Error::source(error);
        while let Some(current) = source {
            if let Some(failure) = current.downcast_ref::<Failure>() {
                return Some(failure.clone());
            }
            source = current.source();
        }
        None
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for Failure {}
