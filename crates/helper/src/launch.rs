//! `ferry-helper launch <worker pid> <uid> <gid> <program> [args…]`: how a worker starts a
//! step's script (and a local target's helper) as the script user, in a PID namespace of its
//! own. It replaced `setpriv --pdeathsig KILL -- unshare --pid --fork --kill-child -- setpriv
//! --reuid … --no-new-privs --pdeathsig KILL -- program`: one small program instead of three,
//! started by `posix_spawn` (a worker's `fork` would copy its page tables at every step).
//!
//! Run by the worker as root (or with the capabilities ARCHITECTURE.md lists), this process
//! is the **keeper**:
//! 1. it asks for `SIGKILL` when the worker's spawning thread dies, and gives up if the
//!    worker (`<worker pid>`) is already gone;
//! 2. `unshare(CLONE_NEWPID)`, then `fork`: its child is PID 1 of a new namespace, so when it
//!    dies the kernel kills everything the script started, however it was started;
//! 3. it closes its standard streams (the script's pipes stay the script's alone), waits for
//!    its child and exits with its status, or by its signal, as `unshare --fork` does.
//!
//! The child empties the capability bounding set (while it still may), drops every
//! supplementary group, switches group and user, empties the inheritable, permitted,
//! effective and ambient sets, sets `no_new_privs`, asks for `SIGKILL` when the keeper dies
//! (a change of user clears the request, so it comes after; a pipe from the keeper tells it
//! whether the keeper died before that), and `exec`s the program with the environment the
//! worker gave in `FERRY_LAUNCH_ENV_<n>=NAME=value` variables: the keeper runs as root, so
//! its own environment holds nothing the dynamic loader reads (`LD_AUDIT`,
//! `GLIBC_TUNABLES`, …), and it refuses to run with any other variable set. The worker kills
//! the keeper's process group to stop a step: the keeper and PID 1 of the namespace die, and
//! with it the namespace.

#![allow(unsafe_code)] // Each block is system calls on integers and stack values.

use std::ffi::OsString;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

/// Exit status when the launch itself failed (as a shell says "command not found").
const LAUNCH_FAILED: u8 = 127;

/// Runs `launch` with its arguments (after the word `launch`) and its own environment
/// (`config::launch_environment`).
pub fn main(args: &[String], environment: Result<Vec<(OsString, OsString)>, String>) -> ExitCode {
    let (Some(worker), Some(uid), Some(gid), Some(program)) = (
        args.first().and_then(|pid| pid.parse::<libc::pid_t>().ok()),
        args.get(1).and_then(|uid| uid.parse::<libc::uid_t>().ok()),
        args.get(2).and_then(|gid| gid.parse::<libc::gid_t>().ok()),
        args.get(3),
    ) else {
        eprintln!("usage: ferry-helper launch <worker pid> <uid> <gid> <program> [args…]");
        return ExitCode::from(2);
    };
    let environment = match environment {
        Ok(environment) => environment,
        Err(why) => {
            eprintln!("ferry-helper launch: {why}");
            return ExitCode::from(2);
        }
    };
    match keep(worker, (uid, gid), program, &args[4..], &environment) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("ferry-helper launch: {error}");
            ExitCode::from(LAUNCH_FAILED)
        }
    }
}

fn keep(
    worker: libc::pid_t,
    (uid, gid): (libc::uid_t, libc::gid_t),
    program: &str,
    args: &[String],
    environment: &[(OsString, OsString)],
) -> io::Result<ExitCode> {
    if uid == 0 {
        return Err(io::Error::other("refusing to launch a program as root"));
    }
    // The child learns whether the keeper is still there when its own death signal is set:
    // the keeper holds the write end until it exits.
    let mut alive = [0 as libc::c_int; 2];
    // SAFETY: system calls on integers; `fork` in a single-threaded process.
    let child = unsafe {
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        if libc::getppid() != worker {
            return Err(io::Error::other("the worker that asked is gone"));
        }
        check(libc::pipe2(alive.as_mut_ptr(), libc::O_CLOEXEC))?;
        check(libc::unshare(libc::CLONE_NEWPID))?;
        libc::fork()
    };
    if child < 0 {
        return Err(io::Error::last_os_error());
    }
    if child == 0 {
        // SAFETY: closing this process's copy of the pipe's write end.
        unsafe {
            libc::close(alive[1]);
        }
        let error = match become_user(uid, gid).and_then(|()| keeper_alive(alive[0])) {
            Ok(()) => exec_when_not_busy(program, args, environment),
            Err(error) => error,
        };
        eprintln!("ferry-helper launch: cannot start {program}: {error}");
        std::process::exit(i32::from(LAUNCH_FAILED));
    }
    // The keeper holds none of the script's streams: the worker sees them close when the
    // script and what it started close them. It keeps the pipe's write end until it exits.
    // SAFETY: closing descriptors nothing here uses any more.
    unsafe {
        for descriptor in 0..3 {
            libc::close(descriptor);
        }
        libc::close(alive[0]);
    }
    let mut status = 0;
    loop {
        // SAFETY: waits for this process's own child, writing its status to a local.
        let waited = unsafe { libc::waitpid(child, &mut status, 0) };
        if waited == child {
            break;
        }
        if waited < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return Err(io::Error::last_os_error());
        }
    }
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        // SAFETY: dies by the child's signal, as the child did.
        unsafe {
            libc::signal(signal, libc::SIG_DFL);
            libc::kill(libc::getpid(), signal);
        }
    }
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        i32::from(LAUNCH_FAILED)
    };
    Ok(ExitCode::from(u8::try_from(code).unwrap_or(LAUNCH_FAILED)))
}

/// `exec`s `program`, trying again for a moment while its file is busy (`ETXTBSY`: a program
/// written just now can still be open for writing in a process the worker forked in that
/// instant). Returns only the error that ended the tries.
fn exec_when_not_busy(
    program: &str,
    args: &[String],
    environment: &[(OsString, OsString)],
) -> io::Error {
    for tries in 1..=50 {
        let error = std::process::Command::new(program)
            .args(args)
            .env_clear()
            .envs(environment.iter().map(|(name, value)| (name, value)))
            .exec();
        if error.raw_os_error() != Some(libc::ETXTBSY) {
            return error;
        }
        std::thread::sleep(std::time::Duration::from_millis(2 * tries));
    }
    io::Error::from_raw_os_error(libc::ETXTBSY)
}

/// With its death signal set: whether the keeper is still there (its end of `pipe` open), so
/// a keeper that died before the signal was asked for cannot leave this process behind.
fn keeper_alive(pipe: libc::c_int) -> io::Result<()> {
    let mut poll = libc::pollfd {
        fd: pipe,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: polls one descriptor of this process without waiting.
    let ready = unsafe { libc::poll(&mut poll, 1, 0) };
    if ready != 0 {
        return Err(io::Error::other(
            "the keeper died before the program started",
        ));
    }
    Ok(())
}

/// In PID 1 of the new namespace: from root to the script user with nothing left to gain.
fn become_user(uid: libc::uid_t, gid: libc::gid_t) -> io::Result<()> {
    // SAFETY: system calls on integers and stack values.
    unsafe {
        // Asked for at once too (cleared by the change of user, so asked again below).
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        // Emptied while CAP_SETPCAP is still held; numbers past the kernel's last capability
        // answer EINVAL, which ends the walk.
        for capability in 0..64 {
            if libc::prctl(libc::PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 {
                if io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL) {
                    break;
                }
                return Err(io::Error::last_os_error());
            }
        }
        check(libc::setgroups(0, std::ptr::null()))?;
        check(libc::setresgid(gid, gid, gid))?;
        check(libc::setresuid(uid, uid, uid))?;
        // A change of user from root empties the permitted and effective sets (and the
        // ambient set); the inheritable set is emptied here.
        let mut header = CapabilityHeader {
            version: LINUX_CAPABILITY_VERSION_3,
            pid: 0,
        };
        let data = [CapabilityData::default(); 2];
        check(libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) as libc::c_int)?;
        check(libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        ))?;
        check(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))?;
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
    }
    Ok(())
}

fn check(result: libc::c_int) -> io::Result<()> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `_LINUX_CAPABILITY_VERSION_3`: two 32-bit words per set.
const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// `struct __user_cap_header_struct`.
#[repr(C)]
struct CapabilityHeader {
    version: u32,
    pid: libc::c_int,
}

/// `struct __user_cap_data_struct`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapabilityData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}
