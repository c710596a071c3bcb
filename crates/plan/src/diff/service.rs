//! A service against its document: the fields UpdateService can change, those it cannot
//! (a replacement), and the controller's tags that are stale, compared the way ECS echoes them.

use super::*;
use spec::document::describe_capacity;
use spec::CapacityProviderItem;

pub(super) fn is_subset(
    wanted: &BTreeMap<String, String>,
    have: &BTreeMap<String, String>,
) -> bool {
    wanted.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Differences UpdateService cannot make.
pub(super) fn immutable_changes(
    document: &ServiceDocument,
    service: &ObservedService,
) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    // An awsvpc service keeps its network configuration: ECS refuses an UpdateService that
    // points it at a bridge or host task definition, so leaving awsvpc is a replacement.
    if let (Some(live), None) = (&service.network, &document.network_configuration) {
        changes.push(FieldChange::new(
            "networkMode",
            format!("awsvpc ({})", describe_network(live)),
            "bridge or host (no network configuration)",
        ));
    }
    // UpdateService has no launchType: a different launch type, or a launch type instead of a
    // capacity provider strategy (which "back to the launch type" would not choose), is a
    // replacement. Without a launch type the group leaves it to the strategy (below) or to
    // the cluster's default.
    if let Some(wanted) = &document.launch_type {
        match &service.launch_type {
            Some(live) if live != wanted => {
                changes.push(FieldChange::new("launchType", live, wanted));
            }
            None if !service.capacity_provider_strategy.is_empty() => {
                let live = describe_capacity(None, &service.capacity_provider_strategy);
                changes.push(FieldChange::new("launchType", live, wanted));
            }
            _ => {}
        }
    }
    changes.extend(echoed_change(
        "schedulingStrategy",
        &service.scheduling_strategy,
        &document.scheduling_strategy,
    ));
    changes
}

/// Differences UpdateService can make, field by field, and the members that carry them.
pub(super) fn service_changes(
    document: &ServiceDocument,
    service: &ObservedService,
    task_definition: &TaskDefinitionRef,
) -> (Vec<FieldChange>, ServiceMembers) {
    use ServiceMember::*;
    let mut changes = Vec::new();
    let mut members = ServiceMembers::new();
    let mut change = |member: ServiceMember, change: FieldChange| {
        members.insert(member);
        changes.push(change);
    };
    // The caller set desired_count to what the count rule wants of this service.
    if service.desired_count != document.desired_count {
        let (from, to) = (service.desired_count, document.desired_count);
        change(DesiredCount, FieldChange::new("desiredCount", from, to));
    }
    match task_definition {
        TaskDefinitionRef::Existing(arn) if *arn == service.task_definition => {}
        wanted => {
            let live = task_definition_short(&service.task_definition);
            change(
                TaskDefinition,
                FieldChange::new("taskDefinition", live, wanted),
            );
        }
    }
    if let Some(wanted) = document
        .network_configuration
        .as_ref()
        .map(|n| &n.awsvpc_configuration)
    {
        let live = service.network.as_ref();
        if live.map(normalise_network) != Some(normalise_network(wanted)) {
            let field = "networkConfiguration.awsvpcConfiguration";
            let live = live.map_or("none".into(), describe_network);
            let to = describe_network(wanted);
            change(NetworkConfiguration, FieldChange::new(field, live, to));
        }
    }
    if let Some(live) = &service.deployment_configuration {
        for c in deployment_changes(live, &document.deployment_configuration) {
            change(DeploymentConfiguration, c);
        }
    }
    if let Some(live) = &service.placement_strategy {
        if *live != document.placement_strategy {
            let text = |p: &[spec::document::PlacementStrategy]| {
                p.iter()
                    .map(|s| format!("{}({})", s.kind, s.field.as_deref().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let (from, to) = (text(live), text(&document.placement_strategy));
            change(
                PlacementStrategy,
                FieldChange::new("placementStrategy", from, to),
            );
        }
    }
    let wanted = &document.capacity_provider_strategy;
    if !wanted.is_empty() && !same_strategy(&service.capacity_provider_strategy, wanted) {
        let live = describe_capacity(
            service.launch_type.as_deref(),
            &service.capacity_provider_strategy,
        );
        let field = "capacityProviderStrategy";
        let to = describe_capacity(None, wanted);
        change(CapacityProviderStrategy, FieldChange::new(field, live, to));
        if service.launch_type.is_some() {
            // From a launch type, the change takes a new deployment (see ForceNewDeployment).
            let field = "forceNewDeployment";
            change(ForceNewDeployment, FieldChange::new(field, false, true));
        }
    }
    if service.enable_execute_command != document.enable_execute_command {
        let (from, to) = (
            service.enable_execute_command,
            document.enable_execute_command,
        );
        let field = "enableExecuteCommand";
        change(EnableExecuteCommand, FieldChange::new(field, from, to));
    }
    let propagate = echoed_change(
        "propagateTags",
        &service.propagate_tags,
        &document.propagate_tags,
    );
    if let Some(c) = propagate {
        change(PropagateTags, c);
    }
    (changes, members)
}

/// Two strategies alike, in any order, an absent weight or base being 0 (the model's default).
fn same_strategy(live: &[CapacityProviderItem], wanted: &[CapacityProviderItem]) -> bool {
    let key = |items: &[CapacityProviderItem]| {
        let mut keys: Vec<(String, i32, i32)> = items
            .iter()
            .map(|i| {
                let name = i.capacity_provider.clone();
                (name, i.weight.unwrap_or(0), i.base.unwrap_or(0))
            })
            .collect();
        keys.sort();
        keys
    };
    key(live) == key(wanted)
}

/// A field that not every answer carries: a change only when ECS echoed it and it differs.
fn echoed_change(field: &str, live: &Option<String>, wanted: &str) -> Option<FieldChange> {
    let live = live.as_deref().filter(|live| *live != wanted)?;
    Some(FieldChange::new(field, live, wanted))
}

pub(super) fn deployment_changes(
    live: &DeploymentConfiguration,
    wanted: &DeploymentConfiguration,
) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    let prefix = "deploymentConfiguration";
    if live.minimum_healthy_percent != wanted.minimum_healthy_percent {
        changes.push(FieldChange::new(
            &format!("{prefix}.minimumHealthyPercent"),
            live.minimum_healthy_percent,
            wanted.minimum_healthy_percent,
        ));
    }
    if live.maximum_percent != wanted.maximum_percent {
        changes.push(FieldChange::new(
            &format!("{prefix}.maximumPercent"),
            live.maximum_percent,
            wanted.maximum_percent,
        ));
    }
    let (l, w) = (
        live.deployment_circuit_breaker,
        wanted.deployment_circuit_breaker,
    );
    if l != w {
        changes.push(FieldChange::new(
            &format!("{prefix}.deploymentCircuitBreaker"),
            format!("enable={} rollback={}", l.enable, l.rollback),
            format!("enable={} rollback={}", w.enable, w.rollback),
        ));
    }
    changes
}

pub(super) fn normalise_network(n: &AwsVpcConfiguration) -> (Vec<String>, Vec<String>, String) {
    let mut subnets = n.subnets.clone();
    subnets.sort();
    let mut groups = n.security_groups.clone();
    groups.sort();
    (subnets, groups, n.assign_public_ip.clone())
}

pub(super) fn describe_network(n: &AwsVpcConfiguration) -> String {
    let (subnets, groups, public_ip) = normalise_network(n);
    format!(
        "subnets=[{}] securityGroups=[{}] assignPublicIp={public_ip}",
        subnets.join(","),
        groups.join(",")
    )
}

/// Tags on the service that the group owns but no longer wants: the controller's own keys
/// (selectors removed, a rollback record of an older spec), and user tags the controller wrote
/// (its tag-keys tag lists them) that the spec dropped. A tag someone else put on the service
/// is never listed there, and is never removed.
pub(super) fn stale_tags(
    service: &ObservedService,
    wanted: &BTreeMap<String, String>,
) -> Vec<String> {
    let written = service
        .tags
        .get(TAG_TAG_KEYS)
        .map(|v| decode_tag_keys(v))
        .unwrap_or_default();
    let mut stale: Vec<String> = service
        .tags
        .keys()
        .filter(|k| k.starts_with(TAG_PREFIX) || written.contains(*k))
        .filter(|k| !wanted.contains_key(*k))
        .cloned()
        .collect();
    stale.sort();
    stale
}
