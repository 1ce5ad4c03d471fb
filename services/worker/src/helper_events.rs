//! The worker's side of a conversation with `ferry-helper`, whatever carries it (an SSH
//! channel, or a local process for a `local` target): the request line and the package
//! after it as one stream, the helper's event lines read back into log lines (live: batched
//! every 200 ms), outputs and the result.

use std::time::Duration;

use ferry_contracts::LogStream;
use ferry_contracts::helper::{
    HelperEvent, HelperPackage, HelperRequest, HelperResult, HelperStream,
};

use crate::control::Stop;
use crate::events::EventSink;

/// When a run must end: when its step is stopped (cancelled, given up) or at its deadline
/// (the step's timeout). The run on the target is then told to stop (`ssh_target.rs`).
#[derive(Clone, Copy)]
pub(crate) struct Until<'a> {
    pub stop: &'a Stop,
    pub deadline: tokio::time::Instant,
    pub timeout_seconds: u64,
}

impl Until<'_> {
    /// Whether the run ended because it was stopped or ran out of time.
    pub fn is_over(&self) -> bool {
        self.stop.requested().is_some() || tokio::time::Instant::now() >= self.deadline
    }
}

/// What the helper reads: the request line, then the package when it follows.
pub(crate) struct Input {
    pub reader: Box<dyn tokio::io::AsyncRead + Unpin + Send>,
    pub request_bytes: u64,
}

pub(crate) async fn input(
    request: &HelperRequest,
    archive: Option<std::fs::File>,
) -> Result<Input, String> {
    let mut line = serde_json::to_vec(request)
        .map_err(|error| format!("encoding the helper's request: {error}"))?;
    line.push(b'\n');
    let request_bytes = line.len() as u64;
    let follows = request
        .package
        .as_ref()
        .is_some_and(|package| package.follows);
    let input: Box<dyn tokio::io::AsyncRead + Unpin + Send> = match archive {
        Some(file) if follows => {
            use tokio::io::AsyncReadExt;
            let mut file = tokio::fs::File::from_std(file);
            tokio::io::AsyncSeekExt::rewind(&mut file)
                .await
                .map_err(|error| format!("reading the cached package: {error} (retryable)"))?;
            Box::new(std::io::Cursor::new(line).chain(file))
        }
        _ => Box::new(std::io::Cursor::new(line)),
    };
    Ok(Input {
        reader: input,
        request_bytes,
    })
}

/// What the log says of a run's package: found in the target's cache, or sent (the bytes
/// after the request line).
pub(crate) fn package_note(package: &HelperPackage, cached: bool, package_bytes: u64) -> String {
    if cached {
        format!(
            "Package {} {} found in the target's cache, 0 bytes sent",
            package.package_id, package.version
        )
    } else {
        format!(
            "Sent package {} {} to the target: {package_bytes} bytes",
            package.package_id, package.version
        )
    }
}

/// Reads the helper's answers from `receiver` (standard output as it comes; standard error
/// prefixed with a NUL byte) while `running` (the helper's exit status and the bytes sent)
/// runs, until it ends or the step is stopped; then logs what `package_line` says of the
/// package, given the bytes sent.
pub(crate) async fn converse(
    running: impl std::future::Future<Output = Result<(u32, u64), String>>,
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    package_line: &(dyn Fn(u64) -> Option<String> + Sync),
    sink: &mut EventSink<'_>,
    until: Until<'_>,
) -> Result<HelperResult, String> {
    let mut received = Received::default();
    tokio::pin!(running);
    // Lines go out as they come, batched: a line printed before a long silence is sent
    // within the batch interval, not when the next one arrives.
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = loop {
        tokio::select! {
            ended = &mut running => break ended,
            Some(chunk) = receiver.recv() => {
                absorb(chunk, &mut received, sink);
                sink.flush_if_due().await;
            }
            _ = tick.tick() => sink.flush_if_due().await,
            () = until.stop.cancelled() => {
                return Err(format!("stopped: {}", until.stop.requested().unwrap_or("it was stopped")));
            }
            () = tokio::time::sleep_until(until.deadline) => {
                return Err(format!(
                    "the step ran longer than its timeout of {} seconds (permanent)",
                    until.timeout_seconds
                ));
            }
        }
    };
    while let Ok(chunk) = receiver.try_recv() {
        absorb(chunk, &mut received, sink);
    }
    let (status, sent) = ended?;
    if let Some(line) = package_line(sent) {
        sink.line(LogStream::System, line);
    }
    let errors = String::from_utf8_lossy(&received.stderr).trim().to_owned();
    received.result.ok_or_else(|| {
        format!(
            "ferry-helper ended (exit {}) without a result{} (retryable)",
            status,
            if errors.is_empty() {
                String::new()
            } else {
                format!(": {errors}")
            }
        )
    })
}

/// What a helper may send back, at most: a target is not trusted with the worker's memory
/// or the API's storage.
const MAX_EVENT_LINE: usize = 1024 * 1024;
const MAX_OUTPUTS: usize = 1000;
const MAX_OUTPUT_BYTES: usize = 1024 * 1024;
const MAX_HELPER_LINES: usize = 10_000;
/// The longest failure reason kept (the rest is cut).
pub(crate) const MAX_REASON_BYTES: usize = 16 * 1024;

/// What has arrived from the helper so far.
#[derive(Default)]
pub(crate) struct Received {
    stdout: Vec<u8>,
    /// How far `stdout` was searched for a line end (no byte is searched twice).
    scanned: usize,
    /// Bytes of an over-long line being skipped to its end.
    skipping: bool,
    stderr: Vec<u8>,
    outputs: usize,
    output_bytes: usize,
    /// Whether the output variables went over their bound (said once).
    outputs_over: bool,
    helper_lines: usize,
    pub result: Option<HelperResult>,
}

/// Cuts `text` to at most `max` bytes, on a character boundary, saying so.
pub(crate) fn cut(mut text: String, max: usize) -> String {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push_str(" …[cut]");
    }
    text
}

/// Splits what arrived into lines and handles each complete one.
fn absorb(chunk: Vec<u8>, received: &mut Received, sink: &mut EventSink<'_>) {
    if let Some(errors) = chunk.strip_prefix(b"\x00") {
        // Bounded: only the tail is kept for the failure message.
        received.stderr.extend_from_slice(errors);
        if received.stderr.len() > 16 * 1024 {
            let extra = received.stderr.len() - 16 * 1024;
            received.stderr.drain(..extra);
        }
        return;
    }
    received.stdout.extend_from_slice(&chunk);
    loop {
        let found = received.stdout[received.scanned..]
            .iter()
            .position(|byte| *byte == b'\n');
        let Some(offset) = found else {
            received.scanned = received.stdout.len();
            if received.stdout.len() > MAX_EVENT_LINE {
                // A line without end: dropped, and skipped up to its end when it comes.
                if !received.skipping {
                    sink.line(
                        LogStream::System,
                        format!(
                            "ferry-helper sent a line over {MAX_EVENT_LINE} bytes; it was dropped"
                        ),
                    );
                }
                received.skipping = true;
                received.stdout.clear();
                received.scanned = 0;
            }
            return;
        };
        let end = received.scanned + offset;
        let line: Vec<u8> = received.stdout.drain(..=end).collect();
        received.scanned = 0;
        if std::mem::take(&mut received.skipping) {
            continue;
        }
        handle(&line, received, sink);
    }
}

fn handle(line: &[u8], received: &mut Received, sink: &mut EventSink<'_>) {
    match serde_json::from_slice::<HelperEvent>(line) {
        Ok(HelperEvent::Started) => {}
        Ok(HelperEvent::Log { stream, text }) => {
            let stream = match stream {
                HelperStream::Stdout => LogStream::Stdout,
                HelperStream::Stderr => LogStream::Stderr,
                HelperStream::Ferry => {
                    // The helper's own lines skip the output budget; their number is bounded.
                    received.helper_lines += 1;
                    if received.helper_lines > MAX_HELPER_LINES {
                        return;
                    }
                    LogStream::System
                }
            };
            sink.line(stream, text);
        }
        Ok(HelperEvent::Output { name, value }) => {
            received.outputs += 1;
            received.output_bytes += name.len() + value.len();
            if received.outputs > MAX_OUTPUTS || received.output_bytes > MAX_OUTPUT_BYTES {
                if !std::mem::replace(&mut received.outputs_over, true) {
                    sink.line(
                        LogStream::System,
                        format!(
                            "ferry-helper sent more output variables than a run may set ({MAX_OUTPUTS}, {MAX_OUTPUT_BYTES} bytes): the rest are ignored"
                        ),
                    );
                }
                return;
            }
            sink.add_outputs([(name, value)].into_iter().collect());
        }
        Ok(HelperEvent::Finished(mut finished)) => {
            if let Some(folder) = &finished.installation_directory {
                sink.add_outputs(
                    [(
                        "Package.InstallationDirectoryPath".to_owned(),
                        cut(folder.clone(), 4096),
                    )]
                    .into_iter()
                    .collect(),
                );
            }
            finished.reason = finished.reason.map(|reason| cut(reason, MAX_REASON_BYTES));
            received.result = Some(finished);
        }
        Err(error) => sink.line(
            LogStream::System,
            format!("ferry-helper sent a line that is not its protocol ({error})"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::cut;

    #[test]
    fn a_long_reason_is_cut_on_a_character_boundary_and_says_so() {
        assert_eq!(cut("short".into(), 10), "short");
        let cut_text = cut("é".repeat(10), 5);
        assert_eq!(cut_text, "éé …[cut]");
    }
}
