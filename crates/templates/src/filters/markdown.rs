//! `Markdown` (`MarkdownToHtml`): Markdown to HTML as Octostache renders it with Markdig's pipe
//! tables, emphasis extras (strikethrough) and autolinks: pulldown-cmark reads the Markdown,
//! bare `http://`, `https://`, `ftp://`, `mailto:` and `www.` links become links, and tables
//! are written one tag a line, as Markdig writes them.

use std::sync::LazyLock;

use pulldown_cmark::{Alignment, CowStr, Event, LinkType, Tag, TagEnd};
use regex::Regex;

use super::{FilterInput, FilterResult, no_arguments};

/// A bare link as Markdig's autolink extension finds one (trailing punctuation is not part of it).
static BARE_LINK: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?:(?:https?|ftp)://|mailto:|www\.)[^\s<]*[^\s<.,:;!?'\x22)\]]").ok()
});

/// Markdown to HTML; the input is trimmed and a line break is added, as in Octostache.
pub(super) fn markdown(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    let mut options = pulldown_cmark::Options::empty();
    options.insert(pulldown_cmark::Options::ENABLE_TABLES);
    options.insert(pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    let parser = pulldown_cmark::Parser::new_ext(input.value.trim(), options);
    let mut events = Vec::new();
    let mut table = TableState::default();
    let mut inside_link = 0usize;
    let mut inside_code_block = false;
    for event in parser {
        match event {
            Event::Start(Tag::Link { .. }) => {
                inside_link += 1;
                events.push(event);
            }
            Event::End(TagEnd::Link) => {
                inside_link = inside_link.saturating_sub(1);
                events.push(event);
            }
            Event::Start(Tag::CodeBlock(_)) => {
                inside_code_block = true;
                events.push(event);
            }
            Event::End(TagEnd::CodeBlock) => {
                inside_code_block = false;
                events.push(event);
            }
            Event::Text(text) if inside_link == 0 && !inside_code_block => {
                push_with_links(&mut events, text);
            }
            other => match table.rewrite(&other) {
                Some(html) => events.push(Event::Html(html.into())),
                None => events.push(other),
            },
        }
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, events.into_iter());
    html.push('\n');
    Ok(html)
}

/// Splits text at bare links, making each a link whose text is the link as written.
fn push_with_links<'a>(events: &mut Vec<Event<'a>>, text: CowStr<'a>) {
    let Some(pattern) = BARE_LINK.as_ref() else {
        events.push(Event::Text(text));
        return;
    };
    let mut rest_start = 0;
    for found in pattern.find_iter(&text) {
        if found.start() > rest_start {
            events.push(Event::Text(
                text[rest_start..found.start()].to_owned().into(),
            ));
        }
        let written = found.as_str().to_owned();
        let destination = if written.starts_with("www.") {
            format!("http://{written}")
        } else {
            written.clone()
        };
        events.push(Event::Start(Tag::Link {
            link_type: LinkType::Autolink,
            dest_url: destination.into(),
            title: CowStr::from(""),
            id: CowStr::from(""),
        }));
        events.push(Event::Text(written.into()));
        events.push(Event::End(TagEnd::Link));
        rest_start = found.end();
    }
    if rest_start == 0 {
        events.push(Event::Text(text));
    } else if rest_start < text.len() {
        events.push(Event::Text(text[rest_start..].to_owned().into()));
    }
}

/// Where the writer is in a table, to write Markdig's layout.
#[derive(Default)]
struct TableState {
    alignments: Vec<Alignment>,
    in_head: bool,
    body_open: bool,
    column: usize,
}

impl TableState {
    /// The HTML Markdig writes for a table event; `None` for events outside table structure.
    fn rewrite(&mut self, event: &Event<'_>) -> Option<String> {
        Some(match event {
            Event::Start(Tag::Table(alignments)) => {
                *self = TableState {
                    alignments: alignments.clone(),
                    ..TableState::default()
                };
                "<table>\n".to_owned()
            }
            Event::Start(Tag::TableHead) => {
                self.in_head = true;
                self.column = 0;
                "<thead>\n<tr>\n".to_owned()
            }
            Event::End(TagEnd::TableHead) => {
                self.in_head = false;
                "</tr>\n</thead>\n".to_owned()
            }
            Event::Start(Tag::TableRow) => {
                self.column = 0;
                if self.body_open {
                    "<tr>\n".to_owned()
                } else {
                    self.body_open = true;
                    "<tbody>\n<tr>\n".to_owned()
                }
            }
            Event::End(TagEnd::TableRow) => "</tr>\n".to_owned(),
            Event::Start(Tag::TableCell) => {
                let cell = if self.in_head { "th" } else { "td" };
                let style = match self.alignments.get(self.column) {
                    Some(Alignment::Left) => " style=\"text-align: left;\"",
                    Some(Alignment::Center) => " style=\"text-align: center;\"",
                    Some(Alignment::Right) => " style=\"text-align: right;\"",
                    _ => "",
                };
                self.column += 1;
                format!("<{cell}{style}>")
            }
            Event::End(TagEnd::TableCell) => {
                format!("</{}>\n", if self.in_head { "th" } else { "td" })
            }
            Event::End(TagEnd::Table) => {
                let body_end = if self.body_open { "</tbody>\n" } else { "" };
                format!("{body_end}</table>\n")
            }
            _ => return None,
        })
    }
}
