//! The decision: desired + observed -> the group's ordered actions.
//!
//! Only what the controller owns is compared, normalised the way ECS echoes it (lists of subnets
//! and security groups as sets, absent fields not compared), so a converged group plans nothing.

use spec::arn::task_definition_short;
use std::collections::BTreeMap;

use spec::document::{AwsVpcConfiguration, DeploymentConfiguration, ServiceDocument};
use spec::render::{
    decode_tag_keys, STOP_REASON_PREFIX, TAG_ADOPTABLE, TAG_MANAGED_BY, TAG_PREFIX,
    TAG_ROLLED_BACK, TAG_TAG_KEYS,
};
use spec::Mode;

use crate::action::{Action, FieldChange, GroupError, GroupPlan, Replacement, TaskDefinitionRef};
use crate::classify::{classify, converged_by_tags, Owner, ServiceClass};
use crate::desired::DesiredGroup;
use crate::ecs_state::TaskDefinitionStatus;
use crate::observed::{ObservedGroup, ObservedService, ObservedTask, ObservedTaskDefinition};
use crate::update::{ServiceMember, ServiceMembers};
use crate::vocab::Reason;

mod service;
use service::*;

/// Settings that shape every group's plan and its application.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanOptions {
    /// Value of the managed-by tag: resources with another value are not this controller's.
    pub controller_id: String,
    /// Carry out replace-service (delete, then create) instead of refusing it.
    pub allow_replace: bool,
}

/// Why the group's service must be left alone, if it must: the service classes that refuse
/// a plan, and an adoption whose revision a DelegateGroup cannot express.
fn refusal(
    class: &ServiceClass<'_>,
    observed: &ObservedGroup,
    desired: &DesiredGroup,
    options: &PlanOptions,
) -> Option<GroupError> {
    let not_ours = match class {
        ServiceClass::Draining(s) => {
            // Transient: ECS makes it INACTIVE once its tasks have stopped, so it is retried
            // with backoff rather than left until the next resync.
            return Some(
                GroupError::new(
                    Reason::ServiceDraining,
                    format!(
                        "service {} is DRAINING after a deletion; it can be created again once it is INACTIVE",
                        s.name
                    ),
                )
                .retryable(true),
            );
        }
        ServiceClass::OtherDeploymentController(s, controller) => {
            return Some(GroupError::new(
                Reason::DeploymentControllerUnsupported,
                format!(
                    "service {} is deployed by the {controller} deployment controller, which \
                     UpdateService cannot drive; this controller manages and adopts only services \
                     of the ECS deployment controller. It was left unchanged",
                    s.name
                ),
            ));
        }
        ServiceClass::Foreign(s, _) | ServiceClass::Adoptable(s) => *s,
        _ => return None,
    };
    if let Some(td) = observed.service_task_definition.as_ref() {
        if !td.unsupported.is_empty() {
            return Some(GroupError::new(
                Reason::ConflictUnmanaged,
                format!(
                    "service {} runs {}, which uses {}: a DelegateGroup cannot express that, \
                     so adopting it would register a revision without it; it was left \
                     unchanged",
                    not_ours.name,
                    task_definition_short(&td.arn),
                    td.unsupported.join(", ")
                ),
            ));
        }
    }
    match class {
        ServiceClass::Foreign(s, owner) => Some(GroupError::new(
            Reason::ConflictUnmanaged,
            conflict_message(s, *owner, desired, &options.controller_id),
        )),
        _ => None,
    }
}

fn has_hash(revision: Option<&ObservedTaskDefinition>, hash: &str) -> Option<String> {
    revision
        .filter(|r| {
            r.status == TaskDefinitionStatus::Active
                && r.spec_hash
                    .as_ref()
                    .or(r.document_hash.as_ref())
                    .map(String::as_str)
                    == Some(hash)
        })
        .map(|r| r.arn.clone())
}

/// Plans one group: its service (or tasks), then what its roles allow. A group whose task or
/// execution role is missing or does not trust ECS writes nothing (RoleNotFound,
/// RoleTrustMissing), whatever its service needs.
pub fn plan_group(
    desired: &DesiredGroup,
    observed: &ObservedGroup,
    options: &PlanOptions,
) -> GroupPlan {
    let mut plan = plan_changes(desired, observed, options);
    if let Some(first) = observed.role_problems.first() {
        if !plan.actions.is_empty() && plan.error.is_none() {
            let all: Vec<String> = observed
                .role_problems
                .iter()
                .map(ToString::to_string)
                .collect();
            plan.actions.clear();
            plan.error = Some(GroupError::new(first.reason(), all.join("; ")));
        }
    }
    plan
}

/// The actions that bring the group's service or tasks to the files.
fn plan_changes(
    desired: &DesiredGroup,
    observed: &ObservedGroup,
    options: &PlanOptions,
) -> GroupPlan {
    let mut plan = GroupPlan::empty(desired);
    let class = classify(desired, observed.service.as_ref(), &options.controller_id);
    if let Some(error) = class
        .as_ref()
        .and_then(|c| refusal(c, observed, desired, options))
    {
        plan.error = Some(error);
        return plan;
    }
    if plan.suspended {
        return plan;
    }

    let service = match &class {
        Some(ServiceClass::Missing) | None => None,
        Some(
            ServiceClass::Adoptable(s)
            | ServiceClass::RolledBack(s, _)
            | ServiceClass::Converged(s)
            | ServiceClass::Drifted(s),
        ) => Some(*s),
        // Refused above.
        Some(_) => return plan,
    };
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
        plan.actions.extend(scaling_actions(desired, None, None));
        return plan;
    };

    // The count the service should run now: the file's, the live one moved into a range, or
    // (owned by someone else) the live one. UpdateService sends it only when it changes; a
    // replacement is created with it.
    let mut document = document;
    document.desired_count = match document.count_rule {
        spec::document::CountRule::Fixed => document.desired_count,
        spec::document::CountRule::Within { min, max } => service.desired_count.clamp(min, max),
        spec::document::CountRule::Unowned => service.desired_count,
    };
    let id = &options.controller_id;
    if let Some(ServiceClass::RolledBack(_, rollback)) = class {
        // Not deployed again: ECS would fail and roll it back again, forever. The service is
        // held at the revision ECS went back to (a hand edit is put back to it), and its tags
        // record the rollback so that a restarted controller knows it too.
        let target = TaskDefinitionRef::Existing(rollback.running.clone());
        let (changes, members) = service_changes(&document, service, &target);
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
                members,
                kept: service.kept_deployment(),
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
    let (changes, members) = service_changes(&document, service, &task_definition);
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
            members,
            kept: service.kept_deployment(),
            retag: tags_behind,
            untag,
            rollback: None,
            adopt: matches!(class, Some(ServiceClass::Adoptable(_))),
        });
    }
    plan.actions.extend(scaling_actions(
        desired,
        Some(service),
        observed.scaling.as_ref(),
    ));
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
    let want = usize::try_from(desired.group.spec.fixed_count().unwrap_or(0)).unwrap_or(0);
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
    owner: Owner<'_>,
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
    match owner {
        Owner::Nobody | Owner::This => format!(
            "service {} already exists in cluster {} and is not managed by this controller \
             (no {TAG_MANAGED_BY} tag); it was left unchanged — adopt it with `import`",
            service.name,
            desired.cluster()
        ),
        Owner::Another(other) => format!(
            "service {} in cluster {} is managed by controller id {other:?}, not {controller_id:?}; \
             it was left unchanged",
            service.name,
            desired.cluster()
        ),
    }
}

#[cfg(test)]
mod tests;

/// Application Auto Scaling for a group with a count range: the scalable target (min, max) and
/// the target-tracking policy, registered or put when missing or different (after the service
/// exists: AAS checks it). Without a range, a scalable target the controller registered (its
/// scaling tag on the service) is deregistered; one someone else registered is never touched.
fn scaling_actions(
    desired: &DesiredGroup,
    service: Option<&ObservedService>,
    observed: Option<&crate::observed::ObservedScaling>,
) -> Vec<Action> {
    let Some(document) = desired.rendered.scaling.clone() else {
        let ours = service.is_some_and(|s| s.tags.contains_key(spec::render::TAG_SCALING));
        let registered = observed.is_some_and(|o| o.target.is_some());
        return match (ours && registered, service) {
            (true, Some(_)) => vec![Action::RemoveScaling {
                resource_id: format!(
                    "service/{}/{}",
                    spec::arn::cluster_name(desired.cluster()),
                    desired.service_name()
                ),
            }],
            _ => Vec::new(),
        };
    };
    let mut changes = Vec::new();
    let target = observed.and_then(|o| o.target);
    let wanted = (document.min, document.max);
    let register = target != Some(wanted);
    if register {
        let from = target.map_or("none".into(), |(min, max)| format!("{min}-{max}"));
        changes.push(FieldChange::new(
            "scalableTarget",
            from,
            format!("{}-{}", document.min, document.max),
        ));
    }
    let policy = observed.and_then(|o| o.policy.clone());
    let same_policy = policy.as_ref().is_some_and(|(metric, value)| {
        *metric == document.metric && (value - f64::from(document.target)).abs() < 1e-6
    });
    if !same_policy {
        let from = policy.map_or("none".into(), |(metric, value)| {
            format!("{metric} {value}%")
        });
        changes.push(FieldChange::new(
            "scalingPolicy",
            from,
            format!("{} {}%", document.metric, document.target),
        ));
    }
    if changes.is_empty() {
        return Vec::new();
    }
    vec![Action::PutScaling {
        document,
        register,
        policy: !same_policy,
        changes,
    }]
}
