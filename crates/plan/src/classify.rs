//! What a group's service is to this controller, decided once: missing, draining, another
//! deployment controller's, someone else's, adoptable, rolled back, converged or drifted.
//! `plan_group` acts on this classification, and the engine's "what must be observed next"
//! (`task_definition_lookup_needed`) is derived from it, so the two cannot drift apart.
//! Ownership (the managed-by tag) is decided by [`owner`] alone.

use std::collections::BTreeMap;

use spec::render::{
    TAG_ADOPTABLE, TAG_MANAGED_BY, TAG_ROLLED_BACK, TAG_SPEC_HASH, TAG_TASK_DEFINITION,
};
use spec::Mode;

use crate::action::Rollback;
use crate::desired::DesiredGroup;
use crate::ecs_state::{RolloutState, ServiceStatus};
use crate::observed::{ObservedService, ObservedTask};

/// Who manages a resource, by its managed-by tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner<'a> {
    /// This controller (its id).
    This,
    /// Another controller id.
    Another(&'a str),
    /// No controller: made by hand or by another tool.
    Nobody,
}

/// The owner of a resource with `tags`, as seen by the controller `controller_id`.
pub fn owner<'a>(tags: &'a BTreeMap<String, String>, controller_id: &str) -> Owner<'a> {
    match tags.get(TAG_MANAGED_BY) {
        None => Owner::Nobody,
        Some(id) if id == controller_id => Owner::This,
        Some(other) => Owner::Another(other),
    }
}

impl ObservedService {
    /// Managed by the controller `controller_id`.
    pub fn is_ours(&self, controller_id: &str) -> bool {
        owner(&self.tags, controller_id) == Owner::This
    }
}

impl ObservedTask {
    /// Managed by the controller `controller_id`.
    pub fn is_ours(&self, controller_id: &str) -> bool {
        owner(&self.tags, controller_id) == Owner::This
    }
}

/// What the group's service is to this controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceClass<'a> {
    /// No ACTIVE service of that name.
    Missing,
    /// Deleted and still stopping its tasks: its name is blocked until it is INACTIVE.
    Draining(&'a ObservedService),
    /// Deployed by CodeDeploy or an external controller, which UpdateService cannot drive.
    OtherDeploymentController(&'a ObservedService, &'a str),
    /// Managed by nobody or another controller, and not to be adopted.
    Foreign(&'a ObservedService, Owner<'a>),
    /// Unmanaged, and the group asks to adopt it.
    Adoptable(&'a ObservedService),
    /// Ours; ECS's circuit breaker rolled back the revision the current spec deployed.
    RolledBack(&'a ObservedService, Rollback),
    /// Ours, and its tags say it runs the current spec's revision.
    Converged(&'a ObservedService),
    /// Ours, and not (yet) what the files ask.
    Drifted(&'a ObservedService),
}

/// Classifies the group's service (`None` for tasks mode: there is none).
pub fn classify<'a>(
    desired: &DesiredGroup,
    service: Option<&'a ObservedService>,
    controller_id: &str,
) -> Option<ServiceClass<'a>> {
    if desired.mode() != Mode::Service {
        return None;
    }
    let Some(s) = service else {
        return Some(ServiceClass::Missing);
    };
    Some(match &s.status {
        ServiceStatus::Draining => ServiceClass::Draining(s),
        ServiceStatus::Active => {
            // UpdateService cannot change the task definition or network of a service that
            // CodeDeploy or an external controller deploys (ECS API reference, UpdateService).
            let deployer = s.deployment_controller.as_deref().unwrap_or("ECS");
            if deployer != "ECS" {
                return Some(ServiceClass::OtherDeploymentController(s, deployer));
            }
            match owner(&s.tags, controller_id) {
                Owner::This => match rollback_of(desired, s) {
                    Some(r) => ServiceClass::RolledBack(s, r),
                    None if converged_by_tags(desired, s) => ServiceClass::Converged(s),
                    None => ServiceClass::Drifted(s),
                },
                Owner::Nobody if adoptable(desired, s) => ServiceClass::Adoptable(s),
                other => ServiceClass::Foreign(s, other),
            }
        }
        _ => ServiceClass::Missing,
    })
}

/// Whether the engine must look up task definitions (the service's revision, the family's
/// latest) before planning this group: derived from the classification. A converged service
/// is recognised from its tags alone, and one held at the revision ECS rolled back to (as
/// recorded) needs nothing either. Tasks mode looks up the revisions its tasks run instead.
pub fn task_definition_lookup_needed(
    desired: &DesiredGroup,
    service: Option<&ObservedService>,
    controller_id: &str,
) -> bool {
    if desired.group.spec.suspend {
        return false;
    }
    match classify(desired, service, controller_id) {
        Some(ServiceClass::Missing | ServiceClass::Adoptable(_) | ServiceClass::Drifted(_)) => true,
        Some(ServiceClass::RolledBack(s, r)) => r.running != s.task_definition,
        _ => false,
    }
}

/// The group asks to adopt (`spec.service.adopt`), no controller manages the service, and it is
/// not marked never to be adopted (the controller's own service is).
fn adoptable(desired: &DesiredGroup, service: &ObservedService) -> bool {
    let adopt = desired.group.spec.service.as_ref().is_some_and(|s| s.adopt);
    adopt && service.tags.get(TAG_ADOPTABLE).map(String::as_str) != Some("false")
}

pub(crate) fn converged_by_tags(desired: &DesiredGroup, service: &ObservedService) -> bool {
    service.tags.get(TAG_SPEC_HASH) == Some(&desired.rendered.spec_hash)
        && service.tags.get(TAG_TASK_DEFINITION) == Some(&service.task_definition)
}

/// The rollback ECS's circuit breaker made of the spec this group still wants, if any.
///
/// The service's spec-hash tag names the current spec and its task-definition tag the revision
/// the controller deployed for it; ECS rolled that deployment back when the service runs
/// another revision and either the controller recorded the rollback (the rolled-back tag), or
/// ECS shows it: a FAILED deployment of that revision still in the list, or, after it left
/// the list, a rolled-back service deployment from that revision to the running one
/// (ListServiceDeployments, status ROLLBACK_SUCCESSFUL). A hand edit has neither, and stays
/// drift. No free text is read.
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
    let recorded = service
        .rolled_back
        .as_ref()
        .is_some_and(|r| r.failed == *failed && r.running == service.task_definition);
    (failed_deployment(service, failed) || recorded).then(|| Rollback {
        failed: failed.clone(),
        running: service.task_definition.clone(),
    })
}

/// A FAILED deployment of `task_definition` in the service's deployments list (while ECS still
/// lists it: it leaves the list once the rollback completes).
fn failed_deployment(service: &ObservedService, task_definition: &str) -> bool {
    let deployments = service.deployments.iter();
    deployments
        .filter(|d| d.rollout_state == Some(RolloutState::Failed))
        .any(|d| d.task_definition == task_definition)
}

/// Whether only ECS's service deployments can tell a rollback from a hand edit: the service is
/// this group's spec, runs another revision than the one the controller set, and neither the
/// rolled-back tag nor a FAILED deployment in the list says why. Costs ListServiceDeployments,
/// DescribeServiceDeployments and DescribeServiceRevisions, for such services only.
pub fn rollback_evidence_needed(desired: &DesiredGroup, service: &ObservedService) -> bool {
    let tags = &service.tags;
    let set = tags.get(TAG_TASK_DEFINITION);
    service.is_active()
        && tags.get(TAG_SPEC_HASH) == Some(&desired.rendered.spec_hash)
        && !tags.contains_key(TAG_ROLLED_BACK)
        && set.is_some_and(|set| *set != service.task_definition)
        && !set.is_some_and(|set| failed_deployment(service, set))
}
