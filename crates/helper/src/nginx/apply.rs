//! Putting an NGINX site in place: the previous file kept in memory, the new one written
//! atomically, `validate_command` run; when NGINX refuses it, the previous file is written
//! back byte for byte (or the new one removed when there was none), so the next NGINX start
//! or reload still reads a configuration it accepts. Then `reload_command`, restored the same
//! way if it fails.

use std::fs;
use std::io::{self, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use ferry_contracts::helper::{HelperStream, NginxSite};

use crate::failure::Failure;
use crate::folders::replace_atomically;
use crate::protocol::Events;

/// The most of a command's output quoted in a failure's reason.
const MAX_QUOTED_BYTES: usize = 4096;

pub fn apply<W: Write>(
    site: &NginxSite,
    environment: &[(String, String)],
    events: &mut Events<W>,
) -> Result<(), Failure> {
    let text = super::render(site)
        .map_err(|why| Failure::permanent(format!("the NGINX site is refused: {why}")))?;
    let file_name = super::render::file_name(site).map_err(Failure::permanent)?;
    let folder = Path::new(&site.config_folder);
    if !folder.is_dir() {
        return Err(Failure::permanent(format!(
            "the NGINX configuration folder {} does not exist",
            folder.display()
        )));
    }
    let path = folder.join(file_name);
    let previous = match fs::read(&path) {
        Ok(bytes) => Some(bytes),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(Failure::from_io(
                &format!("reading the previous NGINX site {}", path.display()),
                &error,
            ));
        }
    };
    replace_atomically(&path, text.as_bytes(), 0o644)
        .map_err(|error| Failure::from_io("writing the NGINX site", &error))?;
    events.ferry(format!("Wrote the NGINX site {}", path.display()));
    let validated = run_command(&site.validate_command, environment, events);
    if let Err(why) = validated {
        let restored = restore(&path, previous.as_deref());
        return Err(Failure::permanent(format!(
            "NGINX refused the new site {}: {why}; {restored}",
            path.display()
        )));
    }
    events.ferry(format!(
        "NGINX accepted the new site (`{}`)",
        site.validate_command
    ));
    if let Err(why) = run_command(&site.reload_command, environment, events) {
        let restored = restore(&path, previous.as_deref());
        let again = match run_command(&site.reload_command, environment, events) {
            Ok(()) => "NGINX was reloaded with it".to_owned(),
            Err(again) => format!("reloading NGINX again failed too: {again}"),
        };
        return Err(Failure::permanent(format!(
            "reloading NGINX failed: {why}; {restored}; {again}"
        )));
    }
    events.ferry(format!("NGINX reloaded (`{}`)", site.reload_command));
    Ok(())
}

/// Puts the previous file back (or removes the new one), saying which.
fn restore(path: &Path, previous: Option<&[u8]>) -> String {
    match previous {
        Some(bytes) => match replace_atomically(path, bytes, 0o644) {
            Ok(()) => "the previous file was restored".to_owned(),
            Err(error) => format!("restoring the previous file failed too: {error}"),
        },
        None => match fs::remove_file(path) {
            Ok(()) => "the new file was removed (there was none before)".to_owned(),
            Err(error) => format!("removing the new file failed too: {error}"),
        },
    }
}

/// Runs `bash -c command` with the inherited environment, logs its output, and on failure
/// returns its exit status and output.
fn run_command<W: Write>(
    command: &str,
    environment: &[(String, String)],
    events: &mut Events<W>,
) -> Result<(), String> {
    let output = Command::new("bash")
        .arg("-c")
        .arg(command)
        .env_clear()
        .envs(environment.iter().map(|(name, value)| (name, value)))
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("`{command}` could not be started: {error}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for line in stdout.lines() {
        events.log(HelperStream::Stdout, line);
    }
    for line in stderr.lines() {
        events.log(HelperStream::Stderr, line);
    }
    if output.status.success() {
        return Ok(());
    }
    let status = match output.status.code() {
        Some(code) => format!("exited with code {code}"),
        None => "was killed by a signal".to_owned(),
    };
    let said = if stderr.trim().is_empty() {
        stdout.trim()
    } else {
        stderr.trim()
    };
    let said = crate::protocol::cut(said.replace('\n', " / "), MAX_QUOTED_BYTES);
    Err(format!("`{command}` {status}: {said}"))
}
