//! The places where the controller misbehaved on real ECS (issue 12), each shown against the
//! local ECS endpoint, which schedules, fails and rolls back as ECS does.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::time::Duration;

use serde_json::Value;
use support::{assert_has, condition, eventually, find_condition, show, status_json, Moto};

fn group(image: &str) -> String {
    plan::DesiredGroup::test("d1")
        .cluster("c1")
        .image(image)
        .yaml()
}

/// Defect 1: after ECS's circuit breaker rolled a failed deployment back, the controller must
/// not send the failing revision again on every pass.
#[tokio::test(flavor = "multi_thread")]
async fn a_rolled_back_deployment_is_not_fought_and_a_new_spec_deploys_again() {
    let moto = Moto::with_clusters(&["c1"]);
    // Two delegates of 6144 MiB, and room for the new ones beside them while deploying.
    moto.register_container_instances("c1", 4);
    moto.write("g.yaml", &group("harness/delegate:24.10.84200"));
    moto.run_ok(&["reconcile", "--once", "--wait", "30s", "g.yaml"]);
    let good = moto.service("c1", "d1").await.unwrap();
    let good_revision = good.task_definition().unwrap().to_owned();

    // A delegate image that crashes: ECS fails the deployment and rolls back to the good one.
    moto.write("g.yaml", &group("harness/delegate:crash-24.10"));
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
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
        let out = moto.run_ok(&["reconcile", "--once", "g.yaml"]);
        let writes = moto.writes();
        assert!(
            !writes
                .iter()
                .any(|w| w == "UpdateService" || w == "RegisterTaskDefinition"),
            "pass {pass}: {writes:?}\n{}",
            show(&out)
        );
        if pass == 0 {
            // The FAILED deployment has left the list: only ECS's service deployments say
            // that this is a rollback and not a hand edit.
            let calls = moto.calls();
            for evidence in [
                "ListServiceDeployments",
                "DescribeServiceDeployments",
                "DescribeServiceRevisions",
            ] {
                assert!(calls.iter().any(|c| c == evidence), "{calls:?}");
            }
            assert_eq!(writes, ["TagResource"], "{}", show(&out));
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_has(&stdout, "ECS rolled service d1 back from d1:2 to d1:1");
        } else {
            assert!(writes.is_empty(), "pass {pass}: {writes:?}");
        }
    }
    let s = status_json(&moto, "g.yaml");
    let degraded = condition(&s["groups"][0], "Degraded");
    assert_eq!(degraded["reason"], "RolledBack", "{s:#}");
    let message = degraded["message"].as_str().unwrap();
    assert!(
        message.contains("rolled d1:2 back to d1:1")
            && message.contains("Essential container in task exited"),
        "{message}"
    );
    assert_eq!(condition(&s["groups"][0], "Ready")["status"], "False");

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
    let out = moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(moto.writes(), ["UpdateService"], "{}", show(&out));
    let s = moto.service("c1", "d1").await.unwrap();
    assert_eq!(s.task_definition(), Some(good_revision.as_str()));

    // A new spec (a fixed image) deploys again, and the rollback record goes.
    moto.write("g.yaml", &group("harness/delegate:24.10.84300"));
    moto.reset_calls();
    let out = moto.run_ok(&["reconcile", "--once", "--wait", "30s", "g.yaml"]);
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
        let s = status_json(&moto, "g.yaml");
        (condition(&s["groups"][0], "Ready")["status"] == "True").then_some(())
    });
    assert!(ready.is_some(), "{:#}", status_json(&moto, "g.yaml"));
}

/// Defect 4: tags the spec no longer has are removed, and only those the controller wrote.
#[tokio::test(flavor = "multi_thread")]
async fn removed_tags_and_selectors_are_untagged_and_others_tags_are_kept() {
    let moto = Moto::with_clusters(&["c1"]);
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
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
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
    let out = moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_has(
        &stdout,
        "removed tags cost-center, ecs-delegate-controller.io/selectors",
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
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(moto.writes(), Vec::<String>::new());

    // A change of tags alone (no new revision): the last user tag goes, with its record.
    moto.write("g.yaml", &with(""));
    moto.reset_calls();
    let out = moto.run_ok(&["reconcile", "--once", "g.yaml"]);
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
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 4);
    moto.write("g.yaml", &group("harness/delegate:24.10.84200"));
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    let renamed = plan::DesiredGroup::test("d1")
        .cluster("c1")
        .image("harness/delegate:24.10.84200")
        .spec("  service: {name: delegates-prod}")
        .yaml();
    moto.write("g.yaml", &renamed);

    let out = moto.run(&["plan", "g.yaml"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_has(&text, "replace-service d1 -> delegates-prod (delete d1, then create it with d1:1; needs --allow-replace)");
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
    let out = moto.run_ok(&["reconcile", "--once", "--allow-replace", "g.yaml"]);
    assert_eq!(
        moto.writes(),
        ["UpdateService", "DeleteService", "CreateService"],
        "the old one scaled to 0 and deleted, then the new one created: {}",
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
    moto.run_ok(&["reconcile", "--once", "--wait", "30s", "g.yaml"]);
    assert_eq!(moto.writes(), Vec::<String>::new());
}

/// Defect 13: an execution role that cannot read the token is named before the tasks fail, and
/// the tasks' ResourceInitializationError is shown as that cause, not as a crash loop.
#[tokio::test(flavor = "multi_thread")]
async fn an_execution_role_that_cannot_read_the_token_is_reported_with_the_missing_action() {
    let moto = Moto::with_clusters(&["c1"]);
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
        let s = status_json(&moto, "g.yaml");
        let degraded = find_condition(&s["groups"][0], "Degraded")?;
        (degraded["reason"] == "SecretNotReadable").then_some(s.clone())
    })
    .expect("SecretNotReadable");
    let message = condition(&s["groups"][0], "Degraded")["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("tasks could not start: ResourceInitializationError")
            && message.contains("is not authorized to perform: secretsmanager:GetSecretValue"),
        "{message}"
    );
    assert_ne!(
        condition(&s["groups"][0], "Degraded")["reason"],
        "CrashLoop"
    );
}

fn register_raw(moto: &Moto, definition: &Value) -> String {
    let answer: Value =
        serde_json::from_str(&moto.ecs_call("RegisterTaskDefinition", &definition.to_string()))
            .unwrap();
    answer["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}"))
        .to_owned()
}

fn describe_raw(moto: &Moto, arn: &str) -> Value {
    let answer: Value = serde_json::from_str(&moto.ecs_call(
        "DescribeTaskDefinition",
        &serde_json::json!({ "taskDefinition": arn }).to_string(),
    ))
    .unwrap();
    answer["taskDefinition"].clone()
}

/// A delegate task definition as a person might have registered it: every field the document
/// model holds, and `extra` merged into the container.
fn by_hand_definition(family: &str, extra: Value) -> Value {
    let mut container = serde_json::json!({
        "name": "ecs-delegate",
        "image": "harness/delegate:24.10.84200",
        "essential": true,
        "cpu": 512,
        "memory": 3072,
        "memoryReservation": 2048,
        "hostname": "delegate-by-hand",
        "user": "1000",
        "workingDirectory": "/opt/harness-delegate",
        "command": ["./start.sh"],
        "entryPoint": ["/bin/sh", "-c"],
        "stopTimeout": 60,
        "readonlyRootFilesystem": false,
        "dockerLabels": {"team": "platform"},
        "ulimits": [{"name": "nofile", "softLimit": 65535, "hardLimit": 65535}],
        "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}],
        "mountPoints": [{"sourceVolume": "docker", "containerPath": "/var/run/docker.sock", "readOnly": false}],
        "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:3460/api/health || exit 1"], "interval": 30, "timeout": 5, "retries": 3, "startPeriod": 60},
        "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/delegate", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "d"}},
        "environment": [
            {"name": "ACCOUNT_ID", "value": "abc123"},
            {"name": "DELEGATE_NAME", "value": family},
            {"name": "DELEGATE_TYPE", "value": "DOCKER"},
            {"name": "MANAGER_HOST_AND_PORT", "value": "https://app.harness.io/gratis"},
            {"name": "NEXT_GEN", "value": "true"}
        ],
        "secrets": [{"name": "DELEGATE_TOKEN", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:delegate-token"}]
    });
    container
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    serde_json::json!({
        "family": family,
        "cpu": "1024",
        "memory": "4096",
        "executionRoleArn": "arn:aws:iam::123456789012:role/ecsTaskExecutionRole",
        "volumes": [{"name": "docker", "host": {"sourcePath": "/var/run/docker.sock"}}],
        "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}],
        "containerDefinitions": [container]
    })
}

/// Defect 8: import never drops a field. What a DelegateGroup cannot hold is refused, naming the
/// field; what it can hold comes back exactly, compared field by field in the next revision.
#[tokio::test(flavor = "multi_thread")]
async fn import_keeps_every_field_or_refuses_naming_it() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 2);
    let ecs = moto.ecs().await;
    let create = |name: &str, td: &str| {
        let ecs = ecs.clone();
        let (name, td) = (name.to_owned(), td.to_owned());
        async move {
            ecs.create_service()
                .cluster("c1")
                .service_name(name)
                .task_definition(td)
                .desired_count(1)
                .send()
                .await
                .unwrap();
        }
    };

    // Fields the document model cannot hold: refused, each named.
    let mut rich = by_hand_definition(
        "rich",
        serde_json::json!({
            "startTimeout": 120,
            "restartPolicy": {"enabled": true, "restartAttemptPeriod": 60},
            "systemControls": [{"namespace": "net.core.somaxconn", "value": "1024"}],
            "dockerSecurityOptions": ["no-new-privileges"],
            "resourceRequirements": [{"type": "GPU", "value": "1"}],
        }),
    );
    rich["containerDefinitions"][0]["portMappings"][0]["name"] = "web".into();
    rich["containerDefinitions"][0]["portMappings"][0]["appProtocol"] = "http".into();
    rich["containerDefinitions"][0]["logConfiguration"]["secretOptions"] = serde_json::json!(
        [{"name": "token", "valueFrom": "arn:aws:ssm:us-east-1:123456789012:parameter/x"}]
    );
    rich["volumes"] = serde_json::json!([
        {"name": "docker", "host": {"sourcePath": "/var/run/docker.sock"}},
        {"name": "efs", "efsVolumeConfiguration": {"fileSystemId": "fs-1234"}}
    ]);
    let rich_td = register_raw(&moto, &rich);
    create("rich", &rich_td).await;
    let out = moto.run(&["import", "--cluster", "c1", "--service", "rich"]);
    assert!(!out.status.success(), "{}", show(&out));
    let text = show(&out);
    for field in [
        "containerDefinitions[ecs-delegate].startTimeout",
        "containerDefinitions[ecs-delegate].restartPolicy",
        "containerDefinitions[ecs-delegate].systemControls",
        "containerDefinitions[ecs-delegate].dockerSecurityOptions",
        "containerDefinitions[ecs-delegate].resourceRequirements",
        "containerDefinitions[ecs-delegate].logConfiguration.secretOptions",
        "containerDefinitions[ecs-delegate].portMappings[8080].name",
        "containerDefinitions[ecs-delegate].portMappings[8080].appProtocol",
        "volumes[efs].efsVolumeConfiguration",
    ] {
        assert!(text.contains(field), "{field} not named: {text}");
    }
    // Adopting it through a hand-written group is refused the same way, with no write.
    moto.write(
        "rich.yaml",
        &plan::DesiredGroup::test("rich")
            .cluster("c1")
            .spec("  service: {adopt: true}")
            .yaml(),
    );
    moto.reset_calls();
    let policy = moto.adoption_policy(&["c1"]);
    let out = moto.run(&["reconcile", "--once", "rich.yaml", "--policy", &policy]);
    assert!(!out.status.success(), "{}", show(&out));
    assert!(
        show(&out).contains("a DelegateGroup cannot express that"),
        "{}",
        show(&out)
    );
    assert_eq!(moto.writes(), Vec::<String>::new());

    // Everything the model holds: the next revision (a new image) equals the live one field by
    // field, but for the image.
    let plain_td = register_raw(&moto, &by_hand_definition("plain", serde_json::json!({})));
    create("plain", &plain_td).await;
    let out = moto.run_ok(&["import", "--cluster", "c1", "--service", "plain"]);
    let yaml = String::from_utf8_lossy(&out.stdout).into_owned();
    moto.write("plain.yaml", &yaml);
    // The by-hand definition mounts the Docker socket: the operator turned the baseline off.
    let policy = moto.operator_policy("baseline: false\nadoption: {clusters: [c1]}\n");
    let out = moto.run(&[
        "plan",
        "--detailed-exitcode",
        "plain.yaml",
        "--policy",
        &policy,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}\n{yaml}", show(&out));
    moto.write(
        "plain.yaml",
        &yaml.replace(
            "harness/delegate:24.10.84200",
            "harness/delegate:24.10.84300",
        ),
    );
    moto.run_ok(&["reconcile", "--once", "plain.yaml", "--policy", &policy]);
    let next = moto
        .service("c1", "plain")
        .await
        .unwrap()
        .task_definition()
        .unwrap()
        .to_owned();
    assert_ne!(next, plain_td);
    let strip = |mut td: Value| {
        let object = td.as_object_mut().unwrap();
        for key in [
            "taskDefinitionArn",
            "revision",
            "registeredAt",
            "registeredBy",
            "status",
            "compatibilities",
            "requiresAttributes",
        ] {
            object.remove(key);
        }
        td["containerDefinitions"][0]["image"] = Value::Null;
        td
    };
    let (before, after) = (
        strip(describe_raw(&moto, &plain_td)),
        strip(describe_raw(&moto, &next)),
    );
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    for key in keys(&before) {
        assert_eq!(before[&key], after[&key], "{key} differs");
    }
    // The only addition: an empty requiresCompatibilities, which is what the original had.
    let added: Vec<String> = keys(&after)
        .into_iter()
        .filter(|k| before.get(k).is_none())
        .collect();
    assert_eq!(added, ["requiresCompatibilities"]);
    assert_eq!(after["requiresCompatibilities"], serde_json::json!([]));
}

/// Defect 13, a customer managed key: reading the token needs kms:Decrypt on it too.
#[test]
fn a_token_under_a_customer_key_needs_kms_decrypt_on_that_key() {
    let moto = Moto::with_clusters(&["c1"]);
    let key: Value = serde_json::from_str(&moto.json_call(
        "kms",
        "TrentService.CreateKey",
        r#"{"Description":"delegate tokens"}"#,
    ))
    .unwrap();
    let key_arn = key["KeyMetadata"]["Arn"].as_str().unwrap().to_owned();
    let secret: Value = serde_json::from_str(
        &moto.json_call(
            "secretsmanager",
            "secretsmanager.CreateSecret",
            &serde_json::json!({"Name": "cmk-token", "SecretString": "t", "KmsKeyId": key_arn})
                .to_string(),
        ),
    )
    .unwrap();
    let secret_arn = secret["ARN"].as_str().unwrap().to_owned();
    moto.write(
        "g.yaml",
        &plan::DesiredGroup::test("d1").cluster("c1").yaml().replace(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:delegate-token",
            &secret_arn,
        ),
    );
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    assert_has(
        &text,
        &format!("do not allow kms:Decrypt on its KMS key {key_arn}"),
    );

    // With kms:Decrypt on the key, nothing to report.
    moto.put_role_policy(
        "ecsTaskExecutionRole",
        "decrypt-tokens",
        &serde_json::json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn}]})
        .to_string(),
    );
    moto.write(
        "g.yaml",
        &plan::DesiredGroup::test("d1")
            .cluster("c1")
            .count(1)
            .yaml()
            .replace(
                "arn:aws:secretsmanager:us-east-1:123456789012:secret:delegate-token",
                &secret_arn,
            ),
    );
    let out = moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert!(!show(&out).contains("warning"), "{}", show(&out));
}
