//! ECS as its API reference says it answers (issue 28), each point against the local endpoint,
//! which follows the same sentences (`scripts/ecs_behaviour.py`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use serde_json::{json, Value};
use support::Moto;

fn group(count: i64, service: &str) -> String {
    plan::DesiredGroup::test("d1")
        .cluster("c1")
        .count(count)
        .spec(service)
        .yaml()
}

/// The members of the recorded UpdateService requests, sorted.
fn members(moto: &Moto) -> Vec<Vec<String>> {
    let requests = moto.requests("UpdateService");
    let keys = |r: &Value| {
        let mut keys: Vec<String> = r.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    requests.iter().map(keys).collect()
}

/// The service's deployments (id, status), newest first.
fn deployments(moto: &Moto) -> Vec<(String, String)> {
    let service = moto.active_service("c1", "d1").expect("the service");
    let list = service["deployments"].as_array().unwrap();
    let entry = |d: &Value| (d["id"].to_string(), d["status"].to_string());
    list.iter().map(entry).collect()
}

/// An endpoint with cluster c1, room for four delegates, and group d1 of `count` converged.
fn converged_group(count: i64) -> Moto {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 4);
    moto.write("g.yaml", &group(count, ""));
    moto.run_ok(&["reconcile", "--once", "--wait", "60s", "g.yaml"]);
    moto
}

/// UpdateService's `desiredCount` "doesn't trigger a new service deployment"; `taskDefinition`
/// "triggers a new service deployment" (API reference, UpdateServiceRequest). A count change must
/// send the count alone, or every delegate is replaced to scale by one.
#[test]
fn a_count_change_scales_without_a_new_deployment() {
    let moto = converged_group(2);
    let before = deployments(&moto);
    assert_eq!(before.len(), 1, "{before:?}");

    moto.write("g.yaml", &group(3, ""));
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "--wait", "60s", "g.yaml"]);
    assert_eq!(members(&moto), [["cluster", "desiredCount", "service"]]);
    assert_eq!(deployments(&moto), before, "the same deployment, scaled");
    assert_eq!(moto.desired("c1", "d1"), Some(3));
}

/// UpdateService takes deploymentConfiguration whole: the alarms someone set on the service
/// are sent back with the percentages the group changes, and nothing else is sent.
#[test]
fn a_rollout_setting_change_keeps_the_alarms_set_outside_the_controller() {
    let moto = converged_group(2);
    let alarms = json!({"alarmNames": ["delegate-errors"], "enable": true, "rollback": false});
    let by_hand = json!({
        "cluster": "c1",
        "service": "d1",
        "deploymentConfiguration": {
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": {"enable": true, "rollback": true},
            "alarms": alarms,
        },
    });
    moto.ecs_call("UpdateService", &by_hand.to_string());
    let before = deployments(&moto);

    moto.write("g.yaml", &group(2, "  service:\n    maximumPercent: 150"));
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(
        members(&moto),
        [["cluster", "deploymentConfiguration", "service"]]
    );
    let service = moto.active_service("c1", "d1").unwrap();
    let config = &service["deploymentConfiguration"];
    assert_eq!(config["maximumPercent"], 150, "{config}");
    assert_eq!(config["alarms"], alarms, "{config}");
    assert_eq!(deployments(&moto), before, "no new deployment");
}

/// Stopped tasks of service d1 in c1, as ECS lists them (desiredStatus STOPPED).
fn stopped_tasks(moto: &Moto) -> usize {
    let body = json!({"cluster": "c1", "serviceName": "d1", "desiredStatus": "STOPPED"});
    let answer: Value =
        serde_json::from_str(&moto.ecs_call("ListTasks", &body.to_string())).unwrap();
    answer["taskArns"].as_array().map_or(0, Vec::len)
}

/// A Spot interruption (stopCode SpotInterruption) is ECS reclaiming capacity, not a delegate
/// that fails: only TaskFailedToStart and EssentialContainerExited count towards a crash loop.
#[test]
fn spot_interruptions_are_not_a_crash_loop() {
    // Tasks take 2 s to start, and are interrupted 2 s after: the service is short of running
    // tasks (so its stopped tasks are looked at) for half of the time.
    let moto = Moto::start_configured(&[("LOCALECS_START_SECONDS", "2")]);
    moto.create_clusters(&["c1"]);
    moto.register_container_instances("c1", 4);
    let yaml = plan::DesiredGroup::test("d1")
        .cluster("c1")
        .image("harness/delegate:interrupted-24.10")
        .yaml();
    moto.write("g.yaml", &yaml);
    moto.reconciled("g.yaml");
    // Status while the interrupted tasks are being replaced, after at least two interruptions.
    let replacing = support::eventually(std::time::Duration::from_secs(60), || {
        let status = support::status_json(&moto, "g.yaml");
        let group = status["groups"][0].clone();
        (stopped_tasks(&moto) >= 2 && group["running"].as_i64() < Some(2)).then_some(group)
    });
    let group = replacing.expect("the endpoint interrupts the tasks, and ECS replaces them");
    let degraded = support::find_condition(&group, "Degraded");
    assert!(
        degraded.is_none_or(|c| c["reason"] != "CrashLoop"),
        "{group:#}"
    );
}

/// The validator's patterns are the service models' own (botocore's data in the virtualenv).
#[test]
fn the_validators_patterns_are_the_service_models() {
    let script = "import botocore.session, json\n\
        s = botocore.session.get_session()\n\
        ecs, iam = s.get_service_model('ecs'), s.get_service_model('iam')\n\
        shapes = [ecs.shape_for('TagKey'), ecs.shape_for('TagValue'), iam.shape_for('roleNameType')]\n\
        print(json.dumps([s.metadata for s in shapes]))";
    let out = std::process::Command::new(support::venv().join("bin/python"))
        .args(["-c", script])
        .output()
        .expect("python runs (make setup installs it)");
    assert!(out.status.success(), "{}", support::show(&out));
    let models: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let ours = [
        &spec::model_string::TAG_KEY,
        &spec::model_string::TAG_VALUE,
        &spec::model_string::ROLE_NAME,
    ];
    for (model, ours) in models.iter().zip(ours) {
        assert_eq!(model["pattern"], ours.pattern, "{model}");
        assert_eq!(model["min"], ours.min, "{model}");
        assert_eq!(model["max"], ours.max, "{model}");
    }
}

/// A tag value ECS would refuse (a combining vowel sign, which `char::is_alphanumeric` takes)
/// and a controller id ECS would refuse as a tag value are refused before any AWS call.
#[test]
fn a_tag_or_controller_id_ecs_would_refuse_is_refused_before_any_call() {
    let moto = Moto::with_clusters(&["c1"]);
    let yaml = plan::DesiredGroup::test("d1")
        .cluster("c1")
        .spec("  tags:\n    team: \"\u{0915}\u{093e}\"")
        .yaml();
    moto.write("g.yaml", &yaml);
    moto.reset_calls();
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", support::show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    support::assert_has(&stderr, "g.yaml:");
    support::assert_has(&stderr, "spec.tags.team: the value has");
    assert_eq!(moto.calls(), Vec::<String>::new());

    moto.write("g.yaml", &group(2, ""));
    let out = moto.run(&[
        "reconcile",
        "--once",
        "--controller-id",
        "\u{24b6}",
        "g.yaml",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", support::show(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    support::assert_has(&stderr, "--controller-id");
    support::assert_has(&stderr, "ecs-delegate-controller.io/managed-by");
    assert_eq!(moto.calls(), Vec::<String>::new());
}

/// A quota ECS names in a service event ("was unable to place a task. Reason: You've reached the
/// limit on the number of tasks you can run concurrently") is the group's reason, with ECS's
/// message, instead of a rollout that seems to progress for ever.
#[tokio::test(flavor = "multi_thread")]
async fn a_fargate_quota_in_the_service_events_is_the_groups_reason() {
    let moto = Moto::start_configured(&[("LOCALECS_FARGATE_TASK_LIMIT", "2")]);
    moto.create_clusters(&["c1"]);
    let (subnet, _) = moto.default_network().await;
    let yaml = plan::DesiredGroup::test("d1")
        .cluster("c1")
        .count(3)
        .fargate(&subnet)
        .yaml();
    moto.write("g.yaml", &yaml);
    moto.reconciled("g.yaml");
    let status = support::status_json(&moto, "g.yaml");
    let group = &status["groups"][0];
    let degraded = support::condition(group, "Degraded");
    assert_eq!(degraded["reason"], "QuotaExceeded", "{group:#}");
    let message = degraded["message"].as_str().unwrap();
    support::assert_has(
        message,
        "You've reached the limit on the number of tasks you can run concurrently",
    );
}

/// Once one task of a deployment ran, ECS's circuit breaker stops counting failed tasks: a
/// rollout whose other tasks keep crashing never fails and is never rolled back. The status says
/// so, instead of a crash loop that seems to wait for the breaker.
#[test]
fn a_partly_healthy_rollout_is_reported_as_such() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 4);
    let yaml = plan::DesiredGroup::test("d1")
        .cluster("c1")
        .image("harness/delegate:flaky-24.10")
        .yaml();
    moto.write("g.yaml", &yaml);
    moto.reconciled("g.yaml");
    let crash_loop = support::eventually(std::time::Duration::from_secs(60), || {
        let status = support::status_json(&moto, "g.yaml");
        let group = status["groups"][0].clone();
        let degraded = support::find_condition(&group, "Degraded")?.clone();
        (degraded["reason"] == "CrashLoop").then_some(degraded)
    });
    let degraded = crash_loop.expect("the second delegate keeps crashing");
    let message = degraded["message"].as_str().unwrap();
    support::assert_has(message, "the rollout is partly healthy (1 of 2 running");
    support::assert_has(message, "Essential container in task exited");
    let service = moto.active_service("c1", "d1").unwrap();
    assert_eq!(
        service["deployments"][0]["rolloutState"], "IN_PROGRESS",
        "{service:#}"
    );
}

/// DescribeServices reports a service it could not describe in `failures`; the API failure
/// reasons page gives MISSING ("The specified service wasn't found") as the one reason that
/// means absent. Any other reason is the group's error, and nothing is created beside a service
/// that may exist.
#[test]
fn a_describe_failure_other_than_missing_is_no_absent_service() {
    let moto = Moto::start_configured(&[("LOCALECS_DESCRIBE_FAILURES", "d1=ACCESS_DENIED")]);
    moto.create_clusters(&["c1"]);
    moto.register_container_instances("c1", 4);
    moto.write("g.yaml", &group(1, ""));
    let out = moto.run(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", support::show(&out));
    assert!(moto.ecs_writes().is_empty(), "{:?}", moto.ecs_writes());
    let printed = support::printed(&out);
    support::assert_has(&printed, "ECS could not describe d1: ACCESS_DENIED");
    support::assert_has(&printed, "not taken as absent");
}

/// The sum of `count` over the recorded RunTask requests.
fn tasks_started(moto: &Moto) -> i64 {
    let runs = moto.requests("RunTask");
    runs.iter().map(|r| r["count"].as_i64().unwrap_or(1)).sum()
}

/// The loop, resyncing every second, over `yaml` on an endpoint that lists what is created
/// only 4 s later; stopped after 9 s (a few passes after the new resources became visible).
fn loop_with_late_listings(yaml: &str) -> Moto {
    let moto = Moto::start_configured(&[("LOCALECS_VISIBLE_AFTER_SECONDS", "4")]);
    moto.create_clusters(&["c1"]);
    moto.register_container_instances("c1", 4);
    moto.write("g.yaml", yaml);
    let looping = support::Loop::start(&moto, &["--interval", "1s", "g.yaml"]);
    std::thread::sleep(std::time::Duration::from_secs(9));
    looping.terminate();
    moto
}

/// "The Amazon ECS API follows an eventual consistency model ... the result of an API command
/// you run that affects your Amazon ECS resources might not be immediately visible to all
/// subsequent commands you run" (RunTask). Tasks RunTask started and ListTasks does not show yet
/// are counted from RunTask's own answer: the count is started once, nothing is stopped.
#[test]
fn tasks_not_listed_yet_are_not_started_again() {
    let yaml = plan::DesiredGroup::test("d1")
        .cluster("c1")
        .count(2)
        .tasks_mode()
        .yaml();
    let moto = loop_with_late_listings(&yaml);
    assert_eq!(tasks_started(&moto), 2, "{:?}", moto.calls());
    assert!(moto.requests("StopTask").is_empty(), "{:?}", moto.calls());
}

/// The same in service mode: a service CreateService made and DescribeServices does not show
/// yet is the one CreateService answered, not a service to create again.
#[test]
fn a_service_not_described_yet_is_not_created_again() {
    let moto = loop_with_late_listings(&group(2, ""));
    assert_eq!(
        moto.requests("CreateService").len(),
        1,
        "{:?}",
        moto.calls()
    );
    assert_eq!(moto.desired("c1", "d1"), Some(2));
}

/// A group on capacity providers (CreateService: "If a capacityProviderStrategy is specified,
/// the launchType parameter must be omitted"), and a FARGATE group moved onto them: UpdateService
/// carries the strategy (with forceNewDeployment, from a launch type); a strategy as ECS echoes
/// it, weight and base filled in, is converged.
#[tokio::test(flavor = "multi_thread")]
async fn a_capacity_provider_group_is_created_moved_and_converged() {
    let moto = Moto::start();
    let cluster = r#"{"clusterName":"c1","capacityProviders":["FARGATE","FARGATE_SPOT"]}"#;
    assert!(moto
        .ecs_call("CreateCluster", cluster)
        .contains("clusterArn"));
    let (subnet, _) = moto.default_network().await;
    let strategy = "  capacityProviderStrategy:\n    - {capacityProvider: FARGATE, base: 1, weight: 1}\n    - {capacityProvider: FARGATE_SPOT, weight: 3}";
    let network =
        format!("  network: {{subnets: [{subnet}]}}\n  resources: {{cpu: 1024, memory: 4096}}");
    let on_providers = |name: &str| {
        plan::DesiredGroup::test(name)
            .cluster("c1")
            .spec(strategy)
            .spec(&network)
            .yaml()
    };

    // Created on the providers.
    moto.write("spot.yaml", &on_providers("spot"));
    moto.run_ok(&["reconcile", "--once", "--wait", "60s", "spot.yaml"]);
    let created = &moto.requests("CreateService")[0];
    assert!(created.get("launchType").is_none(), "{created:#}");
    assert_eq!(
        created["capacityProviderStrategy"][1]["capacityProvider"],
        "FARGATE_SPOT"
    );
    let service = moto.active_service("c1", "spot").unwrap();
    assert_eq!(
        service["capacityProviderStrategy"][0]["base"], 1,
        "{service:#}"
    );
    let status = support::status_json(&moto, "spot.yaml");
    let capacity = status["groups"][0]["capacity"].as_str().unwrap_or_default();
    support::assert_has(capacity, "FARGATE_SPOT (weight 3)");
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "spot.yaml"]);
    assert!(moto.ecs_writes().is_empty(), "{:?}", moto.ecs_writes());

    // A FARGATE group moved onto them.
    let fargate = plan::DesiredGroup::test("d1")
        .cluster("c1")
        .fargate(&subnet)
        .yaml();
    moto.write("g.yaml", &fargate);
    moto.run_ok(&["reconcile", "--once", "--wait", "60s", "g.yaml"]);
    moto.write("g.yaml", &on_providers("d1"));
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "--wait", "60s", "g.yaml"]);
    assert_eq!(
        members(&moto),
        [[
            "capacityProviderStrategy",
            "cluster",
            "forceNewDeployment",
            "service"
        ]]
    );
    let service = moto.active_service("c1", "d1").unwrap();
    assert!(
        service.get("launchType").is_none_or(Value::is_null),
        "{service:#}"
    );
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert!(moto.ecs_writes().is_empty(), "{:?}", moto.ecs_writes());
}
