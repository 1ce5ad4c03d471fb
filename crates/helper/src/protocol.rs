//! The helper's ends of the JSON-lines protocol (`ferry_contracts::helper`): reading the one
//! request line, bounded, and writing events, each line masked, cut and flushed at once.

use std::fmt;
use std::io::{self, BufRead, Write};

use ferry_contracts::helper::{
    HELPER_PROTOCOL, HelperEvent, HelperRequest, HelperResult, HelperStream,
};
use ferry_secrets::Masker;

/// The longest request line read: a request carries every variable of the step, but 64 MiB
/// of them is not a request, it is a mistake or an attack.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024 * 1024;

/// Lines are cut to this when the request asks for no limit (0).
const DEFAULT_MAX_LINE_BYTES: usize = 16 * 1024;

/// A request that cannot be answered with events: the helper says why on standard error and
/// exits non-zero.
#[derive(Debug)]
pub struct ProtocolError(pub String);

impl fmt::Display for ProtocolError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Reads the request line (without reading past it: the package's bytes may follow) and
/// parses it, refusing a line over [`MAX_REQUEST_BYTES`] and another protocol version.
pub fn read_request(input: &mut impl BufRead) -> Result<HelperRequest, ProtocolError> {
    let mut line = Vec::new();
    loop {
        let available = input
            .fill_buf()
            .map_err(|error| ProtocolError(format!("reading the request: {error}")))?;
        if available.is_empty() {
            if line.is_empty() {
                return Err(ProtocolError(
                    "standard input ended before a request line".to_owned(),
                ));
            }
            break;
        }
        let end = available.iter().position(|byte| *byte == b'\n');
        let taken = end.unwrap_or(available.len());
        if line.len() + taken > MAX_REQUEST_BYTES {
            return Err(ProtocolError(format!(
                "the request line is longer than {MAX_REQUEST_BYTES} bytes"
            )));
        }
        line.extend_from_slice(&available[..taken]);
        input.consume(end.map_or(taken, |end| end + 1));
        if end.is_some() {
            break;
        }
    }
    let value: serde_json::Value = serde_json::from_slice(&line)
        .map_err(|error| ProtocolError(format!("the request is not JSON: {error}")))?;
    match value.get("protocol").and_then(serde_json::Value::as_u64) {
        Some(protocol) if protocol == u64::from(HELPER_PROTOCOL) => {}
        Some(protocol) => {
            return Err(ProtocolError(format!(
                "the request speaks protocol {protocol}; this helper ({}) speaks protocol {HELPER_PROTOCOL}",
                env!("CARGO_PKG_VERSION")
            )));
        }
        None => {
            return Err(ProtocolError(
                "the request has no protocol number".to_owned(),
            ));
        }
    }
    serde_json::from_value(value)
        .map_err(|error| ProtocolError(format!("the request is not valid: {error}")))
}

/// Where events go: one JSON line each, flushed at once. Every text a person reads (log
/// lines, the reason) is masked and cut; output values travel as set, since later steps read
/// them (the worker masks what it stores). After a failed write (the worker is gone) nothing
/// more is written, and [`Events::is_broken`] says so.
pub struct Events<W: Write> {
    output: W,
    masker: Masker,
    max_line_bytes: usize,
    broken: Option<io::Error>,
}

impl<W: Write> Events<W> {
    pub fn new(output: W, masker: Masker, max_line_bytes: u64) -> Self {
        let max_line_bytes = match usize::try_from(max_line_bytes) {
            Ok(0) => DEFAULT_MAX_LINE_BYTES,
            Ok(bytes) => bytes,
            Err(_) => usize::MAX,
        };
        Events {
            output,
            masker,
            max_line_bytes,
            broken: None,
        }
    }

    /// A line the helper itself says.
    pub fn ferry(&mut self, text: impl AsRef<str>) {
        self.log(HelperStream::Ferry, text.as_ref());
    }

    pub fn log(&mut self, stream: HelperStream, text: &str) {
        let text = self.readable(text);
        self.send(&HelperEvent::Log { stream, text });
    }

    pub fn output(&mut self, name: String, value: String) {
        self.send(&HelperEvent::Output { name, value });
    }

    /// The last event. The reason is masked and, when the run failed, also written as a
    /// `Ferry` line so the log says it in place.
    pub fn finish(&mut self, mut result: HelperResult) {
        if let Some(reason) = result.reason.take() {
            let reason = self.readable(&reason);
            if !result.succeeded {
                self.send(&HelperEvent::Log {
                    stream: HelperStream::Ferry,
                    text: reason.clone(),
                });
            }
            result.reason = Some(reason);
        }
        self.send(&HelperEvent::Finished(result));
    }

    /// Whether a write failed (nobody reads the events any more) or the run was asked to
    /// stop (`crate::stop`): either way nothing more should be done.
    pub fn is_broken(&self) -> bool {
        self.broken.is_some() || crate::stop::requested()
    }

    /// Why writing failed, once it did.
    pub fn broken_reason(&self) -> Option<String> {
        self.broken.as_ref().map(ToString::to_string)
    }

    fn readable(&self, text: &str) -> String {
        cut(self.masker.mask(text), self.max_line_bytes)
    }

    fn send(&mut self, event: &HelperEvent) {
        if self.broken.is_some() {
            return;
        }
        let written = serde_json::to_vec(event)
            .map_err(io::Error::other)
            .and_then(|mut line| {
                line.push(b'\n');
                self.output.write_all(&line)?;
                self.output.flush()
            });
        if let Err(error) = written {
            self.broken = Some(error);
        }
    }
}

/// `text` cut to at most `max_bytes` bytes, on a character boundary.
pub fn cut(mut text: String, max_bytes: usize) -> String {
    if text.len() > max_bytes {
        let mut end = max_bytes;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_cut_on_a_character_boundary() {
        assert_eq!(cut("héllo".to_owned(), 2), "h");
        assert_eq!(cut("héllo".to_owned(), 3), "hé");
        assert_eq!(cut("abc".to_owned(), 10), "abc");
    }

    #[test]
    fn another_protocol_is_refused_by_number() {
        let mut input = io::Cursor::new(b"{\"protocol\": 99}\n".to_vec());
        let error = read_request(&mut input).unwrap_err();
        assert!(error.0.contains("protocol 99"), "{error}");
    }

    #[test]
    fn the_request_line_is_read_without_what_follows() {
        let mut input = io::Cursor::new(b"{\"protocol\": 1}\nPACKAGE".to_vec());
        assert!(read_request(&mut input).is_err());
        let mut rest = String::new();
        io::Read::read_to_string(&mut input, &mut rest).unwrap();
        assert_eq!(rest, "PACKAGE");
    }
}
