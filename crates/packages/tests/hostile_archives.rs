//! Hostile packages, each built in memory as the format allows (zip, tar.gz or both), written
//! to a real file and extracted with `extract_file` into a fresh folder beside a sentinel
//! folder: each is refused naming its entry and saying why, nothing changes outside the
//! destination, and `verify_file` refuses it naming the same entry. One well-formed package
//! extracts in full, so that the suite cannot pass by refusing everything.

#![allow(clippy::unwrap_used, clippy::expect_used)] // A failed unwrap is a failed test.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use ferry_packages::{ArchiveError, ArchiveFormat, UnpackLimits, archive};

use ArchiveFormat::{TarGz, Zip};

/// One hostile archive and what its refusal must say.
struct Case {
    name: &'static str,
    format: ArchiveFormat,
    bytes: Vec<u8>,
    limits: UnpackLimits,
    entry: String,
    reason: &'static str,
}

fn case(
    name: &'static str,
    format: ArchiveFormat,
    bytes: Vec<u8>,
    entry: &str,
    reason: &'static str,
) -> Case {
    Case {
        name,
        format,
        bytes,
        limits: UnpackLimits::default(),
        entry: entry.to_owned(),
        reason,
    }
}

// ---- tar.gz, written block by block so that any header can lie ----

/// A tar header with `name` written raw (the `tar` crate's `set_path` refuses `..` and
/// absolute paths, which are what these tests need).
fn header(name: &str, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    header.set_entry_type(kind);
    header.set_mode(mode);
    header.set_size(size);
    header.set_cksum();
    header
}

fn tar_file(name: &str, mode: u32, contents: &[u8]) -> (tar::Header, Vec<u8>) {
    let header = header(name, tar::EntryType::Regular, mode, contents.len() as u64);
    (header, contents.to_vec())
}

fn tar_folder(name: &str, mode: u32) -> (tar::Header, Vec<u8>) {
    (header(name, tar::EntryType::Directory, mode, 0), Vec::new())
}

fn tar_link(name: &str, kind: tar::EntryType, target: &str) -> (tar::Header, Vec<u8>) {
    let mut header = header(name, kind, 0o777, 0);
    header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
    header.set_cksum();
    (header, Vec::new())
}

/// An extension header (GNU long name `L`, PAX `x`) carrying `data`.
fn tar_extension(kind: tar::EntryType, data: &[u8]) -> (tar::Header, Vec<u8>) {
    (
        header("././@LongLink", kind, 0o644, data.len() as u64),
        data.to_vec(),
    )
}

fn pax(records: &[(&str, &str)]) -> (tar::Header, Vec<u8>) {
    let mut data = Vec::new();
    for (key, value) in records {
        // A record's length counts its own digits.
        let record = format!(" {key}={value}\n");
        let mut length = record.len();
        while record.len() + length.to_string().len() != length {
            length = record.len() + length.to_string().len();
        }
        data.extend_from_slice(format!("{length}{record}").as_bytes());
    }
    tar_extension(tar::EntryType::XHeader, &data)
}

/// A tar.gz of the members, each header followed by its data padded to a block, whatever
/// size the header declares.
fn tar_gz(members: Vec<(tar::Header, Vec<u8>)>) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for (header, data) in members {
        encoder.write_all(header.as_bytes()).unwrap();
        encoder.write_all(&data).unwrap();
        let padding = (512 - data.len() % 512) % 512;
        encoder.write_all(&vec![0u8; padding]).unwrap();
    }
    encoder.write_all(&[0u8; 1024]).unwrap();
    encoder.finish().unwrap()
}

// ---- zip ----

fn zip_with(add: impl FnOnce(&mut zip::ZipWriter<Cursor<Vec<u8>>>)) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    add(&mut writer);
    writer.finish().unwrap().into_inner()
}

fn stored() -> zip::write::SimpleFileOptions {
    zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)
}

/// A zip of one file named `name`, its Unix mode (file type and special bits included) in
/// its external attributes.
fn zip_file(name: &str, mode: u32, contents: &[u8]) -> Vec<u8> {
    zip_with(|writer| {
        let options = stored().external_attributes(mode << 16);
        writer.start_file(name, options).unwrap();
        writer.write_all(contents).unwrap();
    })
}

fn zip_link(name: &str, target: &str) -> Vec<u8> {
    zip_with(|writer| writer.add_symlink(name, target, stored()).unwrap())
}

/// Replaces the first `count` occurrences of `from` with `to` (same length) in a zip's
/// bytes: the local header comes first, then the central directory's.
fn patched(mut bytes: Vec<u8>, from: &[u8], to: &[u8], count: usize) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut done = 0;
    let mut at = 0;
    while done < count {
        let found = bytes[at..]
            .windows(from.len())
            .position(|window| window == from)
            .expect("the name to patch");
        bytes[at + found..at + found + to.len()].copy_from_slice(to);
        at += found + to.len();
        done += 1;
    }
    bytes
}

fn zeros(length: usize) -> Vec<u8> {
    vec![0u8; length]
}

/// Bytes that do not compress, so that only the size limit can stop them.
fn noise(length: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..length)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

fn cases(sentinel: &Path) -> Vec<Case> {
    let escaped = "../../sentinel/escaped";
    let absolute = format!("{}/escaped", sentinel.display());
    let sentinel_text = sentinel.display().to_string();
    let small = UnpackLimits {
        max_expanded_bytes: 1000,
        ..UnpackLimits::default()
    };
    let few = UnpackLimits {
        max_entries: 10,
        ..UnpackLimits::default()
    };
    let twenty_tar: Vec<_> = (0..20)
        .map(|index| tar_file(&format!("f{index}"), 0o644, b"x"))
        .collect();
    let twenty_zip = zip_with(|writer| {
        for index in 0..20 {
            writer.start_file(format!("f{index}"), stored()).unwrap();
        }
    });
    let long_escape = format!("{}/../../../../sentinel/escaped", "deep".repeat(30));
    let regular = tar::EntryType::Regular;
    let symlink = tar::EntryType::Symlink;
    let hard = tar::EntryType::Link;
    vec![
        // Paths that leave the folder.
        case(
            "tar `..`",
            TarGz,
            tar_gz(vec![tar_file(escaped, 0o644, b"x")]),
            escaped,
            "goes up",
        ),
        case(
            "zip `..`",
            Zip,
            zip_file(escaped, 0o100644, b"x"),
            escaped,
            "goes up",
        ),
        case(
            "tar `..` in the middle",
            TarGz,
            tar_gz(vec![tar_file("a/../../../sentinel/escaped", 0o644, b"x")]),
            "a/../../../sentinel/escaped",
            "goes up",
        ),
        case(
            "zip `..` in the middle",
            Zip,
            zip_file("a/../../../sentinel/escaped", 0o100644, b"x"),
            "a/../../../sentinel/escaped",
            "goes up",
        ),
        case(
            "tar absolute path",
            TarGz,
            tar_gz(vec![tar_file(&absolute, 0o644, b"x")]),
            &absolute,
            "absolute",
        ),
        case(
            "zip absolute path",
            Zip,
            zip_file(&absolute, 0o100644, b"x"),
            &absolute,
            "absolute",
        ),
        case(
            "zip backslashes",
            Zip,
            zip_file("..\\..\\sentinel\\escaped", 0o100644, b"x"),
            "..\\..\\sentinel\\escaped",
            "backslash",
        ),
        case(
            "zip drive",
            Zip,
            zip_file("C:/escaped", 0o100644, b"x"),
            "C:/escaped",
            "drive",
        ),
        case(
            "tar drive",
            TarGz,
            tar_gz(vec![tar_file("C:/escaped", 0o644, b"x")]),
            "C:/escaped",
            "drive",
        ),
        case(
            "zip NUL",
            Zip,
            zip_file("a\0/../x", 0o100644, b"x"),
            "a\0/../x",
            "NUL",
        ),
        case(
            "tar NUL in a PAX path",
            TarGz,
            tar_gz(vec![pax(&[("path", "a\0b")]), tar_file("ab", 0o644, b"x")]),
            "a\0b",
            "NUL",
        ),
        case(
            "tar PAX path that escapes",
            TarGz,
            tar_gz(vec![
                pax(&[("path", escaped)]),
                tar_file("harmless", 0o644, b"x"),
            ]),
            escaped,
            "goes up",
        ),
        case(
            "tar GNU long name that escapes",
            TarGz,
            tar_gz(vec![
                tar_extension(
                    tar::EntryType::GNULongName,
                    format!("{long_escape}\0").as_bytes(),
                ),
                tar_file("harmless", 0o644, b"x"),
            ]),
            &long_escape,
            "goes up",
        ),
        // Links.
        case(
            "tar outward symlink",
            TarGz,
            tar_gz(vec![tar_link("out", symlink, "../../sentinel")]),
            "out",
            "points outside",
        ),
        case(
            "zip outward symlink",
            Zip,
            zip_link("out", "../../sentinel"),
            "out",
            "points outside",
        ),
        case(
            "tar absolute symlink",
            TarGz,
            tar_gz(vec![tar_link("out", symlink, &sentinel_text)]),
            "out",
            "points outside",
        ),
        case(
            "zip absolute symlink",
            Zip,
            zip_link("out", &sentinel_text),
            "out",
            "points outside",
        ),
        case(
            "tar symlink chain through an inside link",
            TarGz,
            tar_gz(vec![
                tar_folder("sub/", 0o755),
                tar_link("hop", symlink, "sub"),
                tar_link("out", symlink, "hop/../.."),
            ]),
            "out",
            "points outside",
        ),
        case(
            "tar entry below a symlink",
            TarGz,
            tar_gz(vec![
                tar_link("hop", symlink, "sub"),
                tar_file("hop/escaped", 0o644, b"x"),
            ]),
            "hop/escaped",
            "below the symbolic link `hop`",
        ),
        case(
            "zip entry below a symlink",
            Zip,
            zip_with(|writer| {
                writer.add_symlink("hop", "sub", stored()).unwrap();
                writer.start_file("hop/escaped", stored()).unwrap();
            }),
            "hop/escaped",
            "below the symbolic link `hop`",
        ),
        case(
            "tar hard link to a file given before",
            TarGz,
            tar_gz(vec![
                tar_file("lib/a", 0o644, b"x"),
                tar_link("lib/b", hard, "lib/a"),
            ]),
            "lib/b",
            "hard links are not accepted",
        ),
        case(
            "tar hard link outside",
            TarGz,
            tar_gz(vec![tar_link("keep", hard, "../../sentinel/keep.txt")]),
            "keep",
            "hard links are not accepted",
        ),
        // Special files and bits.
        case(
            "tar device",
            TarGz,
            tar_gz(vec![(
                header("null", tar::EntryType::Char, 0o666, 0),
                vec![],
            )]),
            "null",
            "a device",
        ),
        case(
            "tar FIFO",
            TarGz,
            tar_gz(vec![(
                header("pipe", tar::EntryType::Fifo, 0o666, 0),
                vec![],
            )]),
            "pipe",
            "a FIFO",
        ),
        case(
            "zip device by mode",
            Zip,
            zip_file("null", 0o020666, b""),
            "null",
            "a device",
        ),
        case(
            "zip FIFO by mode",
            Zip,
            zip_file("pipe", 0o010644, b""),
            "pipe",
            "a FIFO",
        ),
        case(
            "zip socket by mode",
            Zip,
            zip_file("sock", 0o140755, b""),
            "sock",
            "a socket",
        ),
        case(
            "zip device named as a folder",
            Zip,
            zip_file("null/", 0o020666, b""),
            "null/",
            "a device",
        ),
        case(
            "tar setuid",
            TarGz,
            tar_gz(vec![tar_file("bin/tool", 0o4755, b"#!/bin/sh\n")]),
            "bin/tool",
            "set-user-ID",
        ),
        case(
            "zip setuid",
            Zip,
            zip_file("bin/tool", 0o104755, b"#!/bin/sh\n"),
            "bin/tool",
            "set-user-ID",
        ),
        case(
            "zip setgid",
            Zip,
            zip_file("bin/tool", 0o102755, b"#!/bin/sh\n"),
            "bin/tool",
            "set-group-ID",
        ),
        case(
            "tar sticky folder",
            TarGz,
            tar_gz(vec![tar_folder("shared/", 0o1777)]),
            "shared/",
            "sticky",
        ),
        // Bombs and limits.
        case(
            "zip bomb by ratio",
            Zip,
            zip_with(|writer| {
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated);
                writer.start_file("zeros", options).unwrap();
                writer.write_all(&zeros(16 * 1024 * 1024)).unwrap();
            }),
            "zeros",
            "times its size",
        ),
        case(
            "tar bomb by ratio",
            TarGz,
            tar_gz(vec![tar_file("zeros", 0o644, &zeros(16 * 1024 * 1024))]),
            "zeros",
            "times its size",
        ),
        Case {
            limits: small,
            ..case(
                "zip bomb by total size",
                Zip,
                zip_file("big", 0o100644, &noise(5000)),
                "big",
                "1000 bytes",
            )
        },
        Case {
            limits: small,
            ..case(
                "tar bomb by total size",
                TarGz,
                tar_gz(vec![
                    tar_file("a", 0o644, &noise(600)),
                    tar_file("b", 0o644, &noise(600)),
                ]),
                "b",
                "1000 bytes",
            )
        },
        Case {
            limits: few,
            ..case(
                "zip too many entries",
                Zip,
                twenty_zip,
                "(the zip's directory)",
                "more than 10",
            )
        },
        Case {
            limits: few,
            ..case(
                "tar too many entries",
                TarGz,
                tar_gz(twenty_tar),
                "f10",
                "more than 10 entries",
            )
        },
        case(
            "tar huge declared size",
            TarGz,
            tar_gz(vec![(
                header("huge", regular, 0o644, 1 << 40),
                b"x".to_vec(),
            )]),
            "huge",
            "declares 1099511627776 bytes",
        ),
        case(
            "tar huge GNU long name",
            TarGz,
            tar_gz(vec![
                tar_extension(tar::EntryType::GNULongName, &noise(2 * 1024 * 1024)),
                tar_file("harmless", 0o644, b"x"),
            ]),
            "././@LongLink",
            "longer than 1048576 bytes",
        ),
        case(
            "tar PAX size that differs from the header's",
            TarGz,
            tar_gz(vec![pax(&[("size", "0")]), tar_file("lying", 0o644, b"x")]),
            "lying",
            "differs from its header's size",
        ),
        // Entries given twice, or in the place of the folder itself.
        case(
            "tar file twice",
            TarGz,
            tar_gz(vec![tar_file("a", 0o644, b"x"), tar_file("a", 0o644, b"y")]),
            "a",
            "twice",
        ),
        case(
            "tar file then folder",
            TarGz,
            tar_gz(vec![tar_file("a", 0o644, b"x"), tar_folder("a/", 0o755)]),
            "a/",
            "twice",
        ),
        case(
            "tar entry below a file",
            TarGz,
            tar_gz(vec![
                tar_file("a", 0o644, b"x"),
                tar_file("a/b", 0o644, b"y"),
            ]),
            "a/b",
            "below the file `a`",
        ),
        case(
            "zip file twice",
            Zip,
            patched(
                zip_with(|writer| {
                    writer.start_file("dup-1", stored()).unwrap();
                    writer.start_file("dup-2", stored()).unwrap();
                }),
                b"dup-2",
                b"dup-1",
                2,
            ),
            "dup-1",
            "twice",
        ),
        case(
            "zip file then folder",
            Zip,
            zip_with(|writer| {
                writer.start_file("a", stored()).unwrap();
                writer.add_directory("a/", stored()).unwrap();
            }),
            "a/",
            "twice",
        ),
        case(
            "tar file named `.`",
            TarGz,
            tar_gz(vec![tar_file(".", 0o644, b"x")]),
            ".",
            "the package's own folder",
        ),
        case(
            "tar entry with an empty name",
            TarGz,
            tar_gz(vec![tar_file("", 0o644, b"x")]),
            "",
            "empty",
        ),
        // Zips whose local headers say something else than their directory.
        case(
            "zip local name differs",
            Zip,
            patched(zip_file("name-b", 0o100644, b"x"), b"name-b", b"name-c", 1),
            "name-b",
            "disagree",
        ),
        case(
            "zip local size differs",
            Zip,
            {
                let mut bytes = zip_file("sized", 0o100644, b"xyz");
                bytes[22] = 9; // The local header's uncompressed size, low byte.
                bytes
            },
            "sized",
            "disagree",
        ),
    ]
}

/// Every path under `root` (not following links) with what it is: a file's mode and bytes,
/// a link's target, a folder's mode.
fn listing(root: &Path) -> BTreeMap<PathBuf, String> {
    let mut found = BTreeMap::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for item in fs::read_dir(&folder).unwrap() {
            let path = item.unwrap().path();
            let metadata = fs::symlink_metadata(&path).unwrap();
            let mode = metadata.permissions().mode();
            let what = if metadata.is_symlink() {
                format!("link to {}", fs::read_link(&path).unwrap().display())
            } else if metadata.is_dir() {
                pending.push(path.clone());
                format!("folder {mode:o}")
            } else {
                format!("file {mode:o} {:?}", fs::read(&path).unwrap())
            };
            found.insert(path.strip_prefix(root).unwrap().to_path_buf(), what);
        }
    }
    found
}

/// The refusal's entry and reason, or a panic naming the case.
fn refusal(case: &str, result: Result<usize, ArchiveError>) -> (String, String) {
    match result {
        Err(ArchiveError::Refused { entry, reason }) => (entry, reason),
        other => panic!("{case}: expected a refusal, got {other:?}"),
    }
}

#[test]
fn every_hostile_archive_is_refused_naming_its_entry_and_nothing_lands_outside() {
    let parent = tempfile::tempdir().unwrap();
    let sentinel = parent.path().join("sentinel");
    fs::create_dir(&sentinel).unwrap();
    fs::write(sentinel.join("keep.txt"), b"keep").unwrap();
    let outer = parent.path().join("outer");
    fs::create_dir(&outer).unwrap();
    let archives = tempfile::tempdir().unwrap();
    for (index, case) in cases(&sentinel).into_iter().enumerate() {
        let name = case.name;
        let archive_path = archives.path().join(format!("{index}"));
        fs::write(&archive_path, &case.bytes).unwrap();
        let destination = outer.join(format!("case-{index}"));
        let before = listing(parent.path());

        let extracted = archive::extract_file(
            fs::File::open(&archive_path).unwrap(),
            case.format,
            &destination,
            &case.limits,
        );
        let (entry, reason) = refusal(name, extracted);
        assert_eq!(
            entry, case.entry,
            "{name}: the refusal names the entry ({reason})"
        );
        assert!(
            reason.contains(case.reason),
            "{name}: the reason says why: {reason}"
        );

        let mut after = listing(parent.path());
        let inside = destination.strip_prefix(parent.path()).unwrap();
        after.retain(|path, _| !path.starts_with(inside));
        assert_eq!(
            before, after,
            "{name}: nothing changed outside the destination"
        );
        let root = destination.canonicalize().unwrap();
        for path in listing(&destination).keys() {
            if let Ok(resolved) = destination.join(path).canonicalize() {
                assert!(
                    resolved.starts_with(&root),
                    "{name}: {} leads outside",
                    path.display()
                );
            }
        }

        let verified = archive::verify_file(
            fs::File::open(&archive_path).unwrap(),
            case.format,
            &case.limits,
        );
        let (verified_entry, _) = refusal(name, verified);
        assert_eq!(
            verified_entry, case.entry,
            "{name}: verify_file names the same entry"
        );
    }
}

#[test]
fn a_well_formed_package_extracts_in_full_with_its_modes() {
    let tar = tar_gz(vec![
        tar_folder("app/", 0o755),
        tar_folder("app/bin/", 0o755),
        tar_file("app/bin/run", 0o755, b"#!/bin/sh\necho hi\n"),
        tar_file("app/lib/deep/data.txt", 0o640, b"data"),
        tar_link("app/current", tar::EntryType::Symlink, "lib/deep/data.txt"),
        tar_link(
            "app/bin/data",
            tar::EntryType::Symlink,
            "../lib/deep/data.txt",
        ),
        tar_file("app/README", 0o644, b"upper"),
        tar_file("app/readme", 0o644, b"lower"),
        tar_folder("app/", 0o755),
    ]);
    let zip = zip_with(|writer| {
        writer.add_directory("app/", stored()).unwrap();
        let executable = stored().unix_permissions(0o755);
        writer.start_file("app/bin/run", executable).unwrap();
        writer.write_all(b"#!/bin/sh\necho hi\n").unwrap();
        writer
            .start_file("app/lib/deep/data.txt", stored().unix_permissions(0o640))
            .unwrap();
        writer.write_all(b"data").unwrap();
        writer
            .add_symlink("app/current", "lib/deep/data.txt", stored())
            .unwrap();
        writer
            .add_symlink("app/bin/data", "../lib/deep/data.txt", stored())
            .unwrap();
        writer.start_file("app/README", stored()).unwrap();
        writer.write_all(b"upper").unwrap();
        writer.start_file("app/readme", stored()).unwrap();
        writer.write_all(b"lower").unwrap();
    });
    for (format, bytes) in [(TarGz, tar), (Zip, zip)] {
        let parent = tempfile::tempdir().unwrap();
        let archive_path = parent.path().join("package");
        fs::write(&archive_path, bytes).unwrap();
        let limits = UnpackLimits::default();
        let open = || fs::File::open(&archive_path).unwrap();
        assert_eq!(
            archive::verify_file(open(), format, &limits).unwrap(),
            4,
            "{format:?}"
        );
        let destination = parent.path().join("out");
        assert_eq!(
            archive::extract_file(open(), format, &destination, &limits).unwrap(),
            4
        );
        let app = destination.join("app");
        let mode = |path: &str| fs::metadata(app.join(path)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(
            mode("bin/run"),
            0o755,
            "{format:?}: executable, no special bits"
        );
        assert_eq!(mode("lib/deep/data.txt"), 0o640, "{format:?}");
        assert_eq!(
            fs::read(app.join("bin/run")).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        assert_eq!(
            fs::read_link(app.join("current")).unwrap(),
            Path::new("lib/deep/data.txt")
        );
        assert_eq!(
            fs::read(app.join("current")).unwrap(),
            b"data",
            "{format:?}"
        );
        assert_eq!(
            fs::read(app.join("bin/data")).unwrap(),
            b"data",
            "{format:?}"
        );
        assert_eq!(
            fs::read(app.join("README")).unwrap(),
            b"upper",
            "{format:?}"
        );
        assert_eq!(
            fs::read(app.join("readme")).unwrap(),
            b"lower",
            "{format:?}"
        );
    }
}
