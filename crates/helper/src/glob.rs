//! Which files of an installation folder a step's globs name (`config/*.json`, `**/*.yml`):
//! relative to the folder, never outside it, never through a symbolic link.

use std::fs;
use std::path::Path;

/// A glob, parsed: its `/`-separated segments. `**` matches any number of folders, `*` any
/// characters within a name, `?` one character.
#[derive(Debug, Clone)]
pub struct Glob {
    written: String,
    segments: Vec<String>,
}

impl Glob {
    /// Refuses absolute globs and globs with `..`: they would reach outside the folder.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let trimmed = pattern.trim();
        if trimmed.is_empty() {
            return Err("an empty file pattern".to_owned());
        }
        if trimmed.starts_with('/') {
            return Err(format!(
                "the file pattern `{pattern}` is absolute; patterns are relative to the installation folder"
            ));
        }
        let segments: Vec<String> = trimmed
            .split('/')
            .filter(|segment| !segment.is_empty() && *segment != ".")
            .map(str::to_owned)
            .collect();
        if segments.iter().any(|segment| segment == "..") {
            return Err(format!(
                "the file pattern `{pattern}` leaves the installation folder (`..`)"
            ));
        }
        Ok(Glob {
            written: pattern.to_owned(),
            segments,
        })
    }

    pub fn written(&self) -> &str {
        &self.written
    }

    /// Whether a relative path (its components) matches.
    pub fn matches(&self, path: &[String]) -> bool {
        matches_segments(&self.segments, path)
    }
}

fn matches_segments(pattern: &[String], path: &[String]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| matches_segments(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((name, path_rest)) => {
                matches_name(first.as_bytes(), name.as_bytes()) && matches_segments(rest, path_rest)
            }
            None => false,
        },
    }
}

/// `*` and `?` within one name.
fn matches_name(pattern: &[u8], name: &[u8]) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|skip| matches_name(rest, &name[skip..])),
        Some((b'?', rest)) => !name.is_empty() && matches_name(rest, &name[1..]),
        Some((byte, rest)) => name.first() == Some(byte) && matches_name(rest, &name[1..]),
    }
}

/// Every plain file under `root`, as relative components, sorted; symbolic links (to files
/// or folders) are not followed and not listed, nor are names that are not UTF-8.
pub fn files_under(root: &Path) -> std::io::Result<Vec<Vec<String>>> {
    let mut files = Vec::new();
    let mut folders = vec![(root.to_path_buf(), Vec::<String>::new())];
    while let Some((folder, relative)) = folders.pop() {
        for entry in fs::read_dir(&folder)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let file_type = entry.file_type()?;
            let mut path = relative.clone();
            path.push(name);
            if file_type.is_dir() {
                folders.push((entry.path(), path));
            } else if file_type.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// The files matching any of `globs`, each once, in path order, with the globs that matched
/// nothing (for a warning in the log).
pub fn matching<'a>(
    files: &'a [Vec<String>],
    globs: &'a [Glob],
) -> (Vec<&'a [String]>, Vec<&'a Glob>) {
    let matched = files
        .iter()
        .filter(|file| globs.iter().any(|glob| glob.matches(file)))
        .map(Vec::as_slice)
        .collect();
    let unmatched = globs
        .iter()
        .filter(|glob| !files.iter().any(|file| glob.matches(file)))
        .collect();
    (matched, unmatched)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn path(text: &str) -> Vec<String> {
        text.split('/').map(str::to_owned).collect()
    }

    #[test]
    fn globs_match_names_and_folders() {
        let glob = Glob::parse("config/*.json").unwrap();
        assert!(glob.matches(&path("config/settings.json")));
        assert!(!glob.matches(&path("config/deep/settings.json")));
        assert!(!glob.matches(&path("settings.json")));
        let any = Glob::parse("**/*.y?l").unwrap();
        assert!(any.matches(&path("a.yml")));
        assert!(!any.matches(&path("a/b/c.yaml")));
        assert!(any.matches(&path("a/b/c.yml")));
        assert!(
            Glob::parse("./web.config")
                .unwrap()
                .matches(&path("web.config"))
        );
    }

    #[test]
    fn globs_that_leave_the_folder_are_refused() {
        assert!(Glob::parse("../etc/passwd").is_err());
        assert!(Glob::parse("/etc/passwd").is_err());
        assert!(Glob::parse("a/../../b").is_err());
    }
}
