//! Starting a program as the script user, in a PID namespace of its own, from inside the
//! worker: what `setpriv --pdeathsig KILL -- unshare --pid --fork --kill-child -- setpriv
//! --reuid … --no-new-privs --pdeathsig KILL -- program` did with three programs, done by a
//! `pre_exec` hook in the forked child, so a step costs one `fork` of the worker, one more
//! `fork` and the program's `exec` (about 4 ms less per step on the bench box: the three
//! `exec`s of dynamically linked tools were a sixth of its CPU at full load).
//!
//! The forked child (still root, the worker's image) becomes the **keeper**:
//! 1. it asks for `SIGKILL` when the worker's spawning thread dies, and gives up if the
//!    worker is already gone;
//! 2. `unshare(CLONE_NEWPID)`, then `fork`: its child is PID 1 of a new namespace, so when it
//!    dies the kernel kills everything the script started, however it was started;
//! 3. it closes every descriptor it holds (the worker's broker and store sockets, other
//!    steps' pipes, the standard library's exec-error pipe, which tells the worker the
//!    program started), then waits for its child and exits with its status, or by its
//!    signal, as `unshare --fork` does.
//!
//! The keeper's child empties the capability bounding set (while it still may), drops every
//! supplementary group, switches group and user, empties the inheritable, permitted,
//! effective and ambient sets, sets `no_new_privs`, asks for `SIGKILL` when the keeper dies
//! (a change of user clears the request, so it comes after), and returns to the standard
//! library, which `exec`s the program with the environment the caller gave. The worker kills
//! the keeper's process group to stop a step: the keeper and PID 1 of the namespace die, and
//! with it the namespace.
//!
//! Only async-signal-safe calls run here (`prctl`, `unshare`, `fork`, `setgroups`, `setres*`,
//! `capset`, `close_range`, `waitpid`, `kill`, `_exit`): the worker is multi-threaded, and
//! the child of its `fork` may not allocate or take a lock.

#![allow(unsafe_code)]

use std::io;

/// The ids the program runs as.
#[derive(Debug, Clone, Copy)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

/// Arranges for `command` to start as described in the module doc.
pub fn isolate(command: &mut tokio::process::Command, ids: Ids) {
    let worker = std::process::id();
    // SAFETY: the hook runs in the forked child before `exec` and calls only
    // async-signal-safe functions (no allocation, no locks), as `pre_exec` requires.
    unsafe {
        command.pre_exec(move || keep(worker, ids));
    }
}

/// The hook: in the keeper, never returns; in the keeper's child, returns once it is the
/// script user, for the standard library to `exec` the program.
fn keep(worker: u32, ids: Ids) -> io::Result<()> {
    // SAFETY (the whole function): plain system calls on integers and stack values.
    unsafe {
        check(libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0))?;
        if libc::getppid() as u32 != worker {
            libc::_exit(127);
        }
        check(libc::unshare(libc::CLONE_NEWPID))?;
        let child = libc::fork();
        if child < 0 {
            return Err(io::Error::last_os_error());
        }
        if child == 0 {
            return become_script_user(ids);
        }
        // The keeper: it holds nothing of the worker's any more.
        if libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32) != 0 {
            for descriptor in 0..4096 {
                libc::close(descriptor);
            }
        }
        let mut status = 0;
        loop {
            let waited = libc::waitpid(child, &mut status, 0);
            if waited == child {
                break;
            }
            if waited < 0 && io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
                libc::_exit(127);
            }
        }
        if libc::WIFSIGNALED(status) {
            let signal = libc::WTERMSIG(status);
            libc::signal(signal, libc::SIG_DFL);
            libc::kill(libc::getpid(), signal);
        }
        libc::_exit(if libc::WIFEXITED(status) {
            libc::WEXITSTATUS(status)
        } else {
            127
        })
    }
}

/// In PID 1 of the new namespace: from root to the script user with nothing left to gain.
fn become_script_user(ids: Ids) -> io::Result<()> {
    // SAFETY: plain system calls on integers and stack values.
    unsafe {
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
        check(libc::setresgid(ids.gid, ids.gid, ids.gid))?;
        check(libc::setresuid(ids.uid, ids.uid, ids.uid))?;
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

/// Spawns `command`, trying again for a moment while its program file is busy
/// (`ETXTBSY`): a program written just now (the helper, on a local target) can still be open
/// for writing in another step's keeper, forked in the instant before the writer closed it,
/// until that keeper has closed what it inherited.
pub async fn spawn(command: &mut tokio::process::Command) -> io::Result<tokio::process::Child> {
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) && tries < 50 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(2 * tries)).await;
            }
            spawned => return spawned,
        }
    }
}
