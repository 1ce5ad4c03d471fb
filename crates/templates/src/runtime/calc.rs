//! The Rust side of `#{calc}`: reading operands as numbers, division and remainder with their
//! checks, and printing the result as .NET prints a double. The `+ - *` are minijinja's.

use minijinja::value::Value;
use minijinja::{Error, State};

use super::{Scope, echo, text_of};
use crate::error::TemplateErrorKind;

/// `octo_calc_operands(calculation, [values])`: the operands as numbers, or none (lenient) when
/// one is missing or not a number, so the tag is left as written.
pub(super) fn operands(
    state: &State,
    calculation: usize,
    values: Vec<Value>,
) -> Result<Value, Error> {
    let scope = Scope::of(state)?;
    let Some(info) = scope.program().calculations.get(calculation) else {
        return Err(Error::new(
            minijinja::ErrorKind::InvalidOperation,
            "unknown calculation",
        ));
    };
    let mut numbers = Vec::with_capacity(values.len());
    for (value, operand) in values.iter().zip(&info.operands) {
        if value.is_none() || value.is_undefined() {
            return Ok(Value::from(()));
        }
        let text = text_of(value);
        match text.trim().parse::<f64>() {
            Ok(number) => numbers.push(Value::from(number)),
            Err(_) if scope.render().lenient => return Ok(Value::from(())),
            Err(_) => {
                return Err(scope.fail(
                    info.tag,
                    TemplateErrorKind::Calculation,
                    format!(
                        "`{operand}` is not a number (its value is `{}`)",
                        crate::filters::shown(&text)
                    ),
                ));
            }
        }
    }
    Ok(Value::from(numbers))
}

/// `octo_calc_result(tag, number)`: `5` rather than `5.0`, `1.5`, `0.30000000000000004`.
pub(super) fn result(state: &State, tag: usize, number: f64) -> Result<Value, Error> {
    if number.is_finite() {
        return Ok(Value::from(format!("{number}")));
    }
    let scope = Scope::of(state)?;
    if scope.render().lenient {
        return echo(state, tag);
    }
    Err(scope.fail(
        tag,
        TemplateErrorKind::Calculation,
        "the result is not a finite number".to_owned(),
    ))
}

pub(super) fn divide(state: &State, tag: usize, left: f64, right: f64) -> Result<f64, Error> {
    if right != 0.0 {
        return Ok(left / right);
    }
    failed(state, tag, "division by zero")
}

/// Remainder over whole numbers only, as in Octostache.
pub(super) fn modulo(state: &State, tag: usize, left: f64, right: f64) -> Result<f64, Error> {
    let whole = |number: f64| number.is_finite() && number.fract() == 0.0;
    if !whole(left) || !whole(right) {
        return failed(state, tag, "`%` needs whole numbers");
    }
    if right == 0.0 {
        return failed(state, tag, "division by zero");
    }
    Ok(left % right)
}

/// Strict: a calculation error. Lenient: not-a-number, which `result` turns into pass-through.
fn failed(state: &State, tag: usize, message: &str) -> Result<f64, Error> {
    let scope = Scope::of(state)?;
    if scope.render().lenient {
        return Ok(f64::NAN);
    }
    Err(scope.fail(tag, TemplateErrorKind::Calculation, message.to_owned()))
}
