//! Reading each archive format entry by entry into the one set of rules
//! (`unpack::Walk::entry`): zip (its directory's size checked before it is loaded, its local
//! headers checked against it) and tar.gz (its extension headers read bounded).

use std::io::{self, Read, Seek};

use crate::archive::ArchiveError;
use crate::unpack::{Entry, Kind, Walk, refused};

/// The file type bits of a Unix mode, and the types a package may hold.
const FILE_TYPE: u32 = 0o170000;
const REGULAR: u32 = 0o100000;
const FOLDER: u32 = 0o040000;
const SYMLINK: u32 = 0o120000;
/// The longest symbolic link target Linux accepts.
const LONGEST_LINK_TARGET: u64 = 4096;

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
    // A zip is read from its directory; a reader that streams its local headers would see
    // another archive if they disagreed, if entries overlapped, or if a local header were
    // missing from the directory; and the zip reader keeps only the last of two entries of
    // one name. Such a zip is refused before any entry is read.
    if let Err(error) = archive.validate_header_consistency() {
        return Err(zip_inconsistency(archive, &error, walk.limits.max_entries));
    }
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(corrupt)?;
        let name = entry
            .name()
            .map(|name| name.into_owned())
            .unwrap_or_else(|_| format!("#{index}"));
        let mode = zip_mode(&entry);
        let kind = match mode & FILE_TYPE {
            SYMLINK => Kind::Symlink {
                target: zip_link_target(&name, &mut entry)?,
            },
            FOLDER => Kind::Directory,
            0 | REGULAR if entry.is_dir() => Kind::Directory,
            0 | REGULAR => Kind::File,
            _ => {
                return Err(refused(
                    &name,
                    format!(
                        "it is a device, a FIFO, a socket or another special file (mode {mode:o})"
                    ),
                ));
            }
        };
        let declared_bytes = entry.size();
        let entry_for_rules = Entry {
            name: &name,
            kind,
            mode,
            declared_bytes,
        };
        walk.entry(entry_for_rules, &mut entry)?;
    }
    Ok(())
}

/// A zip entry's Unix mode, file type and special bits included. The zip reader's
/// `unix_mode` clears set-user-ID, set-group-ID and sticky bits, which would drop them
/// silently; they are read raw from the external attributes so that they are refused.
fn zip_mode(entry: &zip::read::ZipFile<'_, impl Read>) -> u32 {
    let raw = entry.external_attributes() >> 16;
    if entry.system() == zip::System::Unix && raw != 0 {
        raw
    } else {
        entry.unix_mode().unwrap_or(0o644)
    }
}

/// A zip symbolic link's target: its contents, UTF-8 and no longer than Linux allows.
fn zip_link_target(name: &str, entry: &mut dyn Read) -> Result<String, ArchiveError> {
    let mut target = Vec::new();
    entry
        .take(LONGEST_LINK_TARGET + 1)
        .read_to_end(&mut target)
        .map_err(|error| refused(name, format!("its link target is unreadable: {error}")))?;
    if target.len() as u64 > LONGEST_LINK_TARGET {
        return Err(refused(
            name,
            format!("its link target is longer than {LONGEST_LINK_TARGET} bytes"),
        ));
    }
    String::from_utf8(target).map_err(|_| refused(name, "its link target is not UTF-8"))
}

/// The refusal for a zip whose directory and local headers disagree, naming the entry when
/// one can be named.
fn zip_inconsistency<Source: Read + Seek>(
    mut archive: zip::ZipArchive<Source>,
    error: &zip::result::ZipError,
    most_entries: u64,
) -> ArchiveError {
    if archive.has_duplicate_names() {
        let start = archive.central_directory_start();
        let mut source = archive.into_inner();
        let name = crate::zip_directory::first_repeated_name(&mut source, start, most_entries)
            .ok()
            .flatten()
            .unwrap_or_else(|| "(the zip's directory)".to_owned());
        return refused(&name, "the archive holds this path twice");
    }
    for index in 0..archive.len() {
        let consistent = zip::ZipReadOptions::new().enforce_header_consistency(true);
        let failure = archive
            .by_index_with_options(index, consistent)
            .err()
            .map(|failure| failure.to_string());
        if let Some(failure) = failure {
            let name = archive
                .name_for_index(index)
                .and_then(Result::ok)
                .map_or_else(|| format!("#{index}"), |name| name.into_owned());
            return refused(
                &name,
                format!("its local header and the zip's directory disagree ({failure})"),
            );
        }
    }
    refused(
        "(the zip's directory)",
        format!("the zip's entries are not laid out as its directory says ({error})"),
    )
}

/// GNU long names and links and PAX records given before the entry they describe.
#[derive(Default)]
struct Extensions {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

pub(crate) fn walk_tar(source: impl Read, walk: &mut Walk<'_>) -> Result<(), ArchiveError> {
    let corrupt = |error: io::Error| ArchiveError::Corrupt {
        format: "tar.gz",
        detail: error.to_string(),
    };
    // Every gzip member is read, as `gzip -d` would, so that no part of the upload is
    // silently left out.
    let mut archive = tar::Archive::new(flate2::read::MultiGzDecoder::new(source));
    // Raw: the tar crate would read a long name or PAX header whole into memory whatever size
    // it declares; here they are read bounded and counted (`Walk::extension_data`).
    let mut extensions = Extensions::default();
    for entry in archive.entries().map_err(corrupt)?.raw(true) {
        let mut entry = entry.map_err(corrupt)?;
        let header_name = String::from_utf8_lossy(&entry.header().path_bytes()).into_owned();
        let entry_type = entry.header().entry_type();
        let slot = if entry_type.is_gnu_longname() {
            Some(&mut extensions.long_name)
        } else if entry_type.is_gnu_longlink() {
            Some(&mut extensions.long_link)
        } else if entry_type.is_pax_local_extensions() {
            Some(&mut extensions.pax)
        } else {
            None
        };
        if let Some(slot) = slot {
            if slot.is_some() {
                return Err(refused(
                    &header_name,
                    "two extension headers of one kind describe the same entry",
                ));
            }
            *slot = Some(walk.extension_data(&header_name, &mut entry)?);
            continue;
        }
        if entry_type.is_pax_global_extensions() {
            walk.count_entry(&header_name)?;
            walk.extension_data(&header_name, &mut entry)?;
            continue;
        }
        let described = std::mem::take(&mut extensions);
        let header = entry.header();
        let pax = pax_records(&header_name, described.pax.as_deref(), header)?;
        let name = chosen_name(
            &header_name,
            [pax.path, described.long_name.as_deref().map(trim_nul)],
            Some(header.path_bytes().as_ref()),
        )?
        .unwrap_or_default();
        let link = chosen_name(
            &name,
            [pax.link_path, described.long_link.as_deref().map(trim_nul)],
            header.link_name_bytes().as_deref(),
        )?;
        let mode = header.mode().map_err(corrupt)?;
        let declared_bytes = header.entry_size().map_err(corrupt)?;
        let kind = if entry_type.is_dir() {
            Kind::Directory
        } else if entry_type.is_file() {
            Kind::File
        } else if entry_type.is_symlink() {
            Kind::Symlink {
                target: link.ok_or_else(|| refused(&name, "its link has no target"))?,
            }
        } else if entry_type.is_hard_link() {
            Kind::HardLink
        } else {
            return Err(refused(
                &name,
                format!("it is a device, a FIFO or another special file ({entry_type:?})"),
            ));
        };
        let entry_for_rules = Entry {
            name: &name,
            kind,
            mode,
            declared_bytes,
        };
        walk.entry(entry_for_rules, &mut entry)?;
    }
    if extensions.long_name.is_some() || extensions.long_link.is_some() || extensions.pax.is_some()
    {
        return Err(ArchiveError::Corrupt {
            format: "tar.gz",
            detail: "extension headers at the end describe no entry".to_owned(),
        });
    }
    Ok(())
}

/// What a PAX header says about the entry after it, as far as the rules care.
#[derive(Default)]
struct PaxRecords<'a> {
    path: Option<&'a [u8]>,
    link_path: Option<&'a [u8]>,
}

/// Reads the PAX records before an entry. A `size` that differs from the header's is refused
/// (tar readers that disagree on an entry's size see different archives after it), and so
/// is a PAX sparse file (its data is a map, not the file).
fn pax_records<'a>(
    entry: &str,
    records: Option<&'a [u8]>,
    header: &tar::Header,
) -> Result<PaxRecords<'a>, ArchiveError> {
    let mut found = PaxRecords::default();
    let Some(records) = records else {
        return Ok(found);
    };
    for record in tar::PaxExtensions::new(records) {
        let record = record.map_err(|error| ArchiveError::Corrupt {
            format: "tar.gz",
            detail: format!("the PAX header before `{entry}`: {error}"),
        })?;
        let key = record.key_bytes();
        if key == b"path" {
            found.path = Some(record.value_bytes());
        } else if key == b"linkpath" {
            found.link_path = Some(record.value_bytes());
        } else if key == b"size" {
            let header_size = header.entry_size().ok();
            let pax_size = record
                .value()
                .ok()
                .and_then(|size| size.parse::<u64>().ok());
            if pax_size != header_size {
                return Err(refused(
                    entry,
                    format!(
                        "its PAX size ({}) differs from its header's size",
                        String::from_utf8_lossy(record.value_bytes())
                    ),
                ));
            }
        } else if key.starts_with(b"GNU.sparse.") {
            return Err(refused(entry, "it is a sparse file"));
        }
    }
    Ok(found)
}

/// The name an entry's extension headers give, or its header's own: the PAX record and the
/// GNU long name must agree when both are given. Names are UTF-8.
fn chosen_name(
    entry: &str,
    extensions: [Option<&[u8]>; 2],
    header: Option<&[u8]>,
) -> Result<Option<String>, ArchiveError> {
    let [pax, gnu] = extensions;
    if let (Some(pax), Some(gnu)) = (pax, gnu)
        && pax != gnu
    {
        return Err(refused(
            entry,
            "its PAX path and its GNU long name disagree",
        ));
    }
    let Some(bytes) = pax.or(gnu).or(header) else {
        return Ok(None);
    };
    match std::str::from_utf8(bytes) {
        Ok(name) => Ok(Some(name.to_owned())),
        Err(_) => Err(refused(
            &String::from_utf8_lossy(bytes),
            "its name or link target is not UTF-8",
        )),
    }
}

/// A GNU long name without the NUL that ends it.
fn trim_nul(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\0").unwrap_or(bytes)
}
