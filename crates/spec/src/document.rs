//! ECS request documents in ECS's own JSON shape (camelCase), as in Harness's
//! `ecs-task-spec.json` and `service-spec-for-awsvpc-mode.json`.
//!
//! They are what rendering produces, what `taskDefinitionOverrides` patches, and what the AWS crate
//! turns into SDK calls. Unknown fields are refused so that an override naming a field this
//! controller cannot send fails validation instead of being dropped silently.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A RegisterTaskDefinition request, without tags (they carry the hash of this document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TaskDefinitionDocument {
    /// Task definition family.
    pub family: String,
    /// Containers of the task.
    pub container_definitions: Vec<ContainerDefinition>,
    /// Launch types the definition is valid for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub requires_compatibilities: Vec<String>,
    /// bridge, host or awsvpc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Task CPU units, as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task memory in MiB, as a string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Role the containers assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Role ECS uses to pull images and read secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Volumes the containers may mount.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Placement constraints of the definition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_constraints: Vec<PlacementConstraint>,
    /// CPU architecture and OS family.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    /// FARGATE ephemeral storage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
    /// host or task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_mode: Option<String>,
}

/// One container of the task.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerDefinition {
    /// Container name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// Whether the task stops when this container stops.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    /// CPU units reserved for the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<i32>,
    /// Hard memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<i32>,
    /// Soft memory limit in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<i32>,
    /// Plain environment variables.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<KeyValue>,
    /// Variables injected by ECS from Secrets Manager or SSM.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// Container hostname (not with awsvpc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Docker health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Log driver configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfiguration>,
    /// Published ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    /// Command override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Entry point override.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    /// Volume mounts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
    /// User to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// Docker labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub docker_labels: BTreeMap<String, String>,
    /// Seconds between SIGTERM and SIGKILL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i32>,
    /// Read-only root file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// Resource limits.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
}

/// A `name`/`value` pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyValue {
    /// Variable name.
    pub name: String,
    /// Variable value.
    pub value: String,
}

/// A secret injected as an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Secret {
    /// Variable name.
    pub name: String,
    /// Secrets Manager secret or SSM parameter ARN.
    pub value_from: String,
}

/// Docker health check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// `["CMD-SHELL", "..."]` or `["CMD", ...]`.
    pub command: Vec<String>,
    /// Seconds between checks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i32>,
    /// Seconds before a check fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i32>,
    /// Failures before unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i32>,
    /// Grace period in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<i32>,
}

/// Log driver configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LogConfiguration {
    /// For example `awslogs`.
    pub log_driver: String,
    /// Driver options.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
}

/// A published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PortMapping {
    /// Port in the container.
    pub container_port: i32,
    /// Port on the host (bridge/host).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<i32>,
    /// tcp or udp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
}

/// A volume mount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MountPoint {
    /// Volume name.
    pub source_volume: String,
    /// Path in the container.
    pub container_path: String,
    /// Mount read-only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// A ulimit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ulimit {
    /// For example `nofile`.
    pub name: String,
    /// Soft limit.
    pub soft_limit: i32,
    /// Hard limit.
    pub hard_limit: i32,
}

/// A task volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Volume {
    /// Volume name.
    pub name: String,
    /// Bind mount from the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostVolume>,
}

/// A bind mount source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HostVolume {
    /// Path on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_path: Option<String>,
}

/// A placement constraint (task definition or service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacementConstraint {
    /// memberOf or distinctInstance.
    #[serde(rename = "type")]
    pub kind: String,
    /// Cluster query language expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// CPU architecture and OS family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimePlatform {
    /// X86_64 or ARM64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<String>,
    /// For example LINUX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<String>,
}

/// FARGATE ephemeral storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EphemeralStorage {
    /// GiB, 21 to 200.
    pub size_in_gi_b: i32,
}

/// A CreateService request, without the task definition ARN (known only after registration)
/// and without tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceDocument {
    /// Service name.
    pub service_name: String,
    /// Cluster name or ARN.
    pub cluster: String,
    /// Tasks wanted (sent on creation).
    pub desired_count: i32,
    /// What desiredCount the controller keeps after creation.
    #[serde(skip)]
    pub count_rule: CountRule,
    /// EC2 or FARGATE; `None` with a capacity provider strategy, or for the cluster's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// The capacity providers instead of a launch type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<crate::types::CapacityProviderItem>,
    /// REPLICA.
    pub scheduling_strategy: String,
    /// Spread over zones and instances (EC2 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_strategy: Vec<PlacementStrategy>,
    /// awsvpc configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// Rolling deployment bounds and circuit breaker.
    pub deployment_configuration: DeploymentConfiguration,
    /// `aws ecs execute-command` allowed.
    pub enable_execute_command: bool,
    /// Copy the service's tags to its tasks.
    pub propagate_tags: String,
}

/// A RunTask request for a tasks-mode group, without the task definition ARN, the count and the
/// tags (decided when applying).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RunTaskDocument {
    /// Cluster name or ARN.
    pub cluster: String,
    /// EC2 or FARGATE; `None` with a capacity provider strategy, or for the cluster's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// The capacity providers instead of a launch type.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<crate::types::CapacityProviderItem>,
    /// Marks the tasks as the controller's (`ecs-delegate-controller`).
    pub started_by: String,
    /// Spread over zones and instances (EC2 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_strategy: Vec<PlacementStrategy>,
    /// awsvpc configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// `aws ecs execute-command` allowed.
    pub enable_execute_command: bool,
}

/// A placement strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlacementStrategy {
    /// spread, binpack or random.
    #[serde(rename = "type")]
    pub kind: String,
    /// What to spread or pack over.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// Network configuration of a service or task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkConfiguration {
    /// awsvpc settings.
    pub awsvpc_configuration: AwsVpcConfiguration,
}

/// awsvpc settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AwsVpcConfiguration {
    /// Subnet IDs.
    pub subnets: Vec<String>,
    /// Security group IDs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// ENABLED or DISABLED.
    pub assign_public_ip: String,
}

/// Rolling deployment settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentConfiguration {
    /// Lower bound of healthy tasks, percent.
    pub minimum_healthy_percent: i32,
    /// Upper bound of tasks, percent.
    pub maximum_percent: i32,
    /// Circuit breaker.
    pub deployment_circuit_breaker: DeploymentCircuitBreaker,
}

/// Deployment circuit breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentCircuitBreaker {
    /// Enabled.
    pub enable: bool,
    /// Roll back on failure.
    pub rollback: bool,
}

/// An ECS resource tag.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// Where a service's or task's capacity comes from, for people: `launchType EC2`,
/// `capacityProviderStrategy FARGATE_SPOT (weight 3), FARGATE (base 1, weight 1)`, or the
/// cluster's default strategy.
pub fn describe_capacity(
    launch_type: Option<&str>,
    strategy: &[crate::types::CapacityProviderItem],
) -> String {
    if let Some(launch_type) = launch_type {
        return format!("launchType {launch_type}");
    }
    if strategy.is_empty() {
        return "the cluster's default capacity provider strategy".into();
    }
    let items: Vec<String> = strategy
        .iter()
        .map(|i| {
            let mut parts = Vec::new();
            // ECS echoes a base of 0 on every provider; only a real one is worth saying.
            if let Some(base) = i.base.filter(|b| *b > 0) {
                parts.push(format!("base {base}"));
            }
            parts.push(format!("weight {}", i.weight.unwrap_or(0)));
            format!("{} ({})", i.capacity_provider, parts.join(", "))
        })
        .collect();
    format!("capacityProviderStrategy {}", items.join(", "))
}

impl ServiceDocument {
    /// Where its capacity comes from ([`describe_capacity`]).
    pub fn capacity(&self) -> String {
        describe_capacity(
            self.launch_type.as_deref(),
            &self.capacity_provider_strategy,
        )
    }
}

impl RunTaskDocument {
    /// Where its capacity comes from ([`describe_capacity`]).
    pub fn capacity(&self) -> String {
        describe_capacity(
            self.launch_type.as_deref(),
            &self.capacity_provider_strategy,
        )
    }
}

/// What desiredCount the controller keeps after creating a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CountRule {
    /// `desired_count` exactly.
    #[default]
    Fixed,
    /// Anything within `min..=max` (Application Auto Scaling moves it); outside, the nearest
    /// bound.
    Within {
        /// The range's min.
        min: i32,
        /// Its max.
        max: i32,
    },
    /// Someone else owns it: never written after creation.
    Unowned,
}

/// The Application Auto Scaling setup of a group with a count range: a scalable target on the
/// service's desired count and one target-tracking policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingDocument {
    /// `service/CLUSTER/SERVICE` (the cluster's name, not its ARN).
    pub resource_id: String,
    /// MinCapacity.
    pub min: i32,
    /// MaxCapacity.
    pub max: i32,
    /// The policy's name (one per service).
    pub policy_name: String,
    /// `ECSServiceAverageCPUUtilization` or `ECSServiceAverageMemoryUtilization`.
    pub metric: String,
    /// The target value, in percent (TargetValue).
    pub target: u8,
}

/// The name of the target-tracking policy the controller puts on a service.
pub const SCALING_POLICY_NAME: &str = "ecs-delegate-controller-target-tracking";
