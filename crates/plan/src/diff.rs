//! The decision: desired + observed -> the group's ordered actions.
//!
//! Only what the controller owns is compared, normalised the way ECS echoes it (lists of subnets
//! and security groups as sets, absent fields not compared), so a converged group plans nothing.

use spec::arn::task_definition_short;
use std::collections::BTreeMap;

use spec::document::{AwsVpcConfiguration, DeploymentConfiguration, ServiceDocument};
use spec::render::{
    decode_tag_keys, STOP_REASON_PREFIX, TAG_ADOPTABLE, TAG_MANAGED_BY, TAG_PREFIX,
    TAG_ROLLED_BACK, TAG_SPEC_HASH, TAG_TAG_KEYS, TAG_TASK_DEFINITION,
};
use spec::Mode;

use crate::action::{
    Action, FieldChange, GroupError, GroupPlan, Replacement, Rollback, TaskDefinitionRef,
};
use crate::desired::DesiredGroup;
use crate::observed::{ObservedGroup, ObservedService, ObservedTask, ObservedTaskDefinition};
use crate::vocab::Reason;

/// Settings that shape every group's plan and its application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanOptions {
    /// Value of the managed-by tag: resources with another value are not this controller's.
    pub controller_id: String,
    /// Carry out replace-service (delete, then create) instead of refusing it.
    pub allow_replace: bool,
}

/// Whether the engine must look up task definitions (the service's revision, the family's latest)
/// before planning this group. A converged service is recognised from its tags alone: the
/// spec-hash matches and the service still runs the revision its task-definition tag names.
pub fn task_definition_lookup_needed(
    desired: &DesiredGroup,
    service: Option<&ObservedService>,
    options: &PlanOptions,
) -> bool {
    // Tasks mode looks up the revisions its tasks run instead (see the engine).
    if desired.group.spec.suspend || desired.mode() != Mode::Service {
        return false;
    }
    match service.filter(|s| s.is_active()) {
        None => true,
        Some(s) if !owned_by(s, &options.controller_id) => adoptable(desired, s),
        // Held at the revision ECS rolled back to, as recorded: nothing to look up either.
        Some(s) => {
            !converged_by_tags(desired, s)
                && rollback_of(desired, s).is_none_or(|r| r.running != s.task_definition)
        }
    }
}

/// The rollback ECS's circuit breaker made of the spec this group still wants, if any.
///
/// The service's spec-hash tag names the current spec and its task-definition tag the revision
/// the controller deployed for it; ECS rolled that deployment back when the service runs
/// another revision and either the controller recorded the rollback (the rolled-back tag), or
/// ECS still shows it: a FAILED deployment of that revision, or a primary deployment that ECS's
/// "rolling back to deployment" event names. A hand edit has neither, and stays drift.
/// <https://docs.aws.amazon.com/AmazonECS/latest/developerguide/deployment-circuit-breaker.html>
pub fn rollback_of(desired: &DesiredGroup, service: &ObservedService) -> Option<Rollback> {
    if !service.is_active() || service.tags.get(TAG_SPEC_HASH) != Some(&desired.rendered.spec_hash)
    {
        return None;
    }
    let failed = service.tags.get(TAG_TASK_DEFINITION)?;
    if let Some(running) = service.tags.get(TAG_ROLLED_BACK) {
        return Some(Rollback {
            failed: failed.clone(),
            running: running.clone(),
        });
    }
    if *failed == service.task_definition {
        return None;
    }
    let failed_deployment = service
        .deployments
        .iter()
        .any(|d| d.rollout_state.as_deref() == Some("FAILED") && d.task_definition == *failed);
    let primary = service.deployments.first();
    let rolling_back = primary.is_some_and(|p| {
        service.rollback_deployment.as_ref() == Some(&p.id)
            && p.task_definition == service.task_definition
    });
    (failed_deployment || rolling_back).then(|| Rollback {
        failed: failed.clone(),
        running: service.task_definition.clone(),
    })
}

/// The group asks to adopt (`spec.service.adopt`), no controller manages the service, and it is
/// not marked never to be adopted (the controller's own service is).
fn adoptable(desired: &DesiredGroup, service: &ObservedService) -> bool {
    let adopt = desired.group.spec.service.as_ref().is_some_and(|s| s.adopt);
    adopt
        && !service.tags.contains_key(TAG_MANAGED_BY)
        && service.tags.get(TAG_ADOPTABLE).map(String::as_str) != Some("false")
}

fn owned_by(service: &ObservedService, controller_id: &str) -> bool {
    service.tags.get(TAG_MANAGED_BY).map(String::as_str) == Some(controller_id)
}

fn converged_by_tags(desired: &DesiredGroup, service: &ObservedService) -> bool {
    service.tags.get(TAG_SPEC_HASH) == Some(&desired.rendered.spec_hash)
        && service.tags.get(TAG_TASK_DEFINITION) == Some(&service.task_definition)
}

fn has_hash(revision: Option<&ObservedTaskDefinition>, hash: &str) -> Option<String> {
    revision
        .filter(|r| {
            r.status == "ACTIVE"
                && r.spec_hash
                    .as_ref()
                    .or(r.document_hash.as_ref())
                    .map(String::as_str)
                    == Some(hash)
        })
        .map(|r| r.arn.clone())
}

/// Plans one group.
pub fn plan_group(
    desired: &DesiredGroup,
    observed: &ObservedGroup,
    options: &PlanOptions,
) -> GroupPlan {
    let mut plan = GroupPlan {
        group: desired.name().into(),
        cluster: desired.cluster().into(),
        target: desired.target.clone(),
        actions: Vec::new(),
        error: None,
        suspended: desired.group.spec.suspend,
    };
    let service = observed.service.as_ref();
    if let Some(s) = service.filter(|_| desired.mode() == Mode::Service) {
        if s.status == "DRAINING" {
            // Transient: ECS makes it INACTIVE once its tasks have stopped, so it is retried
            // with backoff rather than left until the next resync.
            plan.error = Some(
                GroupError::new(
                    Reason::ServiceDraining,
                    format!(
                        "service {} is DRAINING after a deletion; it can be created again once it is INACTIVE",
                        s.name
                    ),
                )
                .retryable(true),
            );
            return plan;
        }
        // UpdateService cannot change the task definition or network of a service that
        // CodeDeploy or an external controller deploys (ECS API reference, UpdateService).
        let controller = s.deployment_controller.as_deref().unwrap_or("ECS");
        if s.is_active() && controller != "ECS" {
            plan.error = Some(GroupError::new(
                Reason::DeploymentControllerUnsupported,
                format!(
                    "service {} is deployed by the {controller} deployment controller, which \
                     UpdateService cannot drive; this controller manages and adopts only services \
                     of the ECS deployment controller. It was left unchanged",
                    s.name
                ),
            ));
            return plan;
        }
        let live = observed.service_task_definition.as_ref();
        if let Some(td) = live.filter(|_| s.is_active() && !owned_by(s, &options.controller_id)) {
            if !td.unsupported.is_empty() {
                plan.error = Some(GroupError::new(
                    Reason::ConflictUnmanaged,
                    format!(
                        "service {} runs {}, which uses {}: a DelegateGroup cannot express that, \
                         so adopting it would register a revision without it; it was left \
                         unchanged",
                        s.name,
                        task_definition_short(&td.arn),
                        td.unsupported.join(", ")
                    ),
                ));
                return plan;
            }
        }
        if s.is_active() && !owned_by(s, &options.controller_id) && !adoptable(desired, s) {
            plan.error = Some(GroupError::new(
                Reason::ConflictUnmanaged,
                conflict_message(s, desired, &options.controller_id),
            ));
            return plan;
        }
    }
    if plan.suspended {
        return plan;
    }

    let service = service.filter(|s| s.is_active() && desired.mode() == Mode::Service);
    let (task_definition, register) = task_definition_to_run(desired, observed, service);

    if desired.mode() == Mode::Tasks {
        plan.actions.extend(register);
        plan_tasks(desired, observed, task_definition, &mut plan);
        return plan;
    }
    let Some(document) = desired.rendered.service.clone() else {
        return plan;
    };
    let Some(service) = service else {
        if let Some(previous) = &observed.previous_service {
            // A new name is a new service: creating it alone would run twice the delegates
            // until a prune. It replaces the old one (deleted, then the new one created).
            let changes = vec![FieldChange::new(
                "serviceName",
                &previous.name,
                &document.service_name,
            )];
            let arn = previous.arn.clone();
            replace(
                &mut plan,
                options,
                register,
                arn,
                changes,
                document,
                task_definition,
            );
            return plan;
        }
        plan.actions.extend(register);
        plan.actions.push(Action::CreateService {
            document,
            task_definition,
        });
        return plan;
    };

    let id = &options.controller_id;
    if let Some(rollback) = rollback_of(desired, service) {
        // Not deployed again: ECS would fail and roll it back again, forever. The service is
        // held at the revision ECS went back to (a hand edit is put back to it), and its tags
        // record the rollback so that a restarted controller knows it too.
        let target = TaskDefinitionRef::Existing(rollback.running.clone());
        let changes = service_changes(&document, service, &target);
        let mut wanted = desired.service_tags(id, &rollback.failed);
        wanted.insert(TAG_ROLLED_BACK.into(), rollback.running.clone());
        let untag = stale_tags(service, &wanted);
        let retag = !is_subset(&wanted, &service.tags);
        if !changes.is_empty() || retag || !untag.is_empty() {
            plan.actions.push(Action::UpdateService {
                service_arn: service.arn.clone(),
                document,
                task_definition: target,
                changes,
                retag,
                untag,
                rollback: Some(rollback),
                adopt: false,
            });
        }
        return plan;
    }
    let immutable = immutable_changes(&document, service);
    if !immutable.is_empty() {
        let arn = service.arn.clone();
        replace(
            &mut plan,
            options,
            register,
            arn,
            immutable,
            document,
            task_definition,
        );
        return plan;
    }
    plan.actions.extend(register);
    let changes = service_changes(&document, service, &task_definition);
    let (wanted, tags_behind) = match &task_definition {
        TaskDefinitionRef::Existing(arn) => {
            let wanted = desired.service_tags(id, arn);
            let behind = !is_subset(&wanted, &service.tags);
            (wanted, behind)
        }
        // The revision's ARN is known once registered; the keys are known now.
        TaskDefinitionRef::ToRegister { .. } => (desired.service_tags(id, ""), true),
    };
    let untag = stale_tags(service, &wanted);
    if !changes.is_empty() || tags_behind || !untag.is_empty() {
        plan.actions.push(Action::UpdateService {
            service_arn: service.arn.clone(),
            document,
            task_definition,
            changes,
            retag: tags_behind,
            untag,
            rollback: None,
            adopt: !service.tags.contains_key(TAG_MANAGED_BY),
        });
    }
    plan
}

/// Plans the replacement of `service_arn`. Whether it may be carried out is decided here, not
/// when applying: a refused replacement registers nothing either.
fn replace(
    plan: &mut GroupPlan,
    options: &PlanOptions,
    register: Option<Action>,
    service_arn: String,
    changes: Vec<FieldChange>,
    document: ServiceDocument,
    task_definition: TaskDefinitionRef,
) {
    let replacement = if options.allow_replace {
        plan.actions.extend(register);
        Replacement::Allowed
    } else {
        Replacement::Refused
    };
    plan.actions.push(Action::ReplaceService {
        service_arn,
        changes,
        document,
        task_definition,
        replacement,
    });
}

/// Tags on the service that the group owns but no longer wants: the controller's own keys
/// (selectors removed, a rollback record of an older spec), and user tags the controller wrote
/// (its tag-keys tag lists them) that the spec dropped. A tag someone else put on the service
/// is never listed there, and is never removed.
fn stale_tags(service: &ObservedService, wanted: &BTreeMap<String, String>) -> Vec<String> {
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

/// The revision the group should run: one that exists with the desired hash (the one the
/// service runs, the one its tag names, one its tasks run, the family's latest), else one to
/// register, with the registration that makes it.
fn task_definition_to_run(
    desired: &DesiredGroup,
    observed: &ObservedGroup,
    service: Option<&ObservedService>,
) -> (TaskDefinitionRef, Option<Action>) {
    if let Some(s) = service.filter(|s| converged_by_tags(desired, s)) {
        return (TaskDefinitionRef::Existing(s.task_definition.clone()), None);
    }
    let hash = &desired.rendered.spec_hash;
    let existing = has_hash(observed.service_task_definition.as_ref(), hash)
        .or_else(|| has_hash(observed.tagged_task_definition.as_ref(), hash))
        .or_else(|| {
            observed
                .task_revisions
                .iter()
                .find_map(|r| has_hash(Some(r), hash))
        })
        .or_else(|| has_hash(observed.latest_revision.as_ref(), hash));
    match existing {
        Some(arn) => (TaskDefinitionRef::Existing(arn), None),
        None => (
            TaskDefinitionRef::ToRegister {
                family: desired.rendered.task_definition.family.clone(),
                spec_hash: hash.clone(),
            },
            Some(Action::RegisterTaskDefinition {
                document: desired.rendered.task_definition.clone(),
                spec_hash: hash.clone(),
                changes: Vec::new(),
            }),
        ),
    }
}

/// Tasks mode: start what is missing on the desired revision; stop the surplus; stop tasks of
/// other revisions only once the desired revision runs the full count (start before stop).
fn plan_tasks(
    desired: &DesiredGroup,
    observed: &ObservedGroup,
    task_definition: TaskDefinitionRef,
    plan: &mut GroupPlan,
) {
    let Some(document) = desired.rendered.run_task.clone() else {
        return;
    };
    let want = usize::try_from(desired.group.spec.count).unwrap_or(0);
    let wanted_arn = match &task_definition {
        TaskDefinitionRef::Existing(arn) => Some(arn.clone()),
        TaskDefinitionRef::ToRegister { .. } => None,
    };
    let live: Vec<_> = observed.tasks.iter().filter(|t| t.is_live()).collect();
    let (mut current, mut old): (Vec<_>, Vec<_>) = live
        .into_iter()
        .partition(|t| Some(&t.task_definition) == wanted_arn.as_ref());
    if current.len() < want {
        plan.actions.push(Action::RunTask {
            document: document.clone(),
            task_definition,
            count: i32::try_from(want - current.len()).unwrap_or(i32::MAX),
        });
    }
    let stop = |task: &ObservedTask, reason: &str| Action::StopTask {
        cluster: desired.cluster().into(),
        task_arn: task.arn.clone(),
        reason: format!("{STOP_REASON_PREFIX} {reason}"),
    };
    // The newest surplus tasks go first: the long-running ones have proved themselves.
    current.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    let surplus = current.len().saturating_sub(want);
    for task in current.iter().take(surplus) {
        plan.actions.push(stop(task, "scale down"));
    }
    let running_current = current.iter().filter(|t| t.is_running()).count();
    if running_current >= want {
        old.sort_by_key(|t| t.created_at);
        for task in old {
            plan.actions.push(stop(
                task,
                &format!(
                    "replaced by {}",
                    task_definition_short(wanted_arn.as_deref().unwrap_or_default())
                ),
            ));
        }
    }
}

fn conflict_message(
    service: &ObservedService,
    desired: &DesiredGroup,
    controller_id: &str,
) -> String {
    if service.tags.get(TAG_ADOPTABLE).map(String::as_str) == Some("false") {
        return format!(
            "service {} in cluster {} is marked {TAG_ADOPTABLE}=false (the controller's own \
             service is): it is never adopted and was left unchanged",
            service.name,
            desired.cluster()
        );
    }
    match service.tags.get(TAG_MANAGED_BY) {
        None => format!(
            "service {} already exists in cluster {} and is not managed by this controller \
             (no {TAG_MANAGED_BY} tag); it was left unchanged — adopt it with `import`",
            service.name,
            desired.cluster()
        ),
        Some(other) => format!(
            "service {} in cluster {} is managed by controller id {other:?}, not {controller_id:?}; \
             it was left unchanged",
            service.name,
            desired.cluster()
        ),
    }
}

fn is_subset(wanted: &BTreeMap<String, String>, have: &BTreeMap<String, String>) -> bool {
    wanted.iter().all(|(k, v)| have.get(k) == Some(v))
}

/// Differences UpdateService cannot make.
fn immutable_changes(document: &ServiceDocument, service: &ObservedService) -> Vec<FieldChange> {
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
    if let Some(live) = &service.launch_type {
        if *live != document.launch_type {
            changes.push(FieldChange::new("launchType", live, &document.launch_type));
        }
    }
    if let Some(live) = &service.scheduling_strategy {
        if *live != document.scheduling_strategy {
            changes.push(FieldChange::new(
                "schedulingStrategy",
                live,
                &document.scheduling_strategy,
            ));
        }
    }
    changes
}

/// Differences UpdateService can make, field by field.
fn service_changes(
    document: &ServiceDocument,
    service: &ObservedService,
    task_definition: &TaskDefinitionRef,
) -> Vec<FieldChange> {
    let mut changes = Vec::new();
    if service.desired_count != document.desired_count {
        changes.push(FieldChange::new(
            "desiredCount",
            service.desired_count,
            document.desired_count,
        ));
    }
    match task_definition {
        TaskDefinitionRef::Existing(arn) if *arn == service.task_definition => {}
        wanted => changes.push(FieldChange::new(
            "taskDefinition",
            task_definition_short(&service.task_definition),
            wanted,
        )),
    }
    if let Some(wanted) = document
        .network_configuration
        .as_ref()
        .map(|n| &n.awsvpc_configuration)
    {
        let live = service.network.as_ref();
        if live.map(normalise_network) != Some(normalise_network(wanted)) {
            changes.push(FieldChange::new(
                "networkConfiguration.awsvpcConfiguration",
                live.map_or("none".into(), describe_network),
                describe_network(wanted),
            ));
        }
    }
    if let Some(live) = &service.deployment_configuration {
        deployment_changes(live, &document.deployment_configuration, &mut changes);
    }
    if let Some(live) = &service.placement_strategy {
        if *live != document.placement_strategy {
            let text = |p: &[spec::document::PlacementStrategy]| {
                p.iter()
                    .map(|s| format!("{}({})", s.kind, s.field.as_deref().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            changes.push(FieldChange::new(
                "placementStrategy",
                text(live),
                text(&document.placement_strategy),
            ));
        }
    }
    if service.enable_execute_command != document.enable_execute_command {
        changes.push(FieldChange::new(
            "enableExecuteCommand",
            service.enable_execute_command,
            document.enable_execute_command,
        ));
    }
    if let Some(live) = &service.propagate_tags {
        if *live != document.propagate_tags {
            changes.push(FieldChange::new(
                "propagateTags",
                live,
                &document.propagate_tags,
            ));
        }
    }
    changes
}

fn deployment_changes(
    live: &DeploymentConfiguration,
    wanted: &DeploymentConfiguration,
    changes: &mut Vec<FieldChange>,
) {
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
}

fn normalise_network(n: &AwsVpcConfiguration) -> (Vec<String>, Vec<String>, String) {
    let mut subnets = n.subnets.clone();
    subnets.sort();
    let mut groups = n.security_groups.clone();
    groups.sort();
    (subnets, groups, n.assign_public_ip.clone())
}

fn describe_network(n: &AwsVpcConfiguration) -> String {
    let (subnets, groups, public_ip) = normalise_network(n);
    format!(
        "subnets=[{}] securityGroups=[{}] assignPublicIp={public_ip}",
        subnets.join(","),
        groups.join(",")
    )
}

#[cfg(test)]
mod tests;
