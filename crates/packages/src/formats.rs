//! Reading each archive format entry by entry into the one set of rules
//! (`unpack::Walk::entry`): zip (its directory's size checked before it is loaded) and tar.gz.

use std::io::{self, Read, Seek};
use std::path::PathBuf;

use crate::archive::ArchiveError;
use crate::unpack::{Kind, Walk, refused};

pub(crate) fn walk_zip(
    mut source: impl Read + Seek,
    walk: &mut Walk<'_>,
) -> Result<(), ArchiveError> {
    let corrupt = |error: zip::result::ZipError| ArchiveError::Corrupt {
        format: "zip",
        detail: error.to_string(),
    };
    // Counted before the directory is loaded: loading it costs memory per entry.
    let declared = crate::zip_directory::declared_entries(&mut source)?;
    if let Some(entries) = declared.filter(|&entries| entries > walk.limits.max_entries) {
        return Err(refused(
            "(the zip's directory)",
            format!(
                "the package has {entries} entries, more than {}",
                walk.limits.max_entries
            ),
        ));
    }
    source.rewind()?;
    let mut archive = zip::ZipArchive::new(source).map_err(corrupt)?;
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(corrupt)?;
        let name = entry
            .name()
            .map(|name| name.into_owned())
            .unwrap_or_else(|_| format!("#{index}"));
        let mode = entry.unix_mode().unwrap_or(0o644);
        let kind = if entry.is_symlink() {
            let mut target = String::new();
            (&mut entry)
                .take(4096)
                .read_to_string(&mut target)
                .map_err(|error| {
                    refused(&name, format!("its link target is unreadable: {error}"))
                })?;
            Kind::Symlink {
                target: PathBuf::from(target),
            }
        } else if entry.is_dir() {
            Kind::Directory
        } else if mode & 0o170000 == 0 || mode & 0o170000 == 0o100000 {
            Kind::File { mode }
        } else {
            return Err(refused(&name, "it is not a file, a folder or a link"));
        };
        walk.entry(&name, kind, mode, &mut entry)?;
    }
    Ok(())
}

pub(crate) fn walk_tar(source: impl Read, walk: &mut Walk<'_>) -> Result<(), ArchiveError> {
    let corrupt = |error: io::Error| ArchiveError::Corrupt {
        format: "tar.gz",
        detail: error.to_string(),
    };
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(source));
    for entry in archive.entries().map_err(corrupt)? {
        let mut entry = entry.map_err(corrupt)?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let header = entry.header();
        let mode = header.mode().map_err(corrupt)?;
        let entry_type = header.entry_type();
        let link = || {
            entry
                .link_name()
                .ok()
                .flatten()
                .map(|target| target.into_owned())
        };
        let kind = if entry_type.is_dir() {
            Kind::Directory
        } else if entry_type.is_file() {
            Kind::File { mode }
        } else if entry_type.is_symlink() {
            Kind::Symlink {
                target: link().ok_or_else(|| refused(&name, "its link has no target"))?,
            }
        } else if entry_type.is_hard_link() {
            Kind::HardLink
        } else if entry_type.is_pax_global_extensions()
            || entry_type.is_pax_local_extensions()
            || entry_type.is_gnu_longname()
            || entry_type.is_gnu_longlink()
        {
            continue;
        } else {
            return Err(refused(
                &name,
                "it is a device, a FIFO or another special file",
            ));
        };
        walk.entry(&name, kind, mode, &mut entry)?;
    }
    Ok(())
}
