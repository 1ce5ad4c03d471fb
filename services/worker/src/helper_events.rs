//! The worker's side of a conversation with `ferry-helper`, whatever carries it (an SSH
//! channel, or a local process for a `local` target): the request line and the package
//! after it as one stream, the helper's event lines read back into log lines (live: batched
//! every 200 ms), outputs and the result.

use std::time::Duration;

use ferry_contracts::LogStream;
use ferry_contracts::helper::{HelperEvent, HelperRequest, HelperResult, HelperStream};

use crate::control::Stop;
use crate::events::EventSink;

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

/// Reads the helper's answers from `receiver` (standard output as it comes; standard error
/// prefixed with a NUL byte) while `running` (the helper's exit status and the bytes sent)
/// runs, until it ends or the step is stopped.
pub(crate) async fn converse(
    running: impl std::future::Future<Output = Result<(u32, u64), String>>,
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    request: &HelperRequest,
    request_bytes: u64,
    sink: &mut EventSink<'_>,
    stop: &Stop,
) -> Result<HelperResult, String> {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    tokio::pin!(running);
    let mut result = None;
    // Lines go out as they come, batched: a line printed before a long silence is sent
    // within the batch interval, not when the next one arrives.
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let ended = loop {
        tokio::select! {
            ended = &mut running => break ended,
            Some(chunk) = receiver.recv() => {
                absorb(chunk, &mut stdout, &mut stderr, sink, &mut result);
                sink.flush_if_due().await;
            }
            _ = tick.tick() => sink.flush_if_due().await,
            () = stop.cancelled() => {
                return Err(format!("stopped on the target: {}", stop.requested().unwrap_or("it was stopped")));
            }
        }
    };
    while let Ok(chunk) = receiver.try_recv() {
        absorb(chunk, &mut stdout, &mut stderr, sink, &mut result);
    }
    let (status, sent) = ended?;
    if let Some(package) = request.package.as_ref().filter(|package| package.follows) {
        sink.line(
            LogStream::System,
            format!(
                "Sent package {} {} to the target: {} bytes",
                package.package_id,
                package.version,
                sent.saturating_sub(request_bytes)
            ),
        );
    }
    let errors = String::from_utf8_lossy(&stderr).trim().to_owned();
    result.ok_or_else(|| {
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

/// Splits what arrived into lines and handles each complete one.
fn absorb(
    chunk: Vec<u8>,
    stdout: &mut Vec<u8>,
    stderr: &mut Vec<u8>,
    sink: &mut EventSink<'_>,
    result: &mut Option<HelperResult>,
) {
    if let Some(errors) = chunk.strip_prefix(b"\x00") {
        // Bounded: only the tail is kept for the failure message.
        stderr.extend_from_slice(errors);
        if stderr.len() > 16 * 1024 {
            stderr.drain(..stderr.len() - 16 * 1024);
        }
        return;
    }
    stdout.extend_from_slice(&chunk);
    while let Some(end) = stdout.iter().position(|byte| *byte == b'\n') {
        let line: Vec<u8> = stdout.drain(..=end).collect();
        match serde_json::from_slice::<HelperEvent>(&line) {
            Ok(HelperEvent::Log { stream, text }) => {
                let stream = match stream {
                    HelperStream::Stdout => LogStream::Stdout,
                    HelperStream::Stderr => LogStream::Stderr,
                    HelperStream::Ferry => LogStream::System,
                };
                sink.line(stream, text);
            }
            Ok(HelperEvent::Output { name, value }) => {
                sink.add_outputs([(name, value)].into_iter().collect());
            }
            Ok(HelperEvent::Finished(finished)) => {
                if let Some(folder) = &finished.installation_directory {
                    sink.add_outputs(
                        [(
                            "Package.InstallationDirectoryPath".to_owned(),
                            folder.clone(),
                        )]
                        .into_iter()
                        .collect(),
                    );
                }
                *result = Some(finished);
            }
            Err(error) => sink.line(
                LogStream::System,
                format!("ferry-helper sent a line that is not its protocol ({error})"),
            ),
        }
    }
    // A line without end is bounded too.
    if stdout.len() > 64 * 1024 * 1024 {
        stdout.clear();
    }
}
