//! Keeping the work root bounded: step folders are swept once they are old enough, and the
//! package cache is kept under its size.
//!
//! The rule (ARCHITECTURE.md): a step folder without a package is removed as soon as its step
//! succeeds; a folder holding an extracted package (later steps may use it through
//! `Package.InstallationDirectoryPath`) and every folder of a failed step (kept for
//! inspection) are removed once its deployment folder is older than `FERRY_WORK_FOLDER_KEEP_SECONDS`
//! and no step of that deployment runs on this worker (a step starting creates its folder,
//! which makes its deployment folder new again). Only a worker holding the work root's lock
//! sweeps; it cannot see the steps of other workers sharing the work root, so the time to keep
//! must exceed the step timeout. Known limit: a deployment that waits longer than that (a
//! sign-off left for a week) loses the extracted packages of its earlier steps. The cache
//! drops the least recently used packages beyond `FERRY_PACKAGE_CACHE_MAX_BYTES`.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::WorkerContext;

/// Removes the deployment folders under `deployments` last changed more than `keep` ago,
/// except those named in `in_use`. Returns how many were removed.
pub fn sweep_work_folders(deployments: &Path, keep: Duration, in_use: &HashSet<String>) -> usize {
    let Ok(folders) = std::fs::read_dir(deployments) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut removed = 0;
    for folder in folders.flatten() {
        let name = folder.file_name().to_string_lossy().into_owned();
        if in_use.contains(&name) {
            continue;
        }
        let old_enough = folder
            .metadata()
            .and_then(|metadata| metadata.modified())
            .is_ok_and(|modified| now.duration_since(modified).unwrap_or_default() > keep);
        if !old_enough {
            continue;
        }
        // `remove_dir_all` does not follow symbolic links a script left behind.
        match std::fs::remove_dir_all(folder.path()) {
            Ok(()) => removed += 1,
            Err(error) => {
                tracing::warn!(%error, folder = %folder.path().display(), "could not remove an old work folder")
            }
        }
    }
    removed
}

/// Marks a cached package as just used, so that the cache keeps it longest.
pub fn touch(path: &Path) {
    if let Ok(file) = std::fs::File::options().write(true).open(path) {
        let _ = file.set_modified(SystemTime::now());
    }
}

/// How old a download's temporary file must be before it is taken for one a killed worker
/// left behind (a download in progress writes to its file all the time).
const ABANDONED_DOWNLOAD: Duration = Duration::from_secs(3600);

/// Removes the least recently used packages from `cache` until it holds at most `max_bytes`,
/// and downloads abandoned an hour ago. Returns how many packages were removed.
pub fn bound_cache(cache: &Path, max_bytes: u64) -> usize {
    let Ok(entries) = std::fs::read_dir(cache) else {
        return 0;
    };
    let (partial, complete): (Vec<_>, Vec<_>) = entries
        .flatten()
        .partition(|entry| entry.file_name().to_string_lossy().starts_with('.'));
    for entry in partial {
        let abandoned = entry
            .metadata()
            .and_then(|metadata| metadata.modified())
            .is_ok_and(|modified| modified.elapsed().is_ok_and(|age| age > ABANDONED_DOWNLOAD));
        if abandoned {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let mut packages: Vec<(SystemTime, u64, std::path::PathBuf)> = complete
        .into_iter()
        .filter_map(|entry| {
            let metadata = entry.metadata().ok().filter(std::fs::Metadata::is_file)?;
            Some((metadata.modified().ok()?, metadata.len(), entry.path()))
        })
        .collect();
    let mut total: u64 = packages.iter().map(|(_, size, _)| size).sum();
    packages.sort();
    let mut removed = 0;
    for (_, size, path) in packages {
        if total <= max_bytes {
            break;
        }
        if std::fs::remove_file(&path).is_ok() {
            total -= size;
            removed += 1;
        }
    }
    removed
}

/// Sweeps old deployment folders now and then (see `housekeeping`), leaving those of
/// deployments with a step running here.
pub(crate) async fn sweep_old_folders(context: Arc<WorkerContext>) {
    let keep = context.config.keep_work_folders;
    let every = (keep / 4).clamp(Duration::from_secs(1), Duration::from_secs(3600));
    loop {
        let in_use: std::collections::HashSet<String> = context
            .running
            .lock()
            .map(|running| running.values().map(|(id, _)| id.to_string()).collect())
            .unwrap_or_default();
        let deployments = context.config.work_root.join("deployments");
        let removed =
            tokio::task::spawn_blocking(move || sweep_work_folders(&deployments, keep, &in_use))
                .await
                .unwrap_or(0);
        if removed > 0 {
            tracing::info!(removed, "removed old work folders");
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn age(path: &Path, seconds: u64) {
        let when = SystemTime::now() - Duration::from_secs(seconds);
        std::fs::File::open(path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }

    #[test]
    fn old_folders_go_unless_in_use_and_new_ones_stay() {
        let root = tempfile::tempdir().unwrap();
        for name in ["old", "old-running", "new"] {
            std::fs::create_dir_all(root.path().join(name).join("000-attempt-1")).unwrap();
        }
        age(&root.path().join("old"), 7200);
        age(&root.path().join("old-running"), 7200);
        let in_use: HashSet<String> = ["old-running".to_owned()].into();
        let removed = sweep_work_folders(root.path(), Duration::from_secs(3600), &in_use);
        assert_eq!(removed, 1);
        assert!(!root.path().join("old").exists());
        assert!(root.path().join("old-running").exists());
        assert!(root.path().join("new").exists());
    }

    #[test]
    fn the_cache_drops_the_least_recently_used_first() {
        let cache = tempfile::tempdir().unwrap();
        for (name, seconds) in [("a", 300), ("b", 200), ("c", 100)] {
            let path = cache.path().join(name);
            std::fs::write(&path, vec![0u8; 1000]).unwrap();
            age(&path, seconds);
        }
        touch(&cache.path().join("a"));
        assert_eq!(bound_cache(cache.path(), 2000), 1);
        assert!(!cache.path().join("b").exists(), "b was used longest ago");
        assert!(cache.path().join("a").exists() && cache.path().join("c").exists());
    }
}
