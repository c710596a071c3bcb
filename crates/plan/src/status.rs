//! A group's status from what was observed, planned and applied: counts and conditions
//! (Ready, Progressing, Degraded, Stalled), in the JSON shape of `status -o json` and `/status`.

use serde::Serialize;
use spec::arn::task_definition_short;
use spec::Mode;

use crate::action::{GroupError, GroupPlan};
use crate::desired::DesiredGroup;
use crate::ecs_state::{DeploymentStatus, RolloutState};
use crate::harness::{judge, Connection, HarnessView, Judgement as Harness};
use crate::observed::{ObservedGroup, ObservedService};

use crate::vocab::{ConditionStatus, ConditionType, Reason};

mod summary;
use summary::*;

/// One condition, Kubernetes style.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Condition {
    /// Ready, Progressing, Degraded or Stalled.
    #[serde(rename = "type")]
    pub kind: ConditionType,
    /// True or False.
    pub status: ConditionStatus,
    /// e.g. Converged, DeploymentInProgress, ConflictUnmanaged.
    pub reason: Reason,
    /// For people.
    pub message: String,
}

impl Condition {
    /// A condition.
    pub fn new(
        kind: ConditionType,
        status: bool,
        reason: Reason,
        message: impl Into<String>,
    ) -> Self {
        Condition {
            kind,
            status: status.into(),
            reason,
            message: message.into(),
        }
    }

    /// Whether the condition holds.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// The status of one group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// Group name.
    pub name: String,
    /// Cluster as written.
    pub cluster: String,
    /// The account id (`spec.account`); null for the controller's own account.
    pub account: Option<String>,
    /// The region.
    pub region: String,
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
    /// The capacity providers the service runs on, when it has a strategy rather than a launch
    /// type (`capacityProviderStrategy FARGATE_SPOT (weight 3), ...`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity: Option<String>,
    /// The plan had nothing to do.
    pub in_sync: bool,
    /// What Harness says about its delegates (`check: off` without an API key).
    pub harness: Connection,
    /// Ready, Progressing, Degraded, Stalled, and Connected with the Harness check on.
    pub conditions: Vec<Condition>,
    /// With `spec.delegate.version`: the image it resolves to and where the version came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<crate::desired::VersionNote>,
    /// With change windows: whether writes are held now, and when that changes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// With a count range: the scalable target and policy the files want.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<spec::document::ScalingDocument>,
}

impl GroupStatus {
    /// The condition of a type, if present.
    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }

    /// Ready=True.
    pub fn is_ready(&self) -> bool {
        self.condition(ConditionType::Ready)
            .is_some_and(Condition::is_true)
    }

    /// Waiting cannot make it Ready: it is Stalled, or its deployment failed.
    pub fn is_hopeless(&self) -> bool {
        self.condition(ConditionType::Stalled)
            .is_some_and(Condition::is_true)
            || self.condition(ConditionType::Degraded).is_some_and(|c| {
                c.is_true() && matches!(c.reason, Reason::DeploymentFailed | Reason::RolledBack)
            })
    }

    /// Progressing=True.
    pub fn is_progressing(&self) -> bool {
        self.condition(ConditionType::Progressing)
            .is_some_and(Condition::is_true)
    }

    /// Its changes are held by a change window (`why`): not Ready, and Progressing, so that
    /// it is looked at again soon and the change is applied once the window opens.
    pub fn hold(&mut self, reason: Reason, why: &str) {
        let message = format!("changes planned but {why}");
        self.conditions
            .retain(|c| c.kind != ConditionType::Ready && c.kind != ConditionType::Progressing);
        self.conditions.insert(
            0,
            Condition::new(
                ConditionType::Progressing,
                true,
                Reason::HeldByWindow,
                &message,
            ),
        );
        self.conditions.insert(
            0,
            Condition::new(ConditionType::Ready, false, reason, &message),
        );
    }

    /// Adds Stalled=True with a reason, and Ready=False.
    pub fn stall(&mut self, reason: Reason, message: &str) {
        self.conditions
            .retain(|c| c.kind != ConditionType::Stalled && c.kind != ConditionType::Ready);
        self.conditions.insert(
            0,
            Condition::new(ConditionType::Ready, false, reason, message),
        );
        self.conditions.push(Condition::new(
            ConditionType::Stalled,
            true,
            reason,
            message,
        ));
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

/// Recent stops (not asked for by the controller) that make a crash loop.
pub const CRASH_LOOP_STOPS: usize = 2;

/// Derives a group's status. `error` is the group's failure this pass (observation or apply),
/// if any; the plan's own error (conflict, roles) is taken from `plan`. `harness` is what
/// Harness said about the group's delegates, with the Harness check on: then Ready also needs
/// the count connected.
pub fn derive(
    desired: &DesiredGroup,
    observed: Option<&ObservedGroup>,
    plan: Option<&GroupPlan>,
    applied: Applied,
    error: Option<&GroupError>,
    harness: Option<&HarnessView>,
) -> GroupStatus {
    let empty = ObservedGroup::default();
    let observed = observed.unwrap_or(&empty);
    let service = observed
        .service
        .as_ref()
        .filter(|s| s.is_active() && desired.mode() == Mode::Service);
    let tasks_mode = desired.mode() == Mode::Tasks;
    let live: Vec<_> = observed.tasks.iter().filter(|t| t.is_live()).collect();
    let (running, pending) = observed.task_counts(desired.mode());
    let mut status = GroupStatus {
        name: desired.name().into(),
        cluster: desired.cluster().into(),
        account: desired.target.account_id().map(str::to_owned),
        region: desired.target.region.clone(),
        mode: if tasks_mode { "tasks" } else { "service" }.into(),
        // Owned by someone else: what the service wants now.
        desired: desired
            .group
            .spec
            .fixed_count()
            .unwrap_or_else(|| observed.desired_count()),
        running,
        pending,
        task_definition: match (tasks_mode, service) {
            (true, _) => live
                .first()
                .map(|t| task_definition_short(&t.task_definition).to_owned()),
            (false, s) => s.map(|s| task_definition_short(&s.task_definition).to_owned()),
        },
        capacity: service
            .filter(|s| !s.capacity_provider_strategy.is_empty())
            .map(|s| spec::document::describe_capacity(None, &s.capacity_provider_strategy)),
        in_sync: plan.is_some_and(GroupPlan::in_sync) && applied == Applied::Nothing,
        harness: Connection::default(),
        conditions: Vec::new(),
        version: desired.version.clone(),
        window: None,
        autoscaling: desired.rendered.scaling.clone(),
    };
    let finding = harness.map(|view| {
        judge(
            view,
            status.desired,
            deployed_at(observed, service, tasks_mode),
            &desired.group.spec.delegate.manager_url,
        )
    });

    if let Some(error) = error.or(plan.and_then(|p| p.error.as_ref())) {
        status.stall(error.reason, &error.message);
    } else {
        let (mut verdict, mut message) = verdict(desired, observed, service, applied, &status);
        // ECS's verdict comes first; a group ECS runs as the files say is Ready only once
        // Harness sees its delegates.
        if let (Summary::Ready, Some(finding)) = (verdict, &finding) {
            let (harness_verdict, harness_message) = (&finding.verdict, &finding.message);
            match harness_verdict {
                Harness::Connected => message = format!("{message}; {harness_message}"),
                Harness::Waiting => {
                    verdict = Summary::Progressing(Reason::WaitingForConnection);
                    message.clone_from(harness_message);
                }
                Harness::NotConnected => {
                    verdict = Summary::Degraded {
                        reason: Reason::NotConnected,
                        progressing: false,
                    };
                    message.clone_from(harness_message);
                }
                Harness::Unknown(failure) => {
                    verdict = Summary::Unknown(unknown_reason(failure));
                    message = format!("ECS: {message}; {harness_message}");
                }
            }
        }
        status.conditions = verdict.conditions(&message);
    }
    if let Some(finding) = finding {
        let (state, reason) = match &finding.verdict {
            Harness::Connected => (ConditionStatus::True, Reason::DelegatesConnected),
            Harness::Waiting => (ConditionStatus::False, Reason::WaitingForConnection),
            Harness::NotConnected => (ConditionStatus::False, Reason::NotConnected),
            Harness::Unknown(failure) => (ConditionStatus::Unknown, unknown_reason(failure)),
        };
        status.conditions.push(Condition {
            kind: ConditionType::Connected,
            status: state,
            reason,
            message: finding.message,
        });
        if let Some(expiry) = &finding.expiry {
            let (kind, reason) = match expiry {
                crate::harness::Expiry::Soon { .. } => {
                    (ConditionType::ExpiringSoon, Reason::VersionExpiringSoon)
                }
                crate::harness::Expiry::Expired { .. } => {
                    (ConditionType::Expired, Reason::VersionExpired)
                }
            };
            status
                .conditions
                .push(Condition::new(kind, true, reason, expiry.message()));
        }
        status.harness = finding.connection;
    }
    status
}

fn unknown_reason(failure: &crate::harness::HarnessFailure) -> Reason {
    match failure {
        crate::harness::HarnessFailure::Unauthorized(_) => Reason::HarnessUnauthorized,
        crate::harness::HarnessFailure::Unreachable(_) => Reason::HarnessUnreachable,
        crate::harness::HarnessFailure::OriginNotAllowed(_) => Reason::HarnessOriginNotAllowed,
    }
}

impl Summary {
    fn conditions(self, message: &str) -> Vec<Condition> {
        let (ready, progressing, degraded, reason) = match self {
            Summary::Ready => (true, false, false, Reason::Converged),
            Summary::Suspended => (false, false, false, Reason::Suspended),
            Summary::Progressing(reason) => (false, true, false, reason),
            Summary::Unknown(reason) => (false, false, false, reason),
            Summary::Degraded {
                reason,
                progressing,
            } => (false, progressing, true, reason),
        };
        let mut conditions = vec![
            Condition::new(ConditionType::Ready, ready, reason, message),
            Condition::new(ConditionType::Progressing, progressing, reason, message),
        ];
        if degraded {
            conditions.push(Condition::new(
                ConditionType::Degraded,
                true,
                reason,
                message,
            ));
        }
        conditions
    }
}
