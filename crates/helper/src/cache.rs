//! The package cache, `~/.ferry/packages/<sha256>`: receiving a package from standard input
//! (hashed while written, renamed into place only once its size and SHA-256 match), opening a
//! cached one (hashed again before each use), and keeping the cache small.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use ferry_contracts::helper::HelperPackage;
use sha2::{Digest, Sha256};

use crate::failure::Failure;
use crate::folders::{sync_folder, with_path};

/// A package's verified bytes, open: extraction reads this file, so what is extracted is what
/// was checked even if the cache entry is replaced or removed meanwhile.
#[derive(Debug)]
pub struct CachedPackage {
    pub file: fs::File,
    pub path: PathBuf,
}

/// Refuses a SHA-256 that is not 64 lower-case hex digits: it becomes a file name.
fn checked_sha256(package: &HelperPackage) -> Result<&str, Failure> {
    let sha256 = package.sha256.as_str();
    if sha256.len() == 64
        && sha256
            .bytes()
            .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte))
    {
        Ok(sha256)
    } else {
        Err(Failure::permanent(format!(
            "the package's SHA-256 `{sha256}` is not 64 lower-case hex digits"
        )))
    }
}

/// Reads exactly `size_bytes` from `input` into the cache. A short or mismatching transfer
/// leaves nothing in the cache and is retryable (the bytes were damaged on the way).
pub fn receive(
    input: &mut impl Read,
    packages: &Path,
    package: &HelperPackage,
) -> Result<CachedPackage, Failure> {
    let sha256 = checked_sha256(package)?;
    // The process id alone is not unique: a local target's helper is PID 1 of a namespace of
    // its own, so two at once share it. The clock's nanoseconds make the name the run's own.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.subsec_nanos());
    let partial = packages.join(format!(".{sha256}.{}.{nanos}.partial", std::process::id()));
    let result = receive_into(input, &partial, package);
    let file = match result {
        Ok(file) => file,
        Err(failure) => {
            let _ = fs::remove_file(&partial);
            return Err(failure);
        }
    };
    let path = packages.join(sha256);
    fs::rename(&partial, &path)
        .and_then(|()| sync_folder(packages))
        .map_err(|error| {
            let _ = fs::remove_file(&partial);
            Failure::from_io("keeping the package in the cache", &error)
        })?;
    Ok(CachedPackage { file, path })
}

fn receive_into(
    input: &mut impl Read,
    partial: &Path,
    package: &HelperPackage,
) -> Result<fs::File, Failure> {
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(partial)
        .map_err(|error| {
            Failure::from_io(
                "creating the package's file",
                &with_path(error, "creating", partial),
            )
        })?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut received = 0u64;
    let mut limited = input.take(package.size_bytes);
    loop {
        let read = match limited.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => {
                return Err(Failure::retryable(format!(
                    "reading the package from standard input after {received} bytes: {error}"
                )));
            }
        };
        hasher.update(&buffer[..read]);
        file.write_all(&buffer[..read])
            .map_err(|error| Failure::from_io("writing the package", &error))?;
        received += read as u64;
    }
    if received != package.size_bytes {
        return Err(Failure::retryable(format!(
            "the package transfer ended after {received} of {} bytes",
            package.size_bytes
        )));
    }
    let actual = hex::encode(hasher.finalize());
    if actual != package.sha256 {
        return Err(Failure::retryable(format!(
            "the package received has SHA-256 {actual}, not {} as the release says: it was refused and not cached",
            package.sha256
        )));
    }
    file.sync_all()
        .map_err(|error| Failure::from_io("writing the package", &error))?;
    file.rewind()
        .map_err(|error| Failure::from_io("reading the package", &error))?;
    Ok(file)
}

/// Opens the cached copy and checks its size and SHA-256. Missing or damaged (then removed),
/// it is a retryable failure: the worker sends the package on the next attempt.
pub fn open_cached(packages: &Path, package: &HelperPackage) -> Result<CachedPackage, Failure> {
    let sha256 = checked_sha256(package)?;
    let path = packages.join(sha256);
    let mut file = match fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&path)
    {
        Ok(file) => file,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(Failure::retryable(format!(
                "the package {} {} is not in the target's package cache (it was expected there); it will be sent again",
                package.package_id, package.version
            )));
        }
        Err(error) => {
            return Err(Failure::retryable(format!(
                "the cached package {} cannot be opened ({error}); it will be sent again",
                path.display()
            )));
        }
    };
    let damaged = |why: String| {
        let _ = fs::remove_file(&path);
        Failure::retryable(format!(
            "the cached package {} is damaged ({why}); it was removed and will be sent again",
            path.display()
        ))
    };
    let metadata = file
        .metadata()
        .map_err(|error| damaged(error.to_string()))?;
    if !metadata.is_file() {
        return Err(damaged("it is not a plain file".to_owned()));
    }
    if metadata.len() != package.size_bytes {
        return Err(damaged(format!(
            "{} bytes, not {}",
            metadata.len(),
            package.size_bytes
        )));
    }
    let (_, actual) = ferry_packages::archive::sha256_of_reader(&mut file)
        .map_err(|error| damaged(error.to_string()))?;
    if actual != package.sha256 {
        return Err(damaged(format!("its SHA-256 is {actual}")));
    }
    file.rewind()
        .map_err(|error| Failure::from_io("reading the cached package", &error))?;
    // The modification time says when it was last used: the cache drops the oldest first.
    let _ = file.set_modified(SystemTime::now());
    Ok(CachedPackage { file, path })
}

/// What the cleanup did, for the log.
#[derive(Debug, Default)]
pub struct Cleanup {
    pub removed: Vec<String>,
    pub problems: Vec<String>,
}

/// Keeps at most `keep` packages (the least recently used leave first), then removes the
/// oldest while the file system has less than `min_free_bytes` free; `in_use` always stays.
/// Partial files of helpers that are gone go too.
pub fn clean(packages: &Path, keep: u32, min_free_bytes: u64, in_use: &Path) -> Cleanup {
    let mut cleanup = Cleanup::default();
    let Ok(entries) = fs::read_dir(packages) else {
        return cleanup;
    };
    let mut cached: Vec<(SystemTime, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(metadata) = entry.path().symlink_metadata() else {
            continue;
        };
        let modified = metadata.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        if let Some(stem) = name.strip_suffix(".partial") {
            // `.<sha256>.<pid>.partial`: a transfer of a helper that is gone.
            let process_id = stem.rsplit('.').next().unwrap_or("");
            if !crate::folders::is_alive(process_id) && fs::remove_file(entry.path()).is_ok() {
                cleanup.removed.push(name);
            }
            continue;
        }
        if metadata.is_file() && entry.path() != in_use {
            cached.push((modified, entry.path()));
        }
    }
    // Newest first; the one in use counts towards `keep`.
    cached.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    let room = usize::try_from(keep.saturating_sub(1)).unwrap_or(usize::MAX);
    while cached.len() > room {
        if let Some((_, path)) = cached.pop() {
            remove(&path, &mut cleanup);
        }
    }
    while !cached.is_empty() {
        match crate::sys::free_bytes(packages) {
            Ok(free) if free < min_free_bytes => {
                if let Some((_, path)) = cached.pop() {
                    remove(&path, &mut cleanup);
                }
            }
            Ok(_) => break,
            Err(error) => {
                cleanup.problems.push(format!(
                    "reading the free space of {}: {error}",
                    packages.display()
                ));
                break;
            }
        }
    }
    cleanup
}

fn remove(path: &Path, cleanup: &mut Cleanup) {
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    match fs::remove_file(path) {
        Ok(()) => cleanup.removed.push(name),
        Err(error) => cleanup
            .problems
            .push(format!("removing the cached package {name}: {error}")),
    }
}
