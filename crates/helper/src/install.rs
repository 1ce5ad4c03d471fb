//! Installation folders, as Calamari lays them out:
//! `<applications root>/<Environment>/<PackageId>/<Version>` (`<Version>_1`, `_2`, … when it
//! exists), and the `current` link switched to a new one atomically once it succeeded.

use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::failure::Failure;
use crate::folders::{path_component, sync_folder, with_path};

/// The name of the link to the installation that succeeded last.
pub const CURRENT: &str = "current";

/// `<applications root>/<Environment>/<PackageId>`, the folder of one package's installations
/// in one environment, created (0755: services read what is installed) when missing.
pub fn package_folder(
    home: &Path,
    applications_root: &str,
    environment: &str,
    package_id: &str,
) -> Result<PathBuf, Failure> {
    let root = if applications_root.trim().is_empty() {
        home.join(".ferry/Applications")
    } else if Path::new(applications_root).is_absolute() {
        PathBuf::from(applications_root)
    } else {
        home.join(applications_root)
    };
    let folder = root
        .join(path_component("environment", environment).map_err(Failure::permanent)?)
        .join(path_component("package id", package_id).map_err(Failure::permanent)?);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(&folder)
        .map_err(|error| {
            Failure::from_io(
                "creating the installation folder",
                &with_path(error, "creating", &folder),
            )
        })?;
    Ok(folder)
}

/// Held while a package folder's installations change: two targets reached through the same
/// account share the folder, though not the target's lock.
#[derive(Debug)]
pub struct PackageFolderLock {
    _file: fs::File,
}

pub fn lock_package_folder(folder: &Path) -> Result<PackageFolderLock, Failure> {
    let path = folder.join(".ferry.lock");
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .and_then(|file| file.lock().map(|()| file))
        .map_err(|error| {
            Failure::from_io(
                "locking the installation folder",
                &with_path(error, "locking", &path),
            )
        })?;
    Ok(PackageFolderLock { _file: file })
}

/// Creates the new installation folder: `<Version>`, or the first of `<Version>_1`, `_2`, …
/// that does not exist yet.
pub fn new_installation(package_folder: &Path, version: &str) -> Result<PathBuf, Failure> {
    let version = path_component("version", version).map_err(Failure::permanent)?;
    for attempt in 0u32.. {
        let name = if attempt == 0 {
            version.clone()
        } else {
            format!("{version}_{attempt}")
        };
        let candidate = package_folder.join(&name);
        match fs::DirBuilder::new().mode(0o755).create(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(Failure::from_io(
                    "creating the installation folder",
                    &with_path(error, "creating", &candidate),
                ));
            }
        }
    }
    Err(Failure::permanent(
        "every installation folder name for this version is taken",
    ))
}

/// Points `current` at `installation` in one step: a link under a temporary name, renamed
/// over `current`, so `current` always names a whole installation.
pub fn switch_current(package_folder: &Path, installation: &Path) -> io::Result<()> {
    let name = installation.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "an installation without a name",
        )
    })?;
    let temporary = package_folder.join(format!(".{CURRENT}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&temporary);
    std::os::unix::fs::symlink(name, &temporary)
        .map_err(|error| with_path(error, "creating the link", &temporary))?;
    let current = package_folder.join(CURRENT);
    if let Err(error) = fs::rename(&temporary, &current) {
        let _ = fs::remove_file(&temporary);
        return Err(with_path(error, "replacing", &current));
    }
    sync_folder(package_folder)
}
