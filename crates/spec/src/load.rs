//! Loading DelegateGroup files: paths -> located, validated groups, or every problem found.
//!
//! A set is all or nothing: one invalid document makes the whole set invalid, so that nothing is
//! applied or pruned from a half-read repository.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::arn::cluster_name;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::location::{index_documents, FieldIndex, FieldPath, Position};
use crate::types::DelegateGroup;
use crate::validate::validate_group;

/// A valid group and where it came from.
#[derive(Debug, Clone)]
pub struct LoadedGroup {
    /// The group.
    pub group: DelegateGroup,
    /// The file it was read from.
    pub file: PathBuf,
    /// Positions of its fields in that file.
    pub index: FieldIndex,
}

impl LoadedGroup {
    /// Where the group's `metadata.name` stands, as `file:line:col`.
    pub fn origin(&self) -> String {
        let pos = self.index.locate(&FieldPath::new("metadata.name"));
        format!("{}:{pos}", self.file.display())
    }
}

/// Reads every PATH (files, and `*.yaml`/`*.yml` under directories, recursively, in name order)
/// and validates each group and the set as a whole.
///
/// # Errors
/// Every problem in every file, sorted by file and position.
pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<LoadedGroup>, Diagnostics> {
    let mut diagnostics = Vec::new();
    let mut groups = Vec::new();
    for file in discover(paths, &mut diagnostics) {
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let (found, problems) = load_str(&file, &text);
                groups.extend(found);
                diagnostics.extend(problems);
            }
            Err(e) => diagnostics.push(file_problem(&file, format!("cannot read: {e}"))),
        }
    }
    diagnostics.extend(validate_set(&groups));
    if diagnostics.is_empty() {
        Ok(groups)
    } else {
        diagnostics.sort();
        diagnostics.dedup();
        Err(Diagnostics(diagnostics))
    }
}

/// The files [`load`] would read, in its order; `None` when a path cannot be listed (a load
/// then reports why).
pub fn files<P: AsRef<Path>>(paths: &[P]) -> Option<Vec<PathBuf>> {
    let mut diagnostics = Vec::new();
    let files = discover(paths, &mut diagnostics);
    diagnostics.is_empty().then_some(files)
}

fn file_problem(file: &Path, message: String) -> Diagnostic {
    Diagnostic {
        file: file.to_path_buf(),
        position: None,
        field: FieldPath::root(),
        message,
    }
}

/// The files behind `paths`: named files as they are; under directories, `*.yaml` and `*.yml`,
/// skipping hidden entries (`.git`, `.github`), sorted for a deterministic order.
fn discover<P: AsRef<Path>>(paths: &[P], diagnostics: &mut Vec<Diagnostic>) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        let path = path.as_ref();
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_dir() => walk(path, &mut files, diagnostics, 0),
            Ok(_) => files.push(path.to_path_buf()),
            Err(e) => diagnostics.push(file_problem(path, format!("cannot read: {e}"))),
        }
    }
    files
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, diagnostics: &mut Vec<Diagnostic>, depth: usize) {
    // Symlinks are followed (git-sync publishes through one); the depth bound stops loops.
    if depth > 32 {
        diagnostics.push(file_problem(
            dir,
            "directory nesting deeper than 32 levels".into(),
        ));
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            diagnostics.push(file_problem(dir, format!("cannot read: {e}")));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files, diagnostics, depth + 1);
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e == "yaml" || e == "yml")
        {
            files.push(path);
        }
    }
}

/// Parses and validates the documents of one file (but not the set they belong to).
pub fn load_str(file: &Path, text: &str) -> (Vec<LoadedGroup>, Vec<Diagnostic>) {
    let mut groups = Vec::new();
    let mut diagnostics = Vec::new();
    let diag = |position: Position, field: FieldPath, message: String| Diagnostic {
        file: file.to_path_buf(),
        position: Some(position),
        field,
        message,
    };
    let indexes = match index_documents(text) {
        Ok(indexes) => indexes,
        Err(e) => {
            diagnostics.push(diag(
                e.position,
                FieldPath::root(),
                format!("invalid YAML: {}", e.message),
            ));
            return (groups, diagnostics);
        }
    };
    let mut indexes = indexes.into_iter();
    for document in serde_yaml::Deserializer::from_str(text) {
        // yaml-rust2 and serde_yaml see the same document boundaries.
        let index = indexes.next().unwrap_or_default();
        if !index.has_content {
            continue;
        }
        if !index.duplicates.is_empty() {
            for (path, at, first) in &index.duplicates {
                diagnostics.push(diag(
                    *at,
                    path.clone(),
                    format!("duplicate key (first defined at line {})", first.line),
                ));
            }
            continue;
        }
        let mut unknown = Vec::new();
        let mut track = |path: serde_ignored::Path| {
            unknown.push(ignored_path(&path));
        };
        let tracked = serde_ignored::Deserializer::new(document, &mut track);
        let parsed: Result<DelegateGroup, _> = serde_path_to_error::deserialize(tracked);
        for path in unknown {
            let position = index.locate(&path);
            let name = path
                .as_str()
                .rsplit(['.', '['])
                .next()
                .unwrap_or_default()
                .to_owned();
            diagnostics.push(diag(position, path, format!("unknown field `{name}`")));
        }
        match parsed {
            Ok(group) => {
                validate_group(&group, &mut |path, message| {
                    diagnostics.push(diag(index.locate(&path), path, message));
                });
                groups.push(LoadedGroup {
                    group,
                    file: file.to_path_buf(),
                    index,
                });
            }
            Err(e) => {
                let path = error_path(e.path());
                let inner = e.into_inner();
                let position = match (index.get(&path), inner.location()) {
                    (Some(position), _) => position,
                    (None, Some(location)) if path.as_str().is_empty() => Position {
                        line: location.line(),
                        col: location.column(),
                    },
                    _ => index.locate(&path),
                };
                let message = serde_message(&inner);
                // serde_yaml starts its message with the path the diagnostic already names.
                let message = message
                    .strip_prefix(&format!("{}: ", path.as_str()))
                    .map_or(message.clone(), str::to_owned);
                diagnostics.push(diag(position, path, message));
            }
        }
    }
    (groups, diagnostics)
}

/// serde_yaml appends " at line L column C" to its messages; the diagnostic carries the
/// position already.
fn serde_message(error: &serde_yaml::Error) -> String {
    let text = error.to_string();
    let message = match text.rfind(" at line ") {
        Some(cut) => &text[..cut],
        None => &text,
    };
    message.to_owned()
}

fn ignored_path(path: &serde_ignored::Path) -> FieldPath {
    match path {
        serde_ignored::Path::Root => FieldPath::root(),
        serde_ignored::Path::Seq { parent, index } => ignored_path(parent).index(*index),
        serde_ignored::Path::Map { parent, key } => ignored_path(parent).key(key),
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

fn error_path(path: &serde_path_to_error::Path) -> FieldPath {
    path.iter()
        .fold(FieldPath::root(), |acc, segment| match segment {
            serde_path_to_error::Segment::Seq { index } => acc.index(*index),
            serde_path_to_error::Segment::Map { key } => acc.key(key),
            serde_path_to_error::Segment::Enum { variant } => acc.key(variant),
            serde_path_to_error::Segment::Unknown => acc,
        })
}

/// Rules across the whole set: group names are unique, and so are services: (account, region,
/// cluster, service name). The same cluster and service name in two accounts or regions are
/// two different services.
fn validate_set(groups: &[LoadedGroup]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut names: HashMap<&str, &LoadedGroup> = HashMap::new();
    let mut services: HashMap<(&str, &str, &str, &str), &LoadedGroup> = HashMap::new();
    for loaded in groups {
        let group = &loaded.group;
        let name_path = FieldPath::new("metadata.name");
        if let Some(first) = names.insert(&group.metadata.name, loaded) {
            diagnostics.push(Diagnostic {
                file: loaded.file.clone(),
                position: Some(loaded.index.locate(&name_path)),
                field: name_path.clone(),
                message: format!(
                    "duplicate group name {:?} (first defined at {})",
                    group.metadata.name,
                    first.origin()
                ),
            });
            continue;
        }
        let key = (
            group
                .spec
                .account
                .as_ref()
                .and_then(crate::Account::id)
                .unwrap_or(""),
            group.spec.region.as_deref().unwrap_or(""),
            cluster_name(&group.spec.cluster),
            group.service_name(),
        );
        if let Some(first) = services.insert(key, loaded) {
            let field = if group
                .spec
                .service
                .as_ref()
                .is_some_and(|s| s.name.is_some())
            {
                FieldPath::new("spec.service.name")
            } else {
                name_path
            };
            diagnostics.push(Diagnostic {
                file: loaded.file.clone(),
                position: Some(loaded.index.locate(&field)),
                field,
                message: format!(
                    "service {:?} in cluster {:?} is also managed by group {:?} ({})",
                    key.3,
                    key.2,
                    first.group.metadata.name,
                    first.origin()
                ),
            });
        }
    }
    diagnostics
}

/// Parses one group from YAML text without a file (tests, tools).
///
/// # Errors
/// The problems found, located in `<input>`.
pub fn parse_group(text: &str) -> Result<DelegateGroup, Diagnostics> {
    let (mut groups, diagnostics) = load_str(Path::new("<input>"), text);
    if !diagnostics.is_empty() {
        return Err(Diagnostics(diagnostics));
    }
    match groups.len() {
        1 => Ok(groups.remove(0).group),
        n => Err(Diagnostics(vec![Diagnostic {
            file: PathBuf::from("<input>"),
            position: None,
            field: FieldPath::root(),
            message: format!("expected one DelegateGroup document, found {n}"),
        }])),
    }
}
