//! The engine against the in-memory fake.

use std::sync::Arc;

use super::*;
use client::fake::FakeAws;
use client::AwsApi as _;
use plan::{ObservedService, Plan};

fn group(name: &str, cluster: &str, extra: &str) -> DesiredGroup {
    DesiredGroup::test(name)
        .cluster(cluster)
        .spec(extra)
        .build()
}

fn engine() -> Engine<FakeAws> {
    let fake = FakeAws::new();
    fake.add_cluster("us-east-1", "c1");
    fake.add_cluster("us-east-1", "c2");
    fake.add_role("ecsTaskExecutionRole", &["ecs-tasks.amazonaws.com"]);
    Engine::new(
        fake,
        PlanOptions {
            controller_id: "default".into(),
            ..PlanOptions::default()
        },
        4,
    )
}

fn shared(groups: &[DesiredGroup]) -> Vec<Arc<DesiredGroup>> {
    groups.iter().cloned().map(Arc::new).collect()
}

/// One applying pass over every group.
async fn pass(engine: &Engine<FakeAws>, groups: &[DesiredGroup]) -> Vec<GroupReport> {
    engine
        .pass(
            &Scope::all(),
            &shared(groups),
            Mode::Apply,
            None,
            &AlwaysOpen,
        )
        .await
        .groups
}

/// One planning pass: what reconcile would do.
async fn plan_of(engine: &Engine<FakeAws>, groups: &[DesiredGroup]) -> Plan {
    engine
        .pass(
            &Scope::all(),
            &shared(groups),
            Mode::Plan,
            None,
            &AlwaysOpen,
        )
        .await
        .plan()
}

#[tokio::test]
async fn converges_then_a_second_pass_only_describes() {
    let e = engine();
    let groups: Vec<_> = (0..25).map(|i| group(&format!("g{i}"), "c1", "")).collect();
    let outcomes = pass(&e, &groups).await;
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    assert_eq!(
        e.api()
            .writes()
            .iter()
            .filter(|c| *c == "CreateService")
            .count(),
        25
    );
    e.api().settle();
    e.api().clear_calls();
    let plan = plan_of(&e, &groups).await;
    assert!(!plan.has_changes());
    assert_eq!(
        e.api().calls(),
        ["DescribeServices"; 3],
        "ceil(25/10) describes, nothing else"
    );
}

#[tokio::test]
async fn identical_documents_share_one_registration() {
    let e = engine();
    // Same family (via overrides) and same rendered document in two clusters.
    let extra = "  taskDefinitionOverrides: {family: shared}\n";
    let mut a = group("a", "c1", extra);
    let mut b = group("b", "c2", extra);
    // Make the documents identical: the delegate name differs by group, so pin it.
    for d in [&mut a, &mut b] {
        d.rendered.task_definition.container_definitions[0]
            .environment
            .retain(|kv| kv.name != "DELEGATE_NAME");
        d.rendered.spec_hash = spec::hash::spec_hash(&d.rendered.task_definition);
    }
    let outcomes = pass(&e, &[a, b]).await;
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    assert_eq!(e.api().revisions("us-east-1", "shared").len(), 1);
}

#[tokio::test]
async fn a_crash_after_registering_reuses_the_revision() {
    let e = engine();
    let g = group("g", "c1", "");
    // First run registered, then died before CreateService.
    let register = client::call::RegisterTaskDefinition {
        document: g.rendered.task_definition.clone(),
        tags: plan::desired::to_tag_list(&g.ownership_tags("default")),
    };
    e.api().send(register).await.unwrap();
    pass(&e, std::slice::from_ref(&g)).await;
    assert_eq!(e.api().revisions("us-east-1", "g").len(), 1);
    assert!(e.api().service("us-east-1", "c1", "g").is_some());
}

#[tokio::test]
async fn failures_stay_with_their_group() {
    let e = engine();
    let good = group("good", "c1", "");
    let missing_cluster = group("lost", "nowhere", "");
    let unmanaged = group("taken", "c1", "");
    e.api().insert_service(
        "us-east-1",
        "c1",
        ObservedService {
            name: "taken".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:service/c1/taken".into(),
            status: "ACTIVE".into(),
            desired_count: 7,
            ..ObservedService::default()
        },
    );
    let outcomes = pass(&e, &[good, missing_cluster, unmanaged]).await;
    assert_eq!(outcomes[0].error, None);
    assert!(outcomes[1]
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("nowhere"));
    let conflict = outcomes[2].error.as_ref().unwrap();
    assert_eq!(conflict.reason, Reason::ConflictUnmanaged);
    assert!(conflict.message.contains("not managed by this controller"));
    let taken = e.api().service("us-east-1", "c1", "taken").unwrap();
    assert_eq!(
        (taken.desired_count, taken.tags.len()),
        (7, 0),
        "left exactly as it was"
    );
}

#[tokio::test]
async fn drift_is_put_back_and_revisions_are_cached() {
    let e = engine();
    let g = group("g", "c1", "");
    pass(&e, std::slice::from_ref(&g)).await;
    e.api().edit_service("us-east-1", "c1", "g", |s| {
        s.desired_count = 9;
        s.task_definition = "g:1".into();
    });
    e.api().clear_calls();
    let outcomes = pass(&e, std::slice::from_ref(&g)).await;
    assert!(outcomes[0].error.is_none());
    let s = e.api().service("us-east-1", "c1", "g").unwrap();
    assert_eq!(s.desired_count, 2);
    assert!(s.task_definition.ends_with("task-definition/g:1"));
    assert!(!e
        .api()
        .calls()
        .contains(&"RegisterTaskDefinition".to_owned()));
    // The revision registered in the first pass is known: only g:1 (a new key) is described.
    assert_eq!(
        e.api()
            .calls()
            .iter()
            .filter(|c| *c == "DescribeTaskDefinition")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_count_change_is_a_single_update_call() {
    let e = engine();
    let g = group("g", "c1", "");
    pass(&e, std::slice::from_ref(&g)).await;
    e.api().clear_calls();
    let scaled = group("g", "c1", "").group.clone();
    let mut scaled = scaled;
    scaled.spec.count = Some(spec::Count::Fixed(4));
    let scaled = DesiredGroup::new(scaled, "us-east-1").unwrap();
    pass(&e, std::slice::from_ref(&scaled)).await;
    assert_eq!(e.api().writes(), ["UpdateService"]);
    assert_eq!(
        e.api()
            .service("us-east-1", "c1", "g")
            .unwrap()
            .desired_count,
        4
    );
}

// Status conditions from scripted observations.

use plan::ConditionType::{
    Degraded as DEGRADED, Progressing as PROGRESSING, Ready as READY, Stalled as STALLED,
};
use plan::Reason;
use plan::{GroupStatus, ObservedDeployment};

async fn status_of(e: &Engine<FakeAws>, groups: &[DesiredGroup]) -> Vec<GroupStatus> {
    e.pass(
        &Scope::all(),
        &shared(groups),
        Mode::Plan,
        None,
        &AlwaysOpen,
    )
    .await
    .groups
    .into_iter()
    .map(|g| g.status)
    .collect()
}

fn condition(s: &GroupStatus, kind: plan::ConditionType) -> (String, String) {
    let c = s
        .condition(kind)
        .unwrap_or_else(|| panic!("no {kind} in {s:?}"));
    (c.status.to_string(), c.reason.to_string())
}

fn t(status: &str, reason: &str) -> (String, String) {
    (status.into(), reason.into())
}

fn deployment(id: &str, status: &str, rollout: &str, td: &str) -> ObservedDeployment {
    ObservedDeployment {
        id: id.into(),
        status: status.into(),
        rollout_state: Some(rollout.into()),
        rollout_state_reason: Some(format!("{rollout} reason")),
        task_definition: td.into(),
        ..ObservedDeployment::default()
    }
}

#[tokio::test]
async fn a_settled_service_is_ready_and_a_rolling_one_progressing() {
    let e = engine();
    let g = group("g", "c1", "");
    pass(&e, std::slice::from_ref(&g)).await;
    e.api().settle();
    let s = &status_of(&e, std::slice::from_ref(&g)).await[0];
    assert_eq!(condition(s, READY), t("True", "Converged"));
    assert_eq!(
        (s.desired, s.running, s.pending, s.in_sync),
        (2, 2, 0, true)
    );
    assert_eq!(s.task_definition.as_deref(), Some("g:1"));

    e.api().edit_service("us-east-1", "c1", "g", |s| {
        let td = s.task_definition.clone();
        s.deployments = vec![
            deployment("new", "PRIMARY", "IN_PROGRESS", &td),
            deployment("old", "ACTIVE", "COMPLETED", "arn:old:0"),
        ];
    });
    let s = &status_of(&e, std::slice::from_ref(&g)).await[0];
    assert_eq!(condition(s, READY), t("False", "DeploymentInProgress"));
    assert_eq!(condition(s, PROGRESSING), t("True", "DeploymentInProgress"));
}

#[tokio::test]
async fn a_failed_and_rolled_back_deployment_is_degraded() {
    let e = engine();
    let g = group("g", "c1", "");
    pass(&e, std::slice::from_ref(&g)).await;
    e.api().settle();
    e.api().edit_service("us-east-1", "c1", "g", |s| {
        let td = s.task_definition.clone();
        s.deployments = vec![
            deployment(
                "rollback",
                "PRIMARY",
                "IN_PROGRESS",
                "arn:aws:ecs:us-east-1:1:task-definition/g:0",
            ),
            deployment("failed", "ACTIVE", "FAILED", &td),
        ];
    });
    let s = &status_of(&e, std::slice::from_ref(&g)).await[0];
    assert_eq!(condition(s, DEGRADED), t("True", "DeploymentFailed"));
    assert_eq!(condition(s, READY), t("False", "DeploymentFailed"));
    let message = &s.condition(DEGRADED).unwrap().message;
    assert!(
        message.contains("g:1 failed: FAILED reason; rolled back to g:0"),
        "{message}"
    );
}

#[tokio::test]
async fn tasks_that_keep_stopping_are_a_crash_loop() {
    let e = engine();
    let g = group("g", "c1", "");
    pass(&e, std::slice::from_ref(&g)).await; // created: 0 of 2 running
    for _ in 0..2 {
        e.api().add_stopped_service_task(
            "us-east-1",
            "c1",
            "g",
            "Essential container in task exited",
        );
    }
    e.api().clear_calls();
    let s = &status_of(&e, std::slice::from_ref(&g)).await[0];
    assert_eq!(condition(s, DEGRADED), t("True", "CrashLoop"));
    assert!(s
        .condition(DEGRADED)
        .unwrap()
        .message
        .contains("Essential container in task exited"));
    assert!(
        e.api().calls().contains(&"ListTasks".to_owned()),
        "not steady: tasks are looked at"
    );

    e.api().settle();
    e.api().clear_calls();
    let s = &status_of(&e, std::slice::from_ref(&g)).await[0];
    assert_eq!(
        condition(s, READY),
        t("True", "Converged"),
        "old stops of a steady service are history"
    );
    assert_eq!(
        e.api().calls(),
        ["DescribeServices"],
        "steady: no task calls"
    );
}

#[tokio::test]
async fn a_capacity_shortfall_is_reported_with_numbers_and_not_refused() {
    let e = engine();
    e.api().add_instance("us-east-1", "c1", 4096, 7482);
    let g = DesiredGroup::test("g").tasks_mode().count(3).build();
    let outcomes = pass(&e, std::slice::from_ref(&g)).await;
    assert_eq!(outcomes[0].error, None);
    assert!(
        outcomes[0]
            .done
            .iter()
            .any(|d| d.to_string().contains("started 1 of 3 tasks")),
        "{outcomes:?}"
    );
    let s = &status_of(&e, std::slice::from_ref(&g)).await[0];
    assert_eq!(condition(s, DEGRADED), t("True", "InsufficientCapacity"));
    assert_eq!(
        s.condition(DEGRADED).unwrap().message,
        "2 delegate tasks cannot be placed: each needs 1024 CPU units and 6144 MiB; the cluster's \
         1 container instance have 3072 CPU units and 1338 MiB free, room for 0"
    );
    assert_eq!((s.running, s.desired), (1, 3));
}

#[tokio::test]
async fn suspended_groups_are_observed_and_never_changed() {
    let e = engine();
    let g = group("g", "c1", "  suspend: true\n");
    let outcomes = pass(&e, std::slice::from_ref(&g)).await;
    assert!(outcomes[0].done.is_empty() && outcomes[0].error.is_none());
    assert!(e.api().writes().is_empty());
    let s = &status_of(&e, std::slice::from_ref(&g)).await[0];
    assert_eq!(condition(s, READY), t("False", "Suspended"));
}

#[tokio::test]
async fn bad_roles_stall_only_their_group_before_any_write() {
    let e = engine();
    e.api().add_role("lambda-only", &["lambda.amazonaws.com"]);
    let missing = DesiredGroup::test("missing")
        .execution_role("arn:aws:iam::123456789012:role/nope")
        .build();
    let untrusted = DesiredGroup::test("untrusted")
        .execution_role("arn:aws:iam::123456789012:role/lambda-only")
        .build();
    let fine = group("fine", "c1", "");
    let groups = [missing, untrusted, fine];
    let outcomes = pass(&e, &groups).await;
    assert_eq!(
        outcomes[0].error.as_ref().unwrap().reason,
        Reason::RoleNotFound
    );
    assert!(outcomes[0]
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("spec.roles.execution: role arn:aws:iam::123456789012:role/nope does not exist"));
    assert_eq!(
        outcomes[1].error.as_ref().unwrap().reason,
        Reason::RoleTrustMissing
    );
    assert!(outcomes[1]
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("it trusts lambda.amazonaws.com"));
    assert_eq!(outcomes[2].error, None);
    assert_eq!(
        e.api().writes(),
        ["RegisterTaskDefinition", "CreateService"],
        "only the good group wrote"
    );
    let s = status_of(&e, &groups).await;
    assert_eq!(condition(&s[0], STALLED), t("True", "RoleNotFound"));
    assert_eq!(condition(&s[1], STALLED), t("True", "RoleTrustMissing"));
}

#[tokio::test]
async fn converged_groups_cost_no_iam_call() {
    let e = engine();
    let g = group("g", "c1", "");
    pass(&e, std::slice::from_ref(&g)).await;
    e.api().settle();
    e.api().clear_calls();
    pass(&e, std::slice::from_ref(&g)).await;
    assert!(!e.api().calls().contains(&"GetRole".to_owned()));
}

#[tokio::test]
async fn tasks_mode_keeps_its_count_scales_down_and_rolls_start_before_stop() {
    let e = engine();
    e.api().add_instance("us-east-1", "c1", 100_000, 100_000);
    let fixture = DesiredGroup::test("g").tasks_mode();
    let g = fixture.build();
    pass(&e, std::slice::from_ref(&g)).await;
    let live = |e: &Engine<FakeAws>| {
        e.api()
            .tasks("us-east-1", "c1")
            .into_iter()
            .filter(|t| t.is_live())
            .collect::<Vec<_>>()
    };
    assert_eq!(live(&e).len(), 2);

    // A task stopped by hand is replaced; a second pass then writes nothing.
    let victim = live(&e)[0].arn.clone();
    e.api().edit_task("us-east-1", "c1", &victim, |t| {
        t.desired_status = "STOPPED".into();
        t.last_status = "STOPPED".into();
        t.stop_code = Some("UserInitiated".into());
    });
    pass(&e, std::slice::from_ref(&g)).await;
    assert_eq!(live(&e).len(), 2);
    e.api().clear_calls();
    pass(&e, std::slice::from_ref(&g)).await;
    assert!(e.api().writes().is_empty(), "{:?}", e.api().writes());

    // Scale down.
    pass(&e, &[fixture.clone().count(1).build()]).await;
    assert_eq!(live(&e).len(), 1);

    // A new revision: the new task starts first; the old one stops only once it runs.
    let g = fixture.count(1).image("harness/delegate:2").build();
    e.api().clear_calls();
    pass(&e, std::slice::from_ref(&g)).await;
    assert_eq!(e.api().writes(), ["RegisterTaskDefinition", "RunTask"]);
    let both = live(&e);
    assert_eq!(both.len(), 2, "old and new side by side");
    let new = both
        .iter()
        .find(|t| t.task_definition.ends_with("g:2"))
        .unwrap()
        .arn
        .clone();

    e.api().edit_task("us-east-1", "c1", &new, |t| {
        t.last_status = "PENDING".into()
    });
    e.api().clear_calls();
    pass(&e, std::slice::from_ref(&g)).await;
    assert!(
        e.api().writes().is_empty(),
        "the old task stays while the new one is PENDING"
    );

    e.api().edit_task("us-east-1", "c1", &new, |t| {
        t.last_status = "RUNNING".into()
    });
    e.api().clear_calls();
    pass(&e, std::slice::from_ref(&g)).await;
    assert_eq!(e.api().writes(), ["StopTask"]);
    let left = live(&e);
    assert_eq!(left.len(), 1);
    assert!(left[0].task_definition.ends_with("g:2"));
    let s = &status_of(&e, std::slice::from_ref(&g)).await[0];
    assert_eq!(condition(s, READY), t("True", "Converged"));
}

#[tokio::test]
async fn a_refused_replacement_registers_nothing_and_an_allowed_one_replaces() {
    let e = engine();
    let ec2 = DesiredGroup::test("g");
    pass(&e, &[ec2.build()]).await;
    e.api().settle();
    // FARGATE (UpdateService cannot change the launch type) with a new image: replacing it
    // would need a new revision too.
    let fargate = ec2.image("harness/delegate:2").fargate("subnet-1").build();
    e.api().clear_calls();
    let refused = pass(&e, std::slice::from_ref(&fargate)).await;
    let error = refused[0].error.as_ref().unwrap();
    assert_eq!(error.reason, Reason::ReplaceRequired);
    assert!(error.message.contains("--allow-replace"), "{error}");
    assert!(e.api().writes().is_empty(), "{:?}", e.api().writes());
    assert_eq!(e.api().revisions("us-east-1", "g").len(), 1);

    let allowing = Engine::new(
        e.api().clone(),
        PlanOptions {
            controller_id: "default".into(),
            allow_replace: true,
        },
        4,
    );
    let replaced = allowing
        .pass(
            &Scope::all(),
            &shared(&[fargate]),
            Mode::Apply,
            None,
            &AlwaysOpen,
        )
        .await
        .groups;
    assert_eq!(replaced[0].error, None, "{replaced:?}");
    // Scaled to 0 (UpdateService), deleted, created again on the new revision.
    assert_eq!(
        e.api().writes(),
        [
            "RegisterTaskDefinition",
            "UpdateService",
            "DeleteService",
            "CreateService"
        ]
    );
    let service = e.api().service("us-east-1", "c1", "g").unwrap();
    assert_eq!(service.launch_type.as_deref(), Some("FARGATE"));
}

/// A gate that is closed: a standby replica.
struct Closed;

impl WriteGate for Closed {
    fn enter(&self, _group: &GroupId<'_>) -> Option<WritePermit> {
        None
    }
}

/// The gate of a replica holding one shard of `count`.
struct ShardGate {
    index: u32,
    count: u32,
}

impl WriteGate for ShardGate {
    fn enter(&self, group: &GroupId<'_>) -> Option<WritePermit> {
        self.covers(group).then(WritePermit::free)
    }

    fn covers(&self, group: &GroupId<'_>) -> bool {
        group.shard(self.count) == self.index
    }
}

#[tokio::test]
async fn a_closed_write_gate_plans_and_reports_but_writes_nothing() {
    let e = engine();
    let groups = shared(&[group("g", "c1", "")]);
    let report = e
        .pass(&Scope::all(), &groups, Mode::Apply, None, &Closed)
        .await;
    assert!(e.api().writes().is_empty(), "{:?}", e.api().writes());
    let g = &report.groups[0];
    assert_eq!(g.plan.actions.len(), 2, "register and create, planned");
    assert!(g.done.is_empty() && g.error.is_none());
    assert!(!g.status.is_ready());
    // Opened (this replica took the lease): the same pass writes.
    pass(&e, &[group("g", "c1", "")]).await;
    assert_eq!(
        e.api().writes(),
        ["RegisterTaskDefinition", "CreateService"]
    );
}

#[test]
fn shards_are_balanced() {
    let target = Target::region("us-east-1");
    let mut sizes = [0_u32; 8];
    for i in 0..1000 {
        let name = format!("g{i}");
        let id = GroupId {
            target: &target,
            cluster: "c1",
            name: &name,
        };
        sizes[id.shard(8) as usize] += 1;
    }
    // 125 each on average.
    assert!(sizes.iter().all(|n| (90..160).contains(n)), "{sizes:?}");
}

#[tokio::test]
async fn a_shards_gate_writes_only_its_groups_and_the_shards_write_each_group_once() {
    let e = engine();
    let groups = shared(
        &(0..20)
            .map(|i| group(&format!("g{i}"), "c1", ""))
            .collect::<Vec<_>>(),
    );
    let mut written = Vec::new();
    for index in 0..3 {
        let gate = ShardGate { index, count: 3 };
        let before = e.api().writes().len();
        e.pass(&Scope::all(), &groups, Mode::Apply, None, &gate)
            .await;
        let mine: Vec<String> = groups
            .iter()
            .filter(|g| gate.covers(&GroupId::of(g)))
            .map(|g| g.name().to_owned())
            .collect();
        let created: Vec<String> = groups
            .iter()
            .map(|g| g.name().to_owned())
            .filter(|n| e.api().service("us-east-1", "c1", n).is_some())
            .filter(|n| !written.contains(n))
            .collect();
        assert_eq!(created, mine, "shard {index} wrote exactly its groups");
        assert!(e.api().writes().len() > before, "shard {index}: {mine:?}");
        written.extend(created);
    }
    written.sort();
    let mut all: Vec<String> = groups.iter().map(|g| g.name().to_owned()).collect();
    all.sort();
    assert_eq!(written, all, "every group in exactly one shard");
}

#[tokio::test]
async fn prune_scales_to_zero_whatever_count_it_saw() {
    let e = engine();
    let g = group("g", "c1", "");
    pass(&e, std::slice::from_ref(&g)).await;
    // Found at 0, scaled up by someone before the prune ran: ECS refuses to delete a service
    // whose desired count is not 0.
    let orphan = plan::Orphan {
        target: plan::Target::region("us-east-1"),
        cluster: "c1".into(),
        group: "g".into(),
        actions: vec![plan::PruneAction::DeleteService {
            cluster: "c1".into(),
            service_name: "g".into(),
            desired_count: 0,
            scaling: false,
        }],
    };
    let outcomes = e.apply_prune(&[orphan], &AlwaysOpen).await;
    assert_eq!(outcomes[0].error, None, "{outcomes:?}");
    let service = e.api().service("us-east-1", "c1", "g").unwrap();
    assert_eq!(service.status, plan::ServiceStatus::Inactive);
}

#[tokio::test]
async fn an_adoption_that_changes_the_service_claims_it_before_updating_it() {
    let e = engine();
    let g = DesiredGroup::test("g")
        .spec("  service: {adopt: true}")
        .build();
    // A service someone made by hand: no ownership tags, another count.
    pass(&e, std::slice::from_ref(&g)).await;
    e.api().edit_service("us-east-1", "c1", "g", |s| {
        s.tags.clear();
        s.desired_count = 5;
    });
    e.api().clear_calls();
    let outcomes = pass(&e, std::slice::from_ref(&g)).await;
    assert_eq!(outcomes[0].error, None, "{outcomes:?}");
    assert_eq!(
        e.api().writes(),
        ["TagResource", "UpdateService", "TagResource"],
        "claimed (managed-by, group), updated, then fully tagged"
    );
}

#[tokio::test(start_paused = true)]
async fn run_task_is_retried_with_its_client_token_and_starts_the_count_once() {
    let e = engine();
    e.api().add_instance("us-east-1", "c1", 8192, 65536);
    let g = DesiredGroup::test("g").tasks_mode().count(3).build();
    // A throttle, then an answer lost after the tasks started.
    e.api().throttle(client::Operation::RunTask, 1);
    e.api().lose_answers(client::Operation::RunTask, 1);
    let outcomes = pass(&e, std::slice::from_ref(&g)).await;
    assert_eq!(outcomes[0].error, None, "{outcomes:?}");
    let live = e
        .api()
        .tasks("us-east-1", "c1")
        .into_iter()
        .filter(|t| t.is_live())
        .count();
    assert_eq!(live, 3, "the retry got the first attempt's tasks back");
    assert_eq!(
        e.api().calls().iter().filter(|c| *c == "RunTask").count(),
        3,
        "throttled, lost, answered from the token"
    );
}

#[tokio::test(start_paused = true)]
async fn a_lost_create_service_answer_creates_one_service() {
    let e = engine();
    e.api().lose_answers(client::Operation::CreateService, 1);
    let outcomes = pass(&e, &[group("g", "c1", "")]).await;
    assert_eq!(outcomes[0].error, None, "{outcomes:?}");
    assert!(e.api().service("us-east-1", "c1", "g").is_some());
}

#[tokio::test]
async fn a_restart_deploys_once_even_when_the_tags_after_it_fail() {
    let e = engine();
    let before = DesiredGroup::test("g");
    pass(&e, &[before.build()]).await;
    e.api().settle();
    let restarted = before
        .spec("  service: {restartedAt: \"2026-11-26T10:00:00Z\"}")
        .build();
    e.api().clear_calls();
    e.api().throttle(client::Operation::TagResource, 1);
    let first = pass(&e, std::slice::from_ref(&restarted)).await;
    assert!(
        first[0].error.as_ref().is_some_and(|e| e.retryable),
        "{first:?}"
    );
    assert_eq!(
        e.api().writes(),
        ["RegisterTaskDefinition", "UpdateService", "TagResource"]
    );
    e.api().clear_calls();
    for _ in 0..2 {
        let again = pass(&e, std::slice::from_ref(&restarted)).await;
        assert_eq!(again[0].error, None, "{again:?}");
    }
    assert_eq!(
        e.api().writes(),
        ["TagResource"],
        "the tags are completed; no second deployment"
    );
}

#[tokio::test]
async fn a_sharded_prune_removes_only_its_shards_orphans_and_never_another_shards_groups() {
    let e = engine();
    let groups: Vec<DesiredGroup> = (0..12).map(|i| group(&format!("g{i}"), "c1", "")).collect();
    pass(&e, &groups).await;
    let kept = shared(&groups[3..]); // g0, g1, g2 were removed from the files
    let policy = PruneLimits {
        max_prune: 5,
        selector: false,
    };
    let mut orphans = Vec::new();
    for index in 0..3 {
        let gate = ShardGate { index, count: 3 };
        let report = e
            .pass(&Scope::all(), &kept, Mode::Plan, Some(policy), &gate)
            .await;
        let prune = report.prune.unwrap();
        assert_eq!(prune.problem, None, "{prune:?}");
        for o in &prune.orphans {
            assert!(gate.covers(&GroupId::of_orphan(o)));
        }
        orphans.extend(prune.orphans.into_iter().map(|o| o.group));
    }
    orphans.sort();
    assert_eq!(
        orphans,
        ["g0", "g1", "g2"],
        "each removed group in exactly one shard"
    );
}

/// A layer that counts the calls it sees, by operation.
#[derive(Default)]
struct Counting(std::sync::Mutex<Vec<client::Operation>>);

impl client::layer::Layer for Counting {
    fn around<'a, T: Send + 'a>(
        &'a self,
        operation: client::Operation,
        call: impl std::future::Future<Output = client::Result<T>> + Send + 'a,
    ) -> impl std::future::Future<Output = client::Result<T>> + Send + 'a {
        self.0.lock().unwrap().push(operation);
        call
    }
}

#[tokio::test]
async fn a_paginated_listing_passes_the_layers_once_per_page() {
    let fake = FakeAws::new();
    fake.add_cluster("us-east-1", "c1");
    for i in 0..250 {
        fake.insert_service(
            "us-east-1",
            "c1",
            ObservedService {
                name: format!("s{i:03}"),
                arn: format!("arn:aws:ecs:us-east-1:123456789012:service/c1/s{i:03}"),
                status: "ACTIVE".into(),
                ..ObservedService::default()
            },
        );
    }
    let layered = client::layer::Layered::new(fake, Counting::default());
    let arns = layered.list_services("c1").await.unwrap();
    assert_eq!(arns.len(), 250);
    // Three pages of at most 100: three rate-limit tokens and three calls in the metrics.
    let counting = layered.layer();
    assert_eq!(
        *counting.0.lock().unwrap(),
        [client::Operation::ListServices; 3]
    );
}

#[tokio::test]
async fn a_group_whose_service_stays_missing_lists_its_cluster_once_for_a_rename() {
    let e = engine();
    // Stalled on a role that does not exist: its service is never created.
    let stalled = DesiredGroup::test("g")
        .cluster("c1")
        .execution_role("arn:aws:iam::123456789012:role/missing")
        .build();
    e.api().clear_calls();
    for _ in 0..3 {
        let reports = pass(&e, std::slice::from_ref(&stalled)).await;
        assert_eq!(
            reports[0].error.as_ref().map(|e| e.reason),
            Some(Reason::RoleNotFound)
        );
    }
    let listings = e
        .api()
        .calls()
        .iter()
        .filter(|c| c.as_str() == "ListServices")
        .count();
    assert_eq!(listings, 1, "{:?}", e.api().calls());
}

#[tokio::test]
async fn passes_that_only_look_leave_the_backoff_alone() {
    let fake = FakeAws::new();
    fake.add_cluster("us-east-1", "c1");
    let exact = Retries::new(
        Backoff {
            randomization: 0.0,
            ..Backoff::default()
        },
        std::time::Duration::from_secs(10),
    );
    let e = Engine::with_retries(fake, PlanOptions::default(), 4, exact);
    let g = group("g", "c1", "");
    e.api().throttle(client::Operation::DescribeServices, 100);
    // `status`, `plan` and `--wait` look three times while the group fails...
    for _ in 0..3 {
        let looked = plan_of(&e, std::slice::from_ref(&g)).await;
        assert!(looked.groups[0].error.is_some());
    }
    // ...and the loop's next failure still backs off from the start.
    let failed = pass(&e, std::slice::from_ref(&g)).await;
    let second = std::time::Duration::from_secs(1);
    assert_eq!(e.next_step(&failed[0]), Next::Retry(second));
    assert_eq!(e.next_step(&failed[0]), Next::Retry(second * 2));
}

#[tokio::test]
async fn a_groups_error_keeps_the_aws_error_it_came_from() {
    let e = engine();
    e.api().throttle(client::Operation::DescribeServices, 1);
    let report = pass(&e, &[group("g", "c1", "")]).await;
    let error = report[0]
        .error
        .as_ref()
        .expect("the throttle fails the group");
    let source = std::error::Error::source(error).expect("a source");
    let aws = source
        .downcast_ref::<client::AwsError>()
        .expect("the AWS error itself");
    assert_eq!(aws.kind, client::ErrorKind::Throttled);
    assert_eq!(aws.operation, client::Operation::DescribeServices);
}
