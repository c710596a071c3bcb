//! The places where the controller misbehaved on real ECS (issue 12), each shown against the
//! local ECS endpoint, which schedules, fails and rolls back as ECS does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{eventually, show, Moto};

fn group(image: &str) -> String {
    plan::DesiredGroup::test("d1")
        .cluster("c1")
        .image(image)
        .yaml()
}

fn status(moto: &Moto) -> Value {
    let out = moto.run(&["status", "-o", "json", "g.yaml"]);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", show(&out)))
}

fn condition(status: &Value, kind: &str) -> Value {
    status["groups"][0]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == kind)
        .cloned()
        .unwrap_or(Value::Null)
}

/// Defect 1: after ECS's circuit breaker rolled a failed deployment back, the controller must
/// not send the failing revision again on every pass.
#[tokio::test(flavor = "multi_thread")]
async fn a_rolled_back_deployment_is_not_fought_and_a_new_spec_deploys_again() {
    let moto = Moto::start();
    moto.create_clusters(&["c1"]);
    // Two delegates of 6144 MiB, and room for the new ones beside them while deploying.
    moto.register_container_instances("c1", 4);
    moto.write("g.yaml", &group("harness/delegate:24.10.84200"));
    let out = moto.run(&["reconcile", "--once", "--wait", "30s", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    let good = moto.service("c1", "d1").await.unwrap();
    let good_revision = good.task_definition().unwrap().to_owned();

    // A delegate image that crashes: ECS fails the deployment and rolls back to the good one.
    moto.write("g.yaml", &group("harness/delegate:crash-24.10"));
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    let mut rolled_back = None;
    for _ in 0..100 {
        let s = moto.service("c1", "d1").await.unwrap();
        if s.task_definition() == Some(good_revision.as_str()) && s.deployments().len() == 1 {
            rolled_back = Some(s);
            break;
        }
    }
    let rolled_back = rolled_back.expect("ECS rolls the failed deployment back");
    assert_eq!(rolled_back.running_count(), 2);

    // Three passes (three processes: the memory is in the service's tags): no UpdateService,
    // no registration; the first one records the rollback.
    for pass in 0..3 {
        moto.reset_calls();
        let out = moto.run(&["reconcile", "--once", "g.yaml"]);
        assert!(out.status.success(), "{}", show(&out));
        let writes = moto.writes();
        assert!(
            !writes
                .iter()
                .any(|w| w == "UpdateService" || w == "RegisterTaskDefinition"),
            "pass {pass}: {writes:?}\n{}",
            show(&out)
        );
        if pass == 0 {
            assert_eq!(writes, ["TagResource"], "{}", show(&out));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                stdout.contains("ECS rolled service d1 back from d1:2 to d1:1"),
                "{stdout}"
            );
        } else {
            assert!(writes.is_empty(), "pass {pass}: {writes:?}");
        }
    }
    let s = status(&moto);
    let degraded = condition(&s, "Degraded");
    assert_eq!(degraded["reason"], "RolledBack", "{s:#}");
    let message = degraded["message"].as_str().unwrap();
    assert!(
        message.contains("rolled d1:2 back to d1:1")
            && message.contains("Essential container in task exited"),
        "{message}"
    );
    assert_eq!(condition(&s, "Ready")["status"], "False");

    // A hand edit is still drift: put back to the revision ECS rolled back to.
    let by_hand = moto
        .register_by_hand("d1", "ecs-delegate", "harness/delegate:by-hand", 512)
        .await;
    let ecs = moto.ecs().await;
    ecs.update_service()
        .cluster("c1")
        .service("d1")
        .task_definition(&by_hand)
        .send()
        .await
        .unwrap();
    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(moto.writes(), ["UpdateService"], "{}", show(&out));
    let s = moto.service("c1", "d1").await.unwrap();
    assert_eq!(s.task_definition(), Some(good_revision.as_str()));

    // A new spec (a fixed image) deploys again, and the rollback record goes.
    moto.write("g.yaml", &group("harness/delegate:24.10.84300"));
    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "--wait", "30s", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        moto.writes(),
        [
            "RegisterTaskDefinition",
            "UpdateService",
            "TagResource",
            "UntagResource"
        ],
        "{}",
        show(&out)
    );
    let s = moto.service("c1", "d1").await.unwrap();
    assert!(s.task_definition().unwrap().ends_with(":4"), "{s:?}");
    assert!(!s
        .tags()
        .iter()
        .any(|t| t.key() == Some("ecs-delegate-controller.io/rolled-back")));
    let ready = eventually(Duration::from_secs(20), || {
        (condition(&status(&moto), "Ready")["status"] == "True").then_some(())
    });
    assert!(ready.is_some(), "{:#}", status(&moto));
}

/// Defect 4: tags the spec no longer has are removed, and only those the controller wrote.
#[tokio::test(flavor = "multi_thread")]
async fn removed_tags_and_selectors_are_untagged_and_others_tags_are_kept() {
    let moto = Moto::start();
    moto.create_clusters(&["c1"]);
    moto.register_container_instances("c1", 2);
    let with = |extra: &str| {
        plan::DesiredGroup::test("d1")
            .cluster("c1")
            .spec(extra)
            .yaml()
    };
    moto.write(
        "g.yaml",
        &with("  selectors: [prod]\n  tags: {team: platform, cost-center: '42'}\n"),
    );
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    // Someone else tags the service too.
    let s = moto.service("c1", "d1").await.unwrap();
    let ecs = moto.ecs().await;
    ecs.tag_resource()
        .resource_arn(s.service_arn().unwrap())
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key("owner")
                .value("finance")
                .build(),
        )
        .send()
        .await
        .unwrap();

    moto.write("g.yaml", &with("  tags: {team: platform}\n"));
    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("removed tags cost-center, ecs-delegate-controller.io/selectors"),
        "{stdout}"
    );
    let untags = moto.requests("UntagResource");
    assert_eq!(untags.len(), 1);
    assert_eq!(
        untags[0]["tagKeys"],
        serde_json::json!(["cost-center", "ecs-delegate-controller.io/selectors"])
    );
    let tags: std::collections::BTreeMap<String, String> = moto
        .service("c1", "d1")
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| (t.key().unwrap().to_owned(), t.value().unwrap().to_owned()))
        .collect();
    assert_eq!(tags.get("team").map(String::as_str), Some("platform"));
    assert_eq!(
        tags.get("owner").map(String::as_str),
        Some("finance"),
        "not ours"
    );
    assert!(!tags.contains_key("cost-center"));
    assert!(!tags.contains_key("ecs-delegate-controller.io/selectors"));

    // Converged: nothing more to remove.
    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(moto.writes(), Vec::<String>::new());

    // A change of tags alone (no new revision): the last user tag goes, with its record.
    moto.write("g.yaml", &with(""));
    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(moto.writes(), ["UntagResource"], "{}", show(&out));
    assert_eq!(
        moto.requests("UntagResource")[0]["tagKeys"],
        serde_json::json!(["ecs-delegate-controller.io/tag-keys", "team"])
    );
    let keys: Vec<String> = moto
        .service("c1", "d1")
        .await
        .unwrap()
        .tags()
        .iter()
        .map(|t| t.key().unwrap().to_owned())
        .collect();
    assert!(keys.contains(&"owner".to_owned()), "{keys:?}");
    assert!(!keys.iter().any(|k| k == "team"), "{keys:?}");
}

/// Defect 10: a new service name replaces the service; it never runs beside the old one.
#[tokio::test(flavor = "multi_thread")]
async fn renaming_the_service_is_a_replacement_not_a_second_fleet() {
    let moto = Moto::start();
    moto.create_clusters(&["c1"]);
    moto.register_container_instances("c1", 4);
    moto.write("g.yaml", &group("harness/delegate:24.10.84200"));
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    let renamed = plan::DesiredGroup::test("d1")
        .cluster("c1")
        .image("harness/delegate:24.10.84200")
        .spec("  service: {name: delegates-prod}")
        .yaml();
    moto.write("g.yaml", &renamed);

    let out = moto.run(&["plan", "g.yaml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("replace-service d1 -> delegates-prod (create it with d1:1, then delete d1; needs --allow-replace)"),
        "{text}"
    );
    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(show(&out).contains("--allow-replace"), "{}", show(&out));
    assert_eq!(
        moto.writes(),
        Vec::<String>::new(),
        "nothing created beside d1"
    );

    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "--allow-replace", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        moto.writes(),
        ["CreateService", "UpdateService", "DeleteService"],
        "the new one first, then the old one scaled to 0 and deleted: {}",
        show(&out)
    );
    assert_eq!(
        moto.service("c1", "delegates-prod").await.unwrap().status(),
        Some("ACTIVE")
    );
    assert_eq!(
        moto.service("c1", "d1").await.unwrap().status(),
        Some("DRAINING")
    );

    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "--wait", "30s", "g.yaml"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(moto.writes(), Vec::<String>::new());
}

/// Defect 13: an execution role that cannot read the token is named before the tasks fail, and
/// the tasks' ResourceInitializationError is shown as that cause, not as a crash loop.
#[tokio::test(flavor = "multi_thread")]
async fn an_execution_role_that_cannot_read_the_token_is_reported_with_the_missing_action() {
    let moto = Moto::start();
    moto.create_clusters(&["c1"]);
    moto.register_container_instances("c1", 2);
    // Trusts ECS tasks, may pull images and write logs, but not read secrets.
    moto.create_role("exec-no-secrets", support::ECS_TASKS_TRUST);
    moto.put_role_policy(
        "exec-no-secrets",
        "pull-and-log",
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecr:GetAuthorizationToken","ecr:BatchGetImage","logs:CreateLogStream","logs:PutLogEvents"],"Resource":"*"}]}"#,
    );
    moto.write(
        "g.yaml",
        &plan::DesiredGroup::test("d1")
            .cluster("c1")
            .execution_role("arn:aws:iam::123456789012:role/exec-no-secrets")
            .yaml(),
    );
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("warning: the execution role arn:aws:iam::123456789012:role/exec-no-secrets cannot read the delegate token")
            && text.contains(
                "the execution role arn:aws:iam::123456789012:role/exec-no-secrets cannot read the delegate token"
            )
            && text.contains("do not allow secretsmanager:GetSecretValue"),
        "{text}"
    );
    // Not refused: a secret's resource policy may grant what the role's policies do not.
    assert!(
        moto.writes().contains(&"CreateService".to_owned()),
        "{text}"
    );

    // ECS stops the tasks before they start; status names the cause.
    let s = eventually(Duration::from_secs(20), || {
        let s = status(&moto);
        let degraded = condition(&s, "Degraded");
        (degraded["reason"] == "SecretNotReadable").then_some(s)
    })
    .expect("SecretNotReadable");
    let message = condition(&s, "Degraded")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("tasks could not start: ResourceInitializationError")
            && message.contains("is not authorized to perform: secretsmanager:GetSecretValue"),
        "{message}"
    );
    assert_ne!(condition(&s, "Degraded")["reason"], "CrashLoop");
}
