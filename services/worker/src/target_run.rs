//! One step's run on one target: its settings rendered for that target, the connection
//! (retried while the failure is retryable), `ferry-helper` and the package brought over
//! only when the target lacks them, and the helper's answers turned into log lines, outputs
//! and the result. The protocol is `ferry_contracts::helper`; ARCHITECTURE.md describes it.

use std::time::Duration;

use ferry_contracts::helper::{HelperLimits, HelperPackage, HelperRequest, HelperResult};
use ferry_contracts::{LogStream, StepJob, StepOutcome, TargetJob, TargetReach};
use ferry_ssh::{Connection, Endpoint, Output, SshError};

use crate::control::Stop;
use crate::events::EventSink;
use crate::helper_binary::HelperBinary;
use crate::helper_events::Until;
use crate::variables::StepVariables;
use crate::{WorkerContext, helper_events, package, target_connect, target_settings};

/// How often a retryable connection failure is tried again within one attempt, and the
/// first pause (doubling).
const CONNECT_TRIES: u32 = 4;
/// The most bytes kept of what the probe and the upload print.
const PROBE_OUTPUT_BYTES: usize = 4096;
const FIRST_PAUSE: Duration = Duration::from_millis(500);

/// Runs the job on its target. Never fails: every failure is a failed step with a reason
/// saying whether it was retryable.
pub(crate) async fn run(
    context: &WorkerContext,
    job: &StepJob,
    target: &TargetJob,
    sink: &mut EventSink<'_>,
    stop: &Stop,
    deadline: tokio::time::Instant,
) -> StepOutcome {
    sink.set_target(target.name.as_str());
    let until = Until {
        stop,
        deadline,
        timeout_seconds: job.timeout_seconds,
    };
    match attempt(context, job, target, sink, until).await {
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
    until: Until<'_>,
) -> Result<HelperResult, String> {
    let stop = until.stop;
    // The run's name on the target, for `ferry-helper stop`.
    let run_name = format!("{}-{}", job.step_run_id, job.attempt);
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
    let request = request.map_err(|reason| format!("{reason} (permanent)"))?;
    let helper = context.helper().await?;
    let archive = match &job.package {
        Some(reference) => Some(
            package::fetch(
                &context.store,
                &context.config.work_root,
                reference,
                context.config.package_cache_max_bytes,
                sink,
            )
            .await
            .map_err(|error| format!("{error} (retryable)"))?,
        ),
        None => None,
    };
    match &target.reach {
        TargetReach::Local => {
            crate::local_target::run(context, target, request, archive, &helper, sink, until).await
        }
        TargetReach::Ssh {
            host,
            port,
            user,
            host_key_fingerprint,
            sealed_private_key,
        } => {
            let private_key = target_connect::open_private_key(
                &context.config.variables_key,
                target.target_id,
                &target.name,
                sealed_private_key,
            )?;
            let endpoint = target_connect::endpoint(host, *port, user);
            let connection =
                connect(&endpoint, host_key_fingerprint, &private_key, sink, stop).await?;
            let run = SshRun {
                connection: &connection,
                helper: &helper,
                name: &run_name,
            };
            let result = over_ssh(run, request, archive, sink, until).await;
            if result.is_err() && until.is_over() {
                stop_on_target(run, sink).await;
            }
            connection.close().await;
            result
        }
    }
}

/// A run over SSH: the connection, the helper it runs, and the run's name on the target.
#[derive(Clone, Copy)]
struct SshRun<'a> {
    connection: &'a Connection,
    helper: &'a HelperBinary,
    name: &'a str,
}

/// The run over an open connection: what the target lacks is sent, then the helper runs.
async fn over_ssh(
    run: SshRun<'_>,
    mut request: HelperRequest,
    archive: Option<std::fs::File>,
    sink: &mut EventSink<'_>,
    until: Until<'_>,
) -> Result<HelperResult, String> {
    let present = probe(run.connection, run.helper, request.package.as_ref()).await?;
    if !present.helper {
        upload_helper(run.connection, run.helper, sink).await?;
    }
    mark_cached(&mut request, present.package, sink);
    sink.flush().await;
    run_helper(run, &request, archive, sink, until).await
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

/// Whether the package follows the request: not when the target has it cached (said so).
pub(crate) fn mark_cached(request: &mut HelperRequest, cached: bool, sink: &mut EventSink<'_>) {
    if let Some(package) = request.package.as_mut() {
        package.follows = !cached;
        if cached {
            sink.line(
                LogStream::System,
                format!(
                    "Package {} {} found in the target's cache, 0 bytes sent",
                    package.package_id, package.version
                ),
            );
        }
    }
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
fn after_connecting(error: &SshError) -> String {
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
    // The helper counts as there only when its bytes are still the ones named: a step script
    // on the target may have replaced the file, and the next run would hand it secrets.
    let command = format!(
        "h=0; p=0; f=\"$HOME/.ferry/helpers/{sha}\"; [ -x \"$f\" ] && echo \"{sha}  $f\" | sha256sum -c --status 2>/dev/null && h=1; [ -f {package_path} ] && p=1; echo \"$h$p $(uname -s) $(uname -m)\"",
        sha = helper.sha256
    );
    let mut out = Vec::new();
    let status = connection
        .run(&command, b"", |output| {
            // Bounded: a banner or a hostile host cannot fill the worker's memory.
            if let Output::Stdout(bytes) = output
                && out.len() < PROBE_OUTPUT_BYTES
            {
                out.extend_from_slice(&bytes[..bytes.len().min(PROBE_OUTPUT_BYTES - out.len())]);
            }
        })
        .await
        .map_err(|error| after_connecting(&error))?;
    let text = String::from_utf8_lossy(&out);
    // The last line: a start-up file that prints a banner comes before it.
    let mut words = text.lines().last().unwrap_or_default().split_whitespace();
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

/// Runs the helper over SSH with the request (and the package after it) and reads its
/// answers.
async fn run_helper(
    run: SshRun<'_>,
    request: &HelperRequest,
    archive: Option<std::fs::File>,
    sink: &mut EventSink<'_>,
    until: Until<'_>,
) -> Result<HelperResult, String> {
    let input = helper_events::input(request, archive).await?;
    let connection = run.connection;
    let command = format!(
        "\"$HOME/.ferry/helpers/{}\" run {}",
        run.helper.sha256, run.name
    );
    let (lines, receiver) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
    let running = async {
        connection
            .run_streaming(&command, input.reader, move |output| match output {
                Output::Stdout(bytes) => {
                    let _ = lines.send(bytes.to_vec());
                }
                Output::Stderr(bytes) => {
                    let _ = lines.send([b"\x00".as_slice(), bytes].concat());
                }
            })
            .await
            .map(|streamed| (streamed.status, streamed.sent))
            .map_err(|error| after_connecting(&error))
    };
    helper_events::converse(running, receiver, request, input.request_bytes, sink, until).await
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
