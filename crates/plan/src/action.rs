//! The typed actions a plan is made of.

use serde::Serialize;
use spec::arn::task_definition_short;
use spec::document::{RunTaskDocument, ServiceDocument, TaskDefinitionDocument};

use crate::prune::Orphan;
use crate::vocab::Reason;

/// The task definition a service should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskDefinitionRef {
    /// A revision that exists (full ARN).
    Existing(String),
    /// The revision the plan registers, identified by its spec-hash.
    ToRegister {
        /// Its family.
        family: String,
        /// Its spec-hash.
        spec_hash: String,
    },
}

impl std::fmt::Display for TaskDefinitionRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskDefinitionRef::Existing(arn) => f.write_str(task_definition_short(arn)),
            TaskDefinitionRef::ToRegister { family, .. } => write!(f, "{family}:(new revision)"),
        }
    }
}

/// One field that differs: its path in the ECS request and both values, as text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    /// e.g. `desiredCount`, `deploymentConfiguration.maximumPercent`.
    pub field: String,
    /// The live value.
    pub from: String,
    /// The desired value.
    pub to: String,
}

impl FieldChange {
    /// A change of `field` from `from` to `to`.
    pub fn new(field: &str, from: impl ToString, to: impl ToString) -> Self {
        FieldChange {
            field: field.into(),
            from: from.to_string(),
            to: to.to_string(),
        }
    }
}

/// A deployment ECS's circuit breaker rolled back: the revision whose deployment failed and the
/// one the service runs again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rollback {
    /// The revision the controller deployed and ECS gave up on (full ARN).
    pub failed: String,
    /// The revision ECS rolled back to (full ARN).
    pub running: String,
}

/// One step towards the desired state.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Register a new task definition revision.
    RegisterTaskDefinition {
        /// The request (tags added when applying).
        document: TaskDefinitionDocument,
        /// Its spec-hash.
        spec_hash: String,
        /// What differs from the revision the service runs now, field by field (filled for
        /// `plan`, which looks that revision up; empty otherwise).
        changes: Vec<FieldChange>,
    },
    /// Create the service.
    CreateService {
        /// The request.
        document: ServiceDocument,
        /// What it runs.
        task_definition: TaskDefinitionRef,
    },
    /// Update the service in place (and/or bring its tags up to date).
    UpdateService {
        /// The service ARN.
        service_arn: String,
        /// The desired request; UpdateService sends only `members` of it.
        document: ServiceDocument,
        /// What it should run.
        task_definition: TaskDefinitionRef,
        /// The fields that differ (empty when only tags are behind).
        changes: Vec<FieldChange>,
        /// The UpdateService members that carry `changes`.
        members: crate::update::ServiceMembers,
        /// Deployment configuration members the group does not manage, sent back with it.
        kept: crate::update::DeploymentKept,
        /// The service's tags are behind (spec-hash, task-definition, user tags).
        retag: bool,
        /// Tags to remove: the controller's own keys the group no longer wants and user tags
        /// the controller wrote that the spec no longer has; never anyone else's.
        untag: Vec<String>,
        /// The service is held at the revision ECS rolled back to; the tags record it.
        rollback: Option<Rollback>,
        /// The service has no managed-by tag yet: this update takes ownership (`adopt`).
        adopt: bool,
    },
    /// Start standalone tasks (tasks mode).
    RunTask {
        /// The request.
        document: RunTaskDocument,
        /// What they run.
        task_definition: TaskDefinitionRef,
        /// How many.
        count: i32,
    },
    /// Stop a standalone task (tasks mode: surplus, or an old revision once the new one runs).
    StopTask {
        /// Cluster as written.
        cluster: String,
        /// Task ARN.
        task_arn: String,
        /// Why, recorded on the task.
        reason: String,
    },
    /// Register the service's scalable target and/or put its target-tracking policy.
    PutScaling {
        /// What Application Auto Scaling should have.
        document: spec::document::ScalingDocument,
        /// RegisterScalableTarget (missing, or min/max differ).
        register: bool,
        /// PutScalingPolicy (missing, or metric/target differ).
        policy: bool,
        /// What differs.
        changes: Vec<FieldChange>,
    },
    /// Deregister the scalable target the controller registered (the range went; its policy
    /// goes with it).
    RemoveScaling {
        /// `service/CLUSTER/SERVICE`.
        resource_id: String,
    },
    /// A difference UpdateService cannot make: the service must be deleted and created again
    /// (only with --allow-replace).
    ReplaceService {
        /// The service ARN.
        service_arn: String,
        /// Why (immutable fields that differ).
        changes: Vec<FieldChange>,
        /// The service to create in its place.
        document: ServiceDocument,
        /// What it runs.
        task_definition: TaskDefinitionRef,
        /// Whether it may be carried out (decided while planning: a refused replacement plans
        /// no registration either).
        replacement: Replacement,
    },
}

/// Whether a replacement may be carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Replacement {
    /// `--allow-replace`: delete, wait for the name, create.
    Allowed,
    /// Without `--allow-replace`: shown, never carried out; the group fails with ReplaceRequired.
    Refused,
}

impl Action {
    /// The name used in plan output and JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::RegisterTaskDefinition { .. } => "register-task-definition",
            Action::CreateService { .. } => "create-service",
            Action::UpdateService { .. } => "update-service",
            Action::ReplaceService { .. } => "replace-service",
            Action::RunTask { .. } => "run-task",
            Action::StopTask { .. } => "stop-task",
            Action::PutScaling { .. } => "put-scaling",
            Action::RemoveScaling { .. } => "remove-scaling",
        }
    }

    /// What the action changes, `field: old -> new` joined by `; `, for the audit log. No
    /// value here is a secret: the plan holds secret ARNs, never their values.
    pub fn changes_for_log(&self) -> String {
        let fields = |changes: &[FieldChange]| {
            changes
                .iter()
                .map(|c| format!("{}: {} -> {}", c.field, c.from, c.to))
                .collect::<Vec<_>>()
        };
        let parts: Vec<String> = match self {
            Action::RegisterTaskDefinition { spec_hash, .. } => {
                vec![format!("spec-hash: {spec_hash}")]
            }
            Action::CreateService {
                document,
                task_definition,
            } => vec![
                format!("desiredCount: {}", document.desired_count),
                format!("taskDefinition: {task_definition}"),
                document.capacity(),
            ],
            Action::UpdateService {
                changes,
                retag,
                untag,
                rollback,
                adopt,
                ..
            } => {
                let mut parts = fields(changes);
                if *adopt {
                    parts.push("ownership: taken (managed-by tag added)".into());
                }
                if let Some(r) = rollback {
                    parts.push(format!(
                        "rollback recorded: {} failed, runs {}",
                        task_definition_short(&r.failed),
                        task_definition_short(&r.running)
                    ));
                }
                if *retag {
                    parts.push("tags: brought up to date".into());
                }
                if !untag.is_empty() {
                    parts.push(format!("tags removed: {}", untag.join(", ")));
                }
                parts
            }
            Action::ReplaceService { changes, .. } => fields(changes),
            Action::RunTask {
                count,
                task_definition,
                ..
            } => vec![format!("tasks: +{count} of {task_definition}")],
            Action::StopTask {
                task_arn, reason, ..
            } => vec![format!(
                "task {}: stopped ({reason})",
                spec::arn::last_segment(task_arn)
            )],
            Action::PutScaling { changes, .. } => fields(changes),
            Action::RemoveScaling { resource_id } => {
                vec![format!("scalable target {resource_id}: deregistered")]
            }
        };
        parts.join("; ")
    }
}

/// Why a group cannot be planned or applied; the reason is a status condition reason. The
/// error it comes from (an AWS call's, a Harness answer's), when there is one, stays its
/// source, so the cause chain is not lost in a string.
#[derive(Debug, Clone)]
pub struct GroupError {
    /// ConflictUnmanaged, RoleNotFound, RoleTrustMissing, ReconcileError, ...
    pub reason: Reason,
    /// For people.
    pub message: String,
    /// A passing condition (throttling, a 5xx, a lost connection): trying again later may work.
    pub retryable: bool,
    /// The error it comes from.
    pub source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl std::fmt::Display for GroupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for GroupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        // The error itself, not the Arc around it: callers downcast to its type.
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl PartialEq for GroupError {
    /// Equal in what a person sees (the source is only followed, never compared).
    fn eq(&self, other: &Self) -> bool {
        (self.reason, &self.message, self.retryable)
            == (other.reason, &other.message, other.retryable)
    }
}

impl Eq for GroupError {}

impl GroupError {
    /// An error with a reason.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        GroupError {
            reason,
            message: message.into(),
            retryable: false,
            source: None,
        }
    }

    /// The same error, marked as worth another try.
    pub fn retryable(mut self, retryable: bool) -> Self {
        self.retryable = retryable;
        self
    }

    /// The same error, caused by `source`.
    pub fn caused_by(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }
}

/// The plan of one group.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupPlan {
    /// Group name.
    pub group: String,
    /// Cluster as written.
    pub cluster: String,
    /// Account and region.
    pub target: crate::Target,
    /// Ordered actions; empty when in sync.
    pub actions: Vec<Action>,
    /// Why the group cannot be planned (it is then left alone).
    pub error: Option<GroupError>,
    /// The group is suspended: observed only.
    pub suspended: bool,
    /// What `plan` says besides the actions: the delegate version and where it came from, a
    /// pinned version past Harness's support window.
    pub notes: Vec<String>,
}

impl GroupPlan {
    /// An empty plan of `desired`: nothing planned yet.
    pub fn empty(desired: &crate::DesiredGroup) -> GroupPlan {
        GroupPlan {
            group: desired.name().into(),
            cluster: desired.cluster().into(),
            target: desired.target.clone(),
            actions: Vec::new(),
            error: None,
            suspended: desired.group.spec.suspend,
            notes: version_notes(desired, std::time::SystemTime::now()),
        }
    }

    /// A group that is in sync.
    pub fn in_sync(&self) -> bool {
        self.actions.is_empty() && self.error.is_none()
    }
}

/// Plans of every group, in file order, and with `--prune` the orphans to remove.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// One per group.
    pub groups: Vec<GroupPlan>,
    /// Groups to prune.
    pub orphans: Vec<Orphan>,
    /// The git commit the files were read at, when they are in a work tree.
    pub revision: Option<String>,
}

impl Plan {
    /// Whether any action changes what runs. Updates that only bring ownership tags up to date
    /// (adoption, a tag write lost in a crash) are shown but do not count.
    pub fn has_changes(&self) -> bool {
        self.groups
            .iter()
            .flat_map(|g| &g.actions)
            .any(|a| !a.is_tags_only())
            || self.orphans.iter().any(|o| !o.actions.is_empty())
    }

    /// Whether any group could not be planned.
    pub fn has_errors(&self) -> bool {
        self.groups.iter().any(|g| g.error.is_some())
    }
}

impl Action {
    /// An update of ownership tags alone: nothing that runs changes.
    pub fn is_tags_only(&self) -> bool {
        matches!(
            self,
            Action::UpdateService {
                changes,
                ..
            } if changes.is_empty()
        )
    }
}

/// Harness supports a delegate version for 6 months after its release, and it expires at 8
/// (Harness's "Delegate automatic upgrades and expiration policy").
pub const SUPPORT_MONTHS: i64 = 6;

/// The version line of a group with `spec.delegate.version`, and a warning for a pinned
/// version (`yy.mm.build`) released more than [`SUPPORT_MONTHS`] before `now`.
pub fn version_notes(desired: &crate::DesiredGroup, now: std::time::SystemTime) -> Vec<String> {
    let Some(note) = &desired.version else {
        return Vec::new();
    };
    let mut notes = vec![format!(
        "version {} ({})",
        note.image.as_deref().unwrap_or("not resolved"),
        note.source
    )];
    if let Some(spec::WantedVersion::Pinned(tag)) = desired
        .group
        .spec
        .delegate
        .version
        .as_ref()
        .map(spec::VersionSetting::wanted)
    {
        if let Some(age) = months_since_release(tag, now) {
            if age > SUPPORT_MONTHS {
                notes.push(format!(
                    "warning: pinned version {tag} was released about {age} months ago: Harness \
                     supports a delegate version for {SUPPORT_MONTHS} months after its release \
                     and expires it at 8; pin a newer one or use version: auto"
                ));
            }
        }
    }
    notes
}

/// Whole months from a `yy.mm.build` version's release month to `now`.
fn months_since_release(tag: &str, now: std::time::SystemTime) -> Option<i64> {
    let mut parts = tag.split('.');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: i64 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(0..100).contains(&year) {
        return None;
    }
    let stamp = humantime::format_rfc3339_seconds(now).to_string();
    let now_year: i64 = stamp.get(0..4)?.parse().ok()?;
    let now_month: i64 = stamp.get(5..7)?.parse().ok()?;
    Some((now_year - 2000 - year) * 12 + (now_month - month))
}

#[cfg(test)]
mod version_tests {
    use super::*;

    #[test]
    fn a_pinned_version_past_the_support_window_is_a_warning() {
        let now = humantime::parse_rfc3339("2026-12-08T00:00:00Z").unwrap();
        let pinned = |tag: &str| {
            crate::DesiredGroup::test("g")
                .image("harness/delegate")
                .spec("")
                .version(tag)
                .build()
        };
        let old = version_notes(&pinned("26.03.88000"), now);
        assert_eq!(
            old[0],
            "version harness/delegate:26.03.88000 (pinned (spec.delegate.version))"
        );
        assert!(old[1].contains("about 9 months ago"), "{old:?}");
        let recent = version_notes(&pinned("26.08.89000"), now);
        assert_eq!(recent.len(), 1, "{recent:?}");
        assert!(version_notes(&crate::DesiredGroup::test("g").build(), now).is_empty());
    }
}
