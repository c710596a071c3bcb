#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use super::*;

/// A documented event, from `tests/fixtures/events/` (shared with the end-to-end test).
fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../../tests/fixtures/events/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn service(cluster: &str, name: &str) -> Ref {
    Ref::Service {
        cluster: Some(cluster.into()),
        service: name.into(),
    }
}

fn fleet() -> Vec<DesiredGroup> {
    vec![
        DesiredGroup::test("harness-delegate")
            .cluster("delegates")
            .build(),
        DesiredGroup::test("other").cluster("delegates").build(),
        DesiredGroup::test("remote")
            .cluster("delegates")
            .in_account("111122223333", None)
            .build(),
        DesiredGroup::test("batch")
            .cluster("delegates")
            .tasks_mode()
            .build(),
    ]
}

#[test]
fn the_documented_ecs_events_name_their_service() {
    let action = parse(&fixture("service-action")).unwrap();
    assert_eq!(
        action.kind,
        Kind::ServiceAction {
            name: "SERVICE_TASK_START_IMPAIRED".into(),
            problem: true
        }
    );
    assert_eq!(action.account.as_deref(), Some("123456789012"));
    assert_eq!(action.region.as_deref(), Some("us-east-1"));
    assert_eq!(
        action.refs,
        BTreeSet::from([service("delegates", "harness-delegate")])
    );

    let deployment = parse(&fixture("deployment-state-change")).unwrap();
    assert!(matches!(
        deployment.kind,
        Kind::Deployment { failed: true, .. }
    ));
    assert_eq!(deployment.refs, action.refs);

    let task = parse(&fixture("task-state-change")).unwrap();
    assert_eq!(
        task.kind,
        Kind::Task {
            status: "STOPPED".into(),
            stopped_by_us: false,
            by_scheduler: false
        }
    );
    assert_eq!(
        task.refs,
        BTreeSet::from([
            service("delegates", "harness-delegate"),
            Ref::Family("harness-delegate".into())
        ])
    );
}

#[test]
fn the_documented_cloudtrail_events_name_the_caller_and_the_resource() {
    let update = parse(&fixture("cloudtrail-update-service")).unwrap();
    assert_eq!(
        update.kind,
        Kind::ApiCall {
            operation: "UpdateService".into(),
            caller: Some("arn:aws:sts::123456789012:assumed-role/Admin/alice".into()),
            failed: false
        }
    );
    assert_eq!(
        update.refs,
        BTreeSet::from([service("delegates", "harness-delegate")])
    );
    let delete = parse(&fixture("cloudtrail-delete-service")).unwrap();
    assert_eq!(delete.refs, update.refs);
    // StopTask names the task by id; its group comes from the response.
    let stop = parse(&fixture("cloudtrail-stop-task")).unwrap();
    assert_eq!(
        stop.refs,
        BTreeSet::from([Ref::Family("harness-delegate".into())])
    );
}

#[test]
fn events_map_to_the_groups_of_their_account_region_cluster_and_service() {
    let groups = fleet();
    let index = Index::new(&groups);
    let update = parse(&fixture("cloudtrail-update-service")).unwrap();
    assert_eq!(index.groups(&update, None), ["harness-delegate"]);
    // A group of a target account is found by that account's events only.
    let mut there = update.clone();
    there.account = Some("111122223333".into());
    assert!(index.groups(&there, Some("123456789012")).is_empty());
    there.refs = BTreeSet::from([service("delegates", "remote")]);
    assert_eq!(index.groups(&there, Some("123456789012")), ["remote"]);
    let mut here = there.clone();
    here.account = Some("123456789012".into());
    assert!(index.groups(&here, Some("123456789012")).is_empty());
    // Another region, cluster, service or a third account: nobody's.
    for edit in [
        |e: &mut Event| e.region = Some("eu-west-1".into()),
        |e: &mut Event| e.refs = BTreeSet::from([service("other-cluster", "harness-delegate")]),
        |e: &mut Event| e.refs = BTreeSet::from([service("delegates", "not-ours")]),
        |e: &mut Event| e.account = Some("999999999999".into()),
    ] {
        let mut foreign = update.clone();
        edit(&mut foreign);
        assert!(
            index.groups(&foreign, Some("123456789012")).is_empty(),
            "{foreign:?}"
        );
    }
    // A task of a tasks-mode group, by its family.
    let mut stopped = parse(&fixture("task-state-change")).unwrap();
    stopped.refs = BTreeSet::from([Ref::Family("batch".into())]);
    assert_eq!(index.groups(&stopped, None), ["batch"]);
}

#[test]
fn malformed_and_unknown_messages_are_told_apart() {
    assert_eq!(parse("not json").unwrap_err().label(), "malformed");
    assert_eq!(parse("{}").unwrap_err().label(), "malformed");
    assert_eq!(
        parse(r#"{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}"#)
            .unwrap_err()
            .label(),
        "unknown"
    );
    assert_eq!(
        parse(r#"{"source":"aws.ecs","detail-type":"ECS Container Instance State Change","detail":{}}"#)
            .unwrap_err()
            .label(),
        "unknown"
    );
    // A CloudTrail call that failed changed nothing.
    let mut failed: Value = serde_json::from_str(&fixture("cloudtrail-update-service")).unwrap();
    failed["detail"]["errorCode"] = "AccessDenied".into();
    let failed = parse(&failed.to_string()).unwrap();
    assert!(failed.refs.is_empty());
}

#[test]
fn the_controllers_own_calls_are_recognised_here_and_in_target_accounts() {
    let groups = fleet();
    let index = Index::new(&groups);
    let me = Identity::new(
        Some("123456789012".into()),
        Some("arn:aws:sts::123456789012:assumed-role/edc-controller/9f1c2d3e4b5a"),
    );
    // Any session of its task role: another replica is the controller too.
    assert!(me.is_own(
        "arn:aws:sts::123456789012:assumed-role/edc-controller/0a1b2c3d",
        &index
    ));
    assert!(!me.is_own("arn:aws:sts::123456789012:assumed-role/Admin/alice", &index));
    assert!(!me.is_own(
        "arn:aws:sts::123456789012:assumed-role/edc-controller-other/x",
        &index
    ));
    // The role it assumes in a target account, with its session name.
    assert!(me.is_own(
        "arn:aws:sts::111122223333:assumed-role/edc-target/ecs-delegate-controller",
        &index
    ));
    assert!(!me.is_own(
        "arn:aws:sts::111122223333:assumed-role/edc-target/bob",
        &index
    ));
    let user = Identity::new(None, Some("arn:aws:iam::123456789012:user/moto"));
    assert!(user.is_own("arn:aws:iam::123456789012:user/moto", &index));
    assert!(!user.is_own("arn:aws:iam::123456789012:user/motor", &index));
}
