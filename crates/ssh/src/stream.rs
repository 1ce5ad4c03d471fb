//! Commands whose standard input is streamed while their output is read: a package going to
//! a target's helper is never whole in memory, and the helper's answers arrive as it works.

use russh::ChannelMsg;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::SshError;
use crate::client::{Connection, Output, session_error, signal_number};

/// How a streamed command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streamed {
    /// The exit status (128 + the signal's number when a signal killed it).
    pub status: u32,
    /// Bytes of standard input sent.
    pub sent: u64,
}

impl Connection {
    /// Runs `command`, copying `stdin` to it (then closing it) while every piece of output is
    /// handed to `output` as it arrives.
    pub async fn run_streaming<R>(
        &self,
        command: &str,
        mut stdin: R,
        mut output: impl FnMut(Output<'_>),
    ) -> Result<Streamed, SshError>
    where
        R: AsyncRead + Unpin + Send + 'static,
    {
        let endpoint = self.endpoint().clone();
        let channel = self
            .handle
            .channel_open_session()
            .await
            .map_err(|error| session_error(&endpoint, &error))?;
        channel
            .exec(true, command)
            .await
            .map_err(|error| session_error(&endpoint, &error))?;
        let (mut read, write) = channel.split();
        let writer_endpoint = endpoint.clone();
        let sent_so_far = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counted = std::sync::Arc::clone(&sent_so_far);
        let writer = tokio::spawn(async move {
            let mut sink = write.make_writer();
            let mut buffer = vec![0u8; 256 * 1024];
            let mut sent = 0u64;
            loop {
                let read = stdin
                    .read(&mut buffer)
                    .await
                    .map_err(|error| SshError::Session {
                        endpoint: writer_endpoint.to_string(),
                        detail: format!("reading what to send: {error}"),
                    })?;
                if read == 0 {
                    break;
                }
                // The command may end before reading all of it (it refused the input): what
                // it says then is what counts, so a write that fails only stops sending.
                if sink.write_all(&buffer[..read]).await.is_err() {
                    return Ok(sent);
                }
                sent += read as u64;
                counted.store(sent, std::sync::atomic::Ordering::Relaxed);
            }
            let _ = sink.flush().await;
            let _ = write.eof().await;
            Ok::<u64, SshError>(sent)
        });
        let mut status = None;
        while let Some(message) = read.wait().await {
            match message {
                ChannelMsg::Data { ref data } => output(Output::Stdout(data)),
                ChannelMsg::ExtendedData { ref data, ext: 1 } => output(Output::Stderr(data)),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::ExitSignal { signal_name, .. } => {
                    status = Some(128 + signal_number(&signal_name));
                }
                _ => {}
            }
        }
        // The channel closed: the command ended, and nothing more can reach it. A writer
        // still waiting for input to send (its source may wait on what the command said) is
        // stopped rather than awaited, so a command that exits early never hangs the run.
        if !writer.is_finished() {
            writer.abort();
        }
        let sent = match writer.await {
            Ok(result) => result?,
            Err(_) => sent_so_far.load(std::sync::atomic::Ordering::Relaxed),
        };
        let status = status.ok_or_else(|| SshError::Session {
            endpoint: endpoint.to_string(),
            detail: "the connection ended before the command reported how it exited".to_owned(),
        })?;
        Ok(Streamed { status, sent })
    }
}
