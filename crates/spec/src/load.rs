//! Loading DelegateGroup files: paths -> located, validated groups, or every problem found.
//!
//! A set is all or nothing: one invalid document makes the whole set invalid, so that nothing is
//! applied or pruned from a half-read repository.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::arn::cluster_name;
use crate::diagnostic::{Diagnostic, Diagnostics};
use crate::files::{discover, file_problem, read_bounded, MAX_SET_BYTES};
use crate::location::{index_documents, FieldIndex, FieldPath, Position};
use crate::policy::Policy;
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

/// [`load_with_policy`] under the default policy: the baseline, no adoption.
///
/// # Errors
/// Every problem in every file, sorted by file and position.
pub fn load<P: AsRef<Path>>(paths: &[P]) -> Result<Vec<LoadedGroup>, Diagnostics> {
    load_with_policy(paths, &Policy::default())
}

/// Reads every PATH (files, and `*.yaml`/`*.yml` under directories, recursively, in name order)
/// and validates each group, the set as a whole, and both against the operator's `policy`.
/// Reading is bounded (see [`crate::files`]) and each file's bytes are screened before parsing
/// (see [`crate::bytes`]).
///
/// # Errors
/// Every problem in every file, sorted by file and position.
pub fn load_with_policy<P: AsRef<Path>>(
    paths: &[P],
    policy: &Policy,
) -> Result<Vec<LoadedGroup>, Diagnostics> {
    let mut diagnostics = Vec::new();
    let mut groups = Vec::new();
    let mut budget = MAX_SET_BYTES;
    for file in discover(paths, &mut diagnostics) {
        match read_bounded(&file, &mut budget) {
            Ok(bytes) => {
                let (found, problems) = load_bytes(&file, &bytes);
                groups.extend(found);
                diagnostics.extend(problems);
            }
            Err(message) => diagnostics.push(file_problem(&file, message)),
        }
    }
    diagnostics.extend(validate_set(&groups));
    diagnostics.extend(check_policy(policy, &groups));
    if diagnostics.is_empty() {
        Ok(groups)
    } else {
        diagnostics.sort();
        diagnostics.dedup();
        Err(Diagnostics(diagnostics))
    }
}

/// The files [`load`] would read, in its order; `None` when a path cannot be listed or holds
/// a file that is refused (a load then reports why).
pub fn files<P: AsRef<Path>>(paths: &[P]) -> Option<Vec<PathBuf>> {
    let mut diagnostics = Vec::new();
    let files = discover(paths, &mut diagnostics);
    diagnostics.is_empty().then_some(files)
}

/// Screens the bytes of one file (see [`crate::bytes`]), then parses and validates its
/// documents (but not the set they belong to).
pub fn load_bytes(file: &Path, bytes: &[u8]) -> (Vec<LoadedGroup>, Vec<Diagnostic>) {
    match crate::bytes::screen(bytes) {
        Ok(text) => parse_documents(file, text),
        Err(refusal) => (
            Vec::new(),
            vec![Diagnostic {
                file: file.to_path_buf(),
                position: Some(refusal.position),
                field: FieldPath::root(),
                message: refusal.message,
            }],
        ),
    }
}

/// [`load_bytes`] of text already in memory.
pub fn load_str(file: &Path, text: &str) -> (Vec<LoadedGroup>, Vec<Diagnostic>) {
    load_bytes(file, text.as_bytes())
}

/// Parses and validates the documents of screened text.
fn parse_documents(file: &Path, text: &str) -> (Vec<LoadedGroup>, Vec<Diagnostic>) {
    let mut groups = Vec::new();
    let mut diagnostics = Vec::new();
    // libyaml, like yaml-rust2, may place an error at end of input on a line past the last one
    // (found by make fuzz): every position stays inside the text.
    let end = Position::after(text);
    let diag = |position: Position, field: FieldPath, message: String| Diagnostic {
        file: file.to_path_buf(),
        position: Some(position.min(end)),
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
    // yaml-rust2 and serde_yaml see the same document boundaries on the text they both accept,
    // and only as many documents as yaml-rust2 found are read: after an error yaml-rust2 did
    // not raise, serde_yaml's iterator yields that error for ever (its loader keeps the failed
    // parser), so an unbounded `for` would never end.
    let count = indexes.len();
    for (document, index) in serde_yaml::Deserializer::from_str(text)
        .take(count)
        .zip(indexes)
    {
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

/// Every group against the operator's policy, and the set's total count.
fn check_policy(policy: &Policy, groups: &[LoadedGroup]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut total = 0_i64;
    let ceiling = policy.count.as_ref().and_then(|c| c.total);
    for loaded in groups {
        let group = &loaded.group;
        let region = group.spec.region.as_deref().unwrap_or("us-east-1");
        let rendered = crate::render(group, region).ok();
        let mut bare = group.clone();
        bare.spec.task_definition_overrides = None;
        let base = crate::render(&bare, region).ok();
        let mut report = |path: FieldPath, message: String| {
            diagnostics.push(Diagnostic {
                file: loaded.file.clone(),
                position: Some(loaded.index.locate(&path)),
                field: path,
                message,
            });
        };
        crate::policy::check_group(
            policy,
            group,
            rendered.as_ref().map(|r| &r.task_definition),
            base.as_ref().map(|r| &r.task_definition),
            &mut report,
        );
        if group.spec.delegate.auto_track().is_some() && !policy.harness_check {
            report(
                FieldPath::new("spec.delegate.version"),
                "auto asks Harness for the latest supported version, which needs the Harness \
                 API key: run with --harness-api-key-secret (EDC_HARNESS_API_KEY_SECRET), or pin \
                 a version"
                    .into(),
            );
        }
        if group.spec.max_count().is_none() && ceiling.is_some() {
            report(
                FieldPath::new("spec.count"),
                "the policy bounds the total count (count.total), and a group without a count \
                 could grow past it: set a count"
                    .into(),
            );
        }
        total = total.saturating_add(group.spec.max_count().unwrap_or(0));
        if let Some(max) = ceiling.filter(|max| total > *max) {
            report(
                FieldPath::new("spec.count"),
                format!(
                    "the groups ask for {total} delegates up to here, over the total of {max} (policy rule count.total)"
                ),
            );
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

#[cfg(test)]
mod tests {
    use super::*;

    /// yaml-rust2 reads NUL as the end of its input and lets control characters through, where
    /// libyaml fails; serde_yaml's iterator then repeats its error for ever. The byte screen
    /// keeps such text away, and the document loop ends on it all the same.
    #[test]
    fn the_document_loop_ends_on_text_only_one_parser_accepts() {
        for text in [
            "\0",
            "kind: \u{1}\u{2}",
            "a: 1\n---\n\u{7f}: [",
            "\u{1}\n---\n---\n",
        ] {
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                let _ = tx.send(parse_documents(Path::new("x.yaml"), text).1.len());
            });
            let ended = rx.recv_timeout(std::time::Duration::from_secs(20));
            assert!(ended.is_ok(), "the document loop did not end on {text:?}");
        }
    }

    /// Found by make fuzz (fuzz/regressions/loader/libyaml-error-past-the-last-line.yaml):
    /// libyaml's error at end of input was placed on line 3 of a two-line file.
    #[test]
    fn a_parser_error_at_end_of_input_stays_inside_the_file() {
        let text = "&oapiVt39ion: ecs-delegate-controller,io/v1alpha1\n[[]]spec.cluster]] ";
        let (_, problems) = parse_documents(Path::new("x.yaml"), text);
        let end = Position::after(text);
        assert!(!problems.is_empty());
        assert!(
            problems
                .iter()
                .all(|p| p.position.is_some_and(|at| at <= end)),
            "{problems:?}"
        );
    }
}
