//! Archive formats Ferry accepts as packages (zip and tar.gz), and the file-name convention
//! `<PackageId>.<version>.<zip|tar.gz>` that CI tools use.

use std::fs;
use std::io::{self, Read, Seek, Write};
use std::path::Path;

use ferry_domain::{PackageId, PackageVersion, ValidationError};
use sha2::{Digest, Sha256};

pub use crate::unpack::{UnpackLimits, extract, extract_file, verify, verify_file};

/// The package archive formats Ferry stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    Zip,
    TarGz,
}

impl ArchiveFormat {
    /// The file extension, also used in object keys and the API (`zip`, `tar.gz`).
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::Zip => "zip",
            ArchiveFormat::TarGz => "tar.gz",
        }
    }

    pub fn from_extension(extension: &str) -> Option<Self> {
        match extension {
            "zip" => Some(ArchiveFormat::Zip),
            "tar.gz" | "tgz" => Some(ArchiveFormat::TarGz),
            _ => None,
        }
    }

    /// Recognises the format from the first bytes (the "magic number").
    pub fn detect(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            Some(ArchiveFormat::Zip)
        } else if bytes.starts_with(&[0x1f, 0x8b]) {
            Some(ArchiveFormat::TarGz)
        } else {
            None
        }
    }
}

/// Why an archive was refused or could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the package is not a zip or tar.gz archive")]
    UnknownFormat,
    #[error("the package is not a valid {format} archive: {detail}")]
    Corrupt {
        format: &'static str,
        detail: String,
    },
    #[error("the package's entry `{entry}` is refused: {reason}")]
    Refused { entry: String, reason: String },
    #[error("extracting the package: {0}")]
    Io(#[from] io::Error),
}

/// Packs every file under `source` into a zip written to `output`, with paths relative to
/// `source` and Unix permissions kept (so scripts stay executable).
pub fn pack_zip<W: Write + Seek>(source: &Path, output: W) -> Result<W, ArchiveError> {
    let mut writer = zip::ZipWriter::new(output);
    let mut stack = vec![source.to_path_buf()];
    let mut files = Vec::new();
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                stack.push(entry.path());
            } else if file_type.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    for path in files {
        let relative = path
            .strip_prefix(source)
            .map_err(|_| ArchiveError::Refused {
                entry: path.display().to_string(),
                reason: "it is not inside the folder being packed".to_owned(),
            })?;
        let name = relative
            .to_str()
            .ok_or_else(|| ArchiveError::Refused {
                entry: relative.display().to_string(),
                reason: "its name is not valid UTF-8".to_owned(),
            })?
            .replace('\\', "/");
        let mode = file_mode(&path)?;
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        writer
            .start_file(name, options)
            .map_err(|error| io::Error::other(error.to_string()))?;
        let mut file = fs::File::open(&path)?;
        let mut buffer = Vec::new();
        file.read_to_end(&mut buffer)?;
        writer.write_all(&buffer)?;
    }
    writer
        .finish()
        .map_err(|error| ArchiveError::Io(io::Error::other(error.to_string())))
}

#[cfg(unix)]
fn file_mode(path: &Path) -> io::Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    Ok(fs::metadata(path)?.permissions().mode() & 0o777)
}

#[cfg(not(unix))]
fn file_mode(_path: &Path) -> io::Result<u32> {
    Ok(0o644)
}

/// The lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The length and SHA-256 (lower-case hex) of everything `reader` gives, read in pieces.
pub fn sha256_of_reader(mut reader: impl Read) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    let mut length = 0u64;
    loop {
        let read = reader.read(&mut buffer)?;
        if read == 0 {
            return Ok((length, hex::encode(hasher.finalize())));
        }
        length += read as u64;
        hasher.update(&buffer[..read]);
    }
}

/// A package file name split into its parts: `RandomQuotes.1.0.3.zip` is package
/// `RandomQuotes`, version `1.0.3`, format zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFileName {
    pub package_id: PackageId,
    pub version: PackageVersion,
    pub format: ArchiveFormat,
}

impl PackageFileName {
    /// Splits at the first `.` followed by a digit whose remainder is a semantic version, as
    /// Octopus does, so package ids may themselves contain dots.
    pub fn parse(file_name: &str) -> Result<Self, ValidationError> {
        let (stem, format) = if let Some(stem) = file_name.strip_suffix(".tar.gz") {
            (stem, ArchiveFormat::TarGz)
        } else if let Some(stem) = file_name.strip_suffix(".zip") {
            (stem, ArchiveFormat::Zip)
        } else {
            return Err(ValidationError::new(
                "file_name",
                format!("`{file_name}` must end in .zip or .tar.gz"),
            ));
        };
        for (index, _) in stem.match_indices('.') {
            let rest = &stem[index + 1..];
            if !rest.starts_with(|c: char| c.is_ascii_digit()) {
                continue;
            }
            if let (Ok(package_id), Ok(version)) = (
                PackageId::parse(&stem[..index]),
                PackageVersion::parse(rest),
            ) {
                return Ok(PackageFileName {
                    package_id,
                    version,
                    format,
                });
            }
        }
        Err(ValidationError::new(
            "file_name",
            format!("`{file_name}` is not named <PackageId>.<semantic version>.<zip|tar.gz>"),
        ))
    }

    pub fn file_name(&self) -> String {
        format!(
            "{}.{}.{}",
            self.package_id,
            self.version,
            self.format.extension()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn file_names_split_like_octopus() {
        let parsed = PackageFileName::parse("RandomQuotes.1.0.3.zip").unwrap();
        assert_eq!(parsed.package_id.as_str(), "RandomQuotes");
        assert_eq!(parsed.version.to_string(), "1.0.3");
        assert_eq!(parsed.format, ArchiveFormat::Zip);
        let dotted = PackageFileName::parse("Acme.Web.2.1.0-beta.1.tar.gz").unwrap();
        assert_eq!(dotted.package_id.as_str(), "Acme.Web");
        assert_eq!(dotted.version.to_string(), "2.1.0-beta.1");
        assert!(PackageFileName::parse("RandomQuotes.zip").is_err());
        assert!(PackageFileName::parse("RandomQuotes.1.0.3.rar").is_err());
    }

    #[test]
    fn formats_are_recognised_by_content() {
        assert_eq!(
            ArchiveFormat::detect(b"PK\x03\x04rest"),
            Some(ArchiveFormat::Zip)
        );
        assert_eq!(
            ArchiveFormat::detect(&[0x1f, 0x8b, 8]),
            Some(ArchiveFormat::TarGz)
        );
        assert_eq!(ArchiveFormat::detect(b"hello"), None);
    }

    #[test]
    fn a_packed_folder_verifies_and_extracts_with_permissions() {
        let source = tempfile::tempdir().unwrap();
        fs::create_dir_all(source.path().join("bin")).unwrap();
        fs::write(source.path().join("bin/run.sh"), "#!/bin/bash\necho hi\n").unwrap();
        fs::write(source.path().join("README"), "hello").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(
                source.path().join("bin/run.sh"),
                fs::Permissions::from_mode(0o755),
            )
            .unwrap();
        }
        let bytes = pack_zip(source.path(), Cursor::new(Vec::new()))
            .unwrap()
            .into_inner();
        assert_eq!(ArchiveFormat::detect(&bytes), Some(ArchiveFormat::Zip));
        assert_eq!(
            verify(&bytes, ArchiveFormat::Zip, &UnpackLimits::default()).unwrap(),
            2
        );
        let target = tempfile::tempdir().unwrap();
        extract(
            &bytes,
            ArchiveFormat::Zip,
            target.path(),
            &UnpackLimits::default(),
        )
        .unwrap();
        assert_eq!(
            fs::read_to_string(target.path().join("README")).unwrap(),
            "hello"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(target.path().join("bin/run.sh"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o111, 0o111, "scripts stay executable");
        }
    }

    #[test]
    fn a_truncated_zip_is_refused() {
        let source = tempfile::tempdir().unwrap();
        fs::write(source.path().join("a.txt"), "x".repeat(10_000)).unwrap();
        let bytes = pack_zip(source.path(), Cursor::new(Vec::new()))
            .unwrap()
            .into_inner();
        let truncated = &bytes[..bytes.len() / 2];
        assert!(verify(truncated, ArchiveFormat::Zip, &UnpackLimits::default()).is_err());
    }
}
