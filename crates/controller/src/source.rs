//! Where the desired state comes from: the [`DesiredSource`] seam, and its one implementation
//! today, DelegateGroup files in directories ([`FileSource`]): load, validate, select by labels,
//! render for each region; a change under the paths wakes the loop.

use std::collections::BTreeMap;
use std::future::Future;
use std::hash::Hasher as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use plan::DesiredGroup;
use tokio::sync::mpsc;

/// Why a source gave no desired state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Invalid files: every problem, one `file:line:col: error: ...` per entry.
    #[error("{} error{} in the files", .0.len(), if .0.len() == 1 { "" } else { "s" })]
    Invalid(Vec<String>),
    /// A bad `--selector`.
    #[error("--selector {0:?}: expected KEY=VALUE")]
    Selector(String),
    /// A group needs a region and none is configured.
    #[error("{origin}: group {group} has no spec.region and no default region is configured (set --region or AWS_REGION)")]
    NoRegion {
        /// `file:line:col` of the group.
        origin: String,
        /// Its name.
        group: String,
    },
    /// The source could not be read at all.
    #[error("reading the desired state: {0}")]
    Unreadable(String),
    /// Reading the files took longer than the source allows; the read was abandoned.
    #[error("reading the files took longer than {0:?}; abandoned, the last valid state is kept")]
    TimedOut(std::time::Duration),
}

/// The commit checked out where the first path is, asked of `git` itself (`rev-parse HEAD`);
/// `None` outside a work tree or without git.
pub fn git_revision(paths: &[PathBuf]) -> Option<String> {
    let first = paths.first()?;
    let dir = if first.is_dir() {
        first.as_path()
    } else {
        first.parent().filter(|p| !p.as_os_str().is_empty())?
    };
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(["rev-parse", "--verify", "--quiet", "HEAD"])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let sha = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && sha.len() >= 40 && sha.chars().all(|c| c.is_ascii_hexdigit()))
        .then_some(sha)
}

/// The desired groups at one revision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The selected groups, by name.
    pub groups: BTreeMap<String, DesiredGroup>,
    /// Identifies this content: equal snapshots have equal revisions.
    pub revision: String,
    /// The git commit the files were read at, when they are in a git work tree (as with the
    /// git-sync sidecar).
    pub git: Option<String>,
}

/// What a load found.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// The desired state (changed since the last successful load, or the first one).
    Changed(Snapshot),
    /// Nothing changed since the last successful load: keep what you have.
    Unchanged,
}

/// Keeps a source's change notifications alive; dropping it stops them.
pub type WatchGuard = Box<dyn Send>;

/// A source of desired state for the loop.
pub trait DesiredSource: Send + Sync + 'static {
    /// Loads a snapshot, without blocking the caller's runtime thread.
    fn load(&self) -> impl Future<Output = Result<Load, SourceError>> + Send;

    /// Sends `()` on `tx` whenever the source may have changed (a hint: the loop reloads).
    ///
    /// # Errors
    /// When changes cannot be watched (the loop then sees them at each resync only).
    fn watch(&self, tx: mpsc::Sender<()>) -> Result<WatchGuard, String>;
}

/// DelegateGroup files and directories.
#[derive(Debug, Clone)]
pub struct FileSource {
    /// Files and directories.
    pub paths: Vec<PathBuf>,
    /// `key=value` label selectors; all must match.
    pub selectors: Vec<(String, String)>,
    /// Region of groups without `spec.region`.
    pub default_region: Option<String>,
    /// The longest a load may take before it is abandoned (reported, the last valid state kept).
    pub load_timeout: std::time::Duration,
    /// The operator's guardrail policy every group must satisfy.
    pub policy: Arc<spec::Policy>,
    /// The files of the last successful load, as they were then.
    seen: Arc<Mutex<Option<Fingerprint>>>,
    /// Loads still running, abandoned ones included.
    running: Arc<std::sync::atomic::AtomicUsize>,
}

/// A load that has not ended after this long is abandoned. Loading is bounded (file and set
/// caps, screened bytes, a bounded document loop) and takes milliseconds; this is the guard
/// for a parser that misbehaves anyway.
pub const LOAD_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Abandoned loads that may still be running before no new one is started (each holds a
/// blocking thread that cannot be stopped from outside).
const MAX_RUNNING_LOADS: usize = 3;

/// Every file with its size, modification time and inode: a file rewritten (or swapped in by
/// git-sync's symlink flip) changes at least one of them.
type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>, u64)>;

/// `key=value` selectors as given on the command line.
///
/// # Errors
/// A selector that is not `KEY=VALUE`.
pub fn parse_selectors(selectors: &[String]) -> Result<Vec<(String, String)>, SourceError> {
    selectors
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(SourceError::Selector(s.clone())),
        })
        .collect()
}

impl FileSource {
    /// A source; `selectors` as given on the command line (`k=v`).
    ///
    /// # Errors
    /// A selector that is not `KEY=VALUE`.
    pub fn new(
        paths: Vec<PathBuf>,
        selectors: &[String],
        default_region: Option<String>,
    ) -> Result<Self, SourceError> {
        Ok(FileSource {
            paths,
            selectors: parse_selectors(selectors)?,
            default_region,
            load_timeout: LOAD_TIMEOUT,
            policy: Arc::default(),
            seen: Arc::default(),
            running: Arc::default(),
        })
    }

    /// This source under the operator's `policy`.
    #[must_use]
    pub fn with_retries(mut self, policy: Arc<spec::Policy>) -> Self {
        self.policy = policy;
        self
    }

    /// Loads every file and renders the selected groups, in file order (blocking: file IO).
    ///
    /// # Errors
    /// Invalid files (all problems), or a group without a region.
    pub fn load_now(&self) -> Result<Vec<DesiredGroup>, SourceError> {
        let loaded = spec::load_with_policy(&self.paths, &self.policy)
            .map_err(|d| SourceError::Invalid(d.0.iter().map(ToString::to_string).collect()))?;
        let mut desired = Vec::new();
        for loaded in loaded {
            let labels = &loaded.group.metadata.labels;
            if !self.selectors.iter().all(|(k, v)| labels.get(k) == Some(v)) {
                continue;
            }
            let region = match (&loaded.group.spec.region, &self.default_region) {
                (Some(region), _) | (None, Some(region)) => region.clone(),
                (None, None) => {
                    return Err(SourceError::NoRegion {
                        origin: loaded.origin(),
                        group: loaded.group.metadata.name.clone(),
                    })
                }
            };
            let origin = loaded.origin();
            let group = DesiredGroup::new(loaded.group, &region)
                .map_err(|e| SourceError::Invalid(vec![format!("{origin}: error: {e}")]))?;
            desired.push(group);
        }
        Ok(desired)
    }

    /// The groups keyed by name, and a revision over their rendered content.
    ///
    /// # Errors
    /// As [`FileSource::load_now`].
    pub fn snapshot_now(&self) -> Result<Snapshot, SourceError> {
        let groups: BTreeMap<String, DesiredGroup> = self
            .load_now()?
            .into_iter()
            .map(|d| (d.name().to_owned(), d))
            .collect();
        let mut hasher = fnv::FnvHasher::default();
        for (name, group) in &groups {
            hasher.write(name.as_bytes());
            hasher.write(group.rendered.spec_hash.as_bytes());
            hasher.write(&serde_json::to_vec(&group.group).unwrap_or_default());
        }
        Ok(Snapshot {
            groups,
            revision: format!("{:016x}", hasher.finish()),
            git: git_revision(&self.paths),
        })
    }

    /// The files as they are now; `None` when a path cannot be listed.
    fn fingerprint(&self) -> Option<Fingerprint> {
        spec::load::files(&self.paths)?
            .into_iter()
            .map(|file| {
                let meta = std::fs::metadata(&file).ok()?;
                Some((file, meta.len(), meta.modified().ok(), meta.ino()))
            })
            .collect()
    }

    /// A load that reads and parses only when a file changed since the last successful one:
    /// the loop reloads at every resync, and a repository that did not change costs a `stat`
    /// per file instead of a parse of every group. The fingerprint is recorded only if the load
    /// was not `abandoned` meanwhile (checked under the same lock the abandoning side takes), so
    /// a result the loop never received is never taken for "unchanged".
    fn load_if_changed(&self, abandoned: &AtomicBool) -> Result<Load, SourceError> {
        let now = self.fingerprint();
        {
            let seen = lock(&self.seen);
            if now.is_some() && *seen == now {
                return Ok(Load::Unchanged);
            }
        }
        *lock(&self.seen) = None;
        let snapshot = self.snapshot_now()?;
        let mut seen = lock(&self.seen);
        if !abandoned.load(Ordering::SeqCst) {
            *seen = now;
        }
        Ok(Load::Changed(snapshot))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs `work` on a blocking thread, handing it `abandoned`, and gives up waiting after
/// `limit`: the thread is left to end on its own (it cannot be stopped) and `on_abandon` runs
/// (it marks the work abandoned, under whatever lock the work checks the mark with). `running`
/// counts the threads until they end, a panicking one included; at [`MAX_RUNNING_LOADS`] no new
/// one is started.
async fn abandonable<T: Send + 'static>(
    limit: std::time::Duration,
    running: &Arc<AtomicUsize>,
    abandoned: Arc<AtomicBool>,
    on_abandon: impl FnOnce(),
    work: impl FnOnce(&AtomicBool) -> Result<T, SourceError> + Send + 'static,
) -> Result<T, SourceError> {
    if running.load(Ordering::SeqCst) >= MAX_RUNNING_LOADS {
        return Err(SourceError::Unreadable(format!(
            "{MAX_RUNNING_LOADS} earlier reads of the files have not ended; not starting another"
        )));
    }
    /// Counts one running load until dropped, whether the work returns or panics.
    struct Running(Arc<AtomicUsize>);
    impl Drop for Running {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    running.fetch_add(1, Ordering::SeqCst);
    let counted = Running(Arc::clone(running));
    let handle = tokio::task::spawn_blocking(move || {
        let _counted = counted;
        work(&abandoned)
    });
    match tokio::time::timeout(limit, handle).await {
        Ok(joined) => joined.map_err(|e| SourceError::Unreadable(e.to_string()))?,
        Err(_) => {
            on_abandon();
            Err(SourceError::TimedOut(limit))
        }
    }
}

impl DesiredSource for FileSource {
    async fn load(&self) -> Result<Load, SourceError> {
        let source = self.clone();
        let abandoned = Arc::new(AtomicBool::new(false));
        let seen = Arc::clone(&self.seen);
        let flag = Arc::clone(&abandoned);
        abandonable(
            self.load_timeout,
            &self.running,
            abandoned,
            move || {
                let mut seen = lock(&seen);
                flag.store(true, Ordering::SeqCst);
                *seen = None;
            },
            move |abandoned| source.load_if_changed(abandoned),
        )
        .await
    }

    fn watch(&self, tx: mpsc::Sender<()>) -> Result<WatchGuard, String> {
        crate::watch::watch(&self.paths, tx)
            .map(|guard| Box::new(guard) as WatchGuard)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &std::path::Path, name: &str, count: i64) {
        let yaml = DesiredGroup::test(name).count(count).yaml();
        std::fs::write(dir.join(format!("{name}.yaml")), yaml).unwrap();
    }

    #[test]
    fn files_are_parsed_again_only_when_one_changed() {
        let dir = std::env::temp_dir().join(format!("edc-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, "a", 1);
        let source = FileSource::new(vec![dir.clone()], &[], Some("us-east-1".into())).unwrap();
        let Load::Changed(first) = source.load_if_changed(&AtomicBool::new(false)).unwrap() else {
            panic!("the first load reads the files");
        };
        assert_eq!(first.groups["a"].group.spec.fixed_count(), Some(1));
        assert_eq!(
            source.load_if_changed(&AtomicBool::new(false)).unwrap(),
            Load::Unchanged
        );

        write(&dir, "a", 12); // a different size, at least
        let Load::Changed(second) = source.load_if_changed(&AtomicBool::new(false)).unwrap() else {
            panic!("a rewritten file is read again");
        };
        assert_eq!(second.groups["a"].group.spec.fixed_count(), Some(12));
        assert_ne!(second.revision, first.revision);

        write(&dir, "b", 1);
        assert!(
            matches!(source.load_if_changed(&AtomicBool::new(false)).unwrap(), Load::Changed(s) if s.groups.len() == 2)
        );
        std::fs::remove_file(dir.join("b.yaml")).unwrap();
        assert!(
            matches!(source.load_if_changed(&AtomicBool::new(false)).unwrap(), Load::Changed(s) if s.groups.len() == 1)
        );

        std::fs::write(dir.join("a.yaml"), "apiVersion: nope\n").unwrap();
        assert!(source.load_if_changed(&AtomicBool::new(false)).is_err());
        assert!(
            source.load_if_changed(&AtomicBool::new(false)).is_err(),
            "an invalid set is read again each time"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn a_load_that_does_not_end_is_abandoned_and_reported() {
        let running = Arc::new(AtomicUsize::new(0));
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let hold = Arc::new(Mutex::new(hold));
        let limit = std::time::Duration::from_millis(50);
        let mut abandoned_calls = 0;
        for _ in 0..MAX_RUNNING_LOADS {
            let hold = Arc::clone(&hold);
            let result: Result<(), _> = abandonable(
                limit,
                &running,
                Arc::new(AtomicBool::new(false)),
                || abandoned_calls += 1,
                move |_| {
                    let _ = lock(&hold).recv();
                    Ok(())
                },
            )
            .await;
            assert_eq!(result, Err(SourceError::TimedOut(limit)));
        }
        assert_eq!(abandoned_calls, MAX_RUNNING_LOADS);
        // Three threads are still stuck: no fourth is started.
        let refused: Result<(), _> = abandonable(
            limit,
            &running,
            Arc::new(AtomicBool::new(false)),
            || {},
            |_| Ok(()),
        )
        .await;
        assert!(matches!(refused, Err(SourceError::Unreadable(m)) if m.contains("have not ended")));
        // Once they end, loads run again.
        drop(release);
        for _ in 0..100 {
            if running.load(Ordering::SeqCst) == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let ok: Result<u8, _> = abandonable(
            limit,
            &running,
            Arc::new(AtomicBool::new(false)),
            || {},
            |_| Ok(7),
        )
        .await;
        assert_eq!(ok, Ok(7));
    }
}
