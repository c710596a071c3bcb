//! A group's status from what was observed, planned and applied: counts and conditions
//! (Ready, Progressing, Degraded, Stalled), in the JSON shape of `status -o json` and `/status`.

use serde::Serialize;
use spec::Mode;

use crate::action::{short_arn, GroupPlan};
use crate::desired::DesiredGroup;
use crate::observed::ObservedGroup;

/// Condition types.
pub const READY: &str = "Ready";
/// A deployment or a change is under way.
pub const PROGRESSING: &str = "Progressing";
/// Running, but not as wanted (failed rollout, crash loop, capacity).
pub const DEGRADED: &str = "Degraded";
/// The controller cannot make progress without help (conflict, bad config, AWS errors).
pub const STALLED: &str = "Stalled";

/// One condition, Kubernetes style.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// Ready, Progressing, Degraded or Stalled.
    #[serde(rename = "type")]
    pub kind: String,
    /// "True" or "False".
    pub status: String,
    /// A CamelCase reason, e.g. Converged, DeploymentInProgress, ConflictUnmanaged.
    pub reason: String,
    /// For people.
    pub message: String,
}

impl Condition {
    /// A condition.
    pub fn new(kind: &str, status: bool, reason: &str, message: impl Into<String>) -> Self {
        Condition {
            kind: kind.into(),
            status: if status { "True" } else { "False" }.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// Whether the condition holds.
    pub fn is_true(&self) -> bool {
        self.status == "True"
    }
}

/// The status of one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// Cluster as written.
    pub cluster: String,
    /// service or tasks.
    pub mode: String,
    /// Tasks wanted (from the file).
    pub desired: i64,
    /// Tasks running (from ECS).
    pub running: i64,
    /// Tasks pending (from ECS).
    pub pending: i64,
    /// The task definition the service runs (`family:revision`).
    pub task_definition: Option<String>,
    /// The plan had nothing to do.
    pub in_sync: bool,
    /// Ready, Progressing, Degraded, Stalled.
    pub conditions: Vec<Condition>,
}

impl GroupStatus {
    /// The condition of a type, if present.
    pub fn condition(&self, kind: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Ready=True.
    pub fn is_ready(&self) -> bool {
        self.condition(READY).is_some_and(Condition::is_true)
    }

    /// Progressing=True.
    pub fn is_progressing(&self) -> bool {
        self.condition(PROGRESSING).is_some_and(Condition::is_true)
    }

    /// Adds Stalled=True with a reason, and Ready=False.
    pub fn stall(&mut self, reason: &str, message: &str) {
        self.conditions
            .retain(|c| c.kind != STALLED && c.kind != READY);
        self.conditions
            .insert(0, Condition::new(READY, false, reason, message));
        self.conditions
            .push(Condition::new(STALLED, true, reason, message));
    }
}

/// What happened when applying, as far as status cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Nothing was applied (plan only, or nothing to do).
    Nothing,
    /// Writes were made this pass: ECS has not caught up yet.
    Changes,
}

/// Derives a group's status. `error` is the group's failure this pass (observation, conflict or
/// apply), if any.
pub fn derive(
    desired: &DesiredGroup,
    observed: Option<&ObservedGroup>,
    plan: Option<&GroupPlan>,
    applied: Applied,
    error: Option<&str>,
) -> GroupStatus {
    let service = observed
        .and_then(|o| o.service.as_ref())
        .filter(|s| s.is_active());
    let mut status = GroupStatus {
        name: desired.name().into(),
        cluster: desired.cluster().into(),
        mode: match desired.mode() {
            Mode::Service => "service",
            Mode::Tasks => "tasks",
        }
        .into(),
        desired: desired.group.spec.count,
        running: service.map_or(0, |s| i64::from(s.running_count)),
        pending: service.map_or(0, |s| i64::from(s.pending_count)),
        task_definition: service.map(|s| short_arn(&s.task_definition).to_owned()),
        in_sync: plan.is_some_and(GroupPlan::in_sync) && applied == Applied::Nothing,
        conditions: Vec::new(),
    };

    if let Some(error) = error.or(plan.and_then(|p| p.error.as_deref())) {
        let reason = if error.contains("not managed by this controller")
            || error.contains("is managed by controller id")
        {
            "ConflictUnmanaged"
        } else {
            "ReconcileError"
        };
        status.stall(reason, error);
        return status;
    }
    if desired.group.spec.suspend {
        let message = "spec.suspend is true: observed only, nothing is changed";
        status.conditions = vec![
            Condition::new(READY, false, "Suspended", message),
            Condition::new(PROGRESSING, false, "Suspended", message),
        ];
        return status;
    }
    if applied == Applied::Changes || !status.in_sync {
        let message = if applied == Applied::Changes {
            "changes were applied; waiting for ECS to roll them out"
        } else {
            "the live state differs from the files"
        };
        status.conditions = vec![
            Condition::new(READY, false, "DeploymentInProgress", message),
            Condition::new(PROGRESSING, true, "DeploymentInProgress", message),
        ];
        return status;
    }
    let Some(service) = service else {
        let message = "no service yet";
        status.conditions = vec![
            Condition::new(READY, false, "NotCreated", message),
            Condition::new(PROGRESSING, true, "NotCreated", message),
        ];
        return status;
    };
    let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
    if let Some(failed) = primary.filter(|d| d.rollout_state.as_deref() == Some("FAILED")) {
        let message = format!(
            "the deployment of {} failed: {}",
            short_arn(&failed.task_definition),
            failed
                .rollout_state_reason
                .as_deref()
                .unwrap_or("no reason given")
        );
        status.conditions = vec![
            Condition::new(READY, false, "DeploymentFailed", &message),
            Condition::new(PROGRESSING, false, "DeploymentFailed", &message),
            Condition::new(DEGRADED, true, "DeploymentFailed", &message),
        ];
        return status;
    }
    let rolling = service.deployments.len() > 1
        || primary.is_some_and(|d| d.rollout_state.as_deref() == Some("IN_PROGRESS"));
    if rolling || service.running_count != service.desired_count {
        let message = format!(
            "{} of {} tasks running, {} pending, {} deployment{}",
            service.running_count,
            service.desired_count,
            service.pending_count,
            service.deployments.len(),
            if service.deployments.len() == 1 {
                ""
            } else {
                "s"
            }
        );
        status.conditions = vec![
            Condition::new(READY, false, "DeploymentInProgress", &message),
            Condition::new(PROGRESSING, true, "DeploymentInProgress", &message),
        ];
        return status;
    }
    let message = format!(
        "{} of {} tasks running {}",
        service.running_count,
        service.desired_count,
        short_arn(&service.task_definition)
    );
    status.conditions = vec![
        Condition::new(READY, true, "Converged", &message),
        Condition::new(PROGRESSING, false, "Converged", &message),
    ];
    status
}
