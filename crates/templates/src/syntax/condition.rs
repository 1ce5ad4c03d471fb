//! Reading conditions: `Name`, `Name | Filter …`, and comparisons with `==` or `!=` whose
//! sides are quoted text or (filtered) names, on either side; and `#{elseif …}` headers.

use super::ast::{Condition, ConditionValue, Operand, Tag};
use super::cursor::Cursor;
use super::symbol::{NameContext, name_starts_here, read_symbol};
use super::tag::{FilterPlace, finish_tag, push_filter_call, read_quoted};
use crate::error::TemplateError;

/// Reads the condition after `if`, `unless` or `elseif`; the caller expects the closing `}`.
pub(crate) fn read_condition(
    cursor: &mut Cursor<'_>,
    start: usize,
) -> Result<Condition, TemplateError> {
    cursor.skip_whitespace();
    let Some(left) = read_operand(cursor, start)? else {
        return Err(cursor.syntax_error(
            start,
            format!(
                "expected a variable name or quoted text in the condition, found {}",
                cursor.describe_next()
            ),
        ));
    };
    cursor.skip_whitespace();
    let equal = if cursor.starts_with("==") {
        true
    } else if cursor.starts_with("!=") {
        false
    } else {
        return match left {
            Operand::Value(value) => Ok(Condition::Truthy(value)),
            Operand::Text(_) => Err(cursor.syntax_error(
                start,
                format!(
                    "expected `==` or `!=` after quoted text in a condition, found {}",
                    cursor.describe_next()
                ),
            )),
        };
    };
    cursor.advance(2);
    cursor.skip_whitespace();
    let Some(right) = read_operand(cursor, start)? else {
        return Err(cursor.syntax_error(
            start,
            format!(
                "expected a quoted string or a variable name after `{}`, found {}",
                if equal { "==" } else { "!=" },
                cursor.describe_next()
            ),
        ));
    };
    Ok(Condition::Compare { left, equal, right })
}

/// Quoted text, or a name with its filters; `None` when neither starts here.
fn read_operand(cursor: &mut Cursor<'_>, start: usize) -> Result<Option<Operand>, TemplateError> {
    if let Some(text) = read_quoted(cursor, start)? {
        return Ok(Some(Operand::Text(text)));
    }
    if !name_starts_here(cursor, NameContext::Ordinary) {
        return Ok(None);
    }
    let symbol = read_symbol(cursor, NameContext::Ordinary, start)?;
    let mut filters = Vec::new();
    loop {
        cursor.skip_whitespace();
        if cursor.peek() != Some('|') {
            break;
        }
        push_filter_call(cursor, start, FilterPlace::Condition, &mut filters)?;
    }
    Ok(Some(Operand::Value(ConditionValue { symbol, filters })))
}

/// Parses `#{elseif CONDITION}` at the cursor (which is at the `#`).
pub(crate) fn parse_elseif(cursor: &mut Cursor<'_>) -> Result<(Tag, Condition), TemplateError> {
    let start = cursor.offset;
    cursor.advance(2);
    cursor.skip_whitespace();
    if !cursor.keyword_then_whitespace("elseif") {
        return Err(cursor.syntax_error(start, "expected `#{elseif <condition>}`"));
    }
    let condition = read_condition(cursor, start)?;
    let tag = finish_tag(cursor, start, "elseif")?;
    Ok((tag, condition))
}
