//! What one UpdateService carries: only the members whose value changes, and, when the
//! deployment configuration changes, the members of it that a DelegateGroup does not manage,
//! as the service has them.
//!
//! The ECS API reference (UpdateServiceRequest, botocore's `ecs/2014-11-13/service-2.json`)
//! says of `taskDefinition` and `networkConfiguration`: "This parameter triggers a new service
//! deployment", and of `desiredCount`, `deploymentConfiguration`, `placementStrategy`,
//! `enableExecuteCommand` and `propagateTags`: "This parameter doesn't trigger a new service
//! deployment". So a scale sends `desiredCount` alone, and no member is sent unchanged.

use std::collections::BTreeSet;

/// A member of UpdateService that the controller manages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ServiceMember {
    /// `desiredCount`.
    DesiredCount,
    /// `taskDefinition`: starts a new deployment.
    TaskDefinition,
    /// `networkConfiguration`: starts a new deployment.
    NetworkConfiguration,
    /// `deploymentConfiguration` (sent whole: see [`DeploymentKept`]).
    DeploymentConfiguration,
    /// `placementStrategy`.
    PlacementStrategy,
    /// `enableExecuteCommand`.
    EnableExecuteCommand,
    /// `propagateTags`.
    PropagateTags,
    /// `capacityProviderStrategy` ("This parameter doesn't trigger a new service deployment").
    CapacityProviderStrategy,
    /// `forceNewDeployment`: with a first capacity provider strategy for a service that had a
    /// launch type (the endpoint refuses that change without it, as the Terraform AWS provider
    /// encodes it; no AWS sentence says so).
    ForceNewDeployment,
}

impl ServiceMember {
    /// Every member, in the order of the request.
    pub const ALL: [ServiceMember; 9] = [
        ServiceMember::DesiredCount,
        ServiceMember::TaskDefinition,
        ServiceMember::NetworkConfiguration,
        ServiceMember::DeploymentConfiguration,
        ServiceMember::PlacementStrategy,
        ServiceMember::EnableExecuteCommand,
        ServiceMember::PropagateTags,
        ServiceMember::CapacityProviderStrategy,
        ServiceMember::ForceNewDeployment,
    ];

    /// Whether UpdateService starts a new deployment (new tasks for every delegate) when it
    /// carries this member.
    pub fn starts_deployment(self) -> bool {
        matches!(
            self,
            ServiceMember::TaskDefinition
                | ServiceMember::NetworkConfiguration
                | ServiceMember::ForceNewDeployment
        )
    }
}

/// The members one UpdateService carries.
pub type ServiceMembers = BTreeSet<ServiceMember>;

/// The deployment configuration members a DelegateGroup does not manage, as the service has
/// them. UpdateService takes `deploymentConfiguration` as one structure, so these are sent back
/// unchanged whenever the members the controller manages (the percentages and the circuit
/// breaker) change; otherwise alarms, a strategy or a bake time set outside the controller
/// would be reset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeploymentKept {
    /// CloudWatch alarms that fail a deployment.
    pub alarms: Option<DeploymentAlarms>,
    /// ROLLING, BLUE_GREEN, ...
    pub strategy: Option<String>,
    /// Minutes both revisions run after a blue/green shift.
    pub bake_time_in_minutes: Option<i32>,
}

/// `deploymentConfiguration.alarms`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeploymentAlarms {
    /// The alarms' names.
    pub alarm_names: Vec<String>,
    /// Whether they are watched.
    pub enable: bool,
    /// Whether an alarm rolls the deployment back.
    pub rollback: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_task_definition_the_network_and_a_forced_one_start_a_deployment() {
        let all = ServiceMember::ALL.into_iter();
        let deploying: Vec<_> = all.filter(|m| m.starts_deployment()).collect();
        assert_eq!(
            deploying,
            [
                ServiceMember::TaskDefinition,
                ServiceMember::NetworkConfiguration,
                ServiceMember::ForceNewDeployment
            ]
        );
    }
}
