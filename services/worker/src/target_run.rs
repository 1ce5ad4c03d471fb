//! One step's run on one target: its settings rendered for that target, the connection
//! (retried while the failure is retryable), `ferry-helper` and the package brought over
//! only when the target lacks them, and the helper's answers turned into log lines, outputs
//! and the result. The protocol is `ferry_contracts::helper`; ARCHITECTURE.md describes it.

use std::time::Duration;

use ferry_contracts::helper::{
    HelperEvent, HelperLimits, HelperPackage, HelperRequest, HelperResult, HelperStream,
};
use ferry_contracts::{LogStream, StepJob, StepOutcome, TargetJob, TargetReach};
use ferry_ssh::{Connection, Endpoint, Output, SshError};

use crate::control::Stop;
use crate::events::EventSink;
use crate::helper_binary::HelperBinary;
use crate::variables::StepVariables;
use crate::{WorkerContext, package, target_connect, target_settings};

/// How often a retryable connection failure is tried again within one attempt, and the
/// first pause (doubling).
const CONNECT_TRIES: u32 = 4;
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// Runs the job on its target. Never fails: every failure is a failed step with a reason
/// saying whether it was retryable.
pub(crate) async fn run(
    context: &WorkerContext,
    job: &StepJob,
    target: &TargetJob,
    sink: &mut EventSink<'_>,
    stop: &Stop,
) -> StepOutcome {
    sink.set_target(target.name.as_str());
    match attempt(context, job, target, sink, stop).await {
        Ok(result) => outcome(result),
        Err(reason) => {
            sink.line(LogStream::System, reason.clone());
            StepOutcome::Failed {
                exit_code: None,
                reason,
            }
        }
    }
}

fn outcome(result: HelperResult) -> StepOutcome {
    if result.succeeded {
        return StepOutcome::Succeeded;
    }
    let reason = result
        .reason
        .unwrap_or_else(|| "the helper reported a failure without a reason".to_owned());
    let kind = if result.retryable {
        "retryable"
    } else {
        "permanent"
    };
    StepOutcome::Failed {
        exit_code: result.exit_code,
        reason: format!("{reason} ({kind})"),
    }
}

async fn attempt(
    context: &WorkerContext,
    job: &StepJob,
    target: &TargetJob,
    sink: &mut EventSink<'_>,
    stop: &Stop,
) -> Result<HelperResult, String> {
    let TargetReach::Ssh {
        host,
        port,
        user,
        host_key_fingerprint,
        sealed_private_key,
    } = &target.reach
    else {
        return Err(
            "local targets are not run by this worker yet: register the host as an ssh target (permanent)"
                .to_owned(),
        );
    };
    let mut variables =
        StepVariables::prepare(job, &context.config.variables_key, target.name.as_str())?;
    sink.set_masker(variables.masker.clone());
    let limits = context.config.template_limits;
    let (variables, request) = {
        let job = job.clone();
        let target = target.clone();
        let unpack = context.config.unpack_limits;
        tokio::task::spawn_blocking(move || {
            variables.expand_values(limits);
            let request = target_settings::request(&job, &target, &variables, limits, unpack);
            (variables, request)
        })
        .await
        .map_err(|error| format!("rendering the step's settings: {error}"))?
    };
    sink.set_masker(variables.masker.clone());
    let mut request = request.map_err(|reason| format!("{reason} (permanent)"))?;
    let private_key = target_connect::open_private_key(
        &context.config.variables_key,
        target.target_id,
        &target.name,
        sealed_private_key,
    )?;
    let helper = context.helper().await?;
    let archive = match &job.package {
        Some(reference) => Some(
            package::fetch(&context.store, &context.config.work_root, reference, sink)
                .await
                .map_err(|error| format!("{error} (retryable)"))?,
        ),
        None => None,
    };
    let endpoint = target_connect::endpoint(host, *port, user);
    let connection = connect(&endpoint, host_key_fingerprint, &private_key, sink, stop).await?;
    let present = probe(&connection, &helper, request.package.as_ref()).await?;
    if !present.helper {
        upload_helper(&connection, &helper, sink).await?;
    }
    if let Some(package) = request.package.as_mut() {
        package.follows = !present.package;
        if present.package {
            sink.line(
                LogStream::System,
                format!(
                    "Package {} {} found in the target's cache, 0 bytes sent",
                    package.package_id, package.version
                ),
            );
        }
    }
    sink.flush().await;
    let result = run_helper(&connection, &helper, &request, archive, sink, stop).await;
    connection.close().await;
    result
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

fn describe(error: &SshError, tries: u32) -> String {
    if error.is_retryable() {
        format!("{error} (retryable; gave up after {tries} tries)")
    } else {
        format!("{error} (permanent)")
    }
}

/// What the target already has.
struct Present {
    helper: bool,
    package: bool,
}

/// One command: is this helper there, is the package cached, and is the target the OS and
/// architecture the helper is built for.
async fn probe(
    connection: &Connection,
    helper: &HelperBinary,
    package: Option<&HelperPackage>,
) -> Result<Present, String> {
    let package_path = package.map_or_else(
        || "/nonexistent".to_owned(),
        |package| format!("\"$HOME/.ferry/packages/{}\"", package.sha256),
    );
    let command = format!(
        "h=0; p=0; [ -x \"$HOME/.ferry/helpers/{sha}\" ] && h=1; [ -f {package_path} ] && p=1; echo \"$h$p $(uname -s) $(uname -m)\"",
        sha = helper.sha256
    );
    let mut out = Vec::new();
    let status = connection
        .run(&command, b"", |output| {
            if let Output::Stdout(bytes) = output {
                out.extend_from_slice(bytes);
            }
        })
        .await
        .map_err(|error| describe(&error, 1))?;
    let text = String::from_utf8_lossy(&out);
    let mut words = text.split_whitespace();
    let (Some(flags), Some(os), Some(arch)) = (words.next(), words.next(), words.next()) else {
        return Err(format!(
            "the target did not answer the probe (exit {status}): it needs sh, test and uname (permanent)"
        ));
    };
    if !helper.runs_on(os, arch) {
        return Err(format!(
            "the target runs {os} {arch}; this worker carries ferry-helper for {} only (permanent)",
            helper.platform()
        ));
    }
    Ok(Present {
        helper: flags.starts_with('1'),
        package: flags.get(1..2) == Some("1"),
    })
}

/// Puts the helper in `~/.ferry/helpers/<sha256>`: written to a temporary name, checked
/// with `sha256sum`, then renamed, so a half-sent helper is never run.
async fn upload_helper(
    connection: &Connection,
    helper: &HelperBinary,
    sink: &mut EventSink<'_>,
) -> Result<(), String> {
    let sha = &helper.sha256;
    let command = format!(
        "set -e; umask 077; d=\"$HOME/.ferry/helpers\"; mkdir -p \"$d\"; t=\"$d/.{sha}.$$\"; \
         cat > \"$t\"; echo \"{sha}  $t\" | sha256sum -c --status || {{ rm -f \"$t\"; echo 'ferry-helper arrived damaged' >&2; exit 3; }}; \
         chmod 700 \"$t\"; mv -f \"$t\" \"$d/{sha}\""
    );
    let mut errors = Vec::new();
    let status = connection
        .run(&command, &helper.bytes, |output| {
            if let Output::Stderr(bytes) = output {
                errors.extend_from_slice(bytes);
            }
        })
        .await
        .map_err(|error| describe(&error, 1))?;
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

/// Runs the helper with the request (and the package after it) and reads its answers.
async fn run_helper(
    connection: &Connection,
    helper: &HelperBinary,
    request: &HelperRequest,
    archive: Option<std::fs::File>,
    sink: &mut EventSink<'_>,
    stop: &Stop,
) -> Result<HelperResult, String> {
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
    let command = format!("\"$HOME/.ferry/helpers/{}\" run", helper.sha256);
    let (lines, mut receiver) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let running = connection.run_streaming(&command, input, move |output| match output {
        Output::Stdout(bytes) => {
            let _ = lines.send(bytes.to_vec());
        }
        Output::Stderr(bytes) => {
            let _ = lines.send([b"\x00".as_slice(), bytes].concat());
        }
    });
    tokio::pin!(running);
    let mut result = None;
    let ended = loop {
        tokio::select! {
            ended = &mut running => break ended,
            Some(chunk) = receiver.recv() => {
                absorb(chunk, &mut stdout, &mut stderr, sink, &mut result);
                sink.flush_if_due().await;
            }
            () = stop.cancelled() => {
                return Err(format!("stopped on the target: {}", stop.requested().unwrap_or("it was stopped")));
            }
        }
    };
    while let Ok(chunk) = receiver.try_recv() {
        absorb(chunk, &mut stdout, &mut stderr, sink, &mut result);
    }
    let streamed = ended.map_err(|error| describe(&error, 1))?;
    if let Some(package) = request.package.as_ref().filter(|package| package.follows) {
        sink.line(
            LogStream::System,
            format!(
                "Sent package {} {} to the target: {} bytes",
                package.package_id,
                package.version,
                streamed.sent.saturating_sub(request_bytes)
            ),
        );
    }
    let errors = String::from_utf8_lossy(&stderr).trim().to_owned();
    result.ok_or_else(|| {
        format!(
            "ferry-helper ended (exit {}) without a result{} (retryable)",
            streamed.status,
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

/// The limits the helper applies, from the worker's.
pub(crate) fn limits(unpack: ferry_packages::UnpackLimits) -> HelperLimits {
    HelperLimits {
        max_expanded_bytes: unpack.max_expanded_bytes,
        max_entries: unpack.max_entries,
        max_ratio: unpack.max_ratio,
        max_line_bytes: 16 * 1024,
    }
}
