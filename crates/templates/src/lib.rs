//! `ferry-templates`: Octostache-compatible variable substitution (`#{Name}`, filters,
//! `#{if}`, `#{each}`, `#{calc}`) for Ferry's scripts, step settings, conditions and emails.
//!
//! # Design
//!
//! Octostache's syntax is not Jinja's, so the crate has its own parser (`syntax`). It reads
//! `#{…}` exactly as Octopus does (names with spaces and dots, `[indexes]`, `##{` escapes,
//! bare and quoted filter arguments) and keeps the line and column of every `#{`, so an
//! error can say `line 3, column 9: unknown variable `Nginx Port``, and [`check`] can reject
//! a broken template when it is saved.
//!
//! The parsed template is then compiled (`compile`) into a minijinja template, which
//! minijinja renders: `#{if}` becomes `{% if %}`, `#{each}` becomes `{% for %}` (its `loop`
//! answers `Octopus.Template.Each.Index`, `.First` and `.Last`), each Octostache filter is a
//! minijinja filter written in Rust (`filters`), `#{calc}` is minijinja arithmetic, and
//! variables are looked up by Rust functions (`runtime`) that know Octostache's rules:
//! case-insensitive paths, indexed families, loop variables, and values that are templates
//! themselves (rendered recursively by the same environment, with cycles reported).
//! Auto-escaping is off; all text, line breaks included, is kept as written.
//!
//! # Octostache rules kept
//!
//! Names ignore case; `#{each}` over `Octopus.Step` visits each distinct index of
//! `Octopus.Step[…]` in first-insertion order and `#{step}` prints the index; a comma list
//! is split without trimming (an empty value is one empty item); a missing collection is
//! empty; `Octopus.Template.Each.Index` counts from 0; an unknown variable in an `#{if}`
//! condition is empty (false); `==` compares exactly; a variable's value that is not a valid
//! template is used as written; values are rendered where the variable is defined, so loop
//! variables are not visible inside them.
//!
//! # Where Ferry differs from Octostache
//!
//! - Strict mode (the default) reports unknown variables, filters that cannot be applied,
//!   and calculations that fail, where Octostache would leave the `#{…}` in the output.
//!   `Options::lenient(now)` restores Octopus's pass-through of the tag as written.
//! - An unknown filter is an error even in lenient mode (Octostache echoes the tag).
//! - Strict mode also fails when the value of a variable used in an `#{if}` refers to an
//!   unknown variable; only the condition's own variable may be missing, and only when no
//!   filter is applied to it (`#{if Missing | ToLower == "x"}` is an unknown variable, as in
//!   `#{Missing | ToLower}`).
//! - `#{if`, `#{unless`, `#{each` and `#{calc` followed by a space always open that
//!   construct; Octostache falls back to reading them as a variable name when the rest does
//!   not parse. An unclosed block is therefore an error when strict (lenient: text).
//! - `#{else}` outside a block is an error (Octostache reads a variable named `else`).
//! - Filter arguments may be `'single-quoted'`, and a bare argument may contain any
//!   character except whitespace, quotes, `|` and `}` (Octostache allows name characters).
//!   Quoted arguments may contain `#`.
//! - `StartsWith`, `EndsWith`, `Contains` and `Match` return `true`/`false` in lower case,
//!   as Octostache does; `Octopus.Template.Each.First`/`.Last` are `True`/`False`.
//! - `NowDate` and `NowDateUtc` read `Options::now` (UTC) and ignore an input value.
//! - Extra filter spellings: `Html`, `Xml`, `Json`, `Uri`, `Base64`; extra filters
//!   `AddYears`, `AddMonths`, `AddMinutes`, `AddSeconds` on the rules of `AddDays`/`AddHours`.
//! - Lenient parsing (`Options::lenient`) leaves a tag that does not parse as written, up to
//!   where the parser gave up, as Octostache does when it does not halt on errors; a `#{` that
//!   ends the template, unknown filters and stray closing tags are still errors. Lenient
//!   pass-through prints tags as written, not Octostache's re-rendering of them.
//! - `| Null` (Octostache's null result) is an error when strict.
//! - Strict reading of a JSON value reports a missing property, an index past the end and a
//!   property of a scalar as unknown variables (lenient: empty, or the scalar, as Octostache).
//! - `UriPart`'s bracketed messages (`[UriPart error: …]`) are printed only when lenient;
//!   strict, they are errors.
//! - `Substring` past the end of the value is an error (current Octostache returns the rest).
//! - `Markdown` uses pulldown-cmark (tables written one tag a line as Markdig writes them,
//!   strikethrough, bare-link autolinks); other Markdig extras are not rendered.
//! - JSON-valued variables are read by a small Newtonsoft-like reader (unquoted names, single
//!   quotes) nested at most 64 deep; every value read is charged to the budget.
//! - `Replace` and `Match` use the `regex` crate: no look-around or back-references.
//! - `Format` supports a documented subset of .NET number and date formats, in the
//!   invariant culture, and reports any other format as an error.
//! - `#{calc}` prints results with `.` as the decimal point; division by zero is an error.
//!   Names in `#{calc}` cannot contain spaces, `-`, `/`, `(` or `)` (those are operators)
//!   unless braced (`{The/Var}`), and unary minus is accepted.
//! - Line breaks around block tags are kept exactly, as Octostache keeps them: a
//!   `#{each}` on its own line adds that line break to every iteration.
//! - `##{` prints `#{` and what follows is ordinary text, so a `#{…}` after it is still
//!   rendered, as in Octostache.
//! - Limits keep hostile templates from exhausting the stack: tags, blocks and parentheses
//!   nest at most 50 deep (each `#{elseif}` of a chain counts as one level, since the chain
//!   is read and rendered as nested `#{if}`s), a tag applies at most 100 filters, a `#{calc}`
//!   has at most 100 operators, and values refer to values at most 32 levels deep.
//! - A render has a budget ([`Limits`]): at most `max_output_bytes` of output (each expanded
//!   value counts too) and `max_steps` steps (every variable looked up, every loop iteration,
//!   every byte a value or filter produces, weighted). Going over is an [`TemplateErrorKind::OverBudget`]
//!   error naming the variables whose values were being expanded. A variable's expanded value
//!   is computed once per render (values see no loop variables, so it cannot differ), which
//!   keeps values that refer to other values twice from doubling the work at every level.

mod compile;
mod error;
mod filters;
mod runtime;
mod syntax;
mod variables;

use chrono::{DateTime, Utc};

pub use error::{TemplateError, TemplateErrorKind};
pub use variables::Variables;

/// How a render treats missing variables, the clock `NowDate` reads, and its budget.
#[derive(Clone, Debug)]
pub struct Options {
    /// `true`: an unknown variable (or a filter or calculation that cannot be applied) leaves
    /// its `#{…}` in the output as written, as Octopus does, and so does a tag that does not
    /// parse (up to where the parser gave up). `false`: each of these is an error.
    pub lenient: bool,
    /// The time `NowDate` and `NowDateUtc` print; passed in so rendering stays pure.
    pub now: DateTime<Utc>,
    pub limits: Limits,
}

/// The most one render may do. The defaults are far beyond any honest script or
/// configuration file (an installer script is a few kilobytes) and stop a hostile template
/// within about a second.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes of output, and of any one variable's expanded value.
    pub max_output_bytes: usize,
    /// The most steps: a byte produced by a value or a filter is one, a variable looked up 16,
    /// a loop iteration 64.
    pub max_steps: u64,
}

impl Limits {
    pub const DEFAULT_MAX_OUTPUT_BYTES: usize = 16 * 1024 * 1024;
    pub const DEFAULT_MAX_STEPS: u64 = 16 * 1024 * 1024;
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_output_bytes: Limits::DEFAULT_MAX_OUTPUT_BYTES,
            max_steps: Limits::DEFAULT_MAX_STEPS,
        }
    }
}

impl Options {
    pub fn strict(now: DateTime<Utc>) -> Self {
        Options {
            lenient: false,
            now,
            limits: Limits::default(),
        }
    }

    pub fn lenient(now: DateTime<Utc>) -> Self {
        Options {
            lenient: true,
            now,
            limits: Limits::default(),
        }
    }

    /// The same options with another budget.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
}

/// Renders a template against variables.
pub fn render(
    template: &str,
    variables: &Variables,
    options: &Options,
) -> Result<String, TemplateError> {
    let nodes = parse_for(template, options)?;
    let program = compile::compile(&nodes);
    runtime::render(program, variables.store(), options)
}

/// Parses as the mode asks: lenient parsing leaves tags that do not parse as written.
pub(crate) fn parse_for(
    template: &str,
    options: &Options,
) -> Result<Vec<syntax::ast::Node>, TemplateError> {
    if options.lenient {
        syntax::parse_lenient(template)
    } else {
        syntax::parse(template)
    }
}

/// Renders several templates against the same variables within one budget (and computing
/// each variable's value once for all of them): for expanding every value of a variable set.
/// Each template gets its own result. A value is expanded as a variable read in a template
/// expands it, whatever the mode: one that does not parse strictly is used exactly as
/// written, as Octostache uses such a value.
pub fn render_all(
    templates: &[&str],
    variables: &Variables,
    options: &Options,
) -> Vec<Result<String, TemplateError>> {
    runtime::render_all(templates, variables.store(), options)
}

/// Syntax-only check for save time: parse errors and unknown filters, with line and column.
/// Unknown variables are NOT errors here.
pub fn check(template: &str) -> Result<(), TemplateError> {
    let nodes = syntax::parse(template)?;
    runtime::validate(&compile::compile(&nodes))
}

/// [`check`] for a template rendered leniently: a tag that does not parse is not an error
/// (lenient rendering leaves it as written), but what lenient rendering still refuses is
/// (unknown filters, a `#{` that ends the template, stray closing tags).
pub fn check_lenient(template: &str) -> Result<(), TemplateError> {
    let nodes = syntax::parse_lenient(template)?;
    runtime::validate(&compile::compile(&nodes))
}

/// A variable run condition (Octopus "variable expression" step condition): render, then
/// truthiness.
pub fn evaluate_condition(
    expression: &str,
    variables: &Variables,
    options: &Options,
) -> Result<bool, TemplateError> {
    render(expression, variables, options).map(|rendered| is_truthy(&rendered))
}

/// Octostache truthiness of a rendered value (used by `#{if}` and conditions): everything is
/// true except `""`, `"0"`, and `"no"` or `"false"` in any case and with any surrounding
/// whitespace.
pub fn is_truthy(value: &str) -> bool {
    let trimmed = value.trim();
    !(value.is_empty()
        || value == "0"
        || trimmed.eq_ignore_ascii_case("no")
        || trimmed.eq_ignore_ascii_case("false"))
}
