//! Desired and observed state -> an ordered plan of typed ECS actions, and the plan's text, JSON
//! and Markdown forms. Pure: no AWS SDK, no IO.

pub mod action;
pub mod adopt;
pub mod desired;
pub mod diff;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
pub mod harness;
pub mod observed;
pub mod output;
pub mod policy;
pub mod prune;
pub mod status;
pub mod target;
pub mod tddiff;
pub mod vocab;

pub use action::{
    Action, FieldChange, GroupError, GroupPlan, Plan, Replacement, Rollback, TaskDefinitionRef,
};
pub use desired::DesiredGroup;
pub use diff::{plan_group, rollback_of, task_definition_lookup_needed, PlanOptions};
pub use observed::{
    InstanceCapacity, ObservedDeployment, ObservedGroup, ObservedService, ObservedTask,
    ObservedTaskDefinition, RoleProblem, SecretAccessProblem,
};
pub use prune::{Inventory, Orphan, PruneAction, PrunePolicy, PruneRefusal};
pub use status::{Condition, GroupStatus};
pub use target::Target;
pub use vocab::{ConditionStatus, ConditionType, Reason};
