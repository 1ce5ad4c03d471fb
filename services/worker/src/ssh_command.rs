//! The one command a run on an SSH target is (`ssh_target.rs` connects and sends the helper
//! when it is missing): it tests for `ferry-helper` and the package with shell built-ins,
//! says what it found on its first line, and `exec`s the helper; the worker writes the
//! request once it has read that line, the package after it only when the target lacks it.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferry_contracts::helper::{HELPER_DAMAGED_EXIT, HelperRequest, HelperResult};
use ferry_ssh::Output;
use tokio::io::AsyncWriteExt;

use crate::events::EventSink;
use crate::helper_events::{self, Until};
use crate::ssh_target::{PROBE_OUTPUT_BYTES, SshRun, after_connecting};

/// `status` before the command has ended with one (a broken session never does).
const NO_STATUS: u32 = u32::MAX;

/// How one run of the command ended.
pub(crate) enum Ended {
    Answered(HelperResult),
    /// The helper's file is not there: the first line named the target's OS and machine.
    Missing {
        os: String,
        arch: String,
    },
    /// It is there but did not start, or found its own file damaged.
    Damaged(String),
}

/// What the command's first line said.
#[derive(Debug, Clone, PartialEq, Eq)]
enum FirstLine {
    Ready { cached: bool },
    Missing { os: String, arch: String },
    Unexpected(String),
}

fn first_line(line: &str) -> FirstLine {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["ferry-probe", "ready", cached] => FirstLine::Ready {
            cached: *cached == "1",
        },
        ["ferry-probe", "missing", os, arch] => FirstLine::Missing {
            os: (*os).to_owned(),
            arch: (*arch).to_owned(),
        },
        _ => FirstLine::Unexpected(line.chars().take(200).collect()),
    }
}

/// The command: shell built-ins only until the helper is `exec`ed (no `stat`, no `uname`
/// on the way), so a run costs the target one shell and the helper.
pub(crate) fn command(run: SshRun<'_>, request: &HelperRequest) -> String {
    let package = request
        .package
        .as_ref()
        .map_or_else(String::new, |package| {
            format!(
                "[ -f \"$HOME/.ferry/packages/{}\" ] && p=1; ",
                package.sha256
            )
        });
    format!(
        "f=\"$HOME/.ferry/helpers/{sha}\"; p=0; {package}if [ -x \"$f\" ]; then echo \"ferry-probe ready $p\"; exec \"$f\" run {name} {size}; fi; echo \"ferry-probe missing $(uname -s) $(uname -m)\"",
        sha = run.helper.sha256,
        name = run.name,
        size = run.helper.bytes.len(),
    )
}

/// Runs the command once: reads its first line, then writes the request (and the package
/// when the target lacks it) and reads the helper's answers.
pub(crate) async fn converse_once(
    run: SshRun<'_>,
    request: &HelperRequest,
    archive: Option<std::fs::File>,
    sink: &mut EventSink<'_>,
    until: Until<'_>,
) -> Result<Ended, String> {
    let (said_tx, said_rx) = tokio::sync::oneshot::channel::<bool>();
    let said = Arc::new(Mutex::new(None::<FirstLine>));
    let request_bytes = Arc::new(AtomicU64::new(0));
    let (mut writer, reader) = tokio::io::duplex(256 * 1024);
    // The request waits for the first line: only then is it known whether the package
    // follows it.
    let feeding = {
        let mut request = request.clone();
        let request_bytes = Arc::clone(&request_bytes);
        tokio::spawn(async move {
            let Ok(cached) = said_rx.await else {
                return; // the helper is not there: nothing to send
            };
            if let Some(package) = request.package.as_mut() {
                package.follows = !cached;
            }
            let Ok(input) = helper_events::input(&request, archive).await else {
                return;
            };
            request_bytes.store(input.request_bytes, Ordering::Relaxed);
            let mut input = input.reader;
            let _ = tokio::io::copy(&mut input, &mut writer).await;
            let _ = writer.shutdown().await;
        })
    };
    let status = Arc::new(AtomicU32::new(NO_STATUS));
    let (lines, receiver) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let spoke = Arc::new(AtomicBool::new(false));
    let mut first = FirstLineReader {
        said_tx: Some(said_tx),
        said: Arc::clone(&said),
        pending: Vec::new(),
        lines: lines.clone(),
        spoke: Arc::clone(&spoke),
        skipped: 0,
    };
    let connection = run.connection;
    let command = command(run, request);
    let running = {
        let status = Arc::clone(&status);
        async move {
            let streamed = connection
                .run_streaming(&command, reader, move |output| match output {
                    Output::Stdout(bytes) => first.stdout(bytes),
                    Output::Stderr(bytes) => {
                        let _ = lines.send([b"\x00".as_slice(), bytes].concat());
                    }
                })
                .await
                .map_err(|error| after_connecting(&error))?;
            status.store(streamed.status, Ordering::Relaxed);
            Ok((streamed.status, streamed.sent))
        }
    };
    let package_line = |sent: u64| {
        let cached = match said.lock().ok()?.clone()? {
            FirstLine::Ready { cached } => cached,
            _ => return None,
        };
        let package = request.package.as_ref()?;
        let bytes = sent.saturating_sub(request_bytes.load(Ordering::Relaxed));
        Some(helper_events::package_note(package, cached, bytes))
    };
    let conversed = helper_events::converse(running, receiver, &package_line, sink, until).await;
    feeding.abort();
    let said = said.lock().ok().and_then(|said| said.clone());
    match (conversed, said) {
        (Ok(result), _) => Ok(Ended::Answered(result)),
        (Err(_), Some(FirstLine::Missing { os, arch })) => Ok(Ended::Missing { os, arch }),
        // The command ended (the session did not break) without a word from the helper,
        // not even its first (`HelperEvent::Started`): it ran nothing, and its copy is sent
        // again — its file is not the size sent (`HELPER_DAMAGED_EXIT`), or it is too
        // damaged to start (a copy cut short dies before `main`).
        (Err(reason), Some(FirstLine::Ready { .. }))
            if !spoke.load(Ordering::Relaxed)
                && status.load(Ordering::Relaxed) != NO_STATUS
                && !until.is_over() =>
        {
            let status = status.load(Ordering::Relaxed);
            Ok(Ended::Damaged(format!(
                "did not start (exit {status}{}): {reason}",
                if status == u32::from(HELPER_DAMAGED_EXIT) {
                    ", its file is not the size sent"
                } else {
                    ""
                }
            )))
        }
        (Err(reason), Some(FirstLine::Ready { .. })) => Err(reason),
        (Err(_), Some(FirstLine::Unexpected(line))) => Err(format!(
            "the target did not answer as expected (`{line}`): it needs sh, test and uname (permanent)"
        )),
        (Err(reason), None) => Err(reason),
    }
}

/// Takes the command's first line off its standard output (and tells the request's writer
/// what it said); passes the rest on to the helper's reader.
struct FirstLineReader {
    said_tx: Option<tokio::sync::oneshot::Sender<bool>>,
    said: Arc<Mutex<Option<FirstLine>>>,
    pending: Vec<u8>,
    lines: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    /// Whether anything came after the first line: the helper started.
    spoke: Arc<AtomicBool>,
    /// Bytes of banner lines skipped so far.
    skipped: usize,
}

impl FirstLineReader {
    fn stdout(&mut self, bytes: &[u8]) {
        let Some(said_tx) = self.said_tx.take() else {
            if !bytes.is_empty() {
                self.spoke.store(true, Ordering::Relaxed);
            }
            let _ = self.lines.send(bytes.to_vec());
            return;
        };
        self.pending.extend_from_slice(bytes);
        // Start-up files may print lines before the command's own (a banner): skipped, up
        // to `PROBE_OUTPUT_BYTES` of them; more, and the target is not answering as it should.
        while let Some(end) = self.pending.iter().position(|byte| *byte == b'\n') {
            let rest = self.pending.split_off(end + 1);
            let line = String::from_utf8_lossy(&self.pending).into_owned();
            self.pending = rest;
            // A banner without a line end runs into the command's line: found where it starts.
            let Some(at) = line.find("ferry-probe ") else {
                self.skipped += line.len();
                if self.skipped > PROBE_OUTPUT_BYTES {
                    self.settle(FirstLine::Unexpected(line.chars().take(200).collect()));
                    return; // `said_tx` dropped: nothing is sent to the target
                }
                continue;
            };
            let said = first_line(line[at..].trim());
            if let FirstLine::Ready { cached } = said {
                let _ = said_tx.send(cached);
            }
            self.settle(said);
            let rest = std::mem::take(&mut self.pending);
            if !rest.is_empty() {
                self.spoke.store(true, Ordering::Relaxed);
                let _ = self.lines.send(rest);
            }
            return;
        }
        if self.pending.len() + self.skipped > PROBE_OUTPUT_BYTES {
            self.settle(FirstLine::Unexpected("a line without end".to_owned()));
            return;
        }
        self.said_tx = Some(said_tx);
    }

    fn settle(&mut self, said: FirstLine) {
        if let Ok(mut kept) = self.said.lock() {
            *kept = Some(said);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{FirstLine, FirstLineReader, first_line};
    use std::sync::atomic::AtomicBool;
    use std::sync::{Arc, Mutex};

    /// A reader as `converse_once` makes it, with the ends the tests look at.
    fn reader() -> (
        FirstLineReader,
        tokio::sync::oneshot::Receiver<bool>,
        tokio::sync::mpsc::UnboundedReceiver<Vec<u8>>,
    ) {
        let (said_tx, said_rx) = tokio::sync::oneshot::channel();
        let (lines, received) = tokio::sync::mpsc::unbounded_channel();
        let reader = FirstLineReader {
            said_tx: Some(said_tx),
            said: Arc::new(Mutex::new(None)),
            pending: Vec::new(),
            lines,
            spoke: Arc::new(AtomicBool::new(false)),
            skipped: 0,
        };
        (reader, said_rx, received)
    }

    #[test]
    fn the_first_line_says_ready_or_missing_and_anything_else_is_unexpected() {
        assert_eq!(
            first_line("ferry-probe ready 1"),
            FirstLine::Ready { cached: true }
        );
        assert_eq!(
            first_line("ferry-probe ready 0"),
            FirstLine::Ready { cached: false }
        );
        assert_eq!(
            first_line("ferry-probe missing Linux aarch64"),
            FirstLine::Missing {
                os: "Linux".into(),
                arch: "aarch64".into()
            }
        );
        assert!(matches!(
            first_line("ferry-probe what"),
            FirstLine::Unexpected(_)
        ));
    }

    #[test]
    fn a_banner_before_the_first_line_is_skipped_and_what_follows_goes_on() {
        let (mut reader, said_rx, mut received) = reader();
        let (said, spoke) = (Arc::clone(&reader.said), Arc::clone(&reader.spoke));
        reader.stdout(b"Welcome to the box\nferry-probe re");
        assert!(said.lock().unwrap().is_none(), "not a whole line yet");
        reader.stdout(b"ady 1\n{\"event\":\"started\"}\n");
        assert_eq!(
            *said.lock().unwrap(),
            Some(FirstLine::Ready { cached: true })
        );
        assert_eq!(said_rx.blocking_recv(), Ok(true));
        assert_eq!(received.try_recv().unwrap(), b"{\"event\":\"started\"}\n");
        assert!(spoke.load(std::sync::atomic::Ordering::Relaxed));
    }

    #[test]
    fn a_flood_of_lines_before_the_first_line_ends_the_wait_instead_of_the_worker() {
        let (mut reader, said_rx, _received) = reader();
        let said = Arc::clone(&reader.said);
        reader.stdout(&[b'x'; 64]);
        reader.stdout(&[b"\n".repeat(65_536), b"ferry-probe ready 1\n".to_vec()].concat());
        assert!(matches!(
            *said.lock().unwrap(),
            Some(FirstLine::Unexpected(_))
        ));
        assert!(
            said_rx.blocking_recv().is_err(),
            "nothing is sent to the target"
        );
    }

    #[test]
    fn a_banner_without_a_line_end_still_finds_the_first_line() {
        let (mut reader, said_rx, _received) = reader();
        reader.stdout(b"Welcomeferry-probe ready 0\n");
        assert_eq!(said_rx.blocking_recv(), Ok(false));
    }
}
