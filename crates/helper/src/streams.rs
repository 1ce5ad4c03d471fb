//! A script's standard output and error, read line by line by two threads as they arrive
//! and written as `Log` events by the thread that waits for the script.
//!
//! A script that leaves a process running with its output open (a daemon started without
//! redirecting it) would keep the pipes open forever: once bash has exited the helper reads
//! for [`GRACE_AFTER_EXIT`] more, then stops reading and says so. Scripts that start daemons
//! must redirect their output (`nohup app >app.log 2>&1 &`).

use std::io::{self, BufRead, BufReader, Read, Write};
use std::process::{Child, ExitStatus};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::thread;
use std::time::{Duration, Instant};

use ferry_contracts::helper::HelperStream;

use crate::protocol::Events;

/// How long output is still read after the script exited.
pub const GRACE_AFTER_EXIT: Duration = Duration::from_secs(2);

/// How often the waiting thread looks whether the script has exited.
const POLL: Duration = Duration::from_millis(50);

pub type Lines = (
    SyncSender<(HelperStream, String)>,
    Receiver<(HelperStream, String)>,
);

pub fn channel() -> Lines {
    mpsc::sync_channel(1024)
}

/// Reads lines (lossily decoded) and sends them until the stream closes or nobody listens.
/// A line longer than `read_line_bytes` is sent when that much has been read, and the rest of
/// it is skipped, so a line without end takes no more memory than that. Reading more than the
/// line limit before masking keeps a secret that straddles the cut maskable.
pub fn spawn_reader(
    stream: impl Read + Send + 'static,
    kind: HelperStream,
    sender: SyncSender<(HelperStream, String)>,
    read_line_bytes: usize,
) {
    thread::spawn(move || {
        let mut reader = BufReader::with_capacity(64 * 1024, stream);
        let mut line: Vec<u8> = Vec::new();
        let mut skipping = false;
        loop {
            let (consumed, ended) = match reader.fill_buf() {
                Ok([]) => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
                Ok(available) => {
                    let end = available.iter().position(|byte| *byte == b'\n');
                    let chunk = &available[..end.unwrap_or(available.len())];
                    if !skipping {
                        let room = read_line_bytes.saturating_sub(line.len());
                        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
                    }
                    (end.map_or(available.len(), |end| end + 1), end.is_some())
                }
            };
            reader.consume(consumed);
            let full = !skipping && line.len() >= read_line_bytes;
            if ((ended && !skipping) || full) && !send_line(&sender, kind, &mut line) {
                return;
            }
            if ended {
                skipping = false;
            } else if full {
                skipping = true;
            }
        }
        if !line.is_empty() {
            send_line(&sender, kind, &mut line);
        }
    });
}

fn send_line(
    sender: &SyncSender<(HelperStream, String)>,
    kind: HelperStream,
    line: &mut Vec<u8>,
) -> bool {
    while line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = String::from_utf8_lossy(line).into_owned();
    line.clear();
    sender.send((kind, text)).is_ok()
}

/// What became of a script.
#[derive(Debug)]
pub enum Ended {
    Exited(ExitStatus),
    /// Nobody reads the events any more (the worker went away): the script's process group
    /// was killed.
    Abandoned,
}

/// Writes the script's lines as they arrive until both streams close (or the grace after the
/// script's exit runs out), and returns how the script ended.
pub fn pump<W: Write>(
    child: &mut Child,
    receiver: Receiver<(HelperStream, String)>,
    events: &mut Events<W>,
) -> io::Result<Ended> {
    let mut exited: Option<(ExitStatus, Instant)> = None;
    loop {
        if events.is_broken() {
            crate::sys::kill_process_group(child.id());
            let _ = child.wait();
            return Ok(Ended::Abandoned);
        }
        let wait = match exited {
            Some((_, until)) => match until.checked_duration_since(Instant::now()) {
                Some(left) => left.min(POLL),
                None => {
                    events.ferry(format!(
                        "The script exited but a process it started still holds its output open: stopped reading it after {} s (redirect the output of processes that keep running)",
                        GRACE_AFTER_EXIT.as_secs()
                    ));
                    break;
                }
            },
            None => POLL,
        };
        match receiver.recv_timeout(wait) {
            Ok((stream, text)) => events.log(stream, &text),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if exited.is_none()
            && let Some(status) = child.try_wait()?
        {
            exited = Some((status, Instant::now() + GRACE_AFTER_EXIT));
        }
    }
    match exited {
        Some((status, _)) => Ok(Ended::Exited(status)),
        None => child.wait().map(Ended::Exited),
    }
}
