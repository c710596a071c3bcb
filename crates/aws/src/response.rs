//! aws-sdk-ecs responses -> the engine's observations: what ECS reports, and a described task
//! definition as the document that would register it (adoption).

use std::collections::BTreeMap;

use aws_sdk_ecs::types as ecs;
use plan::{
    InstanceCapacity, ObservedDeployment, ObservedService, ObservedTask, ObservedTaskDefinition,
};
use spec::document::{
    AwsVpcConfiguration, ContainerDefinition, DeploymentCircuitBreaker, DeploymentConfiguration,
    PlacementStrategy, TaskDefinitionDocument,
};
use spec::render::TAG_SPEC_HASH;

/// Tags from the SDK as a map.
pub fn tag_map(tags: Option<&[ecs::Tag]>) -> BTreeMap<String, String> {
    tags.unwrap_or_default()
        .iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_owned(),
                t.value().unwrap_or_default().to_owned(),
            ))
        })
        .collect()
}

/// A service as the engine sees it.
pub fn observed_service(s: &ecs::Service) -> ObservedService {
    ObservedService {
        name: s.service_name().unwrap_or_default().to_owned(),
        arn: s.service_arn().unwrap_or_default().to_owned(),
        status: s.status().unwrap_or_default().into(),
        desired_count: s.desired_count(),
        running_count: s.running_count(),
        pending_count: s.pending_count(),
        task_definition: s.task_definition().unwrap_or_default().to_owned(),
        launch_type: s.launch_type().map(|l| l.as_str().to_owned()),
        capacity_provider_strategy: s
            .capacity_provider_strategy()
            .iter()
            .map(|i| spec::CapacityProviderItem {
                capacity_provider: i.capacity_provider().to_owned(),
                weight: Some(i.weight()),
                base: Some(i.base()),
            })
            .collect(),
        scheduling_strategy: s.scheduling_strategy().map(|l| l.as_str().to_owned()),
        deployment_controller: s
            .deployment_controller()
            .map(|c| c.r#type().as_str().to_owned()),
        network: s
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .map(|a| AwsVpcConfiguration {
                subnets: a.subnets().to_vec(),
                security_groups: a.security_groups().to_vec(),
                assign_public_ip: a
                    .assign_public_ip()
                    .map_or("DISABLED", |p| p.as_str())
                    .to_owned(),
            }),
        deployment_configuration: s.deployment_configuration().and_then(|d| {
            Some(DeploymentConfiguration {
                minimum_healthy_percent: d.minimum_healthy_percent()?,
                maximum_percent: d.maximum_percent()?,
                deployment_circuit_breaker: d.deployment_circuit_breaker().map_or(
                    DeploymentCircuitBreaker {
                        enable: false,
                        rollback: false,
                    },
                    |b| DeploymentCircuitBreaker {
                        enable: b.enable(),
                        rollback: b.rollback(),
                    },
                ),
            })
        }),
        deployment_kept: s
            .deployment_configuration()
            .map(deployment_kept)
            .filter(|kept| *kept != plan::DeploymentKept::default())
            .map(Box::new),
        placement_strategy: s.placement_strategy.as_ref().map(|list| {
            list.iter()
                .map(|p| PlacementStrategy {
                    kind: p.r#type().map_or("", |t| t.as_str()).to_owned(),
                    field: p.field().map(str::to_owned),
                })
                .collect()
        }),
        enable_execute_command: s.enable_execute_command(),
        propagate_tags: s.propagate_tags().map(|p| p.as_str().to_owned()),
        tags: tag_map(s.tags.as_deref()),
        deployments: s
            .deployments()
            .iter()
            .map(|d| ObservedDeployment {
                id: d.id().unwrap_or_default().to_owned(),
                status: d.status().unwrap_or_default().into(),
                rollout_state: d.rollout_state().map(|r| r.as_str().into()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_owned),
                task_definition: d.task_definition().unwrap_or_default().to_owned(),
                desired_count: d.desired_count(),
                running_count: d.running_count(),
                pending_count: d.pending_count(),
                failed_tasks: d.failed_tasks(),
                created_at: d.created_at().map(|t| t.secs()),
                updated_at: d.updated_at().map(|t| t.secs()),
            })
            .collect(),
        placement_problem: plan::service_events::placement_problem(
            s.service_name().unwrap_or_default(),
            s.events().iter().map(|e| {
                (
                    e.created_at().map(|t| t.secs()),
                    e.message().unwrap_or_default(),
                )
            }),
            s.deployments()
                .first()
                .and_then(|d| d.created_at())
                .map(|t| t.secs()),
        )
        .map(Box::new),
        // Looked up from the service deployments, when needed (engine::rollbacks).
        rolled_back: None,
    }
}

/// A task definition revision as the engine sees it.
pub fn observed_task_definition(
    td: &ecs::TaskDefinition,
    tags: Option<&[ecs::Tag]>,
) -> ObservedTaskDefinition {
    let (document, unsupported) = task_definition_document(td);
    ObservedTaskDefinition {
        arn: td.task_definition_arn().unwrap_or_default().to_owned(),
        family: td.family().unwrap_or_default().to_owned(),
        revision: td.revision(),
        // Not reported: ACTIVE, the only status a revision can be described in by family.
        status: td
            .status()
            .map_or(plan::TaskDefinitionStatus::Active, |s| s.as_str().into()),
        spec_hash: tag_map(tags).remove(TAG_SPEC_HASH),
        // A revision with content the document cannot hold never matches a desired one.
        document_hash: unsupported
            .is_empty()
            .then(|| spec::hash::spec_hash(&document)),
        unsupported,
        document: Some(std::sync::Arc::new(document)),
    }
}

/// A described task definition as the request document that would register it, normalised the
/// way ECS echoes requests (defaults it adds dropped, variables sorted), and the fields it has
/// that the document cannot hold.
pub fn task_definition_document(td: &ecs::TaskDefinition) -> (TaskDefinitionDocument, Vec<String>) {
    let mut unsupported = Vec::new();
    let containers = td
        .container_definitions()
        .iter()
        .map(|c| container_document(c, &mut unsupported))
        .collect();
    let document = TaskDefinitionDocument {
        family: td.family().unwrap_or_default().to_owned(),
        container_definitions: containers,
        requires_compatibilities: td
            .requires_compatibilities()
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        network_mode: td.network_mode().map(|m| m.as_str().to_owned()),
        cpu: td.cpu().map(str::to_owned),
        memory: td.memory().map(str::to_owned),
        task_role_arn: td.task_role_arn().map(str::to_owned),
        execution_role_arn: td.execution_role_arn().map(str::to_owned),
        volumes: td
            .volumes()
            .iter()
            .map(|v| spec::document::Volume {
                name: v.name().unwrap_or_default().to_owned(),
                host: v.host().map(|h| spec::document::HostVolume {
                    source_path: h.source_path().map(str::to_owned),
                }),
            })
            .collect(),
        placement_constraints: td
            .placement_constraints()
            .iter()
            .map(|p| spec::document::PlacementConstraint {
                kind: p.r#type().map_or("", |t| t.as_str()).to_owned(),
                expression: p.expression().map(str::to_owned),
            })
            .collect(),
        runtime_platform: td
            .runtime_platform()
            .map(|p| spec::document::RuntimePlatform {
                cpu_architecture: p.cpu_architecture().map(|a| a.as_str().to_owned()),
                operating_system_family: p.operating_system_family().map(|f| f.as_str().to_owned()),
            }),
        ephemeral_storage: td
            .ephemeral_storage()
            .map(|e| spec::document::EphemeralStorage {
                size_in_gi_b: e.size_in_gib(),
            }),
        pid_mode: td.pid_mode().map(|m| m.as_str().to_owned()),
    };
    // Every other field ECS reports, when set to something but its default: the document
    // cannot hold it, so a revision registered from the document would silently drop it.
    let mut note = |field: &str, present: bool| {
        if present {
            unsupported.push(field.to_owned());
        }
    };
    note("ipcMode", td.ipc_mode().is_some());
    note("proxyConfiguration", td.proxy_configuration().is_some());
    note(
        "inferenceAccelerators",
        !td.inference_accelerators().is_empty(),
    );
    note(
        "enableFaultInjection",
        td.enable_fault_injection() == Some(true),
    );
    for v in td.volumes() {
        let name = v.name().unwrap_or_default();
        let mut volume = |field: &str, present: bool| {
            note(&format!("volumes[{name}].{field}"), present);
        };
        volume(
            "efsVolumeConfiguration",
            v.efs_volume_configuration().is_some(),
        );
        volume(
            "fsxWindowsFileServerVolumeConfiguration",
            v.fsx_windows_file_server_volume_configuration().is_some(),
        );
        volume(
            "dockerVolumeConfiguration",
            v.docker_volume_configuration().is_some(),
        );
        volume("configuredAtLaunch", v.configured_at_launch() == Some(true));
    }
    (document, unsupported)
}

fn container_document(
    c: &ecs::ContainerDefinition,
    unsupported: &mut Vec<String>,
) -> ContainerDefinition {
    let name = c.name().unwrap_or_default();
    let mut note = |field: &str, present: bool| {
        if present {
            unsupported.push(format!("containerDefinitions[{name}].{field}"));
        }
    };
    note("links", !c.links().is_empty());
    note("volumesFrom", !c.volumes_from().is_empty());
    note("dnsServers", !c.dns_servers().is_empty());
    note("extraHosts", !c.extra_hosts().is_empty());
    note("dependsOn", !c.depends_on().is_empty());
    note("linuxParameters", c.linux_parameters().is_some());
    note("privileged", c.privileged().unwrap_or(false));
    note(
        "repositoryCredentials",
        c.repository_credentials().is_some(),
    );
    note("environmentFiles", !c.environment_files().is_empty());
    note(
        "firelensConfiguration",
        c.firelens_configuration().is_some(),
    );
    note("restartPolicy", c.restart_policy().is_some());
    note("startTimeout", c.start_timeout().is_some());
    note(
        "versionConsistency",
        c.version_consistency()
            .is_some_and(|v| v.as_str() != "enabled"),
    );
    note("disableNetworking", c.disable_networking() == Some(true));
    note("dnsSearchDomains", !c.dns_search_domains().is_empty());
    note(
        "dockerSecurityOptions",
        !c.docker_security_options().is_empty(),
    );
    note("interactive", c.interactive() == Some(true));
    note("pseudoTerminal", c.pseudo_terminal() == Some(true));
    note("systemControls", !c.system_controls().is_empty());
    note(
        "resourceRequirements",
        !c.resource_requirements().is_empty(),
    );
    note("credentialSpecs", !c.credential_specs().is_empty());
    note(
        "logConfiguration.secretOptions",
        c.log_configuration()
            .is_some_and(|l| !l.secret_options().is_empty()),
    );
    for p in c.port_mappings() {
        let port = p.container_port().unwrap_or_default();
        note(&format!("portMappings[{port}].name"), p.name().is_some());
        note(
            &format!("portMappings[{port}].appProtocol"),
            p.app_protocol().is_some(),
        );
        note(
            &format!("portMappings[{port}].containerPortRange"),
            p.container_port_range().is_some(),
        );
    }
    let mut environment: Vec<spec::document::KeyValue> = c
        .environment()
        .iter()
        .map(|kv| spec::document::KeyValue {
            name: kv.name().unwrap_or_default().to_owned(),
            value: kv.value().unwrap_or_default().to_owned(),
        })
        .collect();
    environment.sort_by(|a, b| a.name.cmp(&b.name));
    let mut secrets: Vec<spec::document::Secret> = c
        .secrets()
        .iter()
        .map(|s| spec::document::Secret {
            name: s.name().to_owned(),
            value_from: s.value_from().to_owned(),
        })
        .collect();
    secrets.sort_by(|a, b| a.name.cmp(&b.name));
    ContainerDefinition {
        name: name.to_owned(),
        image: c.image().unwrap_or_default().to_owned(),
        essential: c.essential(),
        // ECS echoes an unset container cpu as 0.
        cpu: Some(c.cpu()).filter(|cpu| *cpu != 0),
        memory: c.memory(),
        memory_reservation: c.memory_reservation(),
        environment,
        secrets,
        hostname: c.hostname().map(str::to_owned),
        health_check: c.health_check().map(|h| spec::document::HealthCheck {
            command: h.command().to_vec(),
            interval: h.interval(),
            timeout: h.timeout(),
            retries: h.retries(),
            start_period: h.start_period(),
        }),
        log_configuration: c
            .log_configuration()
            .map(|l| spec::document::LogConfiguration {
                log_driver: l.log_driver().as_str().to_owned(),
                options: l
                    .options()
                    .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default(),
            }),
        port_mappings: c
            .port_mappings()
            .iter()
            .map(|p| spec::document::PortMapping {
                container_port: p.container_port().unwrap_or_default(),
                host_port: p.host_port(),
                protocol: p.protocol().map(|x| x.as_str().to_owned()),
            })
            .collect(),
        command: c.command().to_vec(),
        entry_point: c.entry_point().to_vec(),
        mount_points: c
            .mount_points()
            .iter()
            .map(|m| spec::document::MountPoint {
                source_volume: m.source_volume().unwrap_or_default().to_owned(),
                container_path: m.container_path().unwrap_or_default().to_owned(),
                read_only: m.read_only(),
            })
            .collect(),
        user: c.user().map(str::to_owned),
        working_directory: c.working_directory().map(str::to_owned),
        docker_labels: c
            .docker_labels()
            .map(|l| l.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default(),
        stop_timeout: c.stop_timeout(),
        readonly_root_filesystem: c.readonly_root_filesystem(),
        ulimits: c
            .ulimits()
            .iter()
            .map(|u| spec::document::Ulimit {
                name: u.name().as_str().to_owned(),
                soft_limit: u.soft_limit(),
                hard_limit: u.hard_limit(),
            })
            .collect(),
    }
}

/// A Describe call's failure, named by the last part of its ARN (`service/cluster/name`).
pub fn describe_failure(f: &ecs::Failure) -> client::api::DescribeFailure {
    let arn = f.arn().unwrap_or_default();
    client::api::DescribeFailure {
        name: arn.rsplit('/').next().unwrap_or(arn).to_owned(),
        reason: f.reason().unwrap_or_default().to_owned(),
        detail: f.detail().map(str::to_owned),
    }
}

/// A task as the engine sees it.
pub fn observed_task(t: &ecs::Task) -> ObservedTask {
    ObservedTask {
        arn: t.task_arn().unwrap_or_default().to_owned(),
        task_definition: t.task_definition_arn().unwrap_or_default().to_owned(),
        last_status: t.last_status().unwrap_or_default().into(),
        desired_status: t.desired_status().unwrap_or_default().into(),
        group: t.group().map(str::to_owned),
        tags: tag_map(t.tags.as_deref()),
        stopped_reason: t.stopped_reason().map(str::to_owned),
        stop_code: t.stop_code().map(|c| c.as_str().into()),
        stopped_at: t.stopped_at().map(|d| d.secs()),
        created_at: t.created_at().map(|d| d.secs()),
    }
}

/// The free CPU and memory of a container instance.
pub fn instance_capacity(i: &ecs::ContainerInstance) -> InstanceCapacity {
    let remaining = |name: &str| {
        i.remaining_resources()
            .iter()
            .find(|r| r.name() == Some(name))
            .map_or(0, |r| {
                if r.integer_value != 0 {
                    i64::from(r.integer_value)
                } else {
                    r.long_value
                }
            })
    };
    InstanceCapacity {
        arn: i.container_instance_arn().unwrap_or_default().to_owned(),
        remaining_cpu: remaining("CPU"),
        remaining_memory: remaining("MEMORY"),
    }
}

/// The deployment configuration members a group does not manage, to send back unchanged.
fn deployment_kept(d: &ecs::DeploymentConfiguration) -> plan::DeploymentKept {
    plan::DeploymentKept {
        alarms: d.alarms().map(|a| plan::DeploymentAlarms {
            alarm_names: a.alarm_names().to_vec(),
            enable: a.enable(),
            rollback: a.rollback(),
        }),
        strategy: d.strategy().map(|s| s.as_str().to_owned()),
        bake_time_in_minutes: d.bake_time_in_minutes(),
    }
}
