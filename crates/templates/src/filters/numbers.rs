//! The `Format` filter, and .NET-style number formatting for it.
//!
//! Supported number formats (invariant culture): `N`, `F`, `D`, `P`, `C` (`¤`), `E`, `G`,
//! `X` with an optional precision, and custom patterns made of `0`, `#`, one `.`, `,`
//! grouping, `%`, with literal text before or after the digits. Anything else is an error
//! naming the format, rather than a guess.

use super::dates;
use super::{FilterInput, FilterResult, shown};

/// `Format FORMAT` (the value is tried as a number, then as a date) or `Format TYPE FORMAT`
/// with TYPE one of `Int32`, `Int`, `Double`, `Decimal`, `Date`, `DateTime`, `DateTimeOffset`.
pub(super) fn format(input: &FilterInput<'_>) -> FilterResult {
    match input.arguments {
        [format] => {
            if let Some(number) = Decimal::parse(input.value) {
                return format_number(&number, format);
            }
            if let Some(date) = dates::parse(input.value, dates::Kind::Offset) {
                return dates::format(&date, format);
            }
            Err(format!(
                "cannot format `{}`: it is neither a number nor a date",
                shown(input.value)
            ).into())
        }
        [kind, format] => match kind.to_lowercase().as_str() {
            "int32" | "int" | "double" | "decimal" => {
                let number = Decimal::parse(input.value)
                    .ok_or_else(|| format!("cannot format `{}` as a number", shown(input.value)))?;
                if kind.to_lowercase().starts_with("int") && !number.is_whole() {
                    return Err(format!("cannot format `{}` as a whole number", shown(input.value)).into());
                }
                format_number(&number, format)
            }
            "date" | "datetime" | "datetimeoffset" => {
                let target = if kind.eq_ignore_ascii_case("datetimeoffset") {
                    dates::Kind::Offset
                } else {
                    dates::Kind::Unspecified
                };
                let date = dates::parse(input.value, target)
                    .ok_or_else(|| format!("cannot format `{}` as a date", shown(input.value)))?;
                dates::format(&date, format)
            }
            _ => Err(format!(
                "knows the types Int32, Double, Decimal, Date, DateTime and DateTimeOffset, not `{}`",
                shown(kind)
            ).into()),
        },
        _ => Err("takes a format, or a type and a format".to_owned().into()),
    }
}

/// An exact decimal number as written: sign, integer digits and fraction digits.
#[derive(Debug, Clone)]
struct Decimal {
    negative: bool,
    integer: String,
    fraction: String,
}

impl Decimal {
    /// Accepts what .NET's `decimal.Parse` does by default: surrounding whitespace, a sign,
    /// `,` thousands separators and a `.` decimal point (no exponent).
    fn parse(text: &str) -> Option<Decimal> {
        let text = text.trim();
        let (negative, unsigned) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.strip_prefix('+').unwrap_or(text)),
        };
        let (integer_part, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let integer: String = integer_part.chars().filter(|c| *c != ',').collect();
        let digits = |part: &str| part.bytes().all(|byte| byte.is_ascii_digit());
        if (integer.is_empty() && fraction.is_empty())
            || !digits(&integer)
            || !digits(fraction)
            || integer_part.starts_with(',')
        {
            return None;
        }
        let integer = integer.trim_start_matches('0');
        Some(Decimal {
            negative,
            integer: if integer.is_empty() { "0" } else { integer }.to_owned(),
            fraction: fraction.to_owned(),
        })
    }

    fn is_whole(&self) -> bool {
        self.fraction.bytes().all(|byte| byte == b'0')
    }

    fn is_zero(&self) -> bool {
        self.integer == "0" && self.is_whole()
    }

    /// Rounds half away from zero to `places` fraction digits (padding with zeros).
    fn rounded(&self, places: usize) -> Decimal {
        if self.fraction.len() <= places {
            let mut fraction = self.fraction.clone();
            fraction.extend(std::iter::repeat_n('0', places - self.fraction.len()));
            return Decimal {
                fraction,
                ..self.clone()
            };
        }
        let round_up = self.fraction.as_bytes()[places] >= b'5';
        let mut digits: Vec<u8> =
            format!("{}{}", self.integer, &self.fraction[..places]).into_bytes();
        if round_up {
            let mut position = digits.len();
            loop {
                if position == 0 {
                    digits.insert(0, b'1');
                    break;
                }
                position -= 1;
                if digits[position] == b'9' {
                    digits[position] = b'0';
                } else {
                    digits[position] += 1;
                    break;
                }
            }
        }
        let split = digits.len() - places;
        let text = String::from_utf8_lossy(&digits).into_owned();
        let integer = text[..split].trim_start_matches('0');
        Decimal {
            negative: self.negative,
            integer: if integer.is_empty() { "0" } else { integer }.to_owned(),
            fraction: text[split..].to_owned(),
        }
    }

    /// Multiplies by 100, for percentages.
    fn times_hundred(&self) -> Decimal {
        let mut fraction = self.fraction.clone();
        while fraction.len() < 2 {
            fraction.push('0');
        }
        let integer = format!("{}{}", self.integer, &fraction[..2]);
        let integer = integer.trim_start_matches('0');
        Decimal {
            negative: self.negative,
            integer: if integer.is_empty() { "0" } else { integer }.to_owned(),
            fraction: fraction[2..].to_owned(),
        }
    }

    fn to_f64(&self) -> f64 {
        let magnitude: f64 = format!("{}.{}0", self.integer, self.fraction)
            .parse()
            .unwrap_or(0.0);
        if self.negative { -magnitude } else { magnitude }
    }

    /// The sign to print: none for a value that rounds to zero.
    fn sign(&self) -> &'static str {
        if self.negative && !self.is_zero() {
            "-"
        } else {
            ""
        }
    }
}

fn group_thousands(integer: &str) -> String {
    let mut grouped = String::with_capacity(integer.len() + integer.len() / 3);
    for (position, digit) in integer.chars().enumerate() {
        if position > 0 && (integer.len() - position).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

fn with_fraction(integer: String, fraction: &str) -> String {
    if fraction.is_empty() {
        integer
    } else {
        format!("{integer}.{fraction}")
    }
}

fn format_number(number: &Decimal, format: &str) -> FilterResult {
    let mut characters = format.chars();
    let letter = characters.next().unwrap_or('G');
    let precision_text: String = characters.collect();
    let standard = letter.is_ascii_alphabetic()
        && precision_text.len() <= 2
        && precision_text.bytes().all(|byte| byte.is_ascii_digit());
    if !standard {
        return custom_number(number, format);
    }
    let precision: Option<usize> = precision_text.parse().ok();
    let places = precision.unwrap_or(2);
    match letter.to_ascii_uppercase() {
        'N' => {
            let rounded = number.rounded(places);
            Ok(format!(
                "{}{}",
                rounded.sign(),
                with_fraction(group_thousands(&rounded.integer), &rounded.fraction)
            ))
        }
        'F' => {
            let rounded = number.rounded(places);
            Ok(format!(
                "{}{}",
                rounded.sign(),
                with_fraction(rounded.integer.clone(), &rounded.fraction)
            ))
        }
        'C' => {
            let rounded = number.rounded(places);
            Ok(format!(
                "{}¤{}",
                rounded.sign(),
                with_fraction(group_thousands(&rounded.integer), &rounded.fraction)
            ))
        }
        'P' => {
            let rounded = number.times_hundred().rounded(places);
            Ok(format!(
                "{}{} %",
                rounded.sign(),
                with_fraction(group_thousands(&rounded.integer), &rounded.fraction)
            ))
        }
        'D' if number.is_whole() => {
            let width = precision.unwrap_or(0);
            Ok(format!("{}{:0>width$}", number.sign(), number.integer))
        }
        'X' if number.is_whole() && !number.negative => {
            let value: u128 = number
                .integer
                .parse()
                .map_err(|_| format!("cannot format `{}` as hexadecimal", number.integer))?;
            let width = precision.unwrap_or(0);
            Ok(if letter == 'x' {
                format!("{value:0width$x}")
            } else {
                format!("{value:0width$X}")
            })
        }
        'E' => Ok(scientific(number.to_f64(), precision.unwrap_or(6), letter)),
        'G' if precision.is_none() => Ok(format!(
            "{}{}",
            number.sign(),
            with_fraction(number.integer.clone(), &number.fraction)
        )),
        _ => Err(format!(
            "cannot format the number `{}` with `{}`",
            shown(&with_fraction(number.integer.clone(), &number.fraction)),
            shown(format)
        )
        .into()),
    }
}

/// .NET's `E`: one digit, `precision` decimals, `E`, a sign and at least three exponent digits.
fn scientific(value: f64, precision: usize, letter: char) -> String {
    let text = format!("{value:.precision$e}");
    let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}{letter}{sign}{:03}", exponent.abs())
}

/// Custom patterns such as `0.00`, `#,##0`, `000`, `0.0 kg` or `$#,##0.00`.
fn custom_number(number: &Decimal, format: &str) -> FilterResult {
    let unsupported = || format!("does not support the number format `{}`", shown(format));
    let is_placeholder = |c: char| matches!(c, '0' | '#' | '.' | ',');
    let first = format.find(['0', '#']).ok_or_else(unsupported)?;
    let last = format.rfind(['0', '#']).ok_or_else(unsupported)?;
    let (prefix, digits, suffix) = (&format[..first], &format[first..=last], &format[last + 1..]);
    let decorations = format!("{prefix}{suffix}");
    if !digits.chars().all(is_placeholder)
        || digits.matches('.').count() > 1
        || decorations.contains(['0', '#', ';', '"', '\'', '\\', 'E', 'e'])
    {
        return Err(unsupported().into());
    }
    let (integer_pattern, fraction_pattern) = digits.split_once('.').unwrap_or((digits, ""));
    if integer_pattern.ends_with(',') || fraction_pattern.contains(',') {
        return Err(unsupported().into());
    }
    let value = if decorations.contains('%') {
        number.times_hundred()
    } else {
        number.clone()
    };
    let most_places = fraction_pattern.len();
    let fewest_places = fraction_pattern
        .rfind('0')
        .map_or(0, |position| position + 1);
    let rounded = value.rounded(most_places);
    let mut fraction = rounded.fraction.clone();
    while fraction.len() > fewest_places && fraction.ends_with('0') {
        fraction.pop();
    }
    let fewest_integer_digits = integer_pattern.find('0').map_or(0, |position| {
        integer_pattern[position..].matches('0').count()
    });
    let mut integer = if rounded.integer == "0" && fewest_integer_digits == 0 {
        String::new()
    } else {
        rounded.integer.clone()
    };
    while integer.len() < fewest_integer_digits {
        integer.insert(0, '0');
    }
    if integer_pattern.contains(',') {
        integer = group_thousands(&integer);
    }
    let body = with_fraction(integer, &fraction);
    let sign = if rounded.negative && !(rounded.is_zero()) {
        "-"
    } else {
        ""
    };
    Ok(format!("{sign}{prefix}{body}{suffix}"))
}
