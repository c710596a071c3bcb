//! A group's status from what was observed, planned and applied: counts and conditions
//! (Ready, Progressing, Degraded, Stalled), in the JSON shape of `status -o json` and `/status`.

use serde::Serialize;
use spec::arn::task_definition_short;
use spec::Mode;

use crate::action::{GroupError, GroupPlan};
use crate::desired::DesiredGroup;
use crate::harness::{judge, Connection, HarnessView, Verdict as Harness};
use crate::observed::{ObservedGroup, ObservedService};

use crate::vocab::{ConditionStatus, ConditionType, Reason};

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
    /// The plan had nothing to do.
    pub in_sync: bool,
    /// What Harness says about its delegates (`check: off` without an API key).
    pub harness: Connection,
    /// Ready, Progressing, Degraded, Stalled, and Connected with the Harness check on.
    pub conditions: Vec<Condition>,
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
    let (running, pending) = match (tasks_mode, service) {
        (true, _) => {
            let running = live.iter().filter(|t| t.is_running()).count();
            (count(running), count(live.len() - running))
        }
        (false, Some(s)) => (i64::from(s.running_count), i64::from(s.pending_count)),
        (false, None) => (0, 0),
    };
    let mut status = GroupStatus {
        name: desired.name().into(),
        cluster: desired.cluster().into(),
        account: desired.target.account_id().map(str::to_owned),
        region: desired.target.region.clone(),
        mode: if tasks_mode { "tasks" } else { "service" }.into(),
        desired: desired.group.spec.count,
        running,
        pending,
        task_definition: match (tasks_mode, service) {
            (true, _) => live
                .first()
                .map(|t| task_definition_short(&t.task_definition).to_owned()),
            (false, s) => s.map(|s| task_definition_short(&s.task_definition).to_owned()),
        },
        in_sync: plan.is_some_and(GroupPlan::in_sync) && applied == Applied::Nothing,
        harness: Connection::default(),
        conditions: Vec::new(),
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
        if let (Verdict::Ready, Some(finding)) = (verdict, &finding) {
            let (harness_verdict, harness_message) = (&finding.verdict, &finding.message);
            match harness_verdict {
                Harness::Connected => message = format!("{message}; {harness_message}"),
                Harness::Waiting => {
                    verdict = Verdict::Progressing(Reason::WaitingForConnection);
                    message.clone_from(harness_message);
                }
                Harness::NotConnected => {
                    verdict = Verdict::Degraded {
                        reason: Reason::NotConnected,
                        progressing: false,
                    };
                    message.clone_from(harness_message);
                }
                Harness::Unknown(failure) => {
                    verdict = Verdict::Unknown(unknown_reason(failure));
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

/// When the group's last deployment began (seconds since the epoch): the primary deployment's
/// `createdAt`; tasks mode: the newest live task's.
fn deployed_at(
    observed: &ObservedGroup,
    service: Option<&ObservedService>,
    tasks_mode: bool,
) -> Option<i64> {
    if tasks_mode {
        return observed
            .tasks
            .iter()
            .filter(|t| t.is_live())
            .filter_map(|t| t.created_at)
            .max();
    }
    service?
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY")
        .and_then(|d| d.created_at)
}

/// What a group's conditions say, before they are spelled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Runs as the files say.
    Ready,
    /// `spec.suspend`: observed only.
    Suspended,
    /// On its way (a rollout, a change just applied).
    Progressing(Reason),
    /// Running, but not as wanted; `progressing` when ECS is still trying.
    Degraded { reason: Reason, progressing: bool },
    /// ECS runs it as the files say, but Harness could not be asked whether it is connected.
    Unknown(Reason),
}

impl Verdict {
    fn conditions(self, message: &str) -> Vec<Condition> {
        let (ready, progressing, degraded, reason) = match self {
            Verdict::Ready => (true, false, false, Reason::Converged),
            Verdict::Suspended => (false, false, false, Reason::Suspended),
            Verdict::Progressing(reason) => (false, true, false, reason),
            Verdict::Unknown(reason) => (false, false, false, reason),
            Verdict::Degraded {
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

/// The verdict on a group that has no error, and the message that explains it.
fn verdict(
    desired: &DesiredGroup,
    observed: &ObservedGroup,
    service: Option<&ObservedService>,
    applied: Applied,
    status: &GroupStatus,
) -> (Verdict, String) {
    if desired.group.spec.suspend {
        let message = "spec.suspend is true: observed only, nothing is changed";
        return (Verdict::Suspended, message.into());
    }
    if let Some(rollback) = service.and_then(|s| crate::diff::rollback_of(desired, s)) {
        let mut reasons: Vec<&str> = observed
            .stopped_tasks
            .iter()
            .filter(|t| t.task_definition == rollback.failed)
            .filter_map(|t| t.stopped_reason.as_deref())
            .collect();
        reasons.sort_unstable();
        reasons.dedup();
        let failed = task_definition_short(&rollback.failed);
        let message = format!(
            "ECS's deployment circuit breaker rolled {failed} back to {}{}; {failed} is not \
             deployed again until the spec (or spec.service.restartedAt) changes",
            task_definition_short(&rollback.running),
            if reasons.is_empty() {
                String::new()
            } else {
                format!(" (its tasks stopped: {})", reasons.join("; "))
            }
        );
        let degraded = Verdict::Degraded {
            reason: Reason::RolledBack,
            progressing: false,
        };
        return (degraded, message);
    }
    if let Some(message) = failed_deployment(service) {
        let degraded = Verdict::Degraded {
            reason: Reason::DeploymentFailed,
            progressing: false,
        };
        return (degraded, message);
    }
    if let Some(problem) = &observed.secret_access {
        let degraded = Verdict::Degraded {
            reason: Reason::SecretNotReadable,
            progressing: false,
        };
        return (degraded, problem.to_string());
    }
    // Tasks that could not even start because ECS could not fetch the token (or pull the
    // image) with the execution role: that cause, not a generic crash loop.
    // https://docs.aws.amazon.com/AmazonECS/latest/developerguide/resource-initialization-error.html
    let init_failures: Vec<&str> = observed
        .stopped_tasks
        .iter()
        .filter_map(|t| t.stopped_reason.as_deref())
        .filter(|r| r.starts_with("ResourceInitializationError"))
        .collect();
    if let Some(first) = init_failures.first() {
        let message = format!(
            "{} tasks could not start: {first}; check that the execution role may read the \
             delegate token (secretsmanager:GetSecretValue or ssm:GetParameters, and kms:Decrypt \
             for a customer managed key)",
            init_failures.len()
        );
        let degraded = Verdict::Degraded {
            reason: Reason::SecretNotReadable,
            progressing: true,
        };
        return (degraded, message);
    }
    if observed.stopped_tasks.len() >= CRASH_LOOP_STOPS {
        let mut reasons: Vec<&str> = observed
            .stopped_tasks
            .iter()
            .filter_map(|t| t.stopped_reason.as_deref())
            .collect();
        reasons.dedup();
        let message = format!(
            "{} tasks stopped recently: {}",
            observed.stopped_tasks.len(),
            if reasons.is_empty() {
                "no reason given".to_owned()
            } else {
                reasons.join("; ")
            }
        );
        let degraded = Verdict::Degraded {
            reason: Reason::CrashLoop,
            progressing: true,
        };
        return (degraded, message);
    }
    if let Some(message) = capacity_shortfall(desired, observed, status) {
        let degraded = Verdict::Degraded {
            reason: Reason::InsufficientCapacity,
            progressing: true,
        };
        return (degraded, message);
    }
    let rolling = Verdict::Progressing(Reason::DeploymentInProgress);
    if applied == Applied::Changes {
        let message = "changes were applied; waiting for ECS to roll them out";
        return (rolling, message.into());
    }
    if !status.in_sync {
        return (rolling, "the live state differs from the files".into());
    }
    if desired.mode() == Mode::Tasks {
        let message = format!("{} of {} tasks running", status.running, status.desired);
        let done = status.running == status.desired && status.pending == 0;
        return (if done { Verdict::Ready } else { rolling }, message);
    }
    let Some(service) = service else {
        return (
            Verdict::Progressing(Reason::NotCreated),
            "no service yet".into(),
        );
    };
    if !service.is_steady() {
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
        return (rolling, message);
    }
    let message = format!(
        "{} of {} tasks running {}",
        service.running_count,
        service.desired_count,
        task_definition_short(&service.task_definition)
    );
    (Verdict::Ready, message)
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A deployment ECS marked FAILED (the circuit breaker tripped), and whether it rolled back.
fn failed_deployment(service: Option<&ObservedService>) -> Option<String> {
    let service = service?;
    let failed = service
        .deployments
        .iter()
        .find(|d| d.rollout_state.as_deref() == Some("FAILED"))?;
    let primary = service.deployments.iter().find(|d| d.status == "PRIMARY");
    let rolled_back = primary
        .filter(|p| p.id != failed.id && p.task_definition != failed.task_definition)
        .map(|p| {
            format!(
                "; rolled back to {}",
                task_definition_short(&p.task_definition)
            )
        })
        .unwrap_or_default();
    Some(format!(
        "the deployment of {} failed: {}{rolled_back}",
        task_definition_short(&failed.task_definition),
        failed
            .rollout_state_reason
            .as_deref()
            .unwrap_or("no reason given"),
    ))
}

/// EC2 groups: can the cluster's free resources place the tasks that are neither running nor
/// placed? Counted per instance (a task fits on one instance or not at all).
fn capacity_shortfall(
    desired: &DesiredGroup,
    observed: &ObservedGroup,
    status: &GroupStatus,
) -> Option<String> {
    let instances = observed.capacity.as_ref()?;
    let unplaced = status.desired - status.running - status.pending;
    if unplaced <= 0 {
        return None;
    }
    let cpu = i64::from(desired.group.spec.resources.cpu).max(1);
    let memory = i64::from(desired.group.spec.resources.memory).max(1);
    let slots: i64 = instances
        .iter()
        .map(|i| {
            (i.remaining_cpu / cpu)
                .min(i.remaining_memory / memory)
                .max(0)
        })
        .sum();
    if slots >= unplaced {
        return None;
    }
    let free_cpu: i64 = instances.iter().map(|i| i.remaining_cpu).sum();
    let free_memory: i64 = instances.iter().map(|i| i.remaining_memory).sum();
    Some(format!(
        "{unplaced} delegate task{} cannot be placed: each needs {cpu} CPU units and {memory} MiB; \
         the cluster's {} container instance{} have {free_cpu} CPU units and {free_memory} MiB \
         free, room for {slots}",
        if unplaced == 1 { "" } else { "s" },
        instances.len(),
        if instances.len() == 1 { "" } else { "s" },
    ))
}
