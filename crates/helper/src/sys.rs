//! The few system calls std does not wrap: free space on a file system (`statvfs`),
//! killing a script's process group, the stop signals' handler and signalling a helper. Each `unsafe` block is one call with its reason.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Bytes available to an unprivileged user on the file system holding `path`.
pub fn free_bytes(path: &Path) -> io::Result<u64> {
    let c_path = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "a path with a NUL byte"))?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c_path` is a valid NUL-terminated string and `stats` points to memory large
    // enough for one `statvfs`, which the call fills when it returns 0.
    #[allow(unsafe_code)]
    let result = unsafe { libc::statvfs(c_path.as_ptr(), stats.as_mut_ptr()) };
    if result != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the call succeeded, so the structure is initialised.
    #[allow(unsafe_code)]
    let stats = unsafe { stats.assume_init() };
    Ok(stats.f_bavail.saturating_mul(stats.f_frsize))
}

/// Sends SIGKILL to a process group (a script and what it started), when the worker has
/// gone and nobody can read its output any more.
pub fn kill_process_group(process_group: u32) {
    if let Ok(id) = i32::try_from(process_group) {
        // SAFETY: killpg only sends a signal; a stale id at worst signals nothing.
        #[allow(unsafe_code)]
        unsafe {
            libc::killpg(id, libc::SIGKILL);
        }
    }
}

/// Makes SIGTERM and SIGHUP call `handler` (which must only store to an atomic).
pub fn on_stop_signals(handler: extern "C" fn(libc::c_int)) {
    for signal in [libc::SIGTERM, libc::SIGHUP] {
        #[allow(unsafe_code)]
        // SAFETY: installs a handler that only stores to an atomic (async-signal-safe).
        unsafe {
            libc::signal(signal, handler as *const () as libc::sighandler_t);
        }
    }
}

/// Sends SIGTERM to `pid`; whether it was sent.
pub fn terminate(pid: i32) -> bool {
    #[allow(unsafe_code)]
    // SAFETY: kill only sends a signal; the caller checked whose process it is.
    let sent = unsafe { libc::kill(pid, libc::SIGTERM) } == 0;
    sent
}
