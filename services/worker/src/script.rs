//! Running a step's bash script on this host: as the script user (`isolation`), in a clean
//! environment holding only the step's variables, output streamed line by line, a timeout,
//! and a process group so that a timeout kills everything the script started.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use ferry_contracts::{LogStream, StepJob, StepOutcome};
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc;

use crate::config::INHERITED;
use crate::events::{EventSink, MAX_LINE_BYTES};
use crate::isolation::ScriptUser;
use crate::variables::{StepVariables, read_outputs};

/// The most a script's output variables (`set_octopusvariable`) may take, in bytes.
const MAX_OUTPUTS_BYTES: u64 = 1 << 20;

/// Variables of the worker's environment that describe the worker's user, not the script's:
/// a script gets the script user's values instead.
const USER_VARIABLES: &[&str] = &["HOME", "USER", "LOGNAME"];

/// The environment-variable spelling of a Ferry variable name: letters and digits kept and
/// uppercased, everything else `_` (`Nginx Port` → `NGINX_PORT`,
/// `Octopus.Environment.Name` → `OCTOPUS_ENVIRONMENT_NAME`).
pub fn environment_name(variable: &str) -> String {
    variable
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// What one script run needs.
pub struct ScriptRun<'a> {
    pub job: &'a StepJob,
    /// The script after template rendering.
    pub script: &'a str,
    pub variables: &'a StepVariables,
    pub working_directory: &'a Path,
    pub step_folder: &'a Path,
    /// What the script inherits from the worker's environment (`PATH`, `HOME`, locale: the
    /// worker's `Config::inherited_environment`).
    pub inherited_environment: &'a [(String, String)],
    /// Who the script runs as.
    pub script_user: &'a ScriptUser,
    /// When the step's timeout ends (it started before the step was prepared).
    pub deadline: tokio::time::Instant,
    /// Requested when the API asks this attempt to stop (the deployment was cancelled) or
    /// the stopping worker's grace period ran out.
    pub stop: crate::control::Stop,
}

pub async fn run(run: ScriptRun<'_>, sink: &mut EventSink<'_>) -> StepOutcome {
    let ScriptRun {
        job,
        script,
        variables,
        working_directory,
        step_folder,
        inherited_environment,
        script_user,
        deadline,
        stop,
    } = run;
    let script_path = step_folder.join("script.sh");
    // The script's own `HOME`, fresh for each attempt and gone with its folder: what a script
    // leaves in `~` (an `~/.ssh/config`, a `~/.gitconfig`) reaches no later step.
    let home = step_folder.join("home");
    let prelude_path = step_folder.join("ferry-variables.sh");
    let output_path = step_folder.join("ferry-outputs");
    // The rendered script and the prelude may hold sensitive values in clear text: they are
    // deleted however this function returns.
    let _scratch = ScratchFiles(vec![
        script_path.clone(),
        prelude_path.clone(),
        output_path.clone(),
    ]);
    if let Err(error) = tokio::fs::create_dir(&home).await {
        return failed(
            sink,
            None,
            format!("creating the script's home folder: {error}"),
        );
    }
    if let Err(error) = write_private(&script_path, script).await {
        return failed(sink, None, format!("writing the script: {error}"));
    }
    let prelude = variables.bash_prelude(&output_path.to_string_lossy());
    if let Err(error) = write_private(&prelude_path, &prelude).await {
        return failed(
            sink,
            None,
            format!("writing the script's variables: {error}"),
        );
    }
    // Everything in the step folder (package, script, prelude) becomes the script user's, and
    // the folder is closed to everyone else.
    let folder = step_folder.to_path_buf();
    let user = script_user.clone();
    let handed = tokio::task::spawn_blocking(move || user.hand_over(&folder))
        .await
        .unwrap_or_else(|error| Err(std::io::Error::other(error)));
    if let Err(error) = handed {
        return failed(
            sink,
            None,
            format!("handing the step folder to the script user: {error}"),
        );
    }
    // Started as the script user, killed by the kernel when the worker process dies, so a
    // killed worker never leaves a step running behind the back of the step's redelivery
    // (`launch.rs`).
    let mut command = script_user.command("bash");
    command
        .arg("--noprofile")
        .arg("--norc")
        .arg(&script_path)
        .current_dir(working_directory)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for (name, value) in inherited_environment {
        if !USER_VARIABLES.contains(&name.as_str()) {
            command.env(name, value);
        }
    }
    command
        .env("HOME", &home)
        .env("USER", &script_user.name)
        .env("LOGNAME", &script_user.name);
    for (name, value) in variables.iter() {
        if name.contains('=') || name.contains('\0') || value.contains('\0') {
            continue;
        }
        // A project variable never replaces what the shell itself depends on (`Path` would
        // become `PATH`); it stays available to templates and `get_octopusvariable`.
        for spelling in [name.clone(), environment_name(name)] {
            if !is_protected(&spelling) {
                command.env(spelling, value);
            }
        }
    }
    // Bash sources this file before a non-interactive script: the variables and functions
    // are defined without shifting the script's line numbers.
    command.env("BASH_ENV", &prelude_path);
    sink.line(
        LogStream::System,
        format!("Running script of step \"{}\"", job.step_name),
    );
    sink.flush_if_due().await;
    let mut child = match crate::launch::spawn(&mut command) {
        Ok(child) => child,
        Err(error) => {
            return failed(
                sink,
                None,
                format!(
                    "starting bash through {}: {error}",
                    script_user.launcher.display()
                ),
            );
        }
    };
    let process_group = child.id();
    let (sender, mut receiver) = mpsc::channel::<(LogStream, String)>(1024);
    if let Some(stdout) = child.stdout.take() {
        tokio::spawn(forward_lines(stdout, LogStream::Stdout, sender.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(forward_lines(stderr, LogStream::Stderr, sender.clone()));
    }
    drop(sender);

    let deadline = tokio::time::sleep_until(deadline);
    tokio::pin!(deadline);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let mut timed_out = false;
    let mut stopped = false;
    let mut output_open = true;
    let status = loop {
        tokio::select! {
            received = receiver.recv(), if output_open => match received {
                Some((stream, text)) => {
                    sink.line(stream, text);
                    sink.flush_if_due().await;
                }
                None => output_open = false,
            },
            status = child.wait() => break status,
            _ = ticker.tick() => sink.flush_if_due().await,
            () = &mut deadline, if !timed_out => {
                timed_out = true;
                kill_group(process_group);
            }
            () = stop.cancelled(), if !stopped => {
                stopped = true;
                let why = stop.requested().unwrap_or("it was stopped");
                sink.line(LogStream::System, format!("Stopping the script: {why}"));
                kill_group(process_group);
            }
        }
    };
    // Output written just before exit may still be in the pipe. A process the script left
    // running in the background may hold the pipe open forever, so wait only briefly.
    let drain_until = tokio::time::Instant::now() + Duration::from_millis(500);
    while output_open {
        match tokio::time::timeout_at(drain_until, receiver.recv()).await {
            Ok(Some((stream, text))) => sink.line(stream, text),
            Ok(None) | Err(_) => output_open = false,
        }
    }
    let user = script_user.clone();
    if let Ok(Some(contents)) =
        tokio::task::spawn_blocking(move || read_script_file(&output_path, &user)).await
    {
        sink.add_outputs(read_outputs(&contents));
    }
    match status {
        Err(error) => failed(sink, None, format!("waiting for the script: {error}")),
        Ok(_) if stopped => failed(
            sink,
            None,
            format!(
                "the script was stopped because {}",
                stop.requested().unwrap_or("it was stopped")
            ),
        ),
        Ok(_) if timed_out => failed(
            sink,
            None,
            format!(
                "the script ran longer than {} seconds and was killed",
                job.timeout_seconds
            ),
        ),
        Ok(status) => match status.code() {
            Some(0) => {
                sink.line(LogStream::System, "Script exited with code 0".to_owned());
                StepOutcome::Succeeded
            }
            Some(code) => failed(
                sink,
                Some(code),
                format!("the script exited with code {code}"),
            ),
            None => failed(sink, None, "the script was killed by a signal".to_owned()),
        },
    }
}

fn failed(sink: &mut EventSink<'_>, exit_code: Option<i32>, reason: String) -> StepOutcome {
    sink.line(LogStream::System, reason.clone());
    StepOutcome::Failed { exit_code, reason }
}

/// The most bytes of one line that are read; the rest of the line is skipped as it is read,
/// so a line without end (`cat /dev/zero`) takes no more memory than this. The sink masks
/// the line and then cuts it to `MAX_LINE_BYTES`: reading more than that first keeps a
/// secret that straddles the cut maskable.
const READ_LINE_BYTES: usize = 4 * MAX_LINE_BYTES;

/// Reads lines (lossily decoded) and forwards them until the stream closes. A line longer
/// than [`READ_LINE_BYTES`] is forwarded as soon as that much of it has been read, and the
/// rest of it is skipped.
async fn forward_lines(
    stream: impl AsyncRead + Unpin,
    kind: LogStream,
    sender: mpsc::Sender<(LogStream, String)>,
) {
    let mut reader = BufReader::with_capacity(64 * 1024, stream);
    let mut line: Vec<u8> = Vec::new();
    // Set once a long line was forwarded: its rest is read and dropped.
    let mut skipping = false;
    loop {
        let (consumed, ended) = match reader.fill_buf().await {
            Ok([]) | Err(_) => break,
            Ok(available) => {
                let end = available.iter().position(|byte| *byte == b'\n');
                let chunk = &available[..end.unwrap_or(available.len())];
                if !skipping {
                    let room = READ_LINE_BYTES.saturating_sub(line.len());
                    line.extend_from_slice(&chunk[..chunk.len().min(room)]);
                }
                (end.map_or(available.len(), |end| end + 1), end.is_some())
            }
        };
        reader.consume(consumed);
        let full = !skipping && line.len() >= READ_LINE_BYTES;
        if ((ended && !skipping) || full) && !send_line(&sender, kind, &mut line).await {
            return;
        }
        if ended {
            skipping = false;
        } else if full {
            skipping = true;
        }
    }
    if !line.is_empty() {
        send_line(&sender, kind, &mut line).await;
    }
}

/// Sends one line (without its line break) and empties `line`; `false` when nobody listens.
async fn send_line(
    sender: &mpsc::Sender<(LogStream, String)>,
    kind: LogStream,
    line: &mut Vec<u8>,
) -> bool {
    while line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = String::from_utf8_lossy(line).into_owned();
    line.clear();
    sender.send((kind, text)).await.is_ok()
}

fn kill_group(process_group: Option<u32>) {
    if let Some(id) = process_group.and_then(|id| i32::try_from(id).ok()) {
        // SAFETY: killpg only sends a signal; a stale id at worst signals nothing.
        #[allow(unsafe_code)]
        unsafe {
            libc::killpg(id, libc::SIGKILL);
        }
    }
}

/// Environment variables a project variable may not set.
fn is_protected(name: &str) -> bool {
    INHERITED.contains(&name)
        || name.starts_with("BASH")
        || [
            "SHELLOPTS",
            "IFS",
            "ENV",
            "PS4",
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
        ]
        .contains(&name)
}

/// A file the script wrote, read without trusting it: not through a symbolic link, not a
/// FIFO or device, owned by the script user, at most [`MAX_OUTPUTS_BYTES`]. `None` when it
/// is absent or any of that fails (the step simply has no output variables).
fn read_script_file(path: &Path, user: &ScriptUser) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .ok()?;
    let metadata = file.metadata().ok()?;
    if !metadata.is_file() || metadata.uid() != user.uid {
        tracing::warn!(path = %path.display(), "ignoring a script's output file that is not a plain file of the script user");
        return None;
    }
    let mut contents = String::new();
    file.take(MAX_OUTPUTS_BYTES)
        .read_to_string(&mut contents)
        .ok()?;
    Some(contents)
}

/// Files removed when dropped.
struct ScratchFiles(Vec<std::path::PathBuf>);

impl Drop for ScratchFiles {
    fn drop(&mut self) {
        for path in &self.0 {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Removes scratch files that may hold secrets, left by a worker that died mid-step, from the
/// step folders under `deployments`.
pub fn sweep_scratch_files(deployments: &Path) {
    let Ok(deployment_folders) = std::fs::read_dir(deployments) else {
        return;
    };
    for deployment in deployment_folders.flatten() {
        let Ok(step_folders) = std::fs::read_dir(deployment.path()) else {
            continue;
        };
        for step in step_folders.flatten() {
            for name in ["script.sh", "ferry-variables.sh", "ferry-outputs"] {
                let _ = std::fs::remove_file(step.path().join(name));
            }
        }
    }
}

/// Writes a file only the worker's user can read (scripts and variables may hold secrets).
async fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true).mode(0o600);
    let mut file = options.open(path).await?;
    tokio::io::AsyncWriteExt::write_all(&mut file, contents.as_bytes()).await?;
    tokio::io::AsyncWriteExt::flush(&mut file).await
}

#[cfg(test)]
mod tests {
    use super::environment_name;

    #[test]
    fn the_shell_environment_is_protected() {
        assert!(super::is_protected("PATH"));
        assert!(super::is_protected("BASH_ENV"));
        assert!(super::is_protected("HOME"));
        assert!(!super::is_protected("NGINX_PORT"));
    }

    #[test]
    fn variable_names_become_shell_friendly() {
        assert_eq!(environment_name("Nginx Port"), "NGINX_PORT");
        assert_eq!(
            environment_name("Octopus.Environment.Name"),
            "OCTOPUS_ENVIRONMENT_NAME"
        );
    }
}
