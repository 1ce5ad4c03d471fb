//! Reading `#{calc …}` arithmetic: `+ - * / %`, parentheses, unary minus, numbers, and
//! variable paths (names without spaces, since spaces and `-` `/` separate terms here).

use super::ast::{CalcExpression, CalcOperator};
use super::cursor::Cursor;
use super::symbol::{NameContext, name_starts_here, read_symbol};
use crate::error::TemplateError;

/// Reads the expression after `calc`; the caller expects the closing `}`.
pub(crate) fn read_calculation(
    cursor: &mut Cursor<'_>,
    tag_offset: usize,
) -> Result<CalcExpression, TemplateError> {
    cursor.calc_operators = 0;
    read_sum(cursor, tag_offset)
}

fn read_sum(cursor: &mut Cursor<'_>, tag_offset: usize) -> Result<CalcExpression, TemplateError> {
    let mut left = read_product(cursor, tag_offset)?;
    loop {
        cursor.skip_whitespace();
        let operator = match cursor.peek() {
            Some('+') => CalcOperator::Add,
            Some('-') => CalcOperator::Subtract,
            _ => return Ok(left),
        };
        cursor.bump();
        cursor.count_calc_operator(tag_offset)?;
        let right = read_product(cursor, tag_offset)?;
        left = CalcExpression::Binary(Box::new(left), operator, Box::new(right));
    }
}

fn read_product(
    cursor: &mut Cursor<'_>,
    tag_offset: usize,
) -> Result<CalcExpression, TemplateError> {
    let mut left = read_factor(cursor, tag_offset)?;
    loop {
        cursor.skip_whitespace();
        let operator = match cursor.peek() {
            Some('*') => CalcOperator::Multiply,
            Some('/') => CalcOperator::Divide,
            Some('%') => CalcOperator::Modulo,
            _ => return Ok(left),
        };
        cursor.bump();
        cursor.count_calc_operator(tag_offset)?;
        let right = read_factor(cursor, tag_offset)?;
        left = CalcExpression::Binary(Box::new(left), operator, Box::new(right));
    }
}

fn read_factor(
    cursor: &mut Cursor<'_>,
    tag_offset: usize,
) -> Result<CalcExpression, TemplateError> {
    cursor.nested(tag_offset, |cursor| read_factor_here(cursor, tag_offset))
}

fn read_factor_here(
    cursor: &mut Cursor<'_>,
    tag_offset: usize,
) -> Result<CalcExpression, TemplateError> {
    cursor.skip_whitespace();
    match cursor.peek() {
        Some('(') => {
            cursor.bump();
            let inner = read_sum(cursor, tag_offset)?;
            cursor.skip_whitespace();
            if cursor.peek() != Some(')') {
                return Err(cursor.syntax_error(
                    tag_offset,
                    format!(
                        "expected `)` in `#{{calc …}}`, found {}",
                        cursor.describe_next()
                    ),
                ));
            }
            cursor.bump();
            Ok(inner)
        }
        Some('-') => {
            cursor.bump();
            cursor.count_calc_operator(tag_offset)?;
            Ok(CalcExpression::Negate(Box::new(read_factor(
                cursor, tag_offset,
            )?)))
        }
        Some(digit) if digit.is_ascii_digit() => Ok(read_number(cursor)),
        // `{The/Var}` and `{Another-Var}`: a name with operator characters, braced.
        Some('{') => {
            cursor.bump();
            let symbol = read_symbol(cursor, NameContext::Ordinary, tag_offset)?;
            cursor.skip_whitespace();
            if cursor.peek() != Some('}') {
                return Err(cursor.syntax_error(
                    tag_offset,
                    format!(
                        "expected `}}` after `{{{}` in `#{{calc …}}`, found {}",
                        symbol.text,
                        cursor.describe_next()
                    ),
                ));
            }
            cursor.bump();
            Ok(CalcExpression::Variable(symbol))
        }
        _ if name_starts_here(cursor, NameContext::Calculation) => Ok(CalcExpression::Variable(
            read_symbol(cursor, NameContext::Calculation, tag_offset)?,
        )),
        _ => Err(cursor.syntax_error(
            tag_offset,
            format!(
                "expected a number, a variable name or `(` in `#{{calc …}}`, found {}",
                cursor.describe_next()
            ),
        )),
    }
}

fn read_number(cursor: &mut Cursor<'_>) -> CalcExpression {
    let start = cursor.offset;
    while cursor.peek().is_some_and(|next| next.is_ascii_digit()) {
        cursor.bump();
    }
    if cursor.peek() == Some('.')
        && cursor
            .peek_second()
            .is_some_and(|next| next.is_ascii_digit())
    {
        cursor.bump();
        while cursor.peek().is_some_and(|next| next.is_ascii_digit()) {
            cursor.bump();
        }
    }
    CalcExpression::Number(cursor.source[start..cursor.offset].to_owned())
}
