//! Watching the PATHs: any change under them wakes the loop, which reloads everything (reloading
//! is cheap and a partial view of a half-written repository is never used).

use std::path::{Path, PathBuf};

use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;
use tracing::warn;

/// Keeps the OS watches alive; dropping it stops them.
pub struct FileWatch {
    _watcher: RecommendedWatcher,
}

/// Watches `paths` and sends `()` on `tx` after every change. Directories are watched
/// recursively; a file is watched through its directory, because editors and git replace files
/// by renaming over them.
///
/// # Errors
/// When the OS refuses the watch.
pub fn watch(paths: &[PathBuf], tx: mpsc::Sender<()>) -> notify::Result<FileWatch> {
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        match event {
            Ok(event) if event.kind.is_access() => {}
            Ok(_) => {
                // A full channel already holds a wake-up: nothing is lost.
                let _ = tx.try_send(());
            }
            Err(e) => warn!(error = %e, "file watch error"),
        }
    })?;
    for path in paths {
        let (target, mode) = if path.is_dir() {
            (path.clone(), RecursiveMode::Recursive)
        } else {
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            (
                parent.map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf),
                RecursiveMode::NonRecursive,
            )
        };
        watcher.watch(&target, mode)?;
    }
    Ok(FileWatch { _watcher: watcher })
}
