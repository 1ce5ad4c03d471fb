//! Starting a program as the script user, in a PID namespace of its own: through
//! `ferry-helper launch` (the helper's `launch.rs` says what it does), started with
//! `posix_spawn`, so a step costs the launcher's `exec`, one small `fork` and the program's
//! `exec`. It replaced `setpriv → unshare → setpriv → bash` (6.0 ms per start against 1.8 ms
//! for bash alone; three `exec`s of dynamically linked tools were a sixth of the bench box's
//! CPU at full load); a `pre_exec` hook doing the same in the worker was tried and was
//! slower still (a `fork` of the worker copies its page tables, and each copy-on-write
//! fault afterwards lands on the worker's own threads).

use std::ffi::OsString;
use std::io;
use std::path::Path;

/// The launcher runs as root: its own environment holds nothing the dynamic loader reads
/// (`LD_AUDIT`, `GLIBC_TUNABLES`, … a project variable could name). The program's
/// environment travels as `FERRY_LAUNCH_ENV_<n>=NAME=value`, which only the launcher reads,
/// and becomes the program's own in its child (`ferry_contracts::LAUNCH_ENV_PREFIX`).
pub fn seal_environment(command: &mut tokio::process::Command) {
    let std = command.as_std_mut();
    let pairs: Vec<OsString> = std
        .get_envs()
        .filter_map(|(name, value)| {
            let mut pair = name.to_owned();
            pair.push("=");
            pair.push(value?);
            Some(pair)
        })
        .collect();
    std.env_clear();
    for (index, pair) in pairs.into_iter().enumerate() {
        std.env(
            format!("{}{index}", ferry_contracts::LAUNCH_ENV_PREFIX),
            pair,
        );
    }
}

/// The ids the program runs as.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// `program` started by `launcher` (`ferry-helper`) as `ids`; arguments go after it. The
/// environment is the caller's to fill; start it with [`spawn`], which seals it.
pub fn command(launcher: &Path, ids: Ids, program: &str) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(launcher);
    command
        .arg("launch")
        .arg(std::process::id().to_string())
        .arg(ids.uid.to_string())
        .arg(ids.gid.to_string())
        .arg(program)
        .env_clear();
    command
}

/// Spawns `command` (from [`command`]) with its environment sealed ([`seal_environment`]).
/// A program file still busy the instant after it was written (a local target's helper) is
/// the launcher's to wait for: it runs that program, not the worker.
pub fn spawn(command: &mut tokio::process::Command) -> io::Result<tokio::process::Child> {
    seal_environment(command);
    command.spawn()
}
