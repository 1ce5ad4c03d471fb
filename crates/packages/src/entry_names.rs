//! What an entry's name and a symbolic link's target may be: relative paths of plain names
//! that stay inside the package, spelled one way only (UTF-8, no NUL, no backslash, no drive).

use std::path::{Component, Path, PathBuf};

use crate::archive::ArchiveError;
use crate::unpack::refused;

/// An entry's path as a relative path of plain names, or a refusal. The empty path is the
/// package's own folder (`.`, `./`), which only a folder entry may name.
pub(crate) fn inside_path(name: &str) -> Result<PathBuf, ArchiveError> {
    if name.is_empty() {
        return Err(refused(name, "its name is empty"));
    }
    spelled_plainly(name, name, "its name")?;
    let mut path = PathBuf::new();
    for component in Path::new(name).components() {
        match component {
            Component::Normal(part) => path.push(part),
            Component::CurDir => {}
            Component::ParentDir => return Err(refused(name, "its path goes up with `..`")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refused(name, "its path is absolute"));
            }
        }
    }
    Ok(path)
}

/// Checks that the symbolic link `name`, at `path` in the package, points inside it.
pub(crate) fn check_link_target(name: &str, path: &Path, target: &str) -> Result<(), ArchiveError> {
    spelled_plainly(name, target, "its link target")?;
    if !link_stays_inside(path, Path::new(target)) {
        return Err(refused(
            name,
            format!(
                "its link `{target}` points outside the package (a link may go up with `..` \
                 only at its start, and not above the package)"
            ),
        ));
    }
    Ok(())
}

/// Refuses a name or link target that another system could read differently from Linux:
/// a NUL ends a name early for C code; a backslash separates folders on Windows and in
/// broken zip writers (`a\..\..\x`); a drive (`C:`) is absolute on Windows.
fn spelled_plainly(entry: &str, text: &str, what: &str) -> Result<(), ArchiveError> {
    if text.contains('\0') {
        return Err(refused(entry, format!("{what} holds a NUL byte")));
    }
    if text.contains('\\') {
        return Err(refused(
            entry,
            format!("{what} holds a backslash (folders are separated by `/` only)"),
        ));
    }
    let bytes = text.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return Err(refused(
            entry,
            format!("{what} starts with a drive (`{}`)", &text[..2]),
        ));
    }
    Ok(())
}

/// Whether a symbolic link at `link` (relative to the package root) to `target` stays inside
/// the package: the target is relative, goes up (`..`) only at its start and no higher than
/// the link's folder allows, then only down. (A `..` after a name could climb out of a link
/// that points at the package root, `a -> b/..` with `b -> .`; the link's own folders are
/// real folders, since no entry lies below a link. A name that is itself a link resolves
/// inside by the same rule, so a chain of links stays inside too.)
fn link_stays_inside(link: &Path, target: &Path) -> bool {
    let mut depth = link.parent().map_or(0, |parent| parent.iter().count());
    let mut descended = false;
    for component in target.components() {
        match component {
            Component::Normal(_) => descended = true,
            Component::CurDir => {}
            Component::ParentDir if !descended && depth > 0 => depth -= 1,
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    !target.as_os_str().is_empty()
}
