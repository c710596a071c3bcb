//! Status, role checks, capacity, tasks mode and --wait, end to end against moto.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::{assert_has, condition, group_yaml, show, status_json, Moto, ACCOUNT};

#[tokio::test(flavor = "multi_thread")]
async fn status_before_and_after_converge() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("g.yaml", &group_yaml("d1", "c1", ""));

    let before = status_json(&moto, "g.yaml");
    let g = &before["groups"][0];
    assert_eq!(
        (
            g["name"].as_str(),
            g["cluster"].as_str(),
            g["mode"].as_str()
        ),
        (Some("d1"), Some("c1"), Some("service"))
    );
    assert_eq!(
        (
            g["desired"].as_i64(),
            g["running"].as_i64(),
            g["pending"].as_i64()
        ),
        (Some(2), Some(0), Some(0))
    );
    assert_eq!(g["inSync"], false);
    assert_eq!(g["taskDefinition"], Value::Null);
    assert_eq!(condition(g, "Ready")["status"], "False");
    // The cluster has no container instance: the status says so before anything is created.
    assert_eq!(condition(g, "Degraded")["reason"], "InsufficientCapacity");
    assert!(condition(g, "Degraded")["message"]
        .as_str()
        .unwrap()
        .ends_with(
            "the cluster's 0 container instances have 0 CPU units and 0 MiB free, room for 0"
        ));

    // Room for the two delegates (6144 MiB each): the endpoint places them.
    moto.register_container_instances("c1", 2);
    moto.reconciled("g.yaml");
    let after = status_json(&moto, "g.yaml");
    let g = &after["groups"][0];
    assert_eq!(
        (g["running"].as_i64(), g["pending"].as_i64()),
        (Some(2), Some(0))
    );
    assert_eq!(g["inSync"], true);
    assert_eq!(g["taskDefinition"], "d1:1");
    assert_eq!(condition(g, "Ready")["status"], "True");
    assert_eq!(condition(g, "Ready")["reason"], "Converged");

    let table = moto.run(&["status", "g.yaml"]);
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(text.starts_with("NAME  CLUSTER  ACCOUNT/REGION  MODE     DESIRED  RUNNING  PENDING  TASK DEFINITION  IN SYNC  CONNECTED  READY  REASON\n"), "{text}");
    assert_has(&text, "d1    c1       self/us-east-1  service  2        2        0        d1:1             yes      off        True   Converged");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_roles_stall_only_their_group_and_are_named() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.create_role(
        "lambda-only",
        r#"{"Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#,
    );
    moto.write(
        "groups/missing.yaml",
        &group_yaml("missing", "c1", "")
            .replace("role/ecsTaskExecutionRole", "role/does-not-exist"),
    );
    moto.write(
        "groups/untrusted.yaml",
        &group_yaml("untrusted", "c1", "").replace("role/ecsTaskExecutionRole", "role/lambda-only"),
    );
    moto.write("groups/fine.yaml", &group_yaml("fine", "c1", ""));

    let out = moto.run(&["reconcile", "--once", "groups"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&format!("missing (c1): error: spec.roles.execution: role arn:aws:iam::{ACCOUNT}:role/does-not-exist does not exist")), "{stdout}");
    assert!(stdout.contains(&format!("untrusted (c1): error: spec.roles.execution: role arn:aws:iam::{ACCOUNT}:role/lambda-only does not trust ecs-tasks.amazonaws.com (it trusts lambda.amazonaws.com)")), "{stdout}");
    assert_has(
        &stdout,
        "fine (c1): registered fine:1; created service fine",
    );
    let ecs = moto.ecs().await;
    let services = ecs
        .describe_services()
        .cluster("c1")
        .services("missing")
        .services("untrusted")
        .send()
        .await
        .unwrap();
    assert!(
        services.services().is_empty(),
        "nothing written for the stalled groups"
    );
    let families = ecs.list_task_definition_families().send().await.unwrap();
    assert_eq!(families.families(), ["fine"]);

    let status = status_json(&moto, "groups");
    let by_name = |n: &str| {
        status["groups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["name"] == n)
            .unwrap()
            .clone()
    };
    assert_eq!(
        condition(&by_name("missing"), "Stalled")["reason"],
        "RoleNotFound"
    );
    assert_eq!(
        condition(&by_name("untrusted"), "Stalled")["reason"],
        "RoleTrustMissing"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_capacity_shortfall_on_one_container_instance_is_reported() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instance("c1");
    moto.write(
        "g.yaml",
        &group_yaml("d1", "c1", "  mode: tasks\n").replace("count: 2", "count: 3"),
    );

    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert!(out.status.success(), "not a refusal: {}", show(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("started 1 of 3 tasks"),
        "{}",
        show(&out)
    );
    let status = status_json(&moto, "g.yaml");
    let g = &status["groups"][0];
    assert_eq!(
        (g["running"].as_i64(), g["desired"].as_i64()),
        (Some(1), Some(3))
    );
    let degraded = condition(g, "Degraded");
    assert_eq!(
        (degraded["status"].as_str(), degraded["reason"].as_str()),
        (Some("True"), Some("InsufficientCapacity"))
    );
    assert_eq!(
        degraded["message"],
        "2 delegate tasks cannot be placed: each needs 1024 CPU units and 6144 MiB; the cluster's 1 \
         container instance have 3072 CPU units and 1338 MiB free, room for 0"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_mode_keeps_its_count_scales_down_and_then_writes_nothing() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instance("c1");
    let small = |count: u32| {
        group_yaml(
            "t1",
            "c1",
            "  mode: tasks\n  resources: {cpu: 256, memory: 512}\n",
        )
        .replace("count: 2", &format!("count: {count}"))
    };
    moto.write("g.yaml", &small(3));
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    let ecs = moto.ecs().await;
    let running = || async {
        let arns = ecs
            .list_tasks()
            .cluster("c1")
            .started_by("ecs-delegate-controller") // the only filter, as ECS requires
            .send()
            .await
            .unwrap();
        arns.task_arns().to_vec()
    };
    let tasks = running().await;
    assert_eq!(tasks.len(), 3);
    let described = ecs
        .describe_tasks()
        .cluster("c1")
        .tasks(&tasks[0])
        .include(aws_sdk_ecs::types::TaskField::Tags)
        .send()
        .await
        .unwrap();
    let tags: std::collections::HashMap<_, _> = described.tasks()[0]
        .tags()
        .iter()
        .map(|t| (t.key().unwrap(), t.value().unwrap()))
        .collect();
    assert_eq!(tags["ecs-delegate-controller.io/group"], "t1");
    assert_eq!(tags["ecs-delegate-controller.io/managed-by"], "default");

    // Stopped by hand: replaced.
    ecs.stop_task()
        .cluster("c1")
        .task(&tasks[0])
        .reason("by hand")
        .send()
        .await
        .unwrap();
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(moto.writes(), ["RunTask"]);
    assert_eq!(running().await.len(), 3);

    // Scale down.
    moto.write("g.yaml", &small(1));
    moto.reset_calls();
    moto.reconciled("g.yaml");
    assert_eq!(moto.writes(), ["StopTask", "StopTask"]);
    assert_eq!(running().await.len(), 1);

    // Converged: a second pass writes nothing.
    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("t1 (c1): in sync"),
        "{}",
        show(&out)
    );
    assert_eq!(moto.writes(), Vec::<String>::new());
    let status = status_json(&moto, "g.yaml");
    assert_eq!(
        condition(&status["groups"][0], "Ready")["reason"],
        "Converged"
    );
}

#[test]
fn wait_times_out_on_a_service_that_never_becomes_steady() {
    let moto = Moto::start(); // no container instance: the EC2 tasks are never placed
    moto.create_clusters(&["c1"]);
    moto.write("g.yaml", &group_yaml("d1", "c1", ""));
    let started = Instant::now();
    let out = moto.run(&["reconcile", "--once", "--wait", "3s", "g.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(started.elapsed() < Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_has(
        &stderr,
        "error: timed out after 3s waiting for 1 of 1 groups; not ready:",
    );
    assert_has(
        &stderr,
        "d1 (c1): InsufficientCapacity: 2 delegate tasks cannot be placed: each needs 1024 CPU units and 6144 MiB",
    );
    assert!(
        stderr.contains("waiting: 0/1 groups ready"),
        "plain progress lines off a terminal: {stderr}"
    );
}

#[test]
fn wait_succeeds_once_every_group_is_ready() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 2);
    moto.write("g.yaml", &group_yaml("d1", "c1", ""));
    let out = moto.run_ok(&["reconcile", "--once", "--wait", "30s", "g.yaml"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("All 1 groups are ready."));
}

/// ECS refuses ListTasks with `startedBy` and another filter ("it must be the only filter that
/// you use"); moto does not, so the requests themselves are checked. ListServices asks for
/// its largest page.
#[tokio::test(flavor = "multi_thread")]
async fn list_tasks_never_combines_started_by_with_another_filter() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instance("c1");
    let tasks = group_yaml(
        "t1",
        "c1",
        "  mode: tasks\n  resources: {cpu: 256, memory: 512}\n",
    );
    moto.write("groups/t1.yaml", &tasks);
    moto.write("groups/s1.yaml", &group_yaml("s1", "c1", ""));
    moto.run_ok(&["reconcile", "--once", "groups"]);
    moto.run_ok(&["status", "groups"]);
    moto.remove("groups/t1.yaml");
    moto.run_ok(&["reconcile", "--once", "--prune", "groups"]);

    let listings = moto.requests("ListServices");
    assert!(!listings.is_empty(), "prune lists the services");
    assert!(
        listings.iter().all(|r| r["maxResults"] == 100),
        "100 a page, not ECS's default 10: {listings:?}"
    );

    let requests = moto.requests("ListTasks");
    assert!(
        requests.iter().any(|r| r.get("startedBy").is_some()),
        "tasks mode and prune list by startedBy: {requests:?}"
    );
    for request in &requests {
        if request.get("startedBy").is_some() {
            let filters: Vec<&String> = request
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| !["cluster", "nextToken", "maxResults"].contains(&k.as_str()))
                .collect();
            assert_eq!(filters, ["startedBy"], "{request}");
        }
    }
}
