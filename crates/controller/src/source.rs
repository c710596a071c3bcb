//! The desired state from files: load, validate, select by labels, render for each region.

use std::collections::BTreeMap;
use std::path::PathBuf;

use plan::DesiredGroup;

/// Why the files gave no desired state.
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
}

/// Where the desired state comes from.
#[derive(Debug, Clone)]
pub struct Source {
    /// Files and directories.
    pub paths: Vec<PathBuf>,
    /// `key=value` label selectors; all must match.
    pub selectors: Vec<(String, String)>,
    /// Region of groups without `spec.region`.
    pub default_region: Option<String>,
}

impl Source {
    /// A source; `selectors` as given on the command line (`k=v`).
    ///
    /// # Errors
    /// A selector that is not `KEY=VALUE`.
    pub fn new(
        paths: Vec<PathBuf>,
        selectors: &[String],
        default_region: Option<String>,
    ) -> Result<Self, SourceError> {
        let selectors = selectors
            .iter()
            .filter(|s| !s.is_empty())
            .map(|s| match s.split_once('=') {
                Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
                _ => Err(SourceError::Selector(s.clone())),
            })
            .collect::<Result<_, _>>()?;
        Ok(Source {
            paths,
            selectors,
            default_region,
        })
    }

    /// Loads every file and renders the selected groups, in file order.
    ///
    /// # Errors
    /// Invalid files (all problems), or a group without a region.
    pub fn load(&self) -> Result<Vec<DesiredGroup>, SourceError> {
        let loaded = spec::load(&self.paths)
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

    /// Loads the groups keyed by name.
    ///
    /// # Errors
    /// As [`Source::load`].
    pub fn load_map(&self) -> Result<BTreeMap<String, DesiredGroup>, SourceError> {
        Ok(self
            .load()?
            .into_iter()
            .map(|d| (d.name().to_owned(), d))
            .collect())
    }
}
