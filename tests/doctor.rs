//! `doctor` against the local endpoint: on a good set-up every check passes (exit 0); on a
//! broken one each failure is named with its fix (exit 1). It only reads: no write reaches the
//! endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use support::{assert_has, group_yaml, show, Moto};

fn lines(out: &std::process::Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn a_good_set_up_passes_every_check_and_doctor_only_reads() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instance("c1");
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    let table = moto.json_call(
        "dynamodb",
        "DynamoDB_20120810.CreateTable",
        &serde_json::json!({
            "TableName": "leases",
            "KeySchema": [{"AttributeName": "name", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "name", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST"
        })
        .to_string(),
    );
    assert_has(&table, "TableDescription");
    let queue: serde_json::Value = serde_json::from_str(&moto.json_call(
        "sqs",
        "AmazonSQS.CreateQueue",
        r#"{"QueueName": "events"}"#,
    ))
    .unwrap();
    let url = queue["QueueUrl"].as_str().unwrap().to_owned();
    moto.reset_calls();
    let out = moto.run(&[
        "doctor",
        "groups",
        "--lease-table",
        "leases",
        "--events-queue",
        &url,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let lines = lines(&out);
    let checks: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("ok    "))
        .map(|l| l.split(": ").next().unwrap())
        .collect();
    assert_eq!(
        checks,
        [
            "credentials",
            "region",
            "files",
            "cluster c1 (us-east-1)",
            "group a",
            "lease table leases",
            &format!("events queue {url}") as &str,
        ],
        "{}",
        show(&out)
    );
    assert_eq!(lines.last().unwrap(), "All 7 checks passed.");
    assert!(!show(&out).contains("WARN aws_"), "{}", show(&out));
    // Describe*, List* and Get* are reads; nothing else was called.
    let writes: Vec<String> = moto
        .writes()
        .into_iter()
        .filter(|call| !call.starts_with("Get"))
        .collect();
    assert_eq!(writes, Vec::<String>::new(), "doctor only reads");
}

#[test]
fn a_broken_set_up_names_each_failure_and_its_fix() {
    let moto = Moto::with_clusters(&["c1"]);
    // c1 has no container instance; c2 does not exist; g's role does not exist.
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    moto.write("groups/b.yaml", &group_yaml("b", "c2", ""));
    moto.write(
        "groups/g.yaml",
        &plan::DesiredGroup::test("g")
            .cluster("c1")
            .execution_role("arn:aws:iam::123456789012:role/missing-role")
            .yaml(),
    );
    moto.reset_calls();
    let out = moto.run(&["doctor", "groups", "--lease-table", "no-such-table"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    for expected in [
        "FAIL  cluster c1 (us-east-1): none of its 0 container instances has room for a delegate task of 1024 CPU units and 6144 MiB\n      fix: register container instances (an Auto Scaling group with the ECS-optimized AMI), or use launchType FARGATE",
        "FAIL  cluster c2 (us-east-1): not found\n      fix: create it (`aws ecs create-cluster --cluster-name c2`) or correct spec.cluster, spec.region, spec.account",
        "FAIL  group g: RoleNotFound: ",
        "FAIL  lease table no-such-table: ",
        "      fix: create it from deploy/lease-table.json, and give the role ElectTheLeaderOnTheLeaseTable",
    ] {
        assert!(text.contains(expected), "{expected}\nnot in\n{text}");
    }
    assert!(text.ends_with("checks failed.\n"), "{text}");
    // Two clusters of one account and region: one listing.
    let listings = moto.calls().iter().filter(|c| *c == "ListClusters").count();
    assert_eq!(listings, 1, "{:?}", moto.calls());
    assert!(!show(&out).contains("WARN aws_"), "{}", show(&out));
}
