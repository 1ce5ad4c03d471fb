//! Reading a package archive entry by entry, under one set of rules, whether it is only
//! checked (at upload, [`verify`]) or written out (on a worker, [`extract`]): what passes one
//! passes the other.
//!
//! The rules, each a refusal naming the entry (nothing is skipped silently):
//! - names are UTF-8 relative paths of plain names inside the package: no `..` anywhere
//!   (`a/../b` too), no absolute path, no drive (`C:`), no backslash, no NUL, not empty; only
//!   a folder may name the package's own folder (`.`, `./`);
//! - each path is given once: a folder may be given again as a folder, nothing else twice
//!   (`a` and `a/` are one path; names differing only in case are distinct, as on Linux), and
//!   no entry lies below a file or a symbolic link;
//! - symbolic links are relative and point inside the package, going up with `..` only at
//!   their start (so a chain of links stays inside too);
//! - no hard links (a tar `Link` entry is refused whatever it names: package the file itself
//!   or a symbolic link); no devices, FIFOs, sockets or other special files, whether a tar
//!   entry type or a zip entry's Unix mode says so; no set-user-ID, set-group-ID or sticky
//!   bits (read raw from a zip's attributes, which the zip reader would otherwise clear);
//! - a zip's local headers agree with its directory (names, sizes, no overlapping or unlisted
//!   entries, no name twice); a tar entry's PAX size agrees with its header; no sparse files.
//!
//! Limits on the expanded size, the number of entries and the ratio of expanded to compressed
//! bytes are checked while the bytes are read, so a bomb is stopped at the limit, not after it
//! has been inflated: an entry declaring more bytes than the package may expand to is refused
//! before any is read, every byte of an entry is counted even when nothing is written (a
//! folder's or a link's data), and tar's extension headers (long names, PAX records) are read
//! bounded, not whole into memory as the `tar` crate would.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Cursor, Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::archive::{ArchiveError, ArchiveFormat};
use crate::entry_names;

/// How large a package may become when it is unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnpackLimits {
    /// The most bytes all files together may expand to.
    pub max_expanded_bytes: u64,
    /// The most entries (files, folders, links).
    pub max_entries: u64,
    /// The most expanded bytes per byte of archive (a bomb's ratio is in the thousands;
    /// source, binaries and assets compress by 2 to 20).
    pub max_ratio: u64,
}

impl UnpackLimits {
    pub const DEFAULT_MAX_EXPANDED_BYTES: u64 = 2 * 1024 * 1024 * 1024;
    pub const DEFAULT_MAX_ENTRIES: u64 = 100_000;
    pub const DEFAULT_MAX_RATIO: u64 = 200;
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_expanded_bytes: UnpackLimits::DEFAULT_MAX_EXPANDED_BYTES,
            max_entries: UnpackLimits::DEFAULT_MAX_ENTRIES,
            max_ratio: UnpackLimits::DEFAULT_MAX_RATIO,
        }
    }
}

#[cfg(feature = "store")]
impl UnpackLimits {
    /// The limits from `FERRY_PACKAGE_MAX_EXPANDED_BYTES`, `FERRY_PACKAGE_MAX_ENTRIES` and
    /// `FERRY_PACKAGE_MAX_RATIO` (the API checks uploads with them, workers extractions).
    pub fn from_settings(
        settings: &ferry_config::Settings,
    ) -> Result<Self, ferry_config::ConfigError> {
        Ok(UnpackLimits {
            max_expanded_bytes: settings.parsed(
                "FERRY_PACKAGE_MAX_EXPANDED_BYTES",
                UnpackLimits::DEFAULT_MAX_EXPANDED_BYTES,
            )?,
            max_entries: settings.parsed(
                "FERRY_PACKAGE_MAX_ENTRIES",
                UnpackLimits::DEFAULT_MAX_ENTRIES,
            )?,
            max_ratio: settings
                .parsed("FERRY_PACKAGE_MAX_RATIO", UnpackLimits::DEFAULT_MAX_RATIO)?,
        })
    }
}

/// Reads every entry of an archive and checks it against the rules and `limits`, writing
/// nothing. Returns the number of files.
pub fn verify(
    bytes: &[u8],
    format: ArchiveFormat,
    limits: &UnpackLimits,
) -> Result<usize, ArchiveError> {
    walk(Cursor::new(bytes), bytes.len() as u64, format, limits, None)
}

/// [`verify`] for an archive in an open file, read from its start as it is walked (never
/// whole in memory).
pub fn verify_file(
    archive: fs::File,
    format: ArchiveFormat,
    limits: &UnpackLimits,
) -> Result<usize, ArchiveError> {
    let (file, length) = buffered(archive)?;
    walk(file, length, format, limits, None)
}

/// Extracts an archive into `destination` (created if needed) under the same rules as
/// [`verify`]. On an error, what was written so far stays for the caller to remove.
pub fn extract(
    bytes: &[u8],
    format: ArchiveFormat,
    destination: &Path,
    limits: &UnpackLimits,
) -> Result<usize, ArchiveError> {
    fs::create_dir_all(destination)?;
    let length = bytes.len() as u64;
    walk(
        Cursor::new(bytes),
        length,
        format,
        limits,
        Some(destination),
    )
}

/// [`extract`] for an archive in an open file, read from its start as it is walked (never
/// whole in memory). Taking the open file, not a path, means the bytes extracted are the
/// bytes the caller checked, even if the path is replaced meanwhile.
pub fn extract_file(
    archive: fs::File,
    format: ArchiveFormat,
    destination: &Path,
    limits: &UnpackLimits,
) -> Result<usize, ArchiveError> {
    let (file, length) = buffered(archive)?;
    fs::create_dir_all(destination)?;
    walk(file, length, format, limits, Some(destination))
}

/// An archive file from its start, buffered, and its length (the ratio limit's denominator).
fn buffered(mut archive: fs::File) -> Result<(io::BufReader<fs::File>, u64), ArchiveError> {
    archive.rewind()?;
    let length = archive.metadata()?.len();
    Ok((io::BufReader::with_capacity(64 * 1024, archive), length))
}

/// What an entry is, as the rules see it.
pub(crate) enum Kind {
    Directory,
    File,
    Symlink {
        target: String,
    },
    /// A tar hard link: always refused, so that no entry ever shares its bytes with another
    /// (or with a file outside the folder).
    HardLink,
}

/// One entry as a format's reader hands it to the rules.
pub(crate) struct Entry<'a> {
    /// The name as the archive spells it: what a refusal names.
    pub(crate) name: &'a str,
    pub(crate) kind: Kind,
    /// The entry's Unix mode as the archive gives it, special bits included (the zip reader
    /// would clear them; the formats read them raw so that they are refused, not dropped).
    pub(crate) mode: u32,
    /// The size the archive declares for the entry's contents, so that a huge one is refused
    /// before a byte of it is inflated.
    pub(crate) declared_bytes: u64,
}

/// What a path in the package already is, so that each path is given once and nothing is
/// written below a file or a link.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Given {
    /// A folder, given as an entry or implied by an entry below it.
    Folder,
    File,
    Link,
}

/// The state of one walk: what the archive has given so far, and what it has cost.
pub(crate) struct Walk<'a> {
    pub(crate) limits: &'a UnpackLimits,
    archive_bytes: u64,
    destination: Option<&'a Path>,
    entries: u64,
    expanded: u64,
    files: usize,
    given: HashMap<PathBuf, Given>,
}

pub(crate) fn refused(entry: &str, reason: impl Into<String>) -> ArchiveError {
    ArchiveError::Refused {
        entry: entry.to_owned(),
        reason: reason.into(),
    }
}

fn walk<Source: Read + Seek>(
    source: Source,
    archive_bytes: u64,
    format: ArchiveFormat,
    limits: &UnpackLimits,
    destination: Option<&Path>,
) -> Result<usize, ArchiveError> {
    let mut walk = Walk {
        limits,
        archive_bytes: archive_bytes.max(1),
        destination,
        entries: 0,
        expanded: 0,
        files: 0,
        given: HashMap::new(),
    };
    match format {
        ArchiveFormat::Zip => crate::formats::walk_zip(source, &mut walk)?,
        ArchiveFormat::TarGz => crate::formats::walk_tar(source, &mut walk)?,
    }
    Ok(walk.files)
}

impl Walk<'_> {
    /// Counts one more entry against the limit (tar's PAX global headers count too: they are
    /// entries of the archive, and an archive of millions of them would otherwise be free).
    pub(crate) fn count_entry(&mut self, name: &str) -> Result<(), ArchiveError> {
        self.entries += 1;
        if self.entries > self.limits.max_entries {
            return Err(refused(
                name,
                format!(
                    "the package has more than {} entries",
                    self.limits.max_entries
                ),
            ));
        }
        Ok(())
    }

    /// Checks one entry against the rules and, when extracting, writes it. Whatever of its
    /// contents is not written is still read and counted, so that no byte of the archive is
    /// inflated outside the limits.
    pub(crate) fn entry(
        &mut self,
        entry: Entry<'_>,
        contents: &mut dyn Read,
    ) -> Result<(), ArchiveError> {
        let Entry {
            name,
            kind,
            mode,
            declared_bytes,
        } = entry;
        self.count_entry(name)?;
        if matches!(kind, Kind::HardLink) {
            return Err(refused(
                name,
                "hard links are not accepted (package it as a file or a symbolic link)",
            ));
        }
        if mode & 0o7000 != 0 {
            return Err(refused(
                name,
                format!("it has set-user-ID, set-group-ID or sticky bits (mode {mode:o})"),
            ));
        }
        let allowance = self.limits.max_expanded_bytes.saturating_sub(self.expanded);
        if declared_bytes > allowance {
            return Err(refused(
                name,
                format!(
                    "it declares {declared_bytes} bytes, and the package may expand to no more \
                     than {} bytes",
                    self.limits.max_expanded_bytes
                ),
            ));
        }
        let path = entry_names::inside_path(name)?;
        if path.as_os_str().is_empty() {
            if !matches!(kind, Kind::Directory) {
                return Err(refused(name, "it names the package's own folder"));
            }
            return self.copy(name, contents, &mut io::sink());
        }
        self.claim(name, &path, &kind)?;
        let destination = self.destination.map(|root| root.join(&path));
        match kind {
            Kind::Directory => {
                if let Some(folder) = &destination {
                    fs::create_dir_all(folder)?;
                    set_mode(folder, (mode & 0o777) | 0o700)?;
                }
            }
            Kind::File => {
                self.files += 1;
                let mut output: Box<dyn Write> = match &destination {
                    Some(file) => {
                        if let Some(parent) = file.parent() {
                            fs::create_dir_all(parent)?;
                        }
                        Box::new(create_new(file)?)
                    }
                    None => Box::new(io::sink()),
                };
                self.copy(name, contents, &mut output)?;
                drop(output);
                if let Some(file) = &destination {
                    set_mode(file, mode & 0o777)?;
                }
            }
            Kind::Symlink { target } => {
                entry_names::check_link_target(name, &path, &target)?;
                if let Some(link) = &destination {
                    if let Some(parent) = link.parent() {
                        fs::create_dir_all(parent)?;
                    }
                    std::os::unix::fs::symlink(&target, link)?;
                }
            }
            Kind::HardLink => {}
        }
        self.copy(name, contents, &mut io::sink())
    }

    /// Records that `path` is given, refusing it when it was given before (a folder may be
    /// given again as a folder) or lies below a file or a link. The folders above it are real
    /// folders from then on: no later entry may be a file or a link in their place.
    fn claim(&mut self, name: &str, path: &Path, kind: &Kind) -> Result<(), ArchiveError> {
        let mut folders: Vec<&Path> = path
            .ancestors()
            .skip(1)
            .filter(|folder| !folder.as_os_str().is_empty())
            .collect();
        folders.reverse();
        for folder in folders {
            match self.given.get(folder) {
                Some(Given::Link) => {
                    return Err(refused(
                        name,
                        format!("it lies below the symbolic link `{}`", folder.display()),
                    ));
                }
                Some(Given::File) => {
                    return Err(refused(
                        name,
                        format!("it lies below the file `{}`", folder.display()),
                    ));
                }
                Some(Given::Folder) => {}
                None => {
                    self.given.insert(folder.to_path_buf(), Given::Folder);
                }
            }
        }
        let given = match kind {
            Kind::Directory => Given::Folder,
            Kind::File | Kind::HardLink => Given::File,
            Kind::Symlink { .. } => Given::Link,
        };
        match self.given.insert(path.to_path_buf(), given) {
            None => Ok(()),
            Some(Given::Folder) if given == Given::Folder => Ok(()),
            Some(_) => Err(refused(
                name,
                "the archive holds this path twice (entries' names differing only in case are \
                 distinct)",
            )),
        }
    }

    /// Reads a tar extension header's data (a GNU long name or link, PAX records) whole, as
    /// long as it is no longer than [`LONGEST_EXTENSION`], counting its bytes.
    pub(crate) fn extension_data(
        &mut self,
        name: &str,
        contents: &mut dyn Read,
    ) -> Result<Vec<u8>, ArchiveError> {
        let mut data = Vec::new();
        self.copy(name, &mut contents.take(LONGEST_EXTENSION + 1), &mut data)?;
        if data.len() as u64 > LONGEST_EXTENSION {
            return Err(refused(
                name,
                format!(
                    "its extension header (a long name or PAX records) is longer than \
                     {LONGEST_EXTENSION} bytes"
                ),
            ));
        }
        Ok(data)
    }

    /// Copies an entry's bytes, counting them against the limits as they are read.
    fn copy(
        &mut self,
        name: &str,
        input: &mut dyn Read,
        output: &mut dyn Write,
    ) -> Result<(), ArchiveError> {
        let mut buffer = [0u8; 64 * 1024];
        loop {
            let read = input
                .read(&mut buffer)
                .map_err(|error| ArchiveError::Corrupt {
                    format: "archive",
                    detail: format!("reading `{name}`: {error}"),
                })?;
            if read == 0 {
                return Ok(());
            }
            self.expanded += read as u64;
            if self.expanded > self.limits.max_expanded_bytes {
                return Err(refused(
                    name,
                    format!(
                        "the package expands to more than {} bytes",
                        self.limits.max_expanded_bytes
                    ),
                ));
            }
            // The ratio only counts once the package is past a small size: a tiny archive of
            // text compresses well and is no danger.
            let ratio_allowance = self.archive_bytes.saturating_mul(self.limits.max_ratio);
            if self.expanded > ratio_allowance.max(1024 * 1024) {
                return Err(refused(
                    name,
                    format!(
                        "the package expands more than {} times its size ({} bytes so far from \
                         {} bytes)",
                        self.limits.max_ratio, self.expanded, self.archive_bytes
                    ),
                ));
            }
            output.write_all(&buffer[..read])?;
        }
    }
}

/// The most bytes a tar extension header may hold: a path is at most 4 KiB on Linux, and PAX
/// records beside it (times, extended attributes) stay well under this.
const LONGEST_EXTENSION: u64 = 1024 * 1024;

/// Creates a file that must not exist yet, without following a link at its place.
fn create_new(path: &Path) -> io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A tar.gz holding the given headers and contents.
    fn tar_gz(entries: Vec<(tar::Header, Vec<u8>)>) -> Vec<u8> {
        let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut builder = tar::Builder::new(encoder);
        for (header, contents) in entries {
            builder.append(&header, contents.as_slice()).unwrap();
        }
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn header(path: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_path(path).unwrap();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_size(size);
        header.set_cksum();
        header
    }

    fn file(path: &str, mode: u32, contents: &[u8]) -> (tar::Header, Vec<u8>) {
        (
            header(path, tar::EntryType::Regular, mode, contents.len() as u64),
            contents.to_vec(),
        )
    }

    fn link(path: &str, kind: tar::EntryType, target: &str) -> (tar::Header, Vec<u8>) {
        let mut header = header(path, kind, 0o777, 0);
        header.set_link_name(target).unwrap();
        header.set_cksum();
        (header, Vec::new())
    }

    /// Checks that `verify` and `extract` both refuse the archive, naming `entry`.
    fn refused_naming(bytes: &[u8], format: ArchiveFormat, entry: &str, reason: &str) {
        let limits = UnpackLimits::default();
        let verified = verify(bytes, format, &limits).unwrap_err().to_string();
        let target = tempfile::tempdir().unwrap();
        let extracted = extract(bytes, format, target.path(), &limits)
            .unwrap_err()
            .to_string();
        for error in [verified, extracted] {
            assert!(
                error.contains(&format!("entry `{entry}` is refused")) && error.contains(reason),
                "{error}"
            );
        }
    }

    #[test]
    fn special_bits_are_refused() {
        let bytes = tar_gz(vec![file("bin/tool", 0o4755, b"#!/bin/sh\n")]);
        refused_naming(&bytes, ArchiveFormat::TarGz, "bin/tool", "set-user-ID");
    }

    #[test]
    fn links_out_of_the_package_are_refused() {
        let absolute = tar_gz(vec![link("passwd", tar::EntryType::Symlink, "/etc/passwd")]);
        refused_naming(&absolute, ArchiveFormat::TarGz, "passwd", "points outside");
        let outward = tar_gz(vec![link("up", tar::EntryType::Symlink, "../outside")]);
        refused_naming(&outward, ArchiveFormat::TarGz, "up", "points outside");
        let climbing = tar_gz(vec![
            link("here", tar::EntryType::Symlink, "."),
            link("escape", tar::EntryType::Symlink, "here/.."),
        ]);
        refused_naming(&climbing, ArchiveFormat::TarGz, "escape", "points outside");
        let hard = tar_gz(vec![link(
            "host",
            tar::EntryType::Link,
            "../../etc/hostname",
        )]);
        refused_naming(
            &hard,
            ArchiveFormat::TarGz,
            "host",
            "hard links are not accepted",
        );
        let below = tar_gz(vec![
            link("dir", tar::EntryType::Symlink, "real"),
            file("dir/x", 0o644, b"x"),
        ]);
        refused_naming(
            &below,
            ArchiveFormat::TarGz,
            "dir/x",
            "below the symbolic link",
        );
    }

    #[test]
    fn devices_and_escaping_paths_are_refused() {
        let device = tar_gz(vec![(
            header("null", tar::EntryType::Char, 0o666, 0),
            vec![],
        )]);
        refused_naming(&device, ArchiveFormat::TarGz, "null", "a device");
        // `tar::Header::set_path` refuses `..`, so the name is written into the header raw.
        let mut escape = header("placeholder", tar::EntryType::Regular, 0o644, 1);
        escape.as_old_mut().name[..17].copy_from_slice(b"../../etc/cron.d\0");
        escape.set_cksum();
        let bytes = tar_gz(vec![(escape, b"x".to_vec())]);
        refused_naming(&bytes, ArchiveFormat::TarGz, "../../etc/cron.d", "goes up");
    }

    #[test]
    fn links_inside_the_package_are_kept() {
        let bytes = tar_gz(vec![
            file("lib/libfoo.so.1", 0o755, b"elf"),
            link("lib/libfoo.so", tar::EntryType::Symlink, "libfoo.so.1"),
            link("bin/foo", tar::EntryType::Symlink, "../lib/libfoo.so.1"),
        ]);
        let limits = UnpackLimits::default();
        assert_eq!(verify(&bytes, ArchiveFormat::TarGz, &limits).unwrap(), 1);
        let target = tempfile::tempdir().unwrap();
        extract(&bytes, ArchiveFormat::TarGz, target.path(), &limits).unwrap();
        let root = target.path();
        assert_eq!(fs::read(root.join("bin/foo")).unwrap(), b"elf");
        assert_eq!(
            fs::read_link(root.join("lib/libfoo.so")).unwrap(),
            Path::new("libfoo.so.1")
        );
    }

    #[test]
    fn a_hard_link_is_refused_even_to_a_file_given_before_it() {
        let bytes = tar_gz(vec![
            file("lib/a", 0o644, b"elf"),
            link("lib/b", tar::EntryType::Link, "lib/a"),
        ]);
        refused_naming(
            &bytes,
            ArchiveFormat::TarGz,
            "lib/b",
            "hard links are not accepted (package it as a file or a symbolic link)",
        );
    }

    #[test]
    fn a_zip_bomb_is_stopped_while_it_is_read() {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        writer.start_file("zeros", options).unwrap();
        let chunk = vec![0u8; 1024 * 1024];
        for _ in 0..16 {
            writer.write_all(&chunk).unwrap();
        }
        let bytes = writer.finish().unwrap().into_inner();
        assert!(bytes.len() < 64 * 1024, "{} bytes", bytes.len());
        refused_naming(&bytes, ArchiveFormat::Zip, "zeros", "times its size");
        let small = UnpackLimits {
            max_expanded_bytes: 1000,
            ..UnpackLimits::default()
        };
        let error = verify(&bytes, ArchiveFormat::Zip, &small).unwrap_err();
        assert!(
            error.to_string().contains("more than 1000 bytes"),
            "{error}"
        );
    }

    #[test]
    fn a_zip_with_an_outward_link_or_too_many_entries_is_refused() {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default();
        writer.add_symlink("etc", "../../etc", options).unwrap();
        let bytes = writer.finish().unwrap().into_inner();
        refused_naming(&bytes, ArchiveFormat::Zip, "etc", "points outside");

        let entries: Vec<_> = (0..20)
            .map(|index| file(&format!("f{index}"), 0o644, b"x"))
            .collect();
        let bytes = tar_gz(entries);
        let few = UnpackLimits {
            max_entries: 10,
            ..UnpackLimits::default()
        };
        let error = verify(&bytes, ArchiveFormat::TarGz, &few).unwrap_err();
        assert!(
            error.to_string().contains("more than 10 entries"),
            "{error}"
        );
    }

    #[test]
    fn a_zip_declaring_too_many_entries_is_refused_before_its_directory_is_read() {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for index in 0..20 {
            writer
                .start_file(
                    format!("f{index}"),
                    zip::write::SimpleFileOptions::default(),
                )
                .unwrap();
        }
        let bytes = writer.finish().unwrap().into_inner();
        let few = UnpackLimits {
            max_entries: 10,
            ..UnpackLimits::default()
        };
        let error = verify(&bytes, ArchiveFormat::Zip, &few).unwrap_err();
        assert!(
            error.to_string().contains("(the zip's directory)")
                && error
                    .to_string()
                    .contains("the package has 20 entries, more than 10"),
            "{error}"
        );
        // Within the limit, the same archive passes.
        assert_eq!(
            verify(&bytes, ArchiveFormat::Zip, &UnpackLimits::default()).unwrap(),
            20
        );
        // Past 65,535 entries the classic record says 0xFFFF and the count is read from the
        // Zip64 record.
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for index in 0..70_000 {
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored);
            writer.start_file(format!("{index}"), options).unwrap();
        }
        let mut bytes = writer.finish().unwrap().into_inner();
        let end = bytes.len() - 22;
        assert_eq!(&bytes[end + 10..end + 12], &[0xFF, 0xFF], "a Zip64 count");
        let declared = crate::zip_directory::declared_entries(&mut Cursor::new(bytes.clone()));
        assert_eq!(declared.unwrap(), Some(70_000));
        bytes.truncate(bytes.len() - 1);
        assert_eq!(
            crate::zip_directory::declared_entries(&mut Cursor::new(bytes)).unwrap(),
            None
        );
    }
}
