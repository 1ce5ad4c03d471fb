//! Packages built in memory for tests, and their checksums.

use std::io::{Cursor, Write};

/// A zip archive built in memory from `(path, contents)` pairs.
pub fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (path, contents) in files {
        writer
            .start_file(*path, zip::write::SimpleFileOptions::default())
            .expect("adding a file");
        writer
            .write_all(contents.as_bytes())
            .expect("writing a file");
    }
    writer.finish().expect("finishing the zip").into_inner()
}

/// The lowercase hex SHA-256 of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    ferry_packages::sha256_hex(bytes)
}
