//! What the rules read from a zip's central directory themselves: how many entries it says it
//! holds, from its end-of-central-directory record before the zip reader loads the whole
//! directory into memory (a directory of millions of empty entries fits in a few hundred MB of
//! archive and would cost gigabytes to load); and which name it gives twice (the zip reader
//! keeps only the last entry of a name).

use std::collections::HashSet;
use std::io::{self, Read, Seek, SeekFrom};

/// The end-of-central-directory record's signature, its fixed size, and the most a comment
/// after it may add.
const END_SIGNATURE: [u8; 4] = *b"PK\x05\x06";
const END_LENGTH: u64 = 22;
const LONGEST_COMMENT: u64 = 65_535;
/// The Zip64 end-of-central-directory locator (just before the record) and record.
const ZIP64_LOCATOR_SIGNATURE: [u8; 4] = *b"PK\x06\x07";
const ZIP64_LOCATOR_LENGTH: u64 = 20;
const ZIP64_END_SIGNATURE: [u8; 4] = *b"PK\x06\x06";
/// A central directory header's signature and fixed size.
const CENTRAL_SIGNATURE: [u8; 4] = *b"PK\x01\x02";
const CENTRAL_LENGTH: usize = 46;

/// The number of entries the archive's directory declares, or `None` when no end record is
/// found (the zip reader then reports the archive as corrupt itself).
pub(crate) fn declared_entries(archive: &mut (impl Read + Seek)) -> io::Result<Option<u64>> {
    let length = archive.seek(SeekFrom::End(0))?;
    let tail_length = length.min(END_LENGTH + LONGEST_COMMENT);
    let tail_start = length - tail_length;
    archive.seek(SeekFrom::Start(tail_start))?;
    let mut tail = vec![0u8; usize::try_from(tail_length).unwrap_or(0)];
    archive.read_exact(&mut tail)?;
    let Some(end) = tail
        .windows(4)
        .rposition(|window| window == END_SIGNATURE)
        .filter(|&at| at + END_LENGTH as usize <= tail.len())
    else {
        return Ok(None);
    };
    let entries = u64::from(u16::from_le_bytes([tail[end + 10], tail[end + 11]]));
    if entries != u64::from(u16::MAX) {
        return Ok(Some(entries));
    }
    // Zip64: the locator sits just before the record and says where the Zip64 record is.
    let record_at = tail_start + end as u64;
    if record_at < ZIP64_LOCATOR_LENGTH {
        return Ok(Some(entries));
    }
    let mut locator = [0u8; ZIP64_LOCATOR_LENGTH as usize];
    archive.seek(SeekFrom::Start(record_at - ZIP64_LOCATOR_LENGTH))?;
    archive.read_exact(&mut locator)?;
    if locator[..4] != ZIP64_LOCATOR_SIGNATURE {
        return Ok(Some(entries));
    }
    let zip64_at = u64::from_le_bytes(locator[8..16].try_into().unwrap_or_default());
    let mut record = [0u8; 40];
    archive.seek(SeekFrom::Start(zip64_at))?;
    if archive.read_exact(&mut record).is_err() || record[..4] != ZIP64_END_SIGNATURE {
        return Ok(Some(entries));
    }
    Ok(Some(u64::from_le_bytes(
        record[32..40].try_into().unwrap_or_default(),
    )))
}

/// The first name the central directory starting at `start` gives twice, reading at most
/// `most` headers; `None` when none is found.
pub(crate) fn first_repeated_name(
    archive: &mut (impl Read + Seek),
    start: u64,
    most: u64,
) -> io::Result<Option<String>> {
    archive.seek(SeekFrom::Start(start))?;
    let mut names = HashSet::new();
    for _ in 0..most {
        let mut header = [0u8; CENTRAL_LENGTH];
        if archive.read_exact(&mut header).is_err() || header[..4] != CENTRAL_SIGNATURE {
            return Ok(None);
        }
        let field = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let (name_length, extra_length, comment_length) = (field(28), field(30), field(32));
        let mut name = vec![0u8; usize::from(name_length)];
        archive.read_exact(&mut name)?;
        archive.seek(SeekFrom::Current(
            i64::from(extra_length) + i64::from(comment_length),
        ))?;
        if !names.insert(name.clone()) {
            return Ok(Some(String::from_utf8_lossy(&name).into_owned()));
        }
    }
    Ok(None)
}
