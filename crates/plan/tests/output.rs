//! Snapshots of `plan -o text|json|markdown` and of the status JSON over the example files, in
//! three scenarios: nothing exists yet, the fleet drifted (and a group was removed), converged.
//! The observations are scripted; the desired state is read from `examples/` as users write it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::BTreeMap;
use std::path::Path;

use ecs_delegate_plan as plan;

use plan::status::{derive, Applied};
use plan::{
    output, plan_group, DesiredGroup, ObservedGroup, ObservedService, ObservedTask,
    ObservedTaskDefinition, Plan, PlanOptions,
};
use spec::render::TAG_GROUP;
use spec::Mode;

const ACCOUNT: &str = "123456789012";

fn examples() -> Vec<DesiredGroup> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    spec::load(&files)
        .unwrap_or_else(|e| panic!("{e}"))
        .into_iter()
        .map(|loaded| DesiredGroup::new(loaded.group, "us-east-1").unwrap())
        .collect()
}

fn options(allow_replace: bool) -> PlanOptions {
    PlanOptions {
        controller_id: "default".into(),
        allow_replace,
    }
}

fn td_arn(family: &str, revision: i32) -> String {
    format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/{family}:{revision}")
}

/// The service as this controller leaves it after converging `d` onto revision 1.
fn converged_service(d: &DesiredGroup) -> ObservedService {
    let doc = d.rendered.service.clone().unwrap();
    let arn = td_arn(&d.rendered.task_definition.family, 1);
    let tags = d.service_tags("default", &arn);
    ObservedService {
        name: doc.service_name.clone(),
        arn: format!(
            "arn:aws:ecs:us-east-1:{ACCOUNT}:service/{}/{}",
            d.cluster(),
            doc.service_name
        ),
        status: "ACTIVE".into(),
        desired_count: doc.desired_count,
        running_count: doc.desired_count,
        task_definition: arn,
        // Neither: the cluster's default strategy, EC2 on a cluster without one.
        launch_type: doc.launch_type.clone().or_else(|| {
            doc.capacity_provider_strategy
                .is_empty()
                .then(|| "EC2".into())
        }),
        capacity_provider_strategy: doc.capacity_provider_strategy.clone(),
        scheduling_strategy: Some("REPLICA".into()),
        network: doc.network_configuration.map(|n| n.awsvpc_configuration),
        enable_execute_command: doc.enable_execute_command,
        propagate_tags: Some(doc.propagate_tags.clone()),
        tags,
        deployments: vec![plan::ObservedDeployment {
            id: "ecs-svc/1".into(),
            status: "PRIMARY".into(),
            rollout_state: Some("COMPLETED".into()),
            task_definition: td_arn(&d.rendered.task_definition.family, 1),
            desired_count: doc.desired_count,
            running_count: doc.desired_count,
            ..plan::ObservedDeployment::default()
        }],
        ..ObservedService::default()
    }
}

fn revision(d: &DesiredGroup, number: i32, hash: &str) -> ObservedTaskDefinition {
    ObservedTaskDefinition {
        arn: td_arn(&d.rendered.task_definition.family, number),
        family: d.rendered.task_definition.family.clone(),
        revision: number,
        status: "ACTIVE".into(),
        spec_hash: Some(hash.into()),
        document_hash: None,
        unsupported: Vec::new(),
        document: None,
    }
}

fn task(d: &DesiredGroup, id: &str, revision: i32) -> ObservedTask {
    let mut tags = d.ownership_tags("default");
    tags.insert(TAG_GROUP.into(), d.name().into());
    ObservedTask {
        arn: format!("arn:aws:ecs:us-east-1:{ACCOUNT}:task/{}/{id}", d.cluster()),
        task_definition: td_arn(&d.rendered.task_definition.family, revision),
        last_status: "RUNNING".into(),
        desired_status: "RUNNING".into(),
        tags,
        created_at: Some(1_700_000_000),
        ..ObservedTask::default()
    }
}

/// Converged observations of every group.
fn converged(groups: &[DesiredGroup]) -> Vec<ObservedGroup> {
    groups
        .iter()
        .map(|d| match d.mode() {
            Mode::Service => ObservedGroup {
                service: Some(converged_service(d)),
                // A range's scalable target and policy, as the controller put them.
                scaling: d.rendered.scaling.as_ref().map(|s| plan::ObservedScaling {
                    target: Some((s.min, s.max)),
                    policy: Some((s.metric.clone(), f64::from(s.target))),
                }),
                ..ObservedGroup::default()
            },
            Mode::Tasks => ObservedGroup {
                tasks: vec![task(d, "t1", 1)],
                task_revisions: vec![revision(d, 1, &d.rendered.spec_hash)],
                ..ObservedGroup::default()
            },
        })
        .collect()
}

/// Each group drifted differently: a hand scale-down and a newer image in the files; a launch
/// type that UpdateService cannot change; a launch type to leave for capacity providers; a
/// service someone else made; tasks on an old revision.
fn drifted(groups: &[DesiredGroup]) -> Vec<ObservedGroup> {
    let mut observed = converged(groups);
    for (d, o) in groups.iter().zip(&mut observed) {
        match d.name() {
            "ecs-delegate" => {
                let s = o.service.as_mut().unwrap();
                s.desired_count = 1;
                s.running_count = 1;
                s.tags
                    .insert(spec::render::TAG_SPEC_HASH.into(), "0ld".into());
                o.service_task_definition = Some(revision(d, 1, "0ld"));
                o.latest_revision = Some(revision(d, 1, "0ld"));
            }
            "fargate-delegate" => {
                let s = o.service.as_mut().unwrap();
                s.launch_type = Some("EC2".into());
            }
            "firstgen-delegate" => {
                let s = o.service.as_mut().unwrap();
                s.tags = BTreeMap::from([("owner".into(), "someone-else".into())]);
            }
            "tasks-delegate" => {
                o.tasks = vec![task(d, "t0", 0), task(d, "t1", 1), task(d, "t2", 1)];
                o.task_revisions =
                    vec![revision(d, 0, "0ld"), revision(d, 1, &d.rendered.spec_hash)];
            }
            "spot-delegate" => {
                // Still on the FARGATE launch type: moved onto the providers in place.
                let s = o.service.as_mut().unwrap();
                s.launch_type = Some("FARGATE".into());
                s.capacity_provider_strategy.clear();
            }
            "prod-eu-delegate" => {
                // Scaled up by hand in the other account.
                let s = o.service.as_mut().unwrap();
                s.desired_count = 3;
                s.running_count = 3;
            }
            other => panic!("no drift scripted for {other}"),
        }
    }
    observed
}

fn plan_of(groups: &[DesiredGroup], observed: &[ObservedGroup], allow_replace: bool) -> Plan {
    Plan {
        groups: groups
            .iter()
            .zip(observed)
            .map(|(d, o)| plan_group(d, o, &options(allow_replace)))
            .collect(),
        orphans: Vec::new(),
        revision: None,
    }
}

/// A group removed from the files, found by its ownership tags.
fn orphan() -> plan::Orphan {
    plan::Orphan {
        target: plan::Target::region("us-east-1"),
        cluster: "delegates".into(),
        group: "old-delegate".into(),
        actions: vec![plan::PruneAction::DeleteService {
            cluster: "delegates".into(),
            service_name: "old-delegate".into(),
            desired_count: 2,
            scaling: false,
        }],
    }
}

fn all_formats(plan: &Plan) -> String {
    format!(
        "--- text\n{}\n--- markdown\n{}\n--- json\n{}\n",
        output::to_text(plan),
        output::to_markdown(plan),
        serde_json::to_string_pretty(&output::to_json(plan)).unwrap()
    )
}

fn statuses(groups: &[DesiredGroup], observed: &[ObservedGroup], plan: &Plan) -> String {
    let statuses: Vec<_> = groups
        .iter()
        .zip(observed)
        .zip(&plan.groups)
        .map(|((d, o), p)| derive(d, Some(o), Some(p), Applied::Nothing, None, None))
        .collect();
    serde_json::to_string_pretty(&serde_json::json!({ "groups": statuses })).unwrap()
}

#[test]
fn plan_and_status_when_nothing_exists() {
    let groups = examples();
    let observed = vec![ObservedGroup::default(); groups.len()];
    let plan = plan_of(&groups, &observed, false);
    insta::assert_snapshot!("cold_plan", all_formats(&plan));
    insta::assert_snapshot!("cold_status", statuses(&groups, &observed, &plan));
}

#[test]
fn plan_and_status_of_a_drifted_fleet_with_a_removed_group() {
    let groups = examples();
    let observed = drifted(&groups);
    let mut plan = plan_of(&groups, &observed, false);
    plan.orphans.push(orphan());
    insta::assert_snapshot!("drifted_plan", all_formats(&plan));
    insta::assert_snapshot!("drifted_status", statuses(&groups, &observed, &plan));
    let allowed = plan_of(&groups, &observed, true);
    insta::assert_snapshot!("drifted_plan_allow_replace", output::to_text(&allowed));
}

#[test]
fn plan_and_status_of_a_converged_fleet() {
    let groups = examples();
    let observed = converged(&groups);
    let plan = plan_of(&groups, &observed, false);
    assert!(!plan.has_changes() && !plan.has_errors(), "{plan:?}");
    insta::assert_snapshot!("converged_plan", all_formats(&plan));
    insta::assert_snapshot!("converged_status", statuses(&groups, &observed, &plan));
}
