//! Dates for `NowDate`, `NowDateUtc` and `Format`: reading date text, and .NET-style date
//! format strings (standard letters such as `O`, `d`, `u`, and custom patterns such as
//! `yyyy-MM-dd HH:mm`) in the invariant culture.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Timelike};

use super::{FilterInput, FilterResult, shown};

/// .NET's `DateTimeKind`, which decides what `K` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A wall-clock time with no zone: `K` prints nothing.
    Unspecified,
    /// `K` prints `Z`.
    Utc,
    /// `K` prints the offset, `+00:00`.
    Offset,
}

pub(super) struct DateValue {
    pub(super) local: NaiveDateTime,
    pub(super) offset_seconds: i32,
    pub(super) kind: Kind,
}

/// `#{ | NowDate}` and `#{ | NowDate "yyyy-MM-dd"}`: the render's clock, as a zone-less time.
pub(super) fn now_date(input: &FilterInput<'_>) -> FilterResult {
    now(input, Kind::Unspecified)
}

/// `#{ | NowDateUtc}`: like `NowDate`, marked as UTC (`O` ends in `Z`).
pub(super) fn now_date_utc(input: &FilterInput<'_>) -> FilterResult {
    now(input, Kind::Utc)
}

fn now(input: &FilterInput<'_>, kind: Kind) -> FilterResult {
    let format_text = match input.arguments {
        [] => "O",
        [only] => only.as_str(),
        _ => return Err("takes at most one argument, the format".to_owned().into()),
    };
    let date = DateValue {
        local: input.now.naive_utc(),
        offset_seconds: 0,
        kind,
    };
    format(&date, format_text)
}

/// Reads a date the way .NET's `DateTime.TryParse` commonly succeeds: ISO 8601 with or without
/// an offset or `Z`, RFC 1123, `yyyy/MM/dd HH:mm:ss`, `MM/dd/yyyy`, and dates without a time.
/// `target` is `Offset` for `DateTimeOffset` (a zone-less time is taken as UTC) and
/// `Unspecified` for `DateTime` (a time with an offset is converted to UTC).
pub(super) fn parse(text: &str, target: Kind) -> Option<DateValue> {
    let text = text.trim();
    let with_offset = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_rfc2822(text))
        .ok()
        .or_else(|| {
            [
                "%Y-%m-%dT%H:%M:%S%.f%:z",
                "%Y-%m-%d %H:%M:%S%.f%:z",
                "%Y-%m-%d %H:%M:%S%.f %:z",
            ]
            .iter()
            .find_map(|pattern| DateTime::parse_from_str(text, pattern).ok())
        });
    if let Some(date) = with_offset {
        return Some(from_offset(date, target));
    }
    if let Some(utc_text) = text.strip_suffix('Z').or_else(|| text.strip_suffix(" GMT")) {
        let local = parse_naive(utc_text)?;
        let date =
            DateTime::<FixedOffset>::from_naive_utc_and_offset(local, FixedOffset::east_opt(0)?);
        return Some(from_offset(date, target));
    }
    let local = parse_naive(text)?;
    Some(DateValue {
        local,
        offset_seconds: 0,
        kind: if target == Kind::Offset {
            Kind::Offset
        } else {
            Kind::Unspecified
        },
    })
}

fn from_offset(date: DateTime<FixedOffset>, target: Kind) -> DateValue {
    if target == Kind::Offset {
        DateValue {
            local: date.naive_local(),
            offset_seconds: date.offset().local_minus_utc(),
            kind: Kind::Offset,
        }
    } else {
        DateValue {
            local: date.naive_utc(),
            offset_seconds: 0,
            kind: Kind::Offset,
        }
    }
}

pub(super) fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    const DATE_TIMES: &[&str] = &[
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M",
        "%Y/%m/%d %H:%M:%S%.f",
        "%Y/%m/%d %H:%M",
        "%m/%d/%Y %H:%M:%S%.f",
        "%m/%d/%Y %H:%M",
        "%m/%d/%Y %I:%M:%S %p",
        "%m/%d/%Y %I:%M %p",
        "%d %B %Y %H:%M:%S",
        "%d %b %Y %H:%M:%S",
    ];
    const DATES: &[&str] = &[
        "%Y-%m-%d",
        "%Y/%m/%d",
        "%m/%d/%Y",
        "%d %B %Y",
        "%d %b %Y",
        "%B %d, %Y",
        "%b %d, %Y",
    ];
    DATE_TIMES
        .iter()
        .find_map(|pattern| NaiveDateTime::parse_from_str(text, pattern).ok())
        .or_else(|| {
            DATES
                .iter()
                .find_map(|pattern| NaiveDate::parse_from_str(text, pattern).ok())
                .and_then(|date| date.and_hms_opt(0, 0, 0))
        })
}

/// Formats with a .NET date format string.
pub(super) fn format(date: &DateValue, pattern: &str) -> FilterResult {
    let mut characters = pattern.chars();
    if let (Some(letter), None) = (characters.next(), characters.next()) {
        let (custom, in_utc) = standard_pattern(letter)
            .ok_or_else(|| format!("does not know the date format `{}`", shown(pattern)))?;
        if in_utc {
            let utc = DateValue {
                local: date.local - chrono::Duration::seconds(i64::from(date.offset_seconds)),
                offset_seconds: 0,
                kind: Kind::Utc,
            };
            return custom_format(&utc, custom);
        }
        return custom_format(date, custom);
    }
    custom_format(date, pattern)
}

/// The invariant culture's standard date formats, and whether they show UTC.
fn standard_pattern(letter: char) -> Option<(&'static str, bool)> {
    Some(match letter {
        'd' => ("MM/dd/yyyy", false),
        'D' => ("dddd, dd MMMM yyyy", false),
        'f' => ("dddd, dd MMMM yyyy HH:mm", false),
        'F' => ("dddd, dd MMMM yyyy HH:mm:ss", false),
        'g' => ("MM/dd/yyyy HH:mm", false),
        'G' => ("MM/dd/yyyy HH:mm:ss", false),
        'M' | 'm' => ("MMMM dd", false),
        'O' | 'o' => ("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK", false),
        'R' | 'r' => ("ddd, dd MMM yyyy HH':'mm':'ss 'GMT'", true),
        's' => ("yyyy'-'MM'-'dd'T'HH':'mm':'ss", false),
        't' => ("HH:mm", false),
        'T' => ("HH:mm:ss", false),
        'u' => ("yyyy'-'MM'-'dd HH':'mm':'ss'Z'", true),
        'U' => ("dddd, dd MMMM yyyy HH:mm:ss", true),
        'Y' | 'y' => ("yyyy MMMM", false),
        _ => return None,
    })
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

fn custom_format(date: &DateValue, pattern: &str) -> FilterResult {
    let characters: Vec<char> = pattern.chars().collect();
    let local = date.local;
    let mut out = String::new();
    let mut position = 0;
    while position < characters.len() {
        let letter = characters[position];
        let run = characters[position..]
            .iter()
            .take_while(|c| **c == letter)
            .count();
        let mut consumed = run;
        let two = |value: u32| format!("{value:02}");
        match letter {
            'd' => out.push_str(&match run {
                1 => local.day().to_string(),
                2 => two(local.day()),
                3 => DAYS[local.weekday().num_days_from_monday() as usize][..3].to_owned(),
                _ => DAYS[local.weekday().num_days_from_monday() as usize].to_owned(),
            }),
            'f' | 'F' => {
                if run > 7 {
                    return Err(format!(
                        "cannot show more than 7 fraction digits in `{}`",
                        shown(pattern)
                    )
                    .into());
                }
                let digits = format!("{:07}", local.nanosecond() % 1_000_000_000 / 100);
                let mut shown = digits[..run].to_owned();
                if letter == 'F' {
                    shown = shown.trim_end_matches('0').to_owned();
                    if shown.is_empty() && out.ends_with('.') {
                        out.pop();
                    }
                }
                out.push_str(&shown);
            }
            'g' => out.push_str("A.D."),
            'h' => {
                let hour = match local.hour() % 12 {
                    0 => 12,
                    other => other,
                };
                out.push_str(&if run == 1 {
                    hour.to_string()
                } else {
                    two(hour)
                });
            }
            'H' => out.push_str(&if run == 1 {
                local.hour().to_string()
            } else {
                two(local.hour())
            }),
            'm' => out.push_str(&if run == 1 {
                local.minute().to_string()
            } else {
                two(local.minute())
            }),
            's' => out.push_str(&if run == 1 {
                local.second().to_string()
            } else {
                two(local.second())
            }),
            'M' => out.push_str(&match run {
                1 => local.month().to_string(),
                2 => two(local.month()),
                3 => MONTHS[local.month0() as usize][..3].to_owned(),
                _ => MONTHS[local.month0() as usize].to_owned(),
            }),
            't' => {
                let marker = if local.hour() < 12 { "AM" } else { "PM" };
                out.push_str(if run == 1 { &marker[..1] } else { marker });
            }
            'y' => {
                let year = local.year();
                out.push_str(&match run {
                    1 => (year % 100).to_string(),
                    2 => format!("{:02}", year % 100),
                    width => format!("{year:0width$}"),
                });
            }
            'z' => out.push_str(&offset_text(date.offset_seconds, run)),
            'K' => {
                consumed = 1;
                match date.kind {
                    Kind::Unspecified => {}
                    Kind::Utc => out.push('Z'),
                    Kind::Offset => out.push_str(&offset_text(date.offset_seconds, 3)),
                }
            }
            '\'' | '"' => {
                let Some(length) = characters[position + 1..].iter().position(|c| *c == letter)
                else {
                    return Err(format!(
                        "cannot read `{}`: a quote is never closed",
                        shown(pattern)
                    )
                    .into());
                };
                out.extend(&characters[position + 1..position + 1 + length]);
                consumed = length + 2;
            }
            '\\' => {
                if let Some(escaped) = characters.get(position + 1) {
                    out.push(*escaped);
                }
                consumed = 2;
            }
            '%' => consumed = 1,
            other => {
                consumed = 1;
                out.push(other);
            }
        }
        position += consumed;
    }
    Ok(out)
}

/// `z` → `+0`, `zz` → `+00`, `zzz` → `+00:00`.
fn offset_text(offset_seconds: i32, run: usize) -> String {
    let sign = if offset_seconds < 0 { '-' } else { '+' };
    let minutes = offset_seconds.abs() / 60;
    match run {
        1 => format!("{sign}{}", minutes / 60),
        2 => format!("{sign}{:02}", minutes / 60),
        _ => format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60),
    }
}
