//! The Octostache filters (`#{Name | ToUpper}`), implemented in Rust and registered on the
//! minijinja environment as `octo_<name>` filters.
//!
//! A filter returns `Err(reason)` when it cannot be applied (Octostache's "null" result):
//! strict rendering reports the reason as a `FilterArgument` error, lenient rendering leaves
//! the whole `#{…}` as written, as Octopus does.

mod date_arithmetic;
mod dates;
mod escape;
mod hashes;
mod markdown;
mod numbers;
mod text;
mod uri;
mod versions;

use chrono::{DateTime, Utc};

/// What a filter gets: the value (Octostache's "argument"), its options, the render's clock,
/// the mode, and how much it may still produce.
pub(crate) struct FilterInput<'a> {
    pub value: &'a str,
    pub arguments: &'a [String],
    pub now: DateTime<Utc>,
    /// Lenient rendering: `UriPart` then answers its problems in the output, as Octostache does.
    pub lenient: bool,
    /// The most bytes the result may have (what is left of the render's budget). A filter
    /// whose output can be far larger than its input checks this before it builds the output.
    pub output_limit: usize,
}

pub(crate) type FilterResult = Result<String, FilterError>;

/// Why a filter gave no result.
#[derive(Debug)]
pub(crate) enum FilterError {
    /// It cannot be applied to this value or these options: the reason, written to follow
    /// the filter's name (`filter `Substring` needs a length`).
    Unusable(String),
    /// Its result would be longer than `FilterInput::output_limit`.
    OverBudget,
}

impl From<String> for FilterError {
    fn from(reason: String) -> Self {
        FilterError::Unusable(reason)
    }
}

impl From<&str> for FilterError {
    fn from(reason: &str) -> Self {
        FilterError::Unusable(reason.to_owned())
    }
}

/// Fails with `OverBudget` when a result of `bytes` would not fit the filter's limit.
fn fits(input: &FilterInput<'_>, bytes: usize) -> Result<(), FilterError> {
    if bytes > input.output_limit {
        return Err(FilterError::OverBudget);
    }
    Ok(())
}

pub(crate) struct FilterDefinition {
    /// The canonical spelling, used in messages and (lower-cased) as the minijinja name.
    pub name: &'static str,
    /// Other accepted spellings (Octostache's, or Ferry's short forms).
    pub aliases: &'static [&'static str],
    /// Filters that make a value from nothing (`#{ | NowDate}`) run even without an input.
    pub needs_value: bool,
    pub apply: fn(&FilterInput<'_>) -> FilterResult,
}

const fn filter(
    name: &'static str,
    aliases: &'static [&'static str],
    apply: fn(&FilterInput<'_>) -> FilterResult,
) -> FilterDefinition {
    FilterDefinition {
        name,
        aliases,
        needs_value: true,
        apply,
    }
}

static FILTERS: &[FilterDefinition] = &[
    filter("ToLower", &[], text::to_lower),
    filter("ToUpper", &[], text::to_upper),
    filter("Trim", &[], text::trim),
    filter("Truncate", &[], text::truncate),
    filter("Substring", &[], text::substring),
    filter("Replace", &[], text::replace),
    filter("Match", &[], text::matches),
    filter("StartsWith", &[], text::starts_with),
    filter("EndsWith", &[], text::ends_with),
    filter("Contains", &[], text::contains),
    // Octostache appends and prepends to nothing too: `#{ | Append x}` is `x`.
    FilterDefinition {
        name: "Append",
        aliases: &[],
        needs_value: false,
        apply: text::append,
    },
    FilterDefinition {
        name: "Prepend",
        aliases: &[],
        needs_value: false,
        apply: text::prepend,
    },
    filter("Indent", &[], text::indent),
    filter("HtmlEscape", &["Html"], escape::html),
    filter("XmlEscape", &["Xml"], escape::xml),
    filter("JsonEscape", &["Json"], escape::json),
    filter("YamlSingleQuoteEscape", &[], escape::yaml_single_quote),
    filter("YamlDoubleQuoteEscape", &[], escape::yaml_double_quote),
    filter("PropertiesKeyEscape", &[], escape::properties_key),
    filter("PropertiesValueEscape", &[], escape::properties_value),
    filter("UriEscape", &["Uri"], escape::uri),
    filter("UriDataEscape", &[], escape::uri_data),
    filter("ToBase64", &["Base64"], escape::to_base64),
    filter("FromBase64", &[], escape::from_base64),
    filter("Markdown", &["MarkdownToHtml"], markdown::markdown),
    filter("Md5", &[], hashes::md5),
    filter("Sha1", &[], hashes::sha1),
    filter("Sha256", &[], hashes::sha256),
    filter("Sha384", &[], hashes::sha384),
    filter("Sha512", &[], hashes::sha512),
    filter("UriPart", &[], uri::uri_part),
    filter("VersionMajor", &[], versions::major),
    filter("VersionMinor", &[], versions::minor),
    filter("VersionPatch", &[], versions::patch),
    filter("VersionRevision", &[], versions::revision),
    filter("VersionPreRelease", &[], versions::prerelease),
    filter("VersionPreReleasePrefix", &[], versions::prerelease_prefix),
    filter(
        "VersionPreReleaseCounter",
        &[],
        versions::prerelease_counter,
    ),
    filter("VersionMetadata", &[], versions::metadata),
    filter("AddYears", &[], date_arithmetic::add_years),
    filter("AddMonths", &[], date_arithmetic::add_months),
    filter("AddDays", &[], date_arithmetic::add_days),
    filter("AddHours", &[], date_arithmetic::add_hours),
    filter("AddMinutes", &[], date_arithmetic::add_minutes),
    filter("AddSeconds", &[], date_arithmetic::add_seconds),
    filter("Format", &[], numbers::format),
    // `#{ | Null}` asks for no value at all: Octostache's whole result is then null, which
    // Ferry reports as an error (strict) or leaves the tag as written (lenient).
    FilterDefinition {
        name: "Null",
        aliases: &[],
        needs_value: false,
        apply: |_| Err("gives no value (the template asks for a null result)".into()),
    },
    FilterDefinition {
        name: "NowDate",
        aliases: &[],
        needs_value: false,
        apply: dates::now_date,
    },
    FilterDefinition {
        name: "NowDateUtc",
        aliases: &[],
        needs_value: false,
        apply: dates::now_date_utc,
    },
];

/// Finds a filter by any of its spellings, ignoring case.
pub(crate) fn find(name: &str) -> Option<&'static FilterDefinition> {
    FILTERS.iter().find(|definition| {
        definition.name.eq_ignore_ascii_case(name)
            || definition
                .aliases
                .iter()
                .any(|alias| alias.eq_ignore_ascii_case(name))
    })
}

pub(crate) fn all() -> &'static [FilterDefinition] {
    FILTERS
}

/// The minijinja filter name of a definition.
pub(crate) fn registered_name(definition: &FilterDefinition) -> String {
    format!("octo_{}", definition.name.to_ascii_lowercase())
}

/// Fails unless the filter was given no options.
fn no_arguments(input: &FilterInput<'_>) -> Result<(), String> {
    if input.arguments.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "takes no arguments, but was given {}",
            describe_arguments(input.arguments)
        ))
    }
}

/// Fails unless the filter was given exactly one option, and returns it.
fn one_argument<'a>(input: &'a FilterInput<'_>) -> Result<&'a str, String> {
    match input.arguments {
        [only] => Ok(only),
        [] => Err("needs one argument".to_owned()),
        many => Err(format!(
            "takes one argument, but was given {}",
            describe_arguments(many)
        )),
    }
}

fn describe_arguments(arguments: &[String]) -> String {
    let quoted: Vec<String> = arguments
        .iter()
        .map(|a| format!("`{}`", shown(a)))
        .collect();
    format!("{} ({})", arguments.len(), quoted.join(", "))
}

/// The most characters of a value or option an error message quotes.
const MOST_QUOTED_CHARS: usize = 64;

/// A value or option as an error message quotes it: whole when short, else its first
/// [`MOST_QUOTED_CHARS`] characters and `…`, so a multi-megabyte value does not become a
/// multi-megabyte message.
pub(crate) fn shown(text: &str) -> String {
    match text.char_indices().nth(MOST_QUOTED_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Octostache's "true"/"false" results, which `#{if}` treats as truthy and falsy.
fn boolean(value: bool) -> FilterResult {
    Ok(if value { "true" } else { "false" }.to_owned())
}
