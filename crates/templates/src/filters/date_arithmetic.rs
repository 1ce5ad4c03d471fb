//! `AddDays` and `AddHours` as Octostache has them, and Ferry's `AddYears`, `AddMonths`,
//! `AddMinutes` and `AddSeconds` on the same rules: the value is a date, the one option an
//! amount (fractional and negative allowed where .NET allows them), and the result is printed
//! in the round-trip format `O`, so `| Format …` can follow.

use chrono::{Months, NaiveDateTime, TimeDelta};

use super::dates::{self, DateValue, Kind};
use super::{FilterInput, FilterResult, shown};

/// Ticks (100 ns) in each unit, as .NET's `TimeSpan.From…` counts them.
const TICKS_PER_SECOND: f64 = 10_000_000.0;

pub(super) fn add_days(input: &FilterInput<'_>) -> FilterResult {
    add_span(input, 86_400.0 * TICKS_PER_SECOND)
}

pub(super) fn add_hours(input: &FilterInput<'_>) -> FilterResult {
    add_span(input, 3_600.0 * TICKS_PER_SECOND)
}

pub(super) fn add_minutes(input: &FilterInput<'_>) -> FilterResult {
    add_span(input, 60.0 * TICKS_PER_SECOND)
}

pub(super) fn add_seconds(input: &FilterInput<'_>) -> FilterResult {
    add_span(input, TICKS_PER_SECOND)
}

pub(super) fn add_months(input: &FilterInput<'_>) -> FilterResult {
    add_calendar_months(input, 1)
}

pub(super) fn add_years(input: &FilterInput<'_>) -> FilterResult {
    add_calendar_months(input, 12)
}

/// Reads the one amount option as .NET's `double.Parse` in the invariant culture would.
fn amount(input: &FilterInput<'_>) -> Result<f64, String> {
    let [text] = input.arguments else {
        return Err("takes one argument, the amount to add".to_owned());
    };
    text.trim()
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .ok_or_else(|| format!("needs a number to add, not `{}`", shown(text)))
}

fn add_span(input: &FilterInput<'_>, ticks_per_unit: f64) -> FilterResult {
    let amount = amount(input)?;
    let date = read(input.value)?;
    let ticks = (amount * ticks_per_unit).round();
    // More than about 29 000 years either way is outside every date .NET can hold.
    if ticks.abs() > 1e19 {
        return Err("adds more time than a date can hold".to_owned().into());
    }
    let nanoseconds = ticks as i64;
    let delta = TimeDelta::microseconds(nanoseconds / 10)
        + TimeDelta::nanoseconds((nanoseconds % 10) * 100);
    let local = date
        .local
        .checked_add_signed(delta)
        .ok_or_else(|| "gives a date out of range".to_owned())?;
    finish(date, local)
}

/// Months and years are calendar steps: the day is kept, or moved back to the month's last
/// day (31 January plus a month is 28 or 29 February), as .NET's `AddMonths` does.
fn add_calendar_months(input: &FilterInput<'_>, months_per_unit: i64) -> FilterResult {
    let amount = amount(input)?;
    if amount.fract() != 0.0 || amount.abs() > 120_000.0 {
        return Err(
            format!("needs a whole number of at most 120000 to add, not `{amount}`").into(),
        );
    }
    let date = read(input.value)?;
    let months = amount as i64 * months_per_unit;
    let steps = Months::new(u32::try_from(months.unsigned_abs()).unwrap_or(u32::MAX));
    let local = if months >= 0 {
        date.local.checked_add_months(steps)
    } else {
        date.local.checked_sub_months(steps)
    }
    .ok_or_else(|| "gives a date out of range".to_owned())?;
    finish(date, local)
}

/// Reads the value as a date, keeping what kind of date it is: zone-less stays zone-less,
/// `Z` stays UTC, and an explicit offset is kept rather than converted.
fn read(text: &str) -> Result<DateValue, String> {
    let trimmed = text.trim();
    let not_a_date = || format!("cannot read `{}` as a date", shown(text));
    if let Some(utc_text) = trimmed.strip_suffix('Z') {
        let local = dates::parse_naive(utc_text).ok_or_else(not_a_date)?;
        return Ok(DateValue {
            local,
            offset_seconds: 0,
            kind: Kind::Utc,
        });
    }
    if let Some(local) = dates::parse_naive(trimmed) {
        return Ok(DateValue {
            local,
            offset_seconds: 0,
            kind: Kind::Unspecified,
        });
    }
    let with_offset = dates::parse(trimmed, Kind::Offset).ok_or_else(not_a_date)?;
    Ok(with_offset)
}

fn finish(date: DateValue, local: NaiveDateTime) -> FilterResult {
    // A year before 1 or after 9999 is outside .NET's range.
    let year = chrono::Datelike::year(&local);
    if !(1..=9999).contains(&year) {
        return Err("gives a date out of range".to_owned().into());
    }
    dates::format(
        &DateValue {
            local,
            offset_seconds: date.offset_seconds,
            kind: date.kind,
        },
        "O",
    )
}
