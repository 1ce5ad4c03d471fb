//! Stopping a run from outside: the worker, told to cancel a step (or past its timeout),
//! runs `ferry-helper stop <run>` on the target, which sends SIGTERM to the helper that
//! registered `<run>` in `~/.ferry/active`. A helper that got SIGTERM or SIGHUP — or whose
//! events nobody reads any more (the worker went away) — kills the script it runs, starts no
//! further stage (no NGINX reload, no `current` switch), gives up waiting for the target's
//! lock, and ends.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::failure::Failure;
use crate::folders::path_component;

static STOPPED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    STOPPED.store(true, Ordering::SeqCst);
}

/// Makes SIGTERM and SIGHUP ask the run to stop instead of ending the helper at once (so
/// it can still stop its script and say why).
pub fn install() {
    crate::sys::on_stop_signals(on_signal);
}

/// Whether the run was asked to stop.
pub fn requested() -> bool {
    STOPPED.load(Ordering::SeqCst)
}

/// The failure a stopped run ends with.
pub fn failure() -> Failure {
    Failure::permanent("the run was stopped (the step was cancelled or ran past its timeout)")
}

/// Fails with [`failure`] when the run was asked to stop: called before each stage.
pub fn check() -> Result<(), Failure> {
    if requested() { Err(failure()) } else { Ok(()) }
}

/// `~/.ferry/active/<run>`, holding the running helper's process id while it runs.
pub struct Registered {
    path: PathBuf,
}

impl Drop for Registered {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// Records this helper as running `run`.
pub fn register(active: &Path, run: &str) -> Result<Registered, Failure> {
    let name = path_component("run", run).map_err(Failure::permanent)?;
    fs::create_dir_all(active)
        .map_err(|error| Failure::from_io("creating ~/.ferry/active", &error))?;
    let path = active.join(name);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|error| Failure::from_io("registering the run", &error))?;
    writeln!(file, "{}", std::process::id())
        .map_err(|error| Failure::from_io("registering the run", &error))?;
    Ok(Registered { path })
}

/// `ferry-helper stop <run>`: sends SIGTERM to the helper running `run`, if one does. Only a
/// process whose command line is this program's `run <run>` is signalled (a stale pid file
/// names nobody else).
pub fn signal(active: &Path, run: &str) -> Result<bool, String> {
    let name = path_component("run", run)?;
    let Ok(text) = fs::read_to_string(active.join(name)) else {
        return Ok(false);
    };
    let Ok(pid) = text.trim().parse::<i32>() else {
        return Ok(false);
    };
    let command_line = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let words: Vec<&[u8]> = command_line.split(|byte| *byte == 0).collect();
    let program = String::from_utf8_lossy(words.first().copied().unwrap_or_default()).into_owned();
    let is_helper = program.ends_with("ferry-helper") || program.contains("/.ferry/helpers/");
    let ours = is_helper
        && words.get(1).copied() == Some(b"run".as_slice())
        && words.get(2).copied() == Some(run.as_bytes());
    if !ours {
        return Ok(false);
    }
    Ok(crate::sys::terminate(pid))
}
