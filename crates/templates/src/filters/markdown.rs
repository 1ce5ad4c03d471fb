//! `Markdown` (`MarkdownToHtml`): Markdown to HTML as Octostache renders it with Markdig's pipe
//! tables, emphasis extras (strikethrough) and autolinks: pulldown-cmark reads the Markdown,
//! bare `http://`, `https://`, `ftp://`, `mailto:` and `www.` links become links, and tables
//! are written one tag a line, as Markdig writes them.

use std::collections::VecDeque;
use std::sync::LazyLock;

use pulldown_cmark::{Alignment, CowStr, Event, LinkType, Parser, Tag, TagEnd};
use regex::Regex;

use super::{FilterError, FilterInput, FilterResult, fits, no_arguments};

/// A bare link as Markdig's autolink extension finds one (trailing punctuation is not part of it).
static BARE_LINK: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?:(?:https?|ftp)://|mailto:|www\.)[^\s<]*[^\s<.,:;!?'\x22)\]]").ok()
});

/// What one table cell costs at least, in output (`<td></td>` and a line break) and in the
/// reader's memory. pulldown-cmark fills every short row of a table with empty cells (up to
/// 2^18 a table) while it reads, before any HTML is written, so the cells a text may hold
/// are priced before it is read.
const CELL_COST: usize = 32;

/// Markdown to HTML; the input is trimmed and a line break is added, as in Octostache. The
/// HTML is written as the events are read, into a text that stops at the filter's limit.
pub(super) fn markdown(input: &FilterInput<'_>) -> FilterResult {
    no_arguments(input)?;
    let text = input.value.trim();
    fits(input, most_table_cells(text).saturating_mul(CELL_COST))?;
    let mut options = pulldown_cmark::Options::empty();
    options.insert(pulldown_cmark::Options::ENABLE_TABLES);
    options.insert(pulldown_cmark::Options::ENABLE_STRIKETHROUGH);
    let events = Markdig {
        parser: Parser::new_ext(text, options),
        pending: VecDeque::new(),
        table: TableState::default(),
        inside_link: 0,
        inside_code_block: false,
    };
    let mut html = BoundedText {
        text: String::new(),
        // The final line break needs a byte too.
        limit: input.output_limit.saturating_sub(1),
    };
    if pulldown_cmark::html::write_html_fmt(&mut html, events).is_err() {
        return Err(FilterError::OverBudget);
    }
    html.text.push('\n');
    Ok(html.text)
}

/// The most table cells pulldown-cmark can make of `text`: a table ends at a blank line, and
/// has at most as many columns as its delimiter row has `|` plus one, so each run of
/// non-blank lines holds at most its widest line's columns times its lines.
fn most_table_cells(text: &str) -> usize {
    let mut total = 0usize;
    let mut widest = 0usize;
    let mut lines = 0usize;
    for line in text.lines().chain([""]) {
        if line.trim().is_empty() {
            total = total.saturating_add(widest.saturating_mul(lines));
            (widest, lines) = (0, 0);
            continue;
        }
        lines += 1;
        let pipes = line.bytes().filter(|byte| *byte == b'|').count();
        if pipes > 0 {
            widest = widest.max(pipes + 1);
        }
    }
    total
}

/// A text that refuses to grow past `limit` bytes.
struct BoundedText {
    text: String,
    limit: usize,
}

impl std::fmt::Write for BoundedText {
    fn write_str(&mut self, piece: &str) -> std::fmt::Result {
        if self.text.len().saturating_add(piece.len()) > self.limit {
            return Err(std::fmt::Error);
        }
        self.text.push_str(piece);
        Ok(())
    }
}

/// pulldown-cmark's events rewritten as Markdig writes them (bare links made links, tables
/// one tag a line), one at a time.
struct Markdig<'a> {
    parser: Parser<'a>,
    /// Events already made from one event of the parser (a text split at its links).
    pending: VecDeque<Event<'a>>,
    table: TableState,
    inside_link: usize,
    inside_code_block: bool,
}

impl<'a> Iterator for Markdig<'a> {
    type Item = Event<'a>;

    fn next(&mut self) -> Option<Event<'a>> {
        if let Some(event) = self.pending.pop_front() {
            return Some(event);
        }
        let event = self.parser.next()?;
        match &event {
            Event::Start(Tag::Link { .. }) => self.inside_link += 1,
            Event::End(TagEnd::Link) => self.inside_link = self.inside_link.saturating_sub(1),
            Event::Start(Tag::CodeBlock(_)) => self.inside_code_block = true,
            Event::End(TagEnd::CodeBlock) => self.inside_code_block = false,
            Event::Text(_) if self.inside_link == 0 && !self.inside_code_block => {
                if let Event::Text(text) = event {
                    push_with_links(&mut self.pending, text);
                }
                return self.pending.pop_front().or_else(|| self.next());
            }
            other => {
                if let Some(html) = self.table.rewrite(other) {
                    return Some(Event::Html(CowStr::Borrowed(html)));
                }
            }
        }
        Some(event)
    }
}

/// Splits text at bare links, making each a link whose text is the link as written.
fn push_with_links<'a>(events: &mut VecDeque<Event<'a>>, text: CowStr<'a>) {
    let Some(pattern) = BARE_LINK.as_ref() else {
        events.push_back(Event::Text(text));
        return;
    };
    let mut rest_start = 0;
    for found in pattern.find_iter(&text) {
        if found.start() > rest_start {
            events.push_back(Event::Text(
                text[rest_start..found.start()].to_owned().into(),
            ));
        }
        let written = found.as_str().to_owned();
        let destination = if written.starts_with("www.") {
            format!("http://{written}")
        } else {
            written.clone()
        };
        events.push_back(Event::Start(Tag::Link {
            link_type: LinkType::Autolink,
            dest_url: destination.into(),
            title: CowStr::from(""),
            id: CowStr::from(""),
        }));
        events.push_back(Event::Text(written.into()));
        events.push_back(Event::End(TagEnd::Link));
        rest_start = found.end();
    }
    if rest_start == 0 {
        events.push_back(Event::Text(text));
    } else if rest_start < text.len() {
        events.push_back(Event::Text(text[rest_start..].to_owned().into()));
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
    fn rewrite(&mut self, event: &Event<'_>) -> Option<&'static str> {
        Some(match event {
            Event::Start(Tag::Table(alignments)) => {
                *self = TableState {
                    alignments: alignments.clone(),
                    ..TableState::default()
                };
                "<table>\n"
            }
            Event::Start(Tag::TableHead) => {
                self.in_head = true;
                self.column = 0;
                "<thead>\n<tr>\n"
            }
            Event::End(TagEnd::TableHead) => {
                self.in_head = false;
                "</tr>\n</thead>\n"
            }
            Event::Start(Tag::TableRow) => {
                self.column = 0;
                if self.body_open {
                    "<tr>\n"
                } else {
                    self.body_open = true;
                    "<tbody>\n<tr>\n"
                }
            }
            Event::End(TagEnd::TableRow) => "</tr>\n",
            Event::Start(Tag::TableCell) => {
                let alignment = self.alignments.get(self.column);
                self.column += 1;
                match (self.in_head, alignment) {
                    (true, Some(Alignment::Left)) => "<th style=\"text-align: left;\">",
                    (true, Some(Alignment::Center)) => "<th style=\"text-align: center;\">",
                    (true, Some(Alignment::Right)) => "<th style=\"text-align: right;\">",
                    (true, _) => "<th>",
                    (false, Some(Alignment::Left)) => "<td style=\"text-align: left;\">",
                    (false, Some(Alignment::Center)) => "<td style=\"text-align: center;\">",
                    (false, Some(Alignment::Right)) => "<td style=\"text-align: right;\">",
                    (false, _) => "<td>",
                }
            }
            Event::End(TagEnd::TableCell) if self.in_head => "</th>\n",
            Event::End(TagEnd::TableCell) => "</td>\n",
            Event::End(TagEnd::Table) if self.body_open => "</tbody>\n</table>\n",
            Event::End(TagEnd::Table) => "</table>\n",
            _ => return None,
        })
    }
}
