//! Retention of installations on a target: the current one and the previous `keep_previous`
//! successful ones stay (failed ones do not count), every other installation folder goes.
//! Successes are recorded, oldest first, in `<package folder>/.ferry-installations`.

use std::fs;
use std::path::Path;

use crate::folders::replace_atomically;
use crate::install::CURRENT;

const RECORD: &str = ".ferry-installations";

/// What retention did, for the log.
#[derive(Debug, Default)]
pub struct Retention {
    pub kept: Vec<String>,
    pub removed: Vec<String>,
    pub problems: Vec<String>,
}

/// Records `installation` (a folder name in `package_folder`) as the newest success, then
/// removes installation folders that are neither it nor one of the `keep_previous` successes
/// before it.
pub fn record_and_clean(
    package_folder: &Path,
    installation: &str,
    keep_previous: u32,
) -> Retention {
    let mut retention = Retention::default();
    let record = package_folder.join(RECORD);
    let mut successes: Vec<String> = fs::read_to_string(&record)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .filter(|name| name != installation && package_folder.join(name).is_dir())
        .collect();
    successes.push(installation.to_owned());
    let keep = usize::try_from(keep_previous)
        .unwrap_or(usize::MAX)
        .saturating_add(1);
    let kept: Vec<String> = successes
        .iter()
        .skip(successes.len().saturating_sub(keep))
        .cloned()
        .collect();
    let mut text = kept.join("\n");
    text.push('\n');
    if let Err(error) = replace_atomically(&record, text.as_bytes(), 0o644) {
        // Without the record, nothing can be told apart from a success: remove nothing.
        retention
            .problems
            .push(format!("recording the installation: {error}"));
        return retention;
    }
    let entries = match fs::read_dir(package_folder) {
        Ok(entries) => entries,
        Err(error) => {
            retention
                .problems
                .push(format!("listing {}: {error}", package_folder.display()));
            return retention;
        }
    };
    for entry in entries.flatten() {
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let is_folder = entry.file_type().is_ok_and(|kind| kind.is_dir());
        if !is_folder || name.starts_with('.') || name == CURRENT || kept.contains(&name) {
            continue;
        }
        match fs::remove_dir_all(entry.path()) {
            Ok(()) => retention.removed.push(name),
            Err(error) => retention
                .problems
                .push(format!("removing the old installation {name}: {error}")),
        }
    }
    retention.removed.sort();
    retention.kept = kept;
    retention
}
