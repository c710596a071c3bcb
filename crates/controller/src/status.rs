//! The status every group last reported, shared between the loop (writer) and HTTP (readers).

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, RwLock};

use plan::GroupStatus;
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
}

impl StatusState {
    /// Ready: configuration loaded and every group reconciled once.
    pub fn is_ready(&self) -> bool {
        self.config_loaded && self.awaiting_first_pass.is_empty()
    }

    /// The JSON of `status -o json`: `{"groups":[...]}`, plus `configErrors` when the files are
    /// invalid (every group then also carries Stalled=True, reason ConfigError).
    pub fn to_json(&self) -> Value {
        let groups: Vec<GroupStatus> =
            self.groups
                .values()
                .cloned()
                .map(|mut status| {
                    if !self.config_errors.is_empty() {
                        let message =
                            format!(
                        "the files are invalid ({} error{}); the last valid state is kept: {}",
                        self.config_errors.len(),
                        if self.config_errors.len() == 1 { "" } else { "s" },
                        self.config_errors[0]
                    );
                        status.stall(plan::Reason::ConfigError, &message);
                    }
                    status
                })
                .collect();
        let mut value = json!({ "groups": groups });
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
