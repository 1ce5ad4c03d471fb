//! One step at a time per target: an exclusive `flock` on `~/.ferry/locks/<lock>.lock`, held
//! until the run ends (the kernel lets it go when the helper's process does, however it ends).

use std::fs;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::failure::Failure;
use crate::folders::path_component;

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct TargetLock {
    _file: fs::File,
}

/// Takes the lock, waiting as long as another run holds it; `waiting` is called once, before
/// waiting, so the log can say why nothing happens.
pub fn take(locks: &Path, lock: &str, waiting: impl FnOnce()) -> Result<TargetLock, Failure> {
    let name = path_component("lock", lock).map_err(Failure::permanent)?;
    let path = locks.join(format!("{name}.lock"));
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(|error| {
            Failure::from_io(&format!("opening the lock {}", path.display()), &error)
        })?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            waiting();
            // Polled, so a stop (a cancelled step) ends the wait.
            loop {
                crate::stop::check()?;
                match file.try_lock() {
                    Ok(()) => break,
                    Err(fs::TryLockError::WouldBlock) => {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                    Err(fs::TryLockError::Error(error)) => {
                        return Err(Failure::from_io(
                            &format!("waiting for the lock {}", path.display()),
                            &error,
                        ));
                    }
                }
            }
        }
        Err(fs::TryLockError::Error(error)) => {
            return Err(Failure::from_io(
                &format!("taking the lock {}", path.display()),
                &error,
            ));
        }
    }
    Ok(TargetLock { _file: file })
}
