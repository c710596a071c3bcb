//! What ECS reported, in domain terms. Fields ECS did not report are `None` and are not compared:
//! an endpoint that does not echo a setting must not cause an update on every pass.

use std::collections::BTreeMap;

use spec::document::{AwsVpcConfiguration, DeploymentConfiguration, PlacementStrategy};

use spec::render::STOP_REASON_PREFIX;

use crate::ecs_state::{
    DeploymentStatus, RolloutState, ServiceStatus, StopCode, TaskDefinitionStatus, TaskStatus,
};
use crate::vocab::Reason;

/// A service as DescribeServices (with tags) reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedService {
    /// Service name.
    pub name: String,
    /// Service ARN.
    pub arn: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: ServiceStatus,
    /// Tasks wanted.
    pub desired_count: i32,
    /// Tasks running.
    pub running_count: i32,
    /// Tasks pending.
    pub pending_count: i32,
    /// The task definition the service runs, as ECS stores it.
    pub task_definition: String,
    /// EC2, FARGATE, EXTERNAL; `None` with a capacity provider strategy.
    pub launch_type: Option<String>,
    /// Its capacity provider strategy (empty with a launch type).
    pub capacity_provider_strategy: Vec<spec::CapacityProviderItem>,
    /// REPLICA or DAEMON.
    pub scheduling_strategy: Option<String>,
    /// ECS, CODE_DEPLOY or EXTERNAL, when reported.
    pub deployment_controller: Option<String>,
    /// awsvpc settings, when reported.
    pub network: Option<AwsVpcConfiguration>,
    /// Deployment bounds and circuit breaker, when reported.
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// The deployment configuration's members a group does not manage, sent back unchanged.
    /// (Boxed, and `None` when the service has none of them: most services, and a fleet's
    /// observations are kept between passes.)
    pub deployment_kept: Option<Box<crate::update::DeploymentKept>>,
    /// Placement strategy, when reported.
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    /// `aws ecs execute-command` allowed.
    pub enable_execute_command: bool,
    /// SERVICE, TASK_DEFINITION or NONE, when reported.
    pub propagate_tags: Option<String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Its deployments, newest first as ECS lists them.
    pub deployments: Vec<ObservedDeployment>,
    /// Why ECS cannot place the tasks, from its newest service event since the primary
    /// deployment started (`service_events`), if one of the documented forms says so.
    pub placement_problem: Option<Box<crate::service_events::ServiceProblem>>,
    /// The newest rollback ECS's service deployments record (ListServiceDeployments and
    /// DescribeServiceDeployments), when it was looked up (`rollback_evidence_needed`).
    pub rolled_back: Option<Box<ObservedRollback>>,
}

/// A circuit-breaker rollback as ECS's service deployments record it: the task definition the
/// rolled-back deployment deployed, and the one ECS went back to.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedRollback {
    /// The task definition of the deployment ECS rolled back.
    pub failed: String,
    /// The task definition it went back to.
    pub running: String,
}

impl ObservedService {
    /// The deployment configuration members to send back with a change of it (none set: the
    /// default).
    pub fn kept_deployment(&self) -> crate::update::DeploymentKept {
        self.deployment_kept.as_deref().cloned().unwrap_or_default()
    }

    /// An ACTIVE service occupies its name; DRAINING and INACTIVE ones are on their way out.
    pub fn is_active(&self) -> bool {
        self.status == ServiceStatus::Active
    }

    /// Steady: the count runs, in at most one deployment, and none is rolling out or failed.
    /// Only services that are not steady cost task-level calls.
    pub fn is_steady(&self) -> bool {
        self.running_count == self.desired_count
            && self.deployments.len() <= 1
            && self.deployments.iter().all(|d| {
                d.rollout_state
                    .as_ref()
                    .is_none_or(|r| *r == RolloutState::Completed)
            })
    }
}

/// Stops older than this are history, not a crash loop.
pub const RECENT_STOP_SECONDS: i64 = 15 * 60;

/// One deployment of a service.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedDeployment {
    /// Deployment id.
    pub id: String,
    /// PRIMARY, ACTIVE or INACTIVE.
    pub status: DeploymentStatus,
    /// IN_PROGRESS, COMPLETED or FAILED, when reported.
    pub rollout_state: Option<RolloutState>,
    /// Why the rollout is in that state.
    pub rollout_state_reason: Option<String>,
    /// Task definition of the deployment.
    pub task_definition: String,
    /// Tasks wanted, running, pending, failed.
    pub desired_count: i32,
    /// Tasks running.
    pub running_count: i32,
    /// Tasks pending.
    pub pending_count: i32,
    /// Tasks that failed to start.
    pub failed_tasks: i32,
    /// When the deployment began (seconds since the epoch), when reported.
    pub created_at: Option<i64>,
    /// When it last changed (its rollout completing, for a COMPLETED one), when reported.
    pub updated_at: Option<i64>,
}

/// A task definition revision (immutable: safe to cache by ARN).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedTaskDefinition {
    /// Full ARN.
    pub arn: String,
    /// Family.
    pub family: String,
    /// Revision number.
    pub revision: i32,
    /// ACTIVE or INACTIVE.
    pub status: TaskDefinitionStatus,
    /// The spec-hash tag, if the controller registered it.
    pub spec_hash: Option<String>,
    /// The spec-hash of its own document (normalised as ECS echoes it), for revisions without
    /// the tag: a service adopted with `import` is recognised by its content.
    pub document_hash: Option<String>,
    /// Fields it has that a DelegateGroup cannot express (`containerDefinitions[c].startTimeout`):
    /// adopting it would register a revision without them, so it is refused.
    pub unsupported: Vec<String>,
    /// Its document, when freshly described (never kept in the engine's cache): what `plan`
    /// shows a new revision's changes against.
    pub document: Option<std::sync::Arc<spec::document::TaskDefinitionDocument>>,
}

/// A task as DescribeTasks (with tags) reports it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObservedTask {
    /// Task ARN.
    pub arn: String,
    /// The revision it runs.
    pub task_definition: String,
    /// PROVISIONING, PENDING, RUNNING, ..., STOPPED.
    pub last_status: TaskStatus,
    /// RUNNING or STOPPED.
    pub desired_status: TaskStatus,
    /// `service:NAME` for a service's tasks.
    pub group: Option<String>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
    /// Why it stopped.
    pub stopped_reason: Option<String>,
    /// How it stopped: UserInitiated, EssentialContainerExited, TaskFailedToStart, ...
    pub stop_code: Option<StopCode>,
    /// When it stopped (seconds since the epoch).
    pub stopped_at: Option<i64>,
    /// When it was created (seconds since the epoch).
    pub created_at: Option<i64>,
}

impl ObservedTask {
    /// Wanted running (whatever its current state).
    pub fn is_live(&self) -> bool {
        self.desired_status == TaskStatus::Running
    }

    /// Running now.
    pub fn is_running(&self) -> bool {
        self.is_live() && self.last_status == TaskStatus::Running
    }

    /// Evidence of a failing delegate at `now` (seconds since the epoch): a recent stop whose
    /// stop code says the delegate failed ([`StopCode::is_failure`]). Spot interruptions,
    /// scale-in, rebalancing and StopTask are not. Without a stop code this program knows, a
    /// stop counts unless the controller asked for it (its reasons start with
    /// [`STOP_REASON_PREFIX`]) or it was a scale-in.
    pub fn is_failure_stop(&self, now: i64) -> bool {
        let recent = self
            .stopped_at
            .is_none_or(|at| now - at <= RECENT_STOP_SECONDS);
        let failure = match self.stop_code.as_ref().and_then(StopCode::is_failure) {
            Some(known) => known,
            None => {
                let reason = self.stopped_reason.as_deref().unwrap_or("");
                !reason.starts_with(STOP_REASON_PREFIX) && !reason.starts_with("Scaling activity")
            }
        };
        recent && failure
    }
}

/// The free resources of one container instance.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InstanceCapacity {
    /// Container instance ARN.
    pub arn: String,
    /// CPU units free.
    pub remaining_cpu: i64,
    /// MiB free.
    pub remaining_memory: i64,
}

/// A role that ECS could not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleProblem {
    /// No such role.
    NotFound {
        /// `spec.roles.task` or `spec.roles.execution`.
        field: String,
        /// The ARN written.
        arn: String,
    },
    /// The role does not let ECS tasks assume it.
    TrustMissing {
        /// `spec.roles.task` or `spec.roles.execution`.
        field: String,
        /// The ARN written.
        arn: String,
        /// The services it trusts instead.
        trusted: Vec<String>,
    },
}

impl RoleProblem {
    /// The status reason: RoleNotFound or RoleTrustMissing.
    pub fn reason(&self) -> Reason {
        match self {
            RoleProblem::NotFound { .. } => Reason::RoleNotFound,
            RoleProblem::TrustMissing { .. } => Reason::RoleTrustMissing,
        }
    }
}

impl std::fmt::Display for RoleProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoleProblem::NotFound { field, arn } => {
                write!(f, "{field}: role {arn} does not exist")
            }
            RoleProblem::TrustMissing {
                field,
                arn,
                trusted,
            } => write!(
                f,
                "{field}: role {arn} does not trust ecs-tasks.amazonaws.com (it trusts {})",
                if trusted.is_empty() {
                    "no service".to_owned()
                } else {
                    trusted.join(", ")
                }
            ),
        }
    }
}

/// What was observed for one group.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedGroup {
    /// Its service, if one with its name exists (any status).
    pub service: Option<ObservedService>,
    /// The revision the service runs, when it had to be looked up.
    pub service_task_definition: Option<ObservedTaskDefinition>,
    /// The revision the service's task-definition tag names (the one this controller last set),
    /// when it differs from the one it runs and had to be looked up.
    pub tagged_task_definition: Option<ObservedTaskDefinition>,
    /// The latest ACTIVE revision of the family, when it had to be looked up.
    pub latest_revision: Option<ObservedTaskDefinition>,
    /// Tasks mode: the group's tasks that are wanted running.
    pub tasks: Vec<ObservedTask>,
    /// Tasks mode: the revisions those tasks run, when they had to be looked up.
    pub task_revisions: Vec<ObservedTaskDefinition>,
    /// Tasks of the group that stopped recently without the controller asking (looked up only
    /// for groups that are not steady).
    pub stopped_tasks: Vec<ObservedTask>,
    /// EC2 groups missing tasks: the cluster's active container instances.
    pub capacity: Option<Vec<InstanceCapacity>>,
    /// Roles ECS could not use (checked before any write).
    pub role_problems: Vec<RoleProblem>,
    /// When the group has no service under its name: an ACTIVE service in its cluster that this
    /// controller manages for this group under another name (the service was renamed).
    pub previous_service: Option<ObservedService>,
    /// The execution role's policies do not let it read the token (checked with the roles).
    pub secret_access: Option<SecretAccessProblem>,
    /// The service's Application Auto Scaling setup, read for a group with a count range or
    /// a service whose scaling tag says the controller registered one.
    pub scaling: Option<ObservedScaling>,
}

/// A service's scalable target and the controller's policy on it, as Application Auto Scaling
/// describes them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedScaling {
    /// MinCapacity and MaxCapacity of the registered scalable target, if there is one.
    pub target: Option<(i32, i32)>,
    /// The predefined metric and target value of the controller's policy, if there is one.
    pub policy: Option<(String, f64)>,
}

/// The execution role cannot read the delegate token: ECS would stop every task with
/// ResourceInitializationError. Reported, never a reason to refuse a write (a secret's resource
/// policy may grant what the role's own policies do not).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretAccessProblem {
    /// The execution role's ARN.
    pub role: String,
    /// The token's ARN.
    pub secret: String,
    /// The call ECS makes with the role: secretsmanager:GetSecretValue, ssm:GetParameters, or
    /// kms:Decrypt for a secret encrypted with a customer managed key.
    pub action: String,
    /// What the call is on: the token, or its KMS key.
    pub resource: String,
    /// A Deny statement matches (else no statement allows it).
    pub denied: bool,
}

impl std::fmt::Display for SecretAccessProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the execution role {} cannot read the delegate token {}: its policies {} {} on {}, \
             so ECS will stop the tasks with ResourceInitializationError; allow it",
            self.role,
            self.secret,
            if self.denied { "deny" } else { "do not allow" },
            self.action,
            if self.resource == self.secret {
                "it".to_owned()
            } else {
                format!("its KMS key {}", self.resource)
            }
        )
    }
}

impl ObservedGroup {
    /// The ACTIVE service's desiredCount (0 without one): what runs when the count is owned by
    /// someone else.
    pub fn desired_count(&self) -> i64 {
        self.service
            .as_ref()
            .filter(|s| s.is_active())
            .map_or(0, |s| i64::from(s.desired_count))
    }

    /// Its tasks (running, pending) as ECS reports them: the ACTIVE service's counts, or in
    /// tasks mode its live tasks, those running and the rest. The status and the engine's
    /// capacity check both read this.
    pub fn task_counts(&self, mode: spec::Mode) -> (i64, i64) {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        match mode {
            spec::Mode::Service => self
                .service
                .as_ref()
                .filter(|s| s.is_active())
                .map_or((0, 0), |s| {
                    (i64::from(s.running_count), i64::from(s.pending_count))
                }),
            spec::Mode::Tasks => {
                let live = self.tasks.iter().filter(|t| t.is_live()).count();
                let running = self.tasks.iter().filter(|t| t.is_running()).count();
                (count(running), count(live - running))
            }
        }
    }
}
