//! Which files a set is read from, and reading them within bounds.
//!
//! The paths on the command line are the operator's; what lies under a directory is written by
//! whoever can commit to the repository. So, under a directory:
//! - a symlink whose target leaves the directory is refused (a link to `/` would be walked for
//!   ever, a link to `/etc` read), and one that stays inside is followed once (git-sync publishes
//!   the work tree through a link, and a link to an ancestor would otherwise loop);
//! - only regular files are read: a device (`/dev/zero`), a FIFO (an `open` that never returns)
//!   or a socket named `*.yaml` is refused, and the check is made on the opened file;
//! - each file, the whole set and the number of files have a cap, checked while reading, so a
//!   file that grows as it is read costs no more than the cap.

use std::collections::HashSet;
use std::io::Read as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use crate::diagnostic::Diagnostic;
use crate::location::FieldPath;

/// The largest group file read, in bytes (a file of a hundred groups is about 100 KiB).
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// The largest set of files read, in bytes.
pub const MAX_SET_BYTES: u64 = 16 << 20;
/// The most files a set is read from.
pub const MAX_FILES: usize = 10_000;
/// The deepest directory walked.
const MAX_DEPTH: usize = 32;

/// A problem with a file as a whole (it has no position).
pub(crate) fn file_problem(file: &Path, message: impl Into<String>) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        position: None,
        field: FieldPath::root(),
        message: message.into(),
    }
}

/// The files behind `paths`: named files as they are; under directories, `*.yaml` and `*.yml`,
/// skipping hidden entries (`.git`, `.github`), sorted for a deterministic order. Problems
/// (a path that cannot be listed, a symlink leaving its directory, a special file, too many
/// files) are added to `diagnostics`.
pub fn discover<P: AsRef<Path>>(paths: &[P], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut walk = Walk {
        files: Vec::new(),
        diagnostics,
        visited: HashSet::new(),
        root: PathBuf::new(),
        too_many: false,
    };
    for path in paths {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => match path.canonicalize() {
                Ok(root) => {
                    walk.root = root.clone();
                    walk.visited.insert(root);
                    walk.dir(path, 0);
                }
                Err(e) => walk.problem(path, format!("cannot read: {e}")),
            },
            Ok(_) => walk.files.push(path.to_path_buf()),
            Err(e) => walk.problem(path, format!("cannot read: {e}")),
        }
    }
    walk.files
}

struct Walk<'a> {
    files: Vec<PathBuf>,
    diagnostics: &'a mut Vec<Diagnostic>,
    /// Directories walked, canonical: each once, whatever links lead to it.
    visited: HashSet<PathBuf>,
    /// The canonical directory named on the command line that is being walked.
    root: PathBuf,
    /// More than [`MAX_FILES`] were found (reported once).
    too_many: bool,
}

impl Walk<'_> {
    fn problem(&mut self, path: &Path, message: impl Into<String>) {
        self.diagnostics.push(file_problem(path, message));
    }

    fn dir(&mut self, dir: &Path, depth: usize) {
        if depth > MAX_DEPTH {
            self.problem(
                dir,
                format!("directory nesting deeper than {MAX_DEPTH} levels"),
            );
            return;
        }
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) => return self.problem(dir, format!("cannot read: {e}")),
        };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        for path in paths {
            let hidden = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if !hidden {
                self.entry(&path, depth);
            }
        }
    }

    fn entry(&mut self, path: &Path, depth: usize) {
        let yaml = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml");
        let Ok(link) = std::fs::symlink_metadata(path) else {
            return; // gone since it was listed
        };
        let meta = if link.file_type().is_symlink() {
            let target = match path.canonicalize() {
                Ok(target) => target,
                Err(e) if yaml => return self.problem(path, format!("cannot read: {e}")),
                Err(_) => return, // a dangling link that is not a group file
            };
            let Ok(meta) = std::fs::metadata(&target) else {
                return;
            };
            if !target.starts_with(&self.root) {
                if yaml || meta.is_dir() {
                    let root = self.root.display().to_string();
                    self.problem(
                        path,
                        format!("symlink to a path outside {root}: refused (links must stay inside the directory)"),
                    );
                }
                return;
            }
            if meta.is_dir() && !self.visited.insert(target) {
                return; // walked already, through another path
            }
            meta
        } else {
            // A directory already walked through a link (one sorted before it) is not walked
            // again: its groups would be read twice.
            let walked = link.is_dir()
                && path
                    .canonicalize()
                    .is_ok_and(|canonical| !self.visited.insert(canonical));
            if walked {
                return;
            }
            link
        };
        if meta.is_dir() {
            self.dir(path, depth + 1);
        } else if yaml {
            if !meta.is_file() {
                self.problem(
                    path,
                    "not a regular file (a device, FIFO or socket): refused",
                );
            } else if self.files.len() < MAX_FILES {
                self.files.push(path.to_path_buf());
            } else if !self.too_many {
                self.too_many = true;
                self.problem(path, format!("more than {MAX_FILES} files: refused"));
            }
        }
    }
}

/// Reads one regular file of at most [`MAX_FILE_BYTES`], charging its size to `budget` (what
/// is left of [`MAX_SET_BYTES`]).
///
/// # Errors
/// A message for the file: unreadable, not a regular file, over its cap or over the set's.
pub fn read_bounded(file: &Path, budget: &mut u64) -> Result<Vec<u8>, String> {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer for ever. It
    // has no effect on a regular file.
    let handle = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(file)
        .map_err(|e| format!("cannot read: {e}"))?;
    let meta = handle.metadata().map_err(|e| format!("cannot read: {e}"))?;
    if !meta.is_file() {
        return Err("not a regular file (a device, FIFO or socket): refused".into());
    }
    let cap = MAX_FILE_BYTES.min(*budget);
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(cap)).unwrap_or(0));
    handle
        .take(cap + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read: {e}"))?;
    let read = bytes.len() as u64;
    if read > MAX_FILE_BYTES {
        return Err(format!("larger than {} MiB: refused", MAX_FILE_BYTES >> 20));
    }
    if read > *budget {
        return Err(format!(
            "the files add up to more than {} MiB: refused",
            MAX_SET_BYTES >> 20
        ));
    }
    *budget -= read;
    Ok(bytes)
}
