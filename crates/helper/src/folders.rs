//! The helper's folders under `~/.ferry` and the small file-system rules everything shares:
//! private folders (0700), fresh names that cannot collide, files replaced atomically, and
//! names made safe to use as one path component.

use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Where the helper keeps what it owns, under the account's home.
#[derive(Debug, Clone)]
pub struct FerryHome {
    pub home: PathBuf,
    /// `~/.ferry`: 0711, so services (nginx, the application's user) can pass through it to
    /// an applications root below it without listing it.
    pub root: PathBuf,
    /// `~/.ferry/packages/<sha256>`: the package cache (0700).
    pub packages: PathBuf,
    /// `~/.ferry/locks/<lock>.lock` (0700).
    pub locks: PathBuf,
    /// `~/.ferry/work/<random>`: folders of runs without a deploy (0700).
    pub work: PathBuf,
    /// `~/.ferry/runs/<random>`: each run's scripts, variables and outputs (0700, removed
    /// when the run ends: they hold sensitive values).
    pub runs: PathBuf,
}

impl FerryHome {
    /// Creates the folders when missing and closes them to other users.
    pub fn prepare(home: &Path) -> io::Result<Self> {
        let root = home.join(".ferry");
        let layout = FerryHome {
            home: home.to_path_buf(),
            packages: root.join("packages"),
            locks: root.join("locks"),
            work: root.join("work"),
            runs: root.join("runs"),
            root,
        };
        ensure_folder(&layout.root, 0o711)?;
        for folder in [&layout.packages, &layout.locks, &layout.work, &layout.runs] {
            ensure_folder(folder, 0o700)?;
        }
        sweep_abandoned(&layout.runs);
        sweep_abandoned(&layout.work);
        Ok(layout)
    }
}

/// Creates `path` (and its parents) when missing and sets its mode.
pub fn ensure_folder(path: &Path, mode: u32) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|error| with_path(error, "creating", path))?;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
        .map_err(|error| with_path(error, "setting the mode of", path))
}

/// Creates a new folder `<parent>/<prefix><random>` with mode 0700 and returns it.
pub fn fresh_folder(parent: &Path, prefix: &str) -> io::Result<PathBuf> {
    loop {
        let candidate = parent.join(format!("{prefix}{}", random_hex(8)?));
        match fs::DirBuilder::new().mode(0o700).create(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(with_path(error, "creating", &candidate)),
        }
    }
}

/// The prefix of the folders a run creates under `runs` and `work`: the helper's process id,
/// so folders left by a helper that was killed can be recognised and removed.
pub fn run_prefix() -> String {
    format!("{}-", std::process::id())
}

/// Whether a process with this id is alive; when `/proc` cannot tell, it is taken as alive
/// (nothing is removed on a guess).
pub fn is_alive(process_id: &str) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    process_id.parse::<u32>().is_err() || Path::new("/proc").join(process_id).exists()
}

/// Removes the folders under `parent` whose helper process is gone (`<pid>-<random>`): a
/// killed helper leaves its scripts and variables, which may hold secrets.
pub fn sweep_abandoned(parent: &Path) {
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some((process_id, _)) = name.split_once('-')
            && !is_alive(process_id)
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// `bytes` random bytes from the kernel, as lower-case hex.
pub fn random_hex(bytes: usize) -> io::Result<String> {
    let mut buffer = vec![0u8; bytes];
    fs::File::open("/dev/urandom")?.read_exact(&mut buffer)?;
    Ok(hex::encode(buffer))
}

/// Writes a file only this account can read (scripts and variables may hold secrets).
pub fn write_private(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|error| with_path(error, "creating", path))?;
    file.write_all(contents)
        .map_err(|error| with_path(error, "writing", path))
}

/// Replaces `path` with `contents` atomically (a temporary file beside it, synced, renamed
/// over it), so a reader sees the old file or the new one, never half of one.
pub fn replace_atomically(path: &Path, contents: &[u8], mode: u32) -> io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = parent.join(format!(".{name}.ferry-{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temporary)?;
        file.write_all(contents)?;
        file.set_permissions(fs::Permissions::from_mode(mode))?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(|error| with_path(error, "writing", path))
}

/// Flushes a folder's entries (a rename inside it) to disk.
pub fn sync_folder(path: &Path) -> io::Result<()> {
    fs::File::open(path)?.sync_all()
}

/// The error with what was being done to which path, for messages people read.
pub fn with_path(error: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{doing} {}: {error}", path.display()))
}

/// A name (an environment, a package id, a version) as one path component: refused when it is
/// empty, `.` or `..`, or contains `/` or a NUL; control characters and characters other than
/// letters, digits, space and `. - _ + @` become `_`.
pub fn path_component(what: &str, name: &str) -> Result<String, String> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(format!(
            "the {what} `{name}` cannot be used as a folder name"
        ));
    }
    Ok(name
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || " .-_+@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::path_component;

    #[test]
    fn names_become_one_safe_component() {
        assert_eq!(path_component("version", "1.0.3").as_deref(), Ok("1.0.3"));
        assert_eq!(
            path_component("environment", "Prod EU:1*").as_deref(),
            Ok("Prod EU_1_")
        );
        assert!(path_component("version", "..").is_err());
        assert!(path_component("version", ".").is_err());
        assert!(path_component("package id", "a/b").is_err());
        assert!(path_component("package id", "").is_err());
    }
}
