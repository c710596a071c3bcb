//! The status every group last reported, shared between the loop (writer) and HTTP (readers).

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::{Arc, RwLock};

use plan::GroupStatus;

use crate::history::GroupEvent;
use serde_json::{json, Value};

/// What /status and /readyz read.
#[derive(Debug, Default)]
pub struct StatusState {
    /// Per group, the last derived status.
    pub groups: BTreeMap<String, GroupStatus>,
    /// Problems in the files, when the last load failed (the last good state is kept).
    pub config_errors: Vec<String>,
    /// A valid configuration was loaded at least once.
    pub config_loaded: bool,
    /// Groups not yet reconciled since the first valid load; ready when empty.
    pub awaiting_first_pass: HashSet<String>,
    /// The git commit of the files last loaded, when they are in a work tree.
    pub git: Option<String>,
    /// Per group, what the loop did and what went wrong, newest first.
    pub events: BTreeMap<String, VecDeque<GroupEvent>>,
    /// Per group, the git commit its files were last applied from (a pass without error),
    /// like Flux's lastAppliedRevision.
    pub applied: BTreeMap<String, String>,
    /// Per group, when its last pass ended (RFC 3339).
    pub last_reconciled: BTreeMap<String, String>,
    /// Per group, its labels (`metadata.labels`), for the page.
    pub labels: BTreeMap<String, BTreeMap<String, String>>,
    /// Per group, a fingerprint of its spec at its last pass without error: writes to a group
    /// whose spec is still that one correct drift.
    pub spec_applied: BTreeMap<String, u64>,
}

impl StatusState {
    /// Forgets a group (removed from the files, or another replica's shard).
    pub fn forget(&mut self, name: &str) {
        self.groups.remove(name);
        self.awaiting_first_pass.remove(name);
        self.events.remove(name);
        self.applied.remove(name);
        self.last_reconciled.remove(name);
        self.spec_applied.remove(name);
        self.labels.remove(name);
    }

    /// Ready: configuration loaded and every group reconciled once.
    pub fn is_ready(&self) -> bool {
        self.readiness().is_ok()
    }

    /// Why the controller is not ready: no valid configuration yet, the files are invalid and
    /// the last valid configuration is being served (as Flux marks a Kustomization whose source
    /// cannot be built), or groups not reconciled once yet.
    ///
    /// # Errors
    /// The reason, for /readyz.
    pub fn readiness(&self) -> Result<(), String> {
        let errors = match self.config_errors.len() {
            0 => String::new(),
            1 => format!(": {}", self.config_errors[0]),
            n => format!(
                ": {n} errors in the files, the first: {}",
                self.config_errors[0]
            ),
        };
        if !self.config_loaded {
            Err(format!("no valid configuration loaded yet{errors}"))
        } else if !errors.is_empty() {
            Err(format!(
                "serving a stale configuration, the last valid one{errors}"
            ))
        } else if !self.awaiting_first_pass.is_empty() {
            Err(format!(
                "{} group(s) not reconciled yet",
                self.awaiting_first_pass.len()
            ))
        } else {
            Ok(())
        }
    }

    /// Every group's status as shown: with invalid files, each also carries Stalled=True,
    /// reason ConfigError.
    pub fn shown(&self) -> Vec<GroupStatus> {
        self.groups
            .values()
            .cloned()
            .map(|mut status| {
                if !self.config_errors.is_empty() {
                    let message = format!(
                        "serving a stale configuration, the last valid one: the files have {} error{}, the first: {}",
                        self.config_errors.len(),
                        if self.config_errors.len() == 1 {
                            ""
                        } else {
                            "s"
                        },
                        self.config_errors[0]
                    );
                    status.stall(plan::Reason::ConfigError, &message);
                }
                status
            })
            .collect()
    }

    /// The JSON of `status -o json`: `{"groups":[...]}`, plus `configErrors` when the files are
    /// invalid (every group then also carries Stalled=True, reason ConfigError).
    pub fn to_json(&self) -> Value {
        let groups = self.shown();
        let groups: Vec<Value> = groups
            .into_iter()
            .map(|status| {
                let mut value = json!(status);
                let name = status.name.as_str();
                if let Some(rev) = self.applied.get(name) {
                    value["appliedRevision"] = json!(rev);
                }
                if let Some(at) = self.last_reconciled.get(name) {
                    value["lastReconciled"] = json!(at);
                }
                value["events"] = json!(self.events.get(name).cloned().unwrap_or_default());
                value
            })
            .collect();
        let mut value = json!({ "groups": groups });
        if let Some(git) = &self.git {
            value["revision"] = json!(git);
        }
        if !self.config_errors.is_empty() {
            value["configErrors"] = json!(self.config_errors);
        }
        value
    }
}

/// Shared status.
pub type SharedStatus = Arc<RwLock<StatusState>>;

/// Reads the status, surviving a poisoned lock (a panicked writer leaves readable data).
pub fn read(status: &SharedStatus) -> std::sync::RwLockReadGuard<'_, StatusState> {
    status
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes the status.
pub fn write(status: &SharedStatus) -> std::sync::RwLockWriteGuard<'_, StatusState> {
    status
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
