//! Desired and observed state -> an ordered plan of typed ECS actions, and the plan's text, JSON
//! and Markdown forms. Pure: no AWS SDK, no IO.

pub mod action;
pub mod adopt;
pub mod classify;
pub mod desired;
pub mod diff;
pub mod ecs_state;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod harness;
pub mod iam;
pub mod observed;
pub mod output;
pub mod prune;
pub mod service_events;
pub mod status;
pub mod target;
pub mod tddiff;
pub mod update;
pub mod vocab;

pub use action::{
    Action, FieldChange, GroupError, GroupPlan, Plan, Replacement, Rollback, TaskDefinitionRef,
};
pub use classify::{
    classify, owner, rollback_evidence_needed, rollback_of, task_definition_lookup_needed, Owner,
    ServiceClass,
};
pub use desired::DesiredGroup;
pub use diff::{plan_group, PlanOptions};
pub use ecs_state::{
    DeploymentStatus, RolloutState, ServiceStatus, StopCode, TaskDefinitionStatus, TaskStatus,
};
pub use observed::{
    InstanceCapacity, ObservedDeployment, ObservedGroup, ObservedRollback, ObservedScaling,
    ObservedService, ObservedTask, ObservedTaskDefinition, RoleProblem, SecretAccessProblem,
};
pub use prune::{Inventory, Orphan, PruneAction, PruneLimits, PruneRefusal};
pub use status::{Condition, GroupStatus};
pub use target::Target;
pub use update::{DeploymentAlarms, DeploymentKept, ServiceMember, ServiceMembers};
pub use vocab::{ConditionStatus, ConditionType, Reason};
