//! Plans from scripted observations.

use super::*;
use crate::classify::{rollback_evidence_needed, rollback_of, task_definition_lookup_needed};
use crate::observed::ObservedService;
use spec::document::DeploymentCircuitBreaker;
use spec::render::TAG_SPEC_HASH;

const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/d1:1";
const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/d1:2";

fn desired(edit: &str) -> DesiredGroup {
    DesiredGroup::test("d1").spec(edit).build()
}

fn options() -> PlanOptions {
    PlanOptions {
        controller_id: "default".into(),
        ..PlanOptions::default()
    }
}

/// The service as this controller leaves it after converging `d`.
fn converged(d: &DesiredGroup, td: &str) -> ObservedService {
    let tags = d.service_tags("default", td);
    let doc = d.rendered.service.clone().unwrap();
    ObservedService {
        name: doc.service_name.clone(),
        arn: "arn:aws:ecs:us-east-1:123456789012:service/c1/d1".into(),
        status: "ACTIVE".into(),
        desired_count: doc.desired_count,
        task_definition: td.into(),
        launch_type: Some("EC2".into()),
        scheduling_strategy: Some("REPLICA".into()),
        propagate_tags: Some("SERVICE".into()),
        network: doc
            .network_configuration
            .as_ref()
            .map(|n| n.awsvpc_configuration.clone()),
        tags,
        ..ObservedService::default()
    }
}

fn revision(arn: &str, hash: &str) -> ObservedTaskDefinition {
    ObservedTaskDefinition {
        arn: arn.into(),
        family: "d1".into(),
        revision: 1,
        status: "ACTIVE".into(),
        spec_hash: Some(hash.into()),
        document_hash: None,
        unsupported: Vec::new(),
        document: None,
    }
}

/// The plan of `d` over `service`, observed alone.
fn plan_over(d: &DesiredGroup, service: ObservedService) -> GroupPlan {
    let observed = ObservedGroup {
        service: Some(service),
        ..Default::default()
    };
    plan_group(d, &observed, &options())
}

fn lookup_needed(d: &DesiredGroup, service: &ObservedService) -> bool {
    task_definition_lookup_needed(d, Some(service), &options().controller_id)
}

fn kinds(plan: &GroupPlan) -> Vec<&'static str> {
    plan.actions.iter().map(Action::kind).collect()
}

fn changes(plan: &GroupPlan) -> Vec<String> {
    plan.actions
        .iter()
        .flat_map(|a| match a {
            Action::UpdateService { changes, .. } | Action::ReplaceService { changes, .. } => {
                changes
                    .iter()
                    .map(|c| format!("{}: {} -> {}", c.field, c.from, c.to))
                    .collect()
            }
            _ => Vec::new(),
        })
        .collect()
}

#[test]
fn cold_start_registers_then_creates() {
    let d = desired("");
    assert!(task_definition_lookup_needed(
        &d,
        None,
        &options().controller_id
    ));
    let plan = plan_group(&d, &ObservedGroup::default(), &options());
    assert_eq!(kinds(&plan), ["register-task-definition", "create-service"]);
}

#[test]
fn a_revision_with_the_same_hash_is_reused_instead_of_registered() {
    let d = desired("");
    let observed = ObservedGroup {
        latest_revision: Some(revision(TD1, &d.rendered.spec_hash)),
        ..ObservedGroup::default()
    };
    let plan = plan_group(&d, &observed, &options());
    assert_eq!(kinds(&plan), ["create-service"]);
    assert!(matches!(&plan.actions[0],
        Action::CreateService { task_definition: TaskDefinitionRef::Existing(arn), .. } if arn == TD1));
}

#[test]
fn a_converged_service_is_recognised_from_its_tags_alone() {
    let d = desired("");
    let service = converged(&d, TD1);
    assert!(!lookup_needed(&d, &service));
    let observed = ObservedGroup {
        service: Some(service),
        ..ObservedGroup::default()
    };
    assert!(plan_group(&d, &observed, &options()).in_sync());
}

#[test]
fn count_drift_is_one_update_without_registration() {
    let d = desired("");
    let mut service = converged(&d, TD1);
    service.desired_count = 5;
    assert!(!lookup_needed(&d, &service));
    let plan = plan_over(&d, service);
    assert_eq!(kinds(&plan), ["update-service"]);
    assert_eq!(changes(&plan), ["desiredCount: 5 -> 2"]);
    // A scale sends desiredCount alone: no new deployment.
    assert_eq!(members(&plan), [ServiceMember::DesiredCount]);
}

/// Without `spec.count` someone else owns the count: a scaled service is in sync, and nothing
/// else the plan writes carries desiredCount.
#[test]
fn an_omitted_count_is_never_compared_or_written() {
    let d = DesiredGroup::test("d1").no_count().build();
    assert_eq!(
        d.rendered.service.as_ref().unwrap().desired_count,
        1,
        "created with 1"
    );
    let mut service = converged(&d, TD1);
    service.desired_count = 7;
    assert!(plan_over(&d, service.clone()).in_sync());
    let moved = DesiredGroup::test("d1")
        .no_count()
        .spec("  service: {minimumHealthyPercent: 50}")
        .build();
    let plan = plan_over(&moved, service);
    assert!(
        !members(&plan).contains(&ServiceMember::DesiredCount),
        "{:?}",
        members(&plan)
    );
}

/// The members the plan's UpdateService carries.
fn members(plan: &GroupPlan) -> Vec<ServiceMember> {
    plan.actions
        .iter()
        .find_map(|a| match a {
            Action::UpdateService { members, .. } => Some(members.iter().copied().collect()),
            _ => None,
        })
        .unwrap_or_default()
}

#[test]
fn an_image_change_registers_once_and_points_the_service_at_it() {
    let old = desired("");
    let new = DesiredGroup::test("d1").image("harness/delegate:2").build();
    let service = converged(&old, TD1);
    assert!(lookup_needed(&new, &service));
    let observed = ObservedGroup {
        service: Some(service),
        service_task_definition: Some(revision(TD1, &old.rendered.spec_hash)),
        tagged_task_definition: None,
        latest_revision: Some(revision(TD1, &old.rendered.spec_hash)),
        ..ObservedGroup::default()
    };
    let plan = plan_group(&new, &observed, &options());
    assert_eq!(kinds(&plan), ["register-task-definition", "update-service"]);
    assert_eq!(
        changes(&plan),
        ["taskDefinition: d1:1 -> d1:(new revision)"]
    );
    assert_eq!(members(&plan), [ServiceMember::TaskDefinition]);
}

#[test]
fn a_task_definition_changed_by_hand_is_put_back_without_registering() {
    let d = desired("");
    let mut service = converged(&d, TD2);
    service.task_definition = "d1:7".into(); // changed by hand, stored as given
    assert!(lookup_needed(&d, &service));
    let observed = ObservedGroup {
        service: Some(service),
        service_task_definition: Some(revision("arn:...:d1:7", "other")),
        tagged_task_definition: None,
        latest_revision: Some(revision(TD2, &d.rendered.spec_hash)),
        ..ObservedGroup::default()
    };
    let plan = plan_group(&d, &observed, &options());
    assert_eq!(kinds(&plan), ["update-service"]);
    assert_eq!(changes(&plan), ["taskDefinition: d1:7 -> d1:2"]);
}

#[test]
fn an_unmanaged_service_is_a_conflict_and_left_alone() {
    let d = desired("");
    let mut service = converged(&d, TD1);
    service.tags.clear();
    assert!(!lookup_needed(&d, &service));
    let plan = plan_over(&d, service);
    assert!(plan.actions.is_empty());
    assert!(plan
        .error
        .as_ref()
        .map(|e| e.message.as_str())
        .unwrap()
        .contains("not managed by this controller"));
}

#[test]
fn a_service_marked_never_adoptable_is_not_adopted_whatever_the_file_asks() {
    let d = desired("  service: {adopt: true}");
    let mut service = converged(&d, TD1);
    service.tags.clear();
    let observed = |service: ObservedService| ObservedGroup {
        service: Some(service),
        ..Default::default()
    };
    // Unmarked, it is adopted (ownership tags only).
    let plan = plan_group(&d, &observed(service.clone()), &options());
    assert!(plan.error.is_none() && !plan.actions.is_empty(), "{plan:?}");
    // The controller's own service carries adoptable=false: a conflict, nothing planned.
    service
        .tags
        .insert(spec::render::TAG_ADOPTABLE.into(), "false".into());
    let plan = plan_group(&d, &observed(service), &options());
    assert!(plan.actions.is_empty(), "{plan:?}");
    let error = plan.error.unwrap();
    assert_eq!(error.reason, Reason::ConflictUnmanaged);
    assert!(
        error.message.contains("is never adopted"),
        "{}",
        error.message
    );
}

#[test]
fn another_controllers_service_is_a_conflict() {
    let d = desired("");
    let mut service = converged(&d, TD1);
    service.tags.insert(TAG_MANAGED_BY.into(), "blue".into());
    let plan = plan_over(&d, service);
    assert!(plan
        .error
        .as_ref()
        .map(|e| e.message.as_str())
        .unwrap()
        .contains("controller id \"blue\""));
}

#[test]
fn inactive_services_are_gone_and_draining_ones_block() {
    let d = desired("");
    let mut service = converged(&d, TD1);
    service.status = "INACTIVE".into();
    let plan = plan_group(
        &d,
        &ObservedGroup {
            service: Some(service.clone()),
            ..Default::default()
        },
        &options(),
    );
    assert_eq!(kinds(&plan), ["register-task-definition", "create-service"]);
    service.status = "DRAINING".into();
    let plan = plan_over(&d, service);
    assert!(plan.error.is_some() && plan.actions.is_empty());
}

#[test]
fn a_launch_type_change_is_a_replace() {
    let d = desired("  launchType: EC2");
    let mut service = converged(&d, TD1);
    service.launch_type = Some("FARGATE".into());
    let plan = plan_over(&d, service);
    assert_eq!(kinds(&plan), ["replace-service"]);
    assert_eq!(changes(&plan), ["launchType: FARGATE -> EC2"]);
}

#[test]
fn a_refused_replacement_plans_no_registration_and_an_allowed_one_does() {
    // The launch type changes and so does the image: the replacement would run a new revision.
    let d = desired("  launchType: FARGATE\n  network: {subnets: [subnet-1]}\n  resources: {cpu: 1024, memory: 4096}");
    let mut service = converged(&d, TD1);
    service.launch_type = Some("EC2".into());
    service
        .tags
        .insert(TAG_SPEC_HASH.into(), "an-older-spec".into());
    let observed = ObservedGroup {
        service: Some(service),
        service_task_definition: Some(revision(TD1, "an-older-spec")),
        ..Default::default()
    };
    let refused = plan_group(&d, &observed, &options());
    assert_eq!(kinds(&refused), ["replace-service"]);
    assert!(matches!(
        &refused.actions[0],
        Action::ReplaceService {
            replacement: Replacement::Refused,
            ..
        }
    ));
    let allowed = plan_group(
        &d,
        &observed,
        &PlanOptions {
            allow_replace: true,
            ..options()
        },
    );
    assert_eq!(
        kinds(&allowed),
        ["register-task-definition", "replace-service"]
    );
}
#[test]
fn fields_the_endpoint_does_not_report_are_not_compared_but_reported_ones_are() {
    let d = desired("");
    let mut service = converged(&d, TD1);
    assert!(service.deployment_configuration.is_none() && service.placement_strategy.is_none());
    let observed = |s: &ObservedService| ObservedGroup {
        service: Some(s.clone()),
        ..Default::default()
    };
    assert!(plan_group(&d, &observed(&service), &options()).in_sync());
    service.deployment_configuration = Some(DeploymentConfiguration {
        minimum_healthy_percent: 50,
        maximum_percent: 200,
        deployment_circuit_breaker: DeploymentCircuitBreaker {
            enable: false,
            rollback: false,
        },
    });
    // Alarms set outside the controller travel with the deployment configuration it changes.
    service.deployment_kept = Some(Box::new(crate::DeploymentKept {
        alarms: Some(crate::DeploymentAlarms {
            alarm_names: vec!["delegate-errors".into()],
            enable: true,
            rollback: true,
        }),
        ..crate::DeploymentKept::default()
    }));
    let plan = plan_group(&d, &observed(&service), &options());
    assert_eq!(
        changes(&plan),
        [
            "deploymentConfiguration.minimumHealthyPercent: 50 -> 100",
            "deploymentConfiguration.deploymentCircuitBreaker: enable=false rollback=false -> enable=true rollback=true"
        ]
    );
    assert_eq!(members(&plan), [ServiceMember::DeploymentConfiguration]);
    let kept = plan.actions.iter().find_map(|a| match a {
        Action::UpdateService { kept, .. } => Some(kept),
        _ => None,
    });
    assert_eq!(kept, service.deployment_kept.as_deref());
}

#[test]
fn network_lists_compare_as_sets() {
    let d =
        desired("  launchType: FARGATE\n  network: {subnets: [s-1, s-2], securityGroups: [g-1]}");
    let mut service = converged(&d, TD1);
    service.launch_type = Some("FARGATE".into());
    service.network = Some(AwsVpcConfiguration {
        subnets: vec!["s-2".into(), "s-1".into()],
        security_groups: vec!["g-1".into()],
        assign_public_ip: "DISABLED".into(),
    });
    let observed = |s: &ObservedService| ObservedGroup {
        service: Some(s.clone()),
        ..Default::default()
    };
    assert!(plan_group(&d, &observed(&service), &options()).in_sync());
    service.network.as_mut().unwrap().assign_public_ip = "ENABLED".into();
    assert_eq!(
        changes(&plan_group(&d, &observed(&service), &options())),
        ["networkConfiguration.awsvpcConfiguration: subnets=[s-1,s-2] securityGroups=[g-1] assignPublicIp=ENABLED -> subnets=[s-1,s-2] securityGroups=[g-1] assignPublicIp=DISABLED"]
    );
}

#[test]
fn suspended_groups_plan_nothing() {
    let d = desired("  suspend: true");
    assert!(!task_definition_lookup_needed(
        &d,
        None,
        &options().controller_id
    ));
    let plan = plan_group(&d, &ObservedGroup::default(), &options());
    assert!(plan.actions.is_empty() && plan.suspended);
}

#[test]
fn a_new_restarted_at_is_a_new_revision_deployed_once() {
    let before = desired("");
    let after = desired("  service: {restartedAt: \"2026-11-26T10:00:00Z\"}");
    assert_ne!(after.rendered.spec_hash, before.rendered.spec_hash);
    let plan = plan_group(
        &after,
        &ObservedGroup {
            service: Some(converged(&before, TD1)),
            ..Default::default()
        },
        &options(),
    );
    assert_eq!(kinds(&plan), ["register-task-definition", "update-service"]);
    assert_eq!(
        changes(&plan),
        ["taskDefinition: d1:1 -> d1:(new revision)"]
    );
    // Deployed (the service runs the new revision and its tags say so), even if every
    // retag failed: nothing more to do, unlike a forceNewDeployment remembered by a tag.
    let plan = plan_group(
        &after,
        &ObservedGroup {
            service: Some(converged(&after, TD2)),
            ..Default::default()
        },
        &options(),
    );
    assert!(plan.in_sync(), "{plan:?}");
}

#[test]
fn stale_tags_alone_are_brought_up_to_date() {
    let d = desired("");
    let mut service = converged(&d, TD1);
    service.tags.insert(TAG_SPEC_HASH.into(), "old".into());
    let observed = ObservedGroup {
        service: Some(service),
        service_task_definition: Some(revision(TD1, &d.rendered.spec_hash)),
        tagged_task_definition: None,
        latest_revision: None,
        ..ObservedGroup::default()
    };
    let plan = plan_group(&d, &observed, &options());
    assert!(
        matches!(&plan.actions[..], [Action::UpdateService { changes, .. }] if changes.is_empty())
    );
}

#[test]
fn the_revision_named_by_the_service_tag_is_reused_when_someone_registered_a_newer_one() {
    let d = desired("");
    let mut service = converged(&d, TD1);
    service.task_definition = TD2.into(); // theirs, now also the family's latest
    let observed = ObservedGroup {
        service: Some(service),
        service_task_definition: Some(revision(TD2, "theirs")),
        tagged_task_definition: Some(revision(TD1, &d.rendered.spec_hash)),
        latest_revision: Some(revision(TD2, "theirs")),
        ..ObservedGroup::default()
    };
    let plan = plan_group(&d, &observed, &options());
    assert_eq!(kinds(&plan), ["update-service"]);
    assert_eq!(changes(&plan), ["taskDefinition: d1:2 -> d1:1"]);
}

#[test]
fn leaving_awsvpc_is_a_replacement() {
    let d = desired("  networkMode: bridge");
    let mut service = converged(&d, TD1);
    service.network = Some(spec::document::AwsVpcConfiguration {
        subnets: vec!["subnet-1".into()],
        security_groups: Vec::new(),
        assign_public_ip: "DISABLED".into(),
    });
    let plan = plan_over(&d, service);
    assert_eq!(kinds(&plan), ["replace-service"]);
    assert!(
        changes(&plan)[0].starts_with("networkMode: awsvpc"),
        "{plan:?}"
    );
}

#[test]
fn services_of_another_deployment_controller_are_left_alone() {
    for controller in ["CODE_DEPLOY", "EXTERNAL"] {
        let d = desired("  service: {adopt: true}");
        let mut service = converged(&d, TD1);
        service.tags.clear();
        service.desired_count = 7;
        service.deployment_controller = Some(controller.into());
        let plan = plan_over(&d, service);
        assert!(plan.actions.is_empty(), "{plan:?}");
        let error = plan.error.unwrap();
        assert_eq!(error.reason, Reason::DeploymentControllerUnsupported);
        assert!(error.message.contains(controller), "{}", error.message);
    }
}

/// The service after ECS rolled the controller's deployment of TD2 back to TD1.
fn rolled_back(d: &DesiredGroup) -> ObservedService {
    let mut s = converged(d, TD2);
    s.task_definition = TD1.into();
    s
}

#[test]
fn a_failed_deployment_of_the_controllers_revision_is_a_rollback_held_at_the_old_one() {
    let d = desired("");
    let mut s = rolled_back(&d);
    s.deployments = vec![
        crate::observed::ObservedDeployment {
            id: "ecs-svc/2".into(),
            status: "PRIMARY".into(),
            rollout_state: Some("IN_PROGRESS".into()),
            task_definition: TD1.into(),
            ..Default::default()
        },
        crate::observed::ObservedDeployment {
            id: "ecs-svc/1".into(),
            status: "ACTIVE".into(),
            rollout_state: Some("FAILED".into()),
            task_definition: TD2.into(),
            ..Default::default()
        },
    ];
    let observed = ObservedGroup {
        service: Some(s.clone()),
        ..ObservedGroup::default()
    };
    let plan = plan_group(&d, &observed, &options());
    let [Action::UpdateService {
        changes,
        retag,
        rollback: Some(rollback),
        task_definition,
        ..
    }] = &plan.actions[..]
    else {
        panic!("{plan:?}")
    };
    assert!(changes.is_empty(), "TD2 is not sent again: {changes:?}");
    assert!(*retag, "the rollback is recorded");
    assert_eq!(
        (rollback.failed.as_str(), rollback.running.as_str()),
        (TD2, TD1)
    );
    assert_eq!(*task_definition, TaskDefinitionRef::Existing(TD1.into()));

    // Recorded: nothing to do, and no task definition to look up.
    let mut recorded = s;
    recorded.deployments.clear();
    recorded.tags.insert(TAG_ROLLED_BACK.into(), TD1.to_owned());
    let observed = ObservedGroup {
        service: Some(recorded.clone()),
        ..ObservedGroup::default()
    };
    assert_eq!(
        kinds(&plan_group(&d, &observed, &options())),
        Vec::<&str>::new()
    );
    assert!(!lookup_needed(&d, &recorded));
}

#[test]
fn a_hand_edit_without_a_failed_deployment_is_drift_not_a_rollback() {
    let d = desired("");
    let s = rolled_back(&d);
    assert_eq!(rollback_of(&d, &s), None);
    let observed = ObservedGroup {
        service: Some(s),
        service_task_definition: Some(revision(TD1, "someone-elses")),
        tagged_task_definition: Some(revision(TD2, &d.rendered.spec_hash)),
        ..ObservedGroup::default()
    };
    let plan = plan_group(&d, &observed, &options());
    assert!(
        matches!(&plan.actions[..], [Action::UpdateService { rollback: None, task_definition: TaskDefinitionRef::Existing(td), .. }] if td == TD2),
        "{plan:?}"
    );
}

#[test]
fn after_the_failed_deployment_left_the_list_the_service_deployments_tell_a_rollback() {
    let d = desired("");
    let mut s = rolled_back(&d);
    // Neither the tag nor a FAILED deployment: only ECS's service deployments can tell.
    assert!(rollback_evidence_needed(&d, &s));
    assert_eq!(rollback_of(&d, &s), None);
    // They recorded a rollback of TD2 to TD1: held at TD1.
    s.rolled_back = Some(Box::new(crate::ObservedRollback {
        failed: TD2.into(),
        running: TD1.into(),
    }));
    let rollback = rollback_of(&d, &s).expect("a rollback");
    assert_eq!(
        (rollback.failed.as_str(), rollback.running.as_str()),
        (TD2, TD1)
    );
    // A rollback of another revision (an older one) is no evidence for this one.
    s.rolled_back = Some(Box::new(crate::ObservedRollback {
        failed: "arn:aws:ecs:us-east-1:123456789012:task-definition/d1:9".into(),
        running: TD1.into(),
    }));
    assert_eq!(rollback_of(&d, &s), None);
    // Once recorded in the tag, or while the FAILED deployment is listed, nothing is looked up;
    // nor for a service that runs what the controller set.
    let mut recorded = rolled_back(&d);
    recorded.tags.insert(TAG_ROLLED_BACK.into(), TD1.to_owned());
    assert!(!rollback_evidence_needed(&d, &recorded));
    assert!(!rollback_evidence_needed(&d, &converged(&d, TD2)));
}

#[test]
fn a_new_spec_deploys_again_after_a_rollback_and_drops_the_record() {
    let old = desired("");
    let mut s = rolled_back(&old);
    s.tags.insert(TAG_ROLLED_BACK.into(), TD1.to_owned());
    let new = DesiredGroup::test("d1")
        .image("harness/delegate:fixed")
        .build();
    assert_eq!(rollback_of(&new, &s), None);
    let observed = ObservedGroup {
        service: Some(s),
        ..ObservedGroup::default()
    };
    let plan = plan_group(&new, &observed, &options());
    assert_eq!(kinds(&plan), ["register-task-definition", "update-service"]);
    let Action::UpdateService { untag, .. } = &plan.actions[1] else {
        panic!()
    };
    assert_eq!(untag, &[TAG_ROLLED_BACK.to_owned()]);
}

const SPOT: &str = "  capacityProviderStrategy:\n    - {capacityProvider: FARGATE_SPOT, weight: 3}\n    - {capacityProvider: FARGATE, base: 1, weight: 1}\n  network: {subnets: [subnet-1]}\n  resources: {cpu: 1024, memory: 4096}";

fn spot_items() -> Vec<spec::CapacityProviderItem> {
    let item = |name: &str, weight, base| spec::CapacityProviderItem {
        capacity_provider: name.into(),
        weight: Some(weight),
        base: Some(base),
    };
    // As ECS echoes them: weight and base always there, in any order.
    vec![item("FARGATE", 1, 1), item("FARGATE_SPOT", 3, 0)]
}

#[test]
fn without_a_launch_type_or_strategy_the_service_keeps_what_it_has() {
    let d = desired("");
    let mut service = converged(&d, TD1);
    service.launch_type = Some("FARGATE".into());
    assert!(plan_over(&d, service).actions.is_empty());
}

#[test]
fn a_capacity_provider_strategy_as_ecs_echoes_it_is_converged() {
    let d = desired(SPOT);
    let mut service = converged(&d, TD1);
    service.launch_type = None;
    service.capacity_provider_strategy = spot_items();
    let plan = plan_over(&d, service);
    assert!(plan.actions.is_empty(), "{:?}", changes(&plan));
}

#[test]
fn a_launch_type_service_moves_to_a_strategy_with_a_forced_deployment() {
    let d = desired(SPOT);
    let mut service = converged(&d, TD1);
    service.launch_type = Some("FARGATE".into());
    let plan = plan_over(&d, service);
    assert_eq!(kinds(&plan), ["update-service"]);
    assert_eq!(
        members(&plan),
        [
            ServiceMember::CapacityProviderStrategy,
            ServiceMember::ForceNewDeployment
        ]
    );
    assert_eq!(
        changes(&plan),
        [
            "capacityProviderStrategy: launchType FARGATE -> capacityProviderStrategy FARGATE_SPOT (weight 3), FARGATE (base 1, weight 1)",
            "forceNewDeployment: false -> true"
        ]
    );
}

#[test]
fn a_strategy_change_alone_is_no_new_deployment() {
    let d = desired(SPOT);
    let mut service = converged(&d, TD1);
    service.launch_type = None;
    service.capacity_provider_strategy = spot_items();
    service.capacity_provider_strategy[1].weight = Some(1);
    let plan = plan_over(&d, service);
    assert_eq!(members(&plan), [ServiceMember::CapacityProviderStrategy]);
}

#[test]
fn a_launch_type_instead_of_a_strategy_is_a_replace() {
    let d = desired("  launchType: EC2");
    let mut service = converged(&d, TD1);
    service.launch_type = None;
    service.capacity_provider_strategy = spot_items();
    let plan = plan_over(&d, service);
    assert_eq!(kinds(&plan), ["replace-service"]);
}
