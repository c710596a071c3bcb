//! `plan` and `reconcile --once` end to end: the real binary against a moto server, state read
//! back with the SDK, API calls counted by moto's recorder.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::collections::HashMap;

use aws_sdk_ecs::types::TaskDefinitionField;
use support::{assert_has, group_yaml, show, Moto, ACCOUNT};

fn tags(list: &[aws_sdk_ecs::types::Tag]) -> HashMap<String, String> {
    list.iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect()
}

async fn service(moto: &Moto, cluster: &str, name: &str) -> aws_sdk_ecs::types::Service {
    moto.service(cluster, name).await.expect("service exists")
}

async fn task_definition(
    moto: &Moto,
    arn: &str,
) -> (aws_sdk_ecs::types::TaskDefinition, HashMap<String, String>) {
    let out = moto
        .ecs()
        .await
        .describe_task_definition()
        .task_definition(arn)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .unwrap();
    (out.task_definition().unwrap().clone(), tags(out.tags()))
}

fn env(td: &aws_sdk_ecs::types::TaskDefinition) -> HashMap<String, String> {
    td.container_definitions()[0]
        .environment()
        .iter()
        .map(|kv| {
            (
                kv.name().unwrap().to_owned(),
                kv.value().unwrap().to_owned(),
            )
        })
        .collect()
}

async fn three_shapes(moto: &Moto) {
    moto.create_clusters(&["c1", "c2"]);
    // Room on EC2 for c1's four delegates (two of 6144 MiB, two of the default size).
    moto.register_container_instances("c1", 4);
    let (subnet, group) = moto.default_network().await;
    assert!(
        subnet.starts_with("subnet-") && group.starts_with("sg-"),
        "{subnet} {group}"
    );
    moto.write(
        "groups/ec2.yaml",
        &plan::DesiredGroup::test("ec2-bridge")
            .cluster("c1")
            .count(1)
            .spec("  hostname: delegate-1\n  selectors: [ecs, prod]\n")
            .yaml(),
    );
    moto.write(
        "groups/fargate.yaml",
        &group_yaml(
            "fargate",
            "c2",
            &format!(
                "  launchType: FARGATE\n  network: {{subnets: [{subnet}], securityGroups: [{group}]}}\n  resources: {{cpu: 1024, memory: 4096}}\n  roles:\n    task: arn:aws:iam::{ACCOUNT}:role/delegate-task\n"
            ),
        )
        .replace("  roles:\n    execution", "  roles:\n    task: arn:aws:iam::123456789012:role/delegate-task\n    execution")
        .replace(&format!("  roles:\n    task: arn:aws:iam::{ACCOUNT}:role/delegate-task\n  delegate"), "  delegate"),
    );
    moto.write(
        "groups/firstgen.yaml",
        &plan::DesiredGroup::test("firstgen")
            .cluster("c1")
            .spec("  profile: QFWin33JRlKWKBzpzE5A9A")
            .firstgen()
            .yaml(),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn cold_converge_creates_every_shape_then_a_second_pass_writes_nothing() {
    // The endpoint places every task: the fleet is steady, so a pass needs no task calls.
    let moto = Moto::start();
    three_shapes(&moto).await;
    let (subnet, group) = moto.default_network().await;

    let out = moto.run_ok(&["reconcile", "--once", "groups"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_has(
        &stdout,
        "Reconciled 3 groups: 3 changed, 0 in sync, 0 failed.",
    );

    // EC2 bridge: service, count, launch type, tags; task definition contents.
    let ec2 = service(&moto, "c1", "ec2-bridge").await;
    assert_eq!(
        ec2.desired_count(),
        1,
        "one delegate: a fixed hostname is for one"
    );
    assert_eq!(ec2.launch_type().unwrap().as_str(), "EC2");
    let ec2_tags = tags(ec2.tags());
    assert_eq!(ec2_tags["ecs-delegate-controller.io/managed-by"], "default");
    assert_eq!(ec2_tags["ecs-delegate-controller.io/group"], "ec2-bridge");
    assert_eq!(ec2_tags["ecs-delegate-controller.io/selectors"], "ecs prod");
    assert!(ec2.task_definition().unwrap().starts_with(&format!(
        "arn:aws:ecs:us-east-1:{ACCOUNT}:task-definition/ec2-bridge:"
    )));
    assert_eq!(
        ec2_tags["ecs-delegate-controller.io/task-definition"],
        ec2.task_definition().unwrap()
    );
    let (td, td_tags) = task_definition(&moto, ec2.task_definition().unwrap()).await;
    assert_eq!(
        td_tags["ecs-delegate-controller.io/spec-hash"],
        ec2_tags["ecs-delegate-controller.io/spec-hash"]
    );
    let container = &td.container_definitions()[0];
    assert_eq!(container.name(), Some("ecs-delegate"));
    assert_eq!(container.image(), Some("harness/delegate:24.10.84200"));
    assert_eq!(container.hostname(), Some("delegate-1"));
    assert_eq!(container.memory(), Some(6144));
    assert_eq!(td.network_mode().unwrap().as_str(), "bridge");
    assert_eq!((td.cpu(), td.memory()), (Some("1024"), Some("6144")));
    assert_eq!(
        td.execution_role_arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/ecsTaskExecutionRole").as_str())
    );
    let vars = env(&td);
    assert_eq!(vars["DELEGATE_TAGS"], "ecs,prod");
    assert_eq!(vars["NEXT_GEN"], "true");
    assert_eq!(vars["DELEGATE_NAME"], "ec2-bridge");
    assert_eq!(vars["DELEGATE_TYPE"], "DOCKER");
    assert!(
        !vars.contains_key("DELEGATE_TOKEN"),
        "the token is never a plain variable"
    );
    let secret = &container.secrets()[0];
    assert_eq!(secret.name(), "DELEGATE_TOKEN");
    assert_eq!(
        secret.value_from(),
        format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:delegate-token")
    );

    // FARGATE awsvpc: network on the service, roles and compatibility on the task definition.
    let fargate = service(&moto, "c2", "fargate").await;
    assert_eq!(fargate.launch_type().unwrap().as_str(), "FARGATE");
    let vpc = fargate
        .network_configuration()
        .unwrap()
        .awsvpc_configuration()
        .unwrap();
    assert_eq!(vpc.subnets(), [subnet]);
    assert_eq!(vpc.security_groups(), [group]);
    let (td, _) = task_definition(&moto, fargate.task_definition().unwrap()).await;
    assert_eq!(td.network_mode().unwrap().as_str(), "awsvpc");
    assert_eq!(td.requires_compatibilities()[0].as_str(), "FARGATE");
    assert_eq!(
        td.task_role_arn(),
        Some(format!("arn:aws:iam::{ACCOUNT}:role/delegate-task").as_str())
    );
    assert_eq!(td.container_definitions()[0].hostname(), None);

    // FirstGen: its own variables and token name.
    let firstgen = service(&moto, "c1", "firstgen").await;
    assert_eq!(firstgen.desired_count(), 2);
    let (td, _) = task_definition(&moto, firstgen.task_definition().unwrap()).await;
    let vars = env(&td);
    assert_eq!(vars["DELEGATE_TYPE"], "ECS");
    assert_eq!(vars["DELEGATE_GROUP_NAME"], "firstgen");
    assert_eq!(vars["DELEGATE_PROFILE"], "QFWin33JRlKWKBzpzE5A9A");
    assert_eq!(vars["POLL_FOR_TASKS"], "false");
    assert_eq!(
        td.container_definitions()[0].secrets()[0].name(),
        "ACCOUNT_SECRET"
    );

    // Second pass: nothing but DescribeServices, one per cluster (each has <= 10 services).
    moto.reset_calls();
    let out = moto.run_ok(&["reconcile", "--once", "groups"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 changed, 3 in sync"));
    assert_eq!(moto.calls(), ["DescribeServices", "DescribeServices"]);

    let out = moto.run(&["plan", "--detailed-exitcode", "groups"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No changes. 3 groups are in sync.\n"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_count_change_updates_and_an_image_change_registers_exactly_once() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("g.yaml", &group_yaml("d1", "c1", ""));
    moto.reconciled("g.yaml");

    moto.write(
        "g.yaml",
        &group_yaml("d1", "c1", "").replace("count: 2", "count: 3"),
    );
    let out = moto.run(&["plan", "--detailed-exitcode", "-o", "json", "g.yaml"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["changes"][0]["action"], "update-service");
    assert_eq!(plan["changes"][0]["group"], "d1");
    assert_eq!(plan["changes"][0]["cluster"], "c1");
    assert_eq!(
        plan["changes"][0]["detail"]["changes"][0],
        serde_json::json!({"field": "desiredCount", "from": "2", "to": "3"})
    );
    assert_eq!(plan["summary"]["update-service"], 1);
    moto.reset_calls();
    moto.reconciled("g.yaml");
    assert_eq!(moto.writes(), ["UpdateService"]);
    assert_eq!(service(&moto, "c1", "d1").await.desired_count(), 3);

    moto.write(
        "g.yaml",
        &group_yaml("d1", "c1", "").replace("24.10.84200", "24.11.1"),
    );
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(
        moto.writes(),
        ["RegisterTaskDefinition", "UpdateService", "TagResource"]
    );
    let s = service(&moto, "c1", "d1").await;
    assert!(s
        .task_definition()
        .unwrap()
        .ends_with("task-definition/d1:2"));
    assert_eq!(s.desired_count(), 2);
    let (td, _) = task_definition(&moto, s.task_definition().unwrap()).await;
    assert_eq!(
        td.container_definitions()[0].image(),
        Some("harness/delegate:24.11.1")
    );
    let families = moto
        .ecs()
        .await
        .list_task_definitions()
        .family_prefix("d1")
        .send()
        .await
        .unwrap();
    assert_eq!(
        families.task_definition_arns().len(),
        2,
        "exactly one new revision"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn changes_made_by_hand_are_put_back() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("g.yaml", &group_yaml("d1", "c1", ""));
    moto.reconciled("g.yaml");
    let ecs = moto.ecs().await;
    let original = service(&moto, "c1", "d1")
        .await
        .task_definition()
        .unwrap()
        .to_owned();

    // Someone scales by hand and points the service at a revision of their own.
    let theirs = moto
        .register_by_hand("d1", "ecs-delegate", "harness/delegate:hand-made", 512)
        .await;
    ecs.update_service()
        .cluster("c1")
        .service("d1")
        .desired_count(9)
        .task_definition(&theirs)
        .send()
        .await
        .unwrap();

    let out = moto.run(&["plan", "g.yaml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_has(&text, "desiredCount: 9 -> 2");
    assert_has(&text, "taskDefinition: d1:2 -> d1:1");
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    let s = service(&moto, "c1", "d1").await;
    assert_eq!(s.desired_count(), 2);
    assert_eq!(s.task_definition(), Some(original.as_str()));
    assert!(
        !moto.writes().contains(&"RegisterTaskDefinition".to_owned()),
        "the existing revision is reused"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unmanaged_service_is_left_alone_and_the_other_groups_converge() {
    let moto = Moto::with_clusters(&["c1"]);
    let ecs = moto.ecs().await;
    let td = moto.register_by_hand("manual", "x", "nginx", 128).await;
    ecs.create_service()
        .cluster("c1")
        .service_name("taken")
        .task_definition(&td)
        .desired_count(4)
        .send()
        .await
        .unwrap();
    moto.write("groups/taken.yaml", &group_yaml("taken", "c1", ""));
    moto.write("groups/free.yaml", &group_yaml("free", "c1", ""));

    let out = moto.run(&["reconcile", "--once", "groups"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_has(&stdout, "taken (c1): error: service taken already exists in cluster c1 and is not managed by this controller");
    assert_has(
        &stdout,
        "Reconciled 2 groups: 1 changed, 0 in sync, 1 failed.",
    );
    let taken = service(&moto, "c1", "taken").await;
    assert_eq!(
        (taken.desired_count(), taken.task_definition()),
        (4, Some(td.as_str()))
    );
    assert!(taken.tags().is_empty());
    assert_eq!(service(&moto, "c1", "free").await.desired_count(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_and_dry_run_make_no_write_call() {
    let moto = Moto::start();
    three_shapes(&moto).await;
    moto.reset_calls();
    for args in [
        &["plan", "groups"][..],
        &["plan", "-o", "markdown", "groups"],
        &["reconcile", "--once", "--dry-run", "groups"],
    ] {
        let out = moto.run(args);
        assert!(out.status.success(), "{args:?}: {}", show(&out));
    }
    assert!(!moto.calls().is_empty());
    assert_eq!(moto.writes(), Vec::<String>::new());
    let out = moto.run(&["plan", "--detailed-exitcode", "-o", "markdown", "groups"]);
    assert_eq!(out.status.code(), Some(2));
    let markdown = String::from_utf8_lossy(&out.stdout);
    assert_has(&markdown, "| + | fargate | c2 | create-service |");
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_files_and_unknown_clusters_fail_without_writing() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("groups/good.yaml", &group_yaml("good", "c1", ""));
    moto.write(
        "groups/bad.yaml",
        &group_yaml("bad", "c1", "").replace("count: 2", "count: -2"),
    );
    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "groups"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("groups/bad.yaml:7:3: error: spec.count: must be >= 0, got -2"),
        "{}",
        show(&out)
    );
    assert!(moto.calls().is_empty(), "nothing is even read from AWS");

    moto.remove("groups/bad.yaml");
    moto.write("groups/lost.yaml", &group_yaml("lost", "nowhere", ""));
    let out = moto.run(&["reconcile", "--once", "groups"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("lost (nowhere): error: cluster nowhere not found in us-east-1 of the controller's account: create it, or correct spec.cluster (or spec.region, spec.account)"));
    assert!(!show(&out).contains("WARN aws_"), "{}", show(&out));
    assert_eq!(service(&moto, "c1", "good").await.desired_count(), 2);
}

/// A stopping NextGen delegate finishes its running tasks; Harness gives it up to 10 minutes
/// (Graceful delegate shutdown), ECS 30 s unless `stopTimeout` says more, and at most 120 on
/// Fargate. The registered NextGen task definition says 120; a FirstGen one leaves ECS's default.
#[test]
fn a_nextgen_delegate_gets_ecs_longest_stop_timeout() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 4);
    let nextgen = plan::DesiredGroup::test("ng").cluster("c1").yaml();
    let firstgen = plan::DesiredGroup::test("fg")
        .cluster("c1")
        .firstgen()
        .yaml();
    moto.write("groups/ng.yaml", &nextgen);
    moto.write("groups/fg.yaml", &firstgen);
    moto.run_ok(&["reconcile", "--once", "groups"]);
    let registered = moto.requests("RegisterTaskDefinition");
    let stop_timeout = |family: &str| {
        let request = registered.iter().find(|r| r["family"] == family).unwrap();
        request["containerDefinitions"][0]
            .get("stopTimeout")
            .cloned()
    };
    assert_eq!(stop_timeout("ng"), Some(serde_json::json!(120)));
    assert_eq!(stop_timeout("fg"), None);
}
