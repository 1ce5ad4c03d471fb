//! "Substitute variables in files": the files a step's globs name, rendered in place as
//! Octostache templates with `ferry-templates` (strict unless the step is lenient), each
//! error naming the file, line and column.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use crate::failure::Failure;
use crate::folders::replace_atomically;
use crate::glob::{self, Glob};
use crate::protocol::Events;

/// The largest file substituted: a configuration file, not a data set.
pub const MAX_SUBSTITUTED_BYTES: u64 = 16 * 1024 * 1024;

pub struct Substitution<'a> {
    pub installation_directory: &'a Path,
    pub patterns: &'a [String],
    pub variables: &'a ferry_templates::Variables,
    pub lenient: bool,
}

pub fn substitute_files<W: Write>(
    substitution: &Substitution<'_>,
    events: &mut Events<W>,
) -> Result<(), Failure> {
    let globs = parse_globs(substitution.patterns)?;
    let root = substitution.installation_directory;
    let files = glob::files_under(root)
        .map_err(|error| Failure::from_io("listing the installation folder", &error))?;
    let (matched, unmatched) = glob::matching(&files, &globs);
    for glob in unmatched {
        events.ferry(format!(
            "No file matches `{}` to substitute variables in",
            glob.written()
        ));
    }
    let now = chrono::Utc::now();
    let options = if substitution.lenient {
        ferry_templates::Options::lenient(now)
    } else {
        ferry_templates::Options::strict(now)
    };
    for file in matched {
        let relative = file.join("/");
        let path = file
            .iter()
            .fold(root.to_path_buf(), |path, name| path.join(name));
        let fail =
            |why: String| Failure::permanent(format!("substituting {relative} failed: {why}"));
        let (text, mode) = read_text(&path).map_err(fail)?;
        let rendered = ferry_templates::render(&text, substitution.variables, &options)
            .map_err(|error| fail(error.to_string()))?;
        if rendered != text {
            replace_atomically(&path, rendered.as_bytes(), mode)
                .map_err(|error| fail(error.to_string()))?;
        }
        events.ferry(format!("Substituted variables in {relative}"));
    }
    Ok(())
}

pub fn parse_globs(patterns: &[String]) -> Result<Vec<Glob>, Failure> {
    patterns
        .iter()
        .map(|pattern| Glob::parse(pattern).map_err(Failure::permanent))
        .collect()
}

/// A file's text and mode, read without following a link, at most
/// [`MAX_SUBSTITUTED_BYTES`], and only when it is UTF-8.
pub fn read_text(path: &Path) -> Result<(String, u32), String> {
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|error| error.to_string())?;
    let metadata = file.metadata().map_err(|error| error.to_string())?;
    if !metadata.is_file() {
        return Err("it is not a plain file".to_owned());
    }
    if metadata.len() > MAX_SUBSTITUTED_BYTES {
        return Err(format!(
            "it has {} bytes, more than the {MAX_SUBSTITUTED_BYTES} a file may have to be substituted",
            metadata.len()
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_SUBSTITUTED_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| error.to_string())?;
    let text = String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())?;
    Ok((text, metadata.permissions().mode() & 0o7777))
}
