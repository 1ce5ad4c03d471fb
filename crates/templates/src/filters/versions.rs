//! The `Version*` filters: the parts of a package version, read the way Octopus reads versions
//! (`Octopus.Versioning`'s `OctopusVersionParser`): semver, four-part, Maven-ish (`19.0.0.Final`),
//! a leading `v`, and words such as `latest`.

use std::sync::LazyLock;

use regex::Regex;

use super::{FilterInput, FilterResult, shown};

/// Octopus's version pattern, kept as Octopus writes it so the two can be compared: an
/// optional `v`, up to four numbers separated by dots (whitespace tolerated around them), then
/// everything up to a `+` is the prerelease (its prefix is what comes before the first
/// `.`, `-`, `_` or `\`, its counter what follows), and what follows the `+` is the metadata.
static VERSION: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(concat!(
        r"^\s*(?:",
        r"\s*(?<prefix>v|V)?",
        r"\s*(?<major>\d+)\s*",
        r"(?:\.\s*(?<minor>\d+)\s*)?",
        r"(?:\.\s*(?<patch>\d+)\s*)?",
        r"(?:\.\s*(?<revision>\d+)\s*)?)?",
        r"(?:[.\-_\\])?(?<prerelease>(?<prereleaseprefix>[A-Za-z0-9]*?)([.\-_\\](?<prereleasecounter>[A-Za-z0-9.\-_\\]*?)?)?)?",
        r"(?:\+(?<buildmetadata>[A-Za-z0-9_\-.\\+]*?))?\s*$",
    ))
    .ok()
});

/// Which part of the version a filter prints.
#[derive(Clone, Copy)]
enum Part {
    Number(&'static str),
    Text(&'static str),
}

fn version_part(input: &FilterInput<'_>, part: Part) -> FilterResult {
    // Octostache ignores any options given to these filters.
    if input.value.trim().is_empty() {
        return Err("needs a version, but the value is empty".to_owned().into());
    }
    let pattern = VERSION
        .as_ref()
        .ok_or_else(|| "cannot read versions (the pattern did not compile)".to_owned())?;
    let captures = pattern
        .captures(input.value)
        .ok_or_else(|| format!("cannot read `{}` as a version", shown(input.value)))?;
    match part {
        Part::Number(group) => match captures.name(group) {
            // Octopus reads each number as a 32-bit integer and fails on larger ones.
            Some(digits) => digits
                .as_str()
                .parse::<i32>()
                .map(|number| number.to_string())
                .map_err(|_| {
                    format!(
                        "the {group} number of `{}` is too large",
                        shown(input.value)
                    )
                    .into()
                }),
            None => Ok("0".to_owned()),
        },
        Part::Text(group) => Ok(captures
            .name(group)
            .map(|text| text.as_str().to_owned())
            .unwrap_or_default()),
    }
}

pub(super) fn major(input: &FilterInput<'_>) -> FilterResult {
    version_part(input, Part::Number("major"))
}

pub(super) fn minor(input: &FilterInput<'_>) -> FilterResult {
    version_part(input, Part::Number("minor"))
}

pub(super) fn patch(input: &FilterInput<'_>) -> FilterResult {
    version_part(input, Part::Number("patch"))
}

pub(super) fn revision(input: &FilterInput<'_>) -> FilterResult {
    version_part(input, Part::Number("revision"))
}

pub(super) fn prerelease(input: &FilterInput<'_>) -> FilterResult {
    version_part(input, Part::Text("prerelease"))
}

pub(super) fn prerelease_prefix(input: &FilterInput<'_>) -> FilterResult {
    version_part(input, Part::Text("prereleaseprefix"))
}

pub(super) fn prerelease_counter(input: &FilterInput<'_>) -> FilterResult {
    version_part(input, Part::Text("prereleasecounter"))
}

pub(super) fn metadata(input: &FilterInput<'_>) -> FilterResult {
    version_part(input, Part::Text("buildmetadata"))
}
