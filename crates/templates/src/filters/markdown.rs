//! `Markdown` (`MarkdownToHtml`): Markdown to HTML.

use super::{FilterInput, FilterResult, no_arguments};

/// Markdown to HTML (tables, strikethrough); the input is trimmed and a line break is added.
pub(super) fn markdown(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    let mut options = pulldown_cmark::Options::empty();
    options.insert(pulldown_cmark::Options::ENABLE_TABLES);
    options.insert(pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    let parser = pulldown_cmark::Parser::new_ext(input.value.trim(), options);
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    html.push('\n');
    Ok(html)
}
