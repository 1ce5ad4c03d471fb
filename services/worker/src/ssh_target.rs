//! One step's run on an SSH target: connect with the pinned host key (retried while the
//! failure is retryable), then **one command** that checks for `ferry-helper` and the
//! package with shell built-ins, says what it found on its first line, and `exec`s the
//! helper, which reads the request the worker writes only once it has read that line (the
//! package after it only when the target lacks it). A missing helper (or one that will not
//! start) is sent, and the command runs once more. ARCHITECTURE.md describes the protocol.

use std::time::Duration;

use ferry_contracts::helper::{HelperRequest, HelperResult};
use ferry_contracts::{LogStream, TargetJob, TargetReach};
use ferry_ssh::{Connection, Endpoint, Output, SshError};

use crate::control::Stop;
use crate::events::EventSink;
use crate::helper_binary::HelperBinary;
use crate::helper_events::Until;
use crate::{WorkerContext, ssh_command, target_connect};

/// How often a retryable connection failure is tried again within one attempt, and the
/// first pause (doubling).
const CONNECT_TRIES: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(500);
/// The most bytes kept of what the upload and the stop command print, and of the first line.
pub(crate) const PROBE_OUTPUT_BYTES: usize = 4096;

/// A run over SSH: the connection, the helper it runs, and the run's name on the target.
#[derive(Clone, Copy)]
pub(crate) struct SshRun<'a> {
    pub connection: &'a Connection,
    pub helper: &'a HelperBinary,
    pub name: &'a str,
}

/// Runs `request` on an SSH target: connects, converses, and asks the target to stop the
/// run when the step was stopped or timed out meanwhile.
pub(crate) async fn run(
    context: &WorkerContext,
    target: &TargetJob,
    (request, archive): (HelperRequest, Option<std::fs::File>),
    (helper, run_name): (&HelperBinary, &str),
    sink: &mut EventSink<'_>,
    until: Until<'_>,
) -> Result<HelperResult, String> {
    let TargetReach::Ssh {
        host,
        port,
        user,
        host_key_fingerprint,
        sealed_private_key,
    } = &target.reach
    else {
        return Err("the target is not reached over SSH (permanent)".to_owned());
    };
    let private_key = target_connect::open_private_key(
        &context.config.variables_key,
        target.target_id,
        &target.name,
        sealed_private_key,
    )?;
    let endpoint = target_connect::endpoint(host, *port, user);
    let connection = connect(
        &endpoint,
        host_key_fingerprint,
        &private_key,
        sink,
        until.stop,
    )
    .await?;
    let run = SshRun {
        connection: &connection,
        helper,
        name: run_name,
    };
    let result = over_ssh(run, &request, archive, sink, until).await;
    if result.is_err() && until.is_over() {
        stop_on_target(run, sink).await;
    }
    connection.close().await;
    result
}

/// The run over an open connection: the helper is sent when the target lacks it (or its
/// copy will not start), once.
async fn over_ssh(
    run: SshRun<'_>,
    request: &HelperRequest,
    archive: Option<std::fs::File>,
    sink: &mut EventSink<'_>,
    until: Until<'_>,
) -> Result<HelperResult, String> {
    if let Some(package) = &request.package
        && !is_sha256(&package.sha256)
    {
        return Err(format!(
            "the package's SHA-256 `{}` is not 64 hex digits (permanent)",
            package.sha256
        ));
    }
    let mut sent_helper = false;
    loop {
        let archive = archive
            .as_ref()
            .map(std::fs::File::try_clone)
            .transpose()
            .map_err(|error| format!("reading the cached package: {error} (retryable)"))?;
        let ended = ssh_command::converse_once(run, request, archive, sink, until).await?;
        let why = match ended {
            ssh_command::Ended::Answered(result) => return Ok(result),
            ssh_command::Ended::Missing { os, arch } => {
                if !run.helper.runs_on(&os, &arch) {
                    return Err(format!(
                        "the target runs {os} {arch}; this worker carries ferry-helper for {} only (permanent)",
                        run.helper.platform()
                    ));
                }
                "is not on the target".to_owned()
            }
            ssh_command::Ended::Damaged(why) => why,
        };
        if sent_helper {
            return Err(format!(
                "ferry-helper {why}, even after it was sent (retryable)"
            ));
        }
        upload_helper(run.connection, run.helper, sink).await?;
        sent_helper = true;
    }
}

fn is_sha256(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|byte| byte.is_ascii_hexdigit())
}

/// Tells the helper running this run on the target to stop (its script killed, no further
/// stage, the target's lock let go): closing the session alone does not stop a command.
async fn stop_on_target(run: SshRun<'_>, sink: &mut EventSink<'_>) {
    let command = format!(
        "\"$HOME/.ferry/helpers/{}\" stop {}",
        run.helper.sha256, run.name
    );
    let mut said = Vec::new();
    let stopping = run.connection.run(&command, b"", |output| {
        if let Output::Stdout(bytes) = output
            && said.len() < PROBE_OUTPUT_BYTES
        {
            said.extend_from_slice(bytes);
        }
    });
    let answer = match tokio::time::timeout(Duration::from_secs(10), stopping).await {
        Ok(Ok(0)) => String::from_utf8_lossy(&said).trim().to_owned(),
        Ok(Ok(status)) => format!("the stop command exited with {status}"),
        Ok(Err(error)) => error.to_string(),
        Err(_) => "no answer within 10 s".to_owned(),
    };
    sink.line(
        LogStream::System,
        format!("Asked the target to stop the run: {answer}"),
    );
}

/// Connects, trying again (with a doubling pause) while the failure is retryable.
async fn connect(
    endpoint: &Endpoint,
    pinned: &ferry_domain::HostKeyFingerprint,
    private_key: &str,
    sink: &mut EventSink<'_>,
    stop: &Stop,
) -> Result<Connection, String> {
    let options = target_connect::connect_options();
    let mut pause = FIRST_PAUSE;
    for tries in 1..=CONNECT_TRIES {
        match Connection::open(endpoint, pinned, private_key, &options).await {
            Ok(connection) => return Ok(connection),
            Err(error) if error.is_retryable() && tries < CONNECT_TRIES => {
                sink.line(
                    LogStream::System,
                    format!(
                        "{error} (retryable): trying again in {} ms ({tries} of {CONNECT_TRIES} tries)",
                        pause.as_millis()
                    ),
                );
                sink.flush().await;
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = stop.cancelled() => return Err("stopped while connecting".to_owned()),
                }
                pause *= 2;
            }
            Err(error) => return Err(describe(&error, tries)),
        }
    }
    Err("could not connect".to_owned())
}

/// A failure once connected: the session broke (retryable) or the target refused something.
pub(crate) fn after_connecting(error: &SshError) -> String {
    if error.is_retryable() {
        format!("{error} (retryable)")
    } else {
        format!("{error} (permanent)")
    }
}

fn describe(error: &SshError, tries: u32) -> String {
    if error.is_retryable() {
        format!("{error} (retryable; gave up after {tries} tries)")
    } else {
        format!("{error} (permanent)")
    }
}

/// How many helper versions a target keeps in `~/.ferry/helpers` (the newest, by when they
/// arrived): workers of two versions side by side during an upgrade each find theirs.
const HELPERS_KEPT: usize = 3;

/// Puts the helper in `~/.ferry/helpers/<sha256>`: written to a temporary name, checked
/// with `sha256sum`, then renamed, so a half-sent helper is never run; older versions
/// beyond [`HELPERS_KEPT`] are removed.
async fn upload_helper(
    connection: &Connection,
    helper: &HelperBinary,
    sink: &mut EventSink<'_>,
) -> Result<(), String> {
    let sha = &helper.sha256;
    let command = format!(
        "set -e; umask 077; d=\"$HOME/.ferry/helpers\"; mkdir -p \"$d\"; t=\"$d/.{sha}.$$\"; \
         cat > \"$t\"; echo \"{sha}  $t\" | sha256sum -c --status || {{ rm -f \"$t\"; echo 'ferry-helper arrived damaged' >&2; exit 3; }}; \
         chmod 700 \"$t\"; mv -f \"$t\" \"$d/{sha}\"; \
         for old in $(ls -t \"$d\" | tail -n +{keep}); do case \"$old\" in *[!0-9a-f]*) ;; *) rm -f \"$d/$old\" || true;; esac; done",
        keep = HELPERS_KEPT + 1,
    );
    let mut errors = Vec::new();
    let status = connection
        .run(&command, &helper.bytes, |output| {
            if let Output::Stderr(bytes) = output
                && errors.len() < PROBE_OUTPUT_BYTES
            {
                errors.extend_from_slice(
                    &bytes[..bytes.len().min(PROBE_OUTPUT_BYTES - errors.len())],
                );
            }
        })
        .await
        .map_err(|error| after_connecting(&error))?;
    if status != 0 {
        return Err(format!(
            "uploading ferry-helper failed (exit {status}): {} (retryable)",
            String::from_utf8_lossy(&errors).trim()
        ));
    }
    sink.line(
        LogStream::System,
        format!(
            "Uploaded ferry-helper {} ({} bytes) to ~/.ferry/helpers",
            &sha[..12],
            helper.bytes.len()
        ),
    );
    Ok(())
}
