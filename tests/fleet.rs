//! Fleet operations against the local endpoint: a count someone else owns, change windows.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{assert_has, condition, eventually, show, status_json, Loop, Moto};

/// Someone else (a person, Application Auto Scaling: the test plays its part) scales service
/// `g` to `count`; three passes later nothing was written and status shows that count.
fn scaled_by_someone_else_stays(moto: &Moto, count: i64) {
    moto.ecs_call(
        "UpdateService",
        &json!({"cluster": "c1", "service": "g", "desiredCount": count}).to_string(),
    );
    for pass in 0..3 {
        moto.reset_calls();
        let out = moto.run_ok(&["reconcile", "--once", "g.yaml"]);
        assert!(
            moto.writes().is_empty(),
            "pass {pass}: {:?}\n{}",
            moto.writes(),
            show(&out)
        );
    }
    assert_eq!(moto.desired("c1", "g"), Some(count));
    let status = status_json(moto, "g.yaml");
    assert_eq!(status["groups"][0]["desired"], count, "{status:#}");
}

/// Without `spec.count` the controller creates the service with 1 and never writes desiredCount
/// again: a scale by someone else (autoscaling, a person) stays, pass after pass.
#[tokio::test(flavor = "multi_thread")]
async fn an_omitted_count_is_never_written() {
    let moto = Moto::with_clusters(&["c1"]);
    let (subnet, _) = moto.default_network().await;
    let yaml = plan::DesiredGroup::test("g")
        .no_count()
        .fargate(&subnet)
        .yaml();
    moto.write("g.yaml", &yaml);
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    let created = moto.requests("CreateService");
    assert_eq!(created[0]["desiredCount"], 1, "{created:?}");
    scaled_by_someone_else_stays(&moto, 3);
    let plan = moto.run_ok(&["plan", "g.yaml"]);
    assert_has(&String::from_utf8_lossy(&plan.stdout), "No changes");
}

/// A deny window that started this minute (UTC) and ends `left` from now.
fn deny_for(left: Duration) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (minute, hour) = ((now / 60) % 60, (now / 3600) % 24);
    let duration = now % 60 + left.as_secs();
    format!("deny {minute} {hour} * * * {duration}s UTC")
}

fn group_of(subnet: &str, count: i64) -> String {
    plan::DesiredGroup::test("g")
        .count(count)
        .fargate(subnet)
        .yaml()
}

/// The group's status as the loop serves it.
fn served(looping: &Loop) -> Option<Value> {
    let (code, body) = looping.get("/status");
    let status: Value = serde_json::from_str(&body).ok()?;
    (code == 200).then(|| status["groups"][0].clone())
}

/// Inside a deny window a change of the files is planned and reported, not written; drift is
/// put back when the operator allows it; when the window closes the held change is applied
/// without a new commit (Argo CD's #21692).
#[tokio::test(flavor = "multi_thread")]
async fn a_deny_window_holds_a_change_puts_drift_back_and_applies_the_change_when_it_ends() {
    let moto = Moto::with_clusters(&["c1"]);
    let (subnet, _) = moto.default_network().await;
    moto.write("g.yaml", &group_of(&subnet, 1));
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    let window = deny_for(Duration::from_secs(35));
    // The window ends on a whole second: up to one before 35 s from now.
    let opens = Instant::now() + Duration::from_secs(34);
    let looping = Loop::ready(
        &moto,
        &[
            "g.yaml",
            "--interval",
            "2s",
            "--window",
            &window,
            "--drift-outside-windows",
        ],
        Duration::from_secs(30),
    );
    // In sync at the window's start: a clean pass on record.
    eventually(Duration::from_secs(20), || {
        let g = served(&looping)?;
        (g["inSync"] == true).then_some(())
    })
    .unwrap_or_else(|| panic!("{}", looping.logs()));
    let page = looping.get("/").1;
    assert_has(&page, "Change window: held by window (deny ");

    // Drift: put back although the window holds changes.
    moto.ecs_call(
        "UpdateService",
        &json!({"cluster": "c1", "service": "g", "desiredCount": 3}).to_string(),
    );
    eventually(Duration::from_secs(20), || {
        (moto.desired("c1", "g") == Some(1)).then_some(())
    })
    .unwrap_or_else(|| panic!("drift not put back: {}", looping.logs()));

    // A change of the files: held, and said so.
    moto.write("g.yaml", &group_of(&subnet, 2));
    let held = eventually(Duration::from_secs(20), || {
        let g = served(&looping)?;
        (condition(&g, "Ready")["reason"] == "HeldByWindow").then_some(g)
    })
    .unwrap_or_else(|| panic!("never held: {}", looping.logs()));
    assert_has(
        condition(&held, "Ready")["message"].as_str().unwrap(),
        "changes planned but held by window (deny ",
    );
    assert_has(held["window"].as_str().unwrap(), "writes resume at ");
    assert!(Instant::now() < opens, "the test ran past the window");
    assert_eq!(moto.desired("c1", "g"), Some(1), "held: not written");
    assert_has(&looping.logs(), "changes held by a change window");

    // The window ends: the held change is applied, with no new commit.
    let applied = eventually(Duration::from_secs(60), || {
        (moto.desired("c1", "g") == Some(2)).then_some(())
    });
    looping.terminate();
    assert!(applied.is_some(), "{}", looping.logs());
    assert!(Instant::now() >= opens, "applied before the window ended");
}

/// Without the operator's word, drift is held like any change; `plan` and `reconcile --once`
/// say so, and nothing is written.
#[tokio::test(flavor = "multi_thread")]
async fn inside_a_deny_window_drift_waits_too_unless_allowed() {
    let moto = Moto::with_clusters(&["c1"]);
    let (subnet, _) = moto.default_network().await;
    moto.write("g.yaml", &group_of(&subnet, 1));
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    moto.ecs_call(
        "UpdateService",
        &json!({"cluster": "c1", "service": "g", "desiredCount": 3}).to_string(),
    );
    let window = deny_for(Duration::from_secs(600));
    moto.reset_calls();
    let out = moto.run_ok(&["reconcile", "--once", "g.yaml", "--window", &window]);
    assert!(
        moto.ecs_writes().is_empty(),
        "{:?}\n{}",
        moto.ecs_writes(),
        show(&out)
    );
    assert_eq!(moto.desired("c1", "g"), Some(3));
    let plan = moto.run_ok(&["plan", "g.yaml", "--window", &window]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert_has(&text, "desiredCount: 3 -> 1");
    assert_has(&text, "g: held by window (deny ");
    let table = moto.run_ok(&["status", "g.yaml", "--window", &window]);
    assert_has(
        &String::from_utf8_lossy(&table.stdout),
        "change window: held by window",
    );
    let bad = moto.run(&["plan", "g.yaml", "--window", "deny 0 25 * * * 1h"]);
    assert!(!bad.status.success());
    assert_has(&show(&bad), "--window");
    assert_has(&show(&bad), "schedule");
}

/// A count range: the controller registers the scalable target and a target-tracking policy,
/// leaves a desiredCount that autoscaling moved inside the range alone pass after pass, puts one
/// outside it back to the nearest bound, and deregisters the target when the range goes.
#[tokio::test(flavor = "multi_thread")]
async fn a_count_range_is_registered_with_autoscaling_and_only_its_bounds_are_kept() {
    let moto = Moto::with_clusters(&["c1"]);
    let (subnet, _) = moto.default_network().await;
    let ranged = |min: i64, max: i64| {
        plan::DesiredGroup::test("g")
            .no_count()
            .fargate(&subnet)
            .spec(&format!("  count: {{min: {min}, max: {max}, cpu: 60}}"))
            .yaml()
    };
    moto.write("g.yaml", &ranged(2, 5));
    let plan = moto.run_ok(&["plan", "g.yaml"]);
    assert_has(
        &String::from_utf8_lossy(&plan.stdout),
        "put-scaling service/c1/g: 2 to 5 tasks, ECSServiceAverageCPUUtilization at 60%",
    );
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(moto.requests("CreateService")[0]["desiredCount"], 2);
    let target = &moto.requests("RegisterScalableTarget")[0];
    assert_eq!(target["ServiceNamespace"], "ecs");
    assert_eq!(target["ResourceId"], "service/c1/g");
    assert_eq!(target["ScalableDimension"], "ecs:service:DesiredCount");
    assert_eq!(
        (target["MinCapacity"].clone(), target["MaxCapacity"].clone()),
        (json!(2), json!(5))
    );
    let policy = &moto.requests("PutScalingPolicy")[0];
    assert_eq!(policy["PolicyType"], "TargetTrackingScaling");
    let tracking = &policy["TargetTrackingScalingPolicyConfiguration"];
    assert_eq!(tracking["TargetValue"], 60.0);
    assert_eq!(
        tracking["PredefinedMetricSpecification"]["PredefinedMetricType"],
        "ECSServiceAverageCPUUtilization"
    );

    // Autoscaling scales out inside the range.
    scaled_by_someone_else_stays(&moto, 4);

    // Outside the range: the nearest bound.
    moto.ecs_call(
        "UpdateService",
        &json!({"cluster": "c1", "service": "g", "desiredCount": 9}).to_string(),
    );
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(moto.ecs_writes(), ["UpdateService"]);
    assert_eq!(moto.desired("c1", "g"), Some(5));

    // A new range: the target is registered again with it, the policy left as it is.
    moto.write("g.yaml", &ranged(1, 8));
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    assert_eq!(
        moto.writes(),
        ["RegisterScalableTarget"],
        "{:?}",
        moto.calls()
    );

    // A fixed count again: the controller's target goes, and the count is the file's.
    moto.write("g.yaml", &group_of(&subnet, 3));
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    let writes = moto.writes();
    assert!(
        writes.contains(&"DeregisterScalableTarget".to_owned()),
        "{writes:?}"
    );
    assert_eq!(moto.desired("c1", "g"), Some(3));
    let targets = moto.json_call(
        "application-autoscaling",
        "AnyScaleFrontendService.DescribeScalableTargets",
        &json!({"ServiceNamespace": "ecs"}).to_string(),
    );
    assert!(!targets.contains("service/c1/g"), "deregistered: {targets}");
}

/// `import --cluster --service` of a service with a scalable target: a count range.
#[tokio::test(flavor = "multi_thread")]
async fn a_service_with_a_scalable_target_imports_as_a_range() {
    let moto = Moto::with_clusters(&["c1"]);
    let (subnet, _) = moto.default_network().await;
    let yaml = plan::DesiredGroup::test("g")
        .no_count()
        .fargate(&subnet)
        .spec("  count: {min: 1, max: 4, memory: 75}")
        .yaml();
    moto.write("g.yaml", &yaml);
    moto.run_ok(&["reconcile", "--once", "g.yaml"]);
    let out = moto.run_ok(&["import", "--cluster", "c1", "--service", "g"]);
    let imported = String::from_utf8_lossy(&out.stdout);
    assert_has(
        &imported,
        "  count:\n    min: 1\n    max: 4\n    memory: 75\n",
    );
}

/// Three groups in waves 0, 1 and 2.
fn waves_of(moto: &Moto, subnet: &str, image: &str) {
    for (name, wave) in [("a", 0), ("b", 1), ("c", 2)] {
        let yaml = plan::DesiredGroup::test(name)
            .count(1)
            .image(image)
            .fargate(subnet)
            .spec(&format!("  rollout: {{wave: {wave}}}"))
            .yaml();
        moto.write(&format!("groups/{name}.yaml"), &yaml);
    }
}

/// `reconcile --once --wait WAIT --wave-bake BAKE groups`: the waves walked.
fn walk(moto: &Moto, wait: &str, bake: &str) -> std::process::Output {
    moto.run(&[
        "reconcile",
        "--once",
        "--wait",
        wait,
        "--wave-bake",
        bake,
        "groups",
    ])
}

/// [`walk`], which must succeed.
#[track_caller]
fn walked(moto: &Moto, wait: &str, bake: &str) -> std::process::Output {
    let out = walk(moto, wait, bake);
    assert!(out.status.success(), "{}", show(&out));
    out
}

/// The services UpdateService was called for, in order.
fn updated(moto: &Moto) -> Vec<String> {
    moto.requests("UpdateService")
        .iter()
        .map(|r| r["service"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// A change to groups of three waves reaches wave 0 first and each later wave only once the
/// earlier one is Ready and baked; `reconcile --once --wait` walks them. A crashing image in
/// wave 0 is rolled back by ECS and halts waves 1 and 2 (untouched, and said so); a new commit
/// resumes.
#[tokio::test(flavor = "multi_thread")]
async fn a_change_rolls_out_wave_by_wave_halts_on_a_failure_and_resumes_on_a_new_commit() {
    let moto = Moto::with_clusters(&["c1"]);
    let (subnet, _) = moto.default_network().await;
    waves_of(&moto, &subnet, "harness/delegate:24.10.84200");
    walked(&moto, "120s", "0s");

    waves_of(&moto, &subnet, "harness/delegate:24.10.84300");
    let plan = moto.run_ok(&["plan", "groups", "--wave-bake", "3s"]);
    let text = String::from_utf8_lossy(&plan.stdout);
    assert_has(
        &text,
        "b: wave 1: waiting for wave 0: a has changes to roll out",
    );
    assert_has(
        &text,
        "c: wave 2: waiting for wave 0: a has changes to roll out",
    );
    moto.reset_calls();
    let started = Instant::now();
    let out = walked(&moto, "180s", "3s");
    assert_eq!(updated(&moto), ["a", "b", "c"], "{}", show(&out));
    assert!(
        started.elapsed() >= Duration::from_secs(6),
        "two bakes of 3 s"
    );
    assert_has(&show(&out), "changes held for an earlier wave");

    // A crashing image everywhere: wave 0 fails and is rolled back; the others never move.
    waves_of(&moto, &subnet, "harness/delegate:crash-24.10");
    moto.reset_calls();
    let out = walk(&moto, "180s", "1s");
    assert!(!out.status.success(), "{}", show(&out));
    assert_eq!(updated(&moto), ["a"], "{}", show(&out));
    eventually(Duration::from_secs(60), || {
        let s = status_json(&moto, "groups");
        let b = s["groups"]
            .as_array()?
            .iter()
            .find(|g| g["name"] == "b")?
            .clone();
        (condition(&b, "Ready")["reason"] == "WaveHalted").then_some(())
    })
    .expect("b is halted");
    let s = status_json(&moto, "groups");
    let c = s["groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "c")
        .unwrap();
    assert_has(
        condition(c, "Ready")["message"].as_str().unwrap(),
        "halted: a of wave 0 failed (RolledBack)",
    );
    assert!(
        !moto
            .requests("RegisterTaskDefinition")
            .iter()
            .any(|r| r["family"] != "a"),
        "waves 1 and 2 untouched"
    );

    // A new commit fixes it: the rollout resumes, wave by wave.
    waves_of(&moto, &subnet, "harness/delegate:24.10.84400");
    moto.reset_calls();
    let out = walked(&moto, "180s", "1s");
    assert_eq!(updated(&moto), ["a", "b", "c"], "{}", show(&out));
}
