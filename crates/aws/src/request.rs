//! Domain documents -> aws-sdk-ecs request types: what the controller sends.

use aws_sdk_ecs::types as ecs;
use spec::document::{
    ContainerDefinition, DeploymentConfiguration, NetworkConfiguration, PlacementStrategy,
    ServiceDocument, Tag, TaskDefinitionDocument,
};

use client::{AwsError, Operation, Result};

fn built<T, E: std::fmt::Display>(operation: Operation, r: Result<T, E>) -> Result<T> {
    r.map_err(|e| AwsError::invalid(operation, e.to_string()))
}

/// Tags as the SDK takes them.
pub fn tags(tags: &[Tag]) -> Vec<ecs::Tag> {
    tags.iter()
        .map(|t| ecs::Tag::builder().key(&t.key).value(&t.value).build())
        .collect()
}

/// The RegisterTaskDefinition request.
pub fn register_request(
    client: &aws_sdk_ecs::Client,
    document: &TaskDefinitionDocument,
    tag_list: &[Tag],
) -> Result<
    aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder,
> {
    let containers = document
        .container_definitions
        .iter()
        .map(container)
        .collect::<Result<Vec<_>>>()?;
    let mut request = client
        .register_task_definition()
        .family(&document.family)
        .set_container_definitions(Some(containers))
        .set_requires_compatibilities(Some(
            document
                .requires_compatibilities
                .iter()
                .map(|c| ecs::Compatibility::from(c.as_str()))
                .collect(),
        ))
        .set_network_mode(document.network_mode.as_deref().map(ecs::NetworkMode::from))
        .set_cpu(document.cpu.clone())
        .set_memory(document.memory.clone())
        .set_task_role_arn(document.task_role_arn.clone())
        .set_execution_role_arn(document.execution_role_arn.clone())
        .set_pid_mode(document.pid_mode.as_deref().map(ecs::PidMode::from))
        .set_tags(Some(tags(tag_list)));
    for volume in &document.volumes {
        let host = volume.host.as_ref().map(|h| {
            ecs::HostVolumeProperties::builder()
                .set_source_path(h.source_path.clone())
                .build()
        });
        request = request.volumes(
            ecs::Volume::builder()
                .name(&volume.name)
                .set_host(host)
                .build(),
        );
    }
    for constraint in &document.placement_constraints {
        request = request.placement_constraints(
            ecs::TaskDefinitionPlacementConstraint::builder()
                .r#type(ecs::TaskDefinitionPlacementConstraintType::from(
                    constraint.kind.as_str(),
                ))
                .set_expression(constraint.expression.clone())
                .build(),
        );
    }
    if let Some(platform) = &document.runtime_platform {
        request = request.runtime_platform(
            ecs::RuntimePlatform::builder()
                .set_cpu_architecture(
                    platform
                        .cpu_architecture
                        .as_deref()
                        .map(ecs::CpuArchitecture::from),
                )
                .set_operating_system_family(
                    platform
                        .operating_system_family
                        .as_deref()
                        .map(ecs::OsFamily::from),
                )
                .build(),
        );
    }
    if let Some(storage) = &document.ephemeral_storage {
        request = request.ephemeral_storage(
            ecs::EphemeralStorage::builder()
                .size_in_gib(storage.size_in_gi_b)
                .build(),
        );
    }
    Ok(request)
}

fn container(c: &ContainerDefinition) -> Result<ecs::ContainerDefinition> {
    const OP: Operation = Operation::RegisterTaskDefinition;
    let mut b = ecs::ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .set_essential(c.essential)
        .set_cpu(c.cpu)
        .set_memory(c.memory)
        .set_memory_reservation(c.memory_reservation)
        .set_hostname(c.hostname.clone())
        .set_user(c.user.clone())
        .set_working_directory(c.working_directory.clone())
        .set_stop_timeout(c.stop_timeout)
        .set_readonly_root_filesystem(c.readonly_root_filesystem);
    for kv in &c.environment {
        b = b.environment(
            ecs::KeyValuePair::builder()
                .name(&kv.name)
                .value(&kv.value)
                .build(),
        );
    }
    for s in &c.secrets {
        b = b.secrets(built(
            OP,
            ecs::Secret::builder()
                .name(&s.name)
                .value_from(&s.value_from)
                .build(),
        )?);
    }
    if let Some(h) = &c.health_check {
        b = b.health_check(built(
            OP,
            ecs::HealthCheck::builder()
                .set_command(Some(h.command.clone()))
                .set_interval(h.interval)
                .set_timeout(h.timeout)
                .set_retries(h.retries)
                .set_start_period(h.start_period)
                .build(),
        )?);
    }
    if let Some(l) = &c.log_configuration {
        b = b.log_configuration(built(
            OP,
            ecs::LogConfiguration::builder()
                .log_driver(ecs::LogDriver::from(l.log_driver.as_str()))
                .set_options(Some(l.options.clone().into_iter().collect()))
                .build(),
        )?);
    }
    for p in &c.port_mappings {
        b = b.port_mappings(
            ecs::PortMapping::builder()
                .container_port(p.container_port)
                .set_host_port(p.host_port)
                .set_protocol(p.protocol.as_deref().map(ecs::TransportProtocol::from))
                .build(),
        );
    }
    if !c.command.is_empty() {
        b = b.set_command(Some(c.command.clone()));
    }
    if !c.entry_point.is_empty() {
        b = b.set_entry_point(Some(c.entry_point.clone()));
    }
    for m in &c.mount_points {
        b = b.mount_points(
            ecs::MountPoint::builder()
                .source_volume(&m.source_volume)
                .container_path(&m.container_path)
                .set_read_only(m.read_only)
                .build(),
        );
    }
    if !c.docker_labels.is_empty() {
        b = b.set_docker_labels(Some(c.docker_labels.clone().into_iter().collect()));
    }
    for u in &c.ulimits {
        b = b.ulimits(built(
            OP,
            ecs::Ulimit::builder()
                .name(ecs::UlimitName::from(u.name.as_str()))
                .soft_limit(u.soft_limit)
                .hard_limit(u.hard_limit)
                .build(),
        )?);
    }
    Ok(b.build())
}

/// The awsvpc network configuration.
pub fn network(n: &NetworkConfiguration) -> Result<ecs::NetworkConfiguration> {
    let a = &n.awsvpc_configuration;
    let awsvpc = built(
        Operation::CreateService,
        ecs::AwsVpcConfiguration::builder()
            .set_subnets(Some(a.subnets.clone()))
            .set_security_groups(Some(a.security_groups.clone()))
            .assign_public_ip(ecs::AssignPublicIp::from(a.assign_public_ip.as_str()))
            .build(),
    )?;
    Ok(ecs::NetworkConfiguration::builder()
        .awsvpc_configuration(awsvpc)
        .build())
}

/// The deployment configuration.
pub fn deployment(d: &DeploymentConfiguration) -> Result<ecs::DeploymentConfiguration> {
    let breaker = ecs::DeploymentCircuitBreaker::builder()
        .enable(d.deployment_circuit_breaker.enable)
        .rollback(d.deployment_circuit_breaker.rollback)
        .build();
    Ok(ecs::DeploymentConfiguration::builder()
        .minimum_healthy_percent(d.minimum_healthy_percent)
        .maximum_percent(d.maximum_percent)
        .deployment_circuit_breaker(breaker)
        .build())
}

/// `deployment` (the members a group manages) with the members it does not manage as the
/// service has them: UpdateService takes deploymentConfiguration as one structure.
pub fn keep_deployment(
    deployment: ecs::DeploymentConfiguration,
    kept: &plan::DeploymentKept,
) -> Result<ecs::DeploymentConfiguration> {
    let mut merged = deployment;
    if let Some(a) = &kept.alarms {
        let alarms = ecs::DeploymentAlarms::builder()
            .set_alarm_names(Some(a.alarm_names.clone()))
            .enable(a.enable)
            .rollback(a.rollback)
            .build();
        merged.alarms = Some(built(Operation::UpdateService, alarms)?);
    }
    merged.strategy = kept.strategy.as_deref().map(ecs::DeploymentStrategy::from);
    merged.bake_time_in_minutes = kept.bake_time_in_minutes;
    Ok(merged)
}

/// The placement strategy.
pub fn placement(strategy: &[PlacementStrategy]) -> Vec<ecs::PlacementStrategy> {
    strategy
        .iter()
        .map(|p| {
            ecs::PlacementStrategy::builder()
                .r#type(ecs::PlacementStrategyType::from(p.kind.as_str()))
                .set_field(p.field.clone())
                .build()
        })
        .collect()
}

/// A capacity provider strategy.
///
/// # Errors
/// When an item lacks its provider (the builder's required member).
pub fn capacity_strategy(
    items: &[spec::CapacityProviderItem],
) -> Result<Vec<ecs::CapacityProviderStrategyItem>> {
    items
        .iter()
        .map(|i| {
            let item = ecs::CapacityProviderStrategyItem::builder()
                .capacity_provider(&i.capacity_provider)
                .set_weight(i.weight)
                .set_base(i.base)
                .build();
            built(Operation::CreateService, item)
        })
        .collect()
}

/// The launch type, if the document has one.
pub fn launch_type(launch_type: Option<&str>) -> Option<ecs::LaunchType> {
    launch_type.map(ecs::LaunchType::from)
}

/// The service fields CreateService and UpdateService share.
pub fn service_fields(document: &ServiceDocument) -> Result<ServiceFields> {
    Ok(ServiceFields {
        network: document
            .network_configuration
            .as_ref()
            .map(network)
            .transpose()?,
        deployment: deployment(&document.deployment_configuration)?,
        placement: placement(&document.placement_strategy),
        capacity: capacity_strategy(&document.capacity_provider_strategy)?,
    })
}

/// Converted service fields.
pub struct ServiceFields {
    /// awsvpc configuration.
    pub network: Option<ecs::NetworkConfiguration>,
    /// Deployment configuration.
    pub deployment: ecs::DeploymentConfiguration,
    /// Placement strategy.
    pub placement: Vec<ecs::PlacementStrategy>,
    /// Capacity provider strategy (empty with a launch type or the cluster's default).
    pub capacity: Vec<ecs::CapacityProviderStrategyItem>,
}
