//! Event-driven mode against the local endpoint: the queue and dead-letter queue of deploy/,
//! deploy/'s EventBridge rules (so their patterns are matched by the endpoint, not only the
//! parser), and the documented ECS and CloudTrail events put on the bus after a hand edit.
//! The resync interval is 10 minutes: anything corrected within the test's bounds was
//! corrected by its event.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, group_yaml, Loop, Moto};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

fn deploy(path: &str) -> Value {
    let text =
        std::fs::read_to_string(format!("{}/deploy/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/tests/fixtures/events/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn sqs(moto: &Moto, action: &str, body: &Value) -> Value {
    let answer = moto.json_call("sqs", &format!("AmazonSQS.{action}"), &body.to_string());
    serde_json::from_str(&answer).unwrap_or_else(|_| panic!("{action}: {answer}"))
}

fn events_call(moto: &Moto, action: &str, body: &Value) -> Value {
    let answer = moto.json_call("events", &format!("AWSEvents.{action}"), &body.to_string());
    serde_json::from_str(&answer).unwrap_or_else(|_| panic!("{action}: {answer}"))
}

/// deploy/'s dead-letter queue, queue and rules, as `aws sqs create-queue --cli-input-json` and
/// `aws events put-rule`/`put-targets` would make them: the queue's URL.
fn event_plumbing(moto: &Moto) -> String {
    for document in ["events-dlq.json", "events-queue.json"] {
        let answer = sqs(moto, "CreateQueue", &deploy(document));
        assert!(answer["QueueUrl"].is_string(), "{document}: {answer}");
    }
    let url = sqs(
        moto,
        "GetQueueUrl",
        &json!({"QueueName": "ecs-delegate-controller-events"}),
    )["QueueUrl"]
        .as_str()
        .unwrap()
        .to_owned();
    let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT}:ecs-delegate-controller-events");
    for rule in deploy("events-rules.json")["Rules"].as_array().unwrap() {
        let answer = events_call(
            moto,
            "PutRule",
            &json!({
                "Name": rule["Name"],
                "Description": rule["Description"],
                "EventPattern": rule["EventPattern"].to_string(),
            }),
        );
        assert!(answer["RuleArn"].is_string(), "{answer}");
        let answer = events_call(
            moto,
            "PutTargets",
            &json!({"Rule": rule["Name"], "Targets": [{"Id": "queue", "Arn": arn}]}),
        );
        assert_eq!(answer["FailedEntryCount"], 0, "{answer}");
    }
    url
}

/// Puts an event on the default bus, as ECS or CloudTrail would (the rules then decide).
fn put(moto: &Moto, event: &Value) {
    let answer = events_call(
        moto,
        "PutEvents",
        &json!({"Entries": [{
            "Source": event["source"],
            "DetailType": event["detail-type"],
            "Detail": event["detail"].to_string(),
            "Resources": event["resources"],
        }]}),
    );
    assert_eq!(answer["FailedEntryCount"], 0, "{answer}");
}

fn service_arn(service: &str) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:service/c1/{service}")
}

/// The documented CloudTrail record of `operation` on service `service` in c1, by `caller`.
fn cloudtrail(fixture_name: &str, service: &str, caller: &str) -> Value {
    let mut event = fixture(fixture_name);
    let detail = &mut event["detail"];
    detail["userIdentity"]["arn"] = caller.into();
    detail["requestParameters"]["cluster"] = "c1".into();
    detail["requestParameters"]["service"] = service.into();
    detail["responseElements"]["service"]["serviceArn"] = service_arn(service).into();
    detail["responseElements"]["service"]["serviceName"] = service.into();
    event
}

const ALICE: &str = "arn:aws:sts::123456789012:assumed-role/Admin/alice";

/// The running tasks of family `family` in c1.
fn running_tasks(moto: &Moto, family: &str) -> Vec<String> {
    let listed: Value = serde_json::from_str(&moto.ecs_call(
        "ListTasks",
        &json!({"cluster": "c1", "desiredStatus": "RUNNING"}).to_string(),
    ))
    .unwrap();
    let arns = listed["taskArns"].as_array().cloned().unwrap_or_default();
    if arns.is_empty() {
        return Vec::new();
    }
    let described: Value = serde_json::from_str(&moto.ecs_call(
        "DescribeTasks",
        &json!({"cluster": "c1", "tasks": arns}).to_string(),
    ))
    .unwrap();
    described["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["lastStatus"] == "RUNNING")
        .filter(|t| {
            t["taskDefinitionArn"]
                .as_str()
                .is_some_and(|td| td.contains(&format!("task-definition/{family}:")))
        })
        .map(|t| t["taskArn"].as_str().unwrap().to_owned())
        .collect()
}

fn world() -> (Moto, String) {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instances("c1", 8);
    let url = event_plumbing(&moto);
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    moto.write("groups/b.yaml", &group_yaml("b", "c1", ""));
    moto.write("groups/t.yaml", &group_yaml("t", "c1", "  mode: tasks"));
    (moto, url)
}

fn converged(moto: &Moto) -> bool {
    moto.desired("c1", "a") == Some(2)
        && moto.desired("c1", "b") == Some(2)
        && running_tasks(moto, "t").len() == 2
}

fn start(moto: &Moto, url: &str, extra: &[&str]) -> Loop {
    let mut args = vec!["groups", "--events-queue", url, "--interval", "10m"];
    args.extend(extra);
    let looping = Loop::start(moto, &args);
    assert!(
        eventually(Duration::from_secs(60), || converged(moto).then_some(())).is_some(),
        "{}",
        looping.logs()
    );
    looping
}

/// The value of a metric line starting with `prefix` (0 when absent).
fn metric(looping: &Loop, prefix: &str) -> f64 {
    let (_, text) = looping.get("/metrics");
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Within the bound: 10 minutes is the interval.
const SOON: Duration = Duration::from_secs(30);

/// Someone scales group a down by hand (with its CloudTrail event): back to 2 within the bound.
fn scale_down_by_hand_is_corrected(moto: &Moto, looping: &Loop) {
    moto.ecs_call(
        "UpdateService",
        &json!({"cluster": "c1", "service": "a", "desiredCount": 1}).to_string(),
    );
    put(moto, &cloudtrail("cloudtrail-update-service", "a", ALICE));
    assert!(
        moto.reaches_desired("c1", "a", 2, SOON),
        "{}",
        looping.logs()
    );
}

#[test]
fn hand_edits_a_stopped_task_and_a_deleted_service_are_corrected_by_their_events() {
    let (moto, url) = world();
    let looping = start(&moto, &url, &[]);

    // A hand scale-down.
    scale_down_by_hand_is_corrected(&moto, &looping);

    // A hand task-definition change.
    let family_of = |moto: &Moto| {
        moto.active_service("c1", "a").and_then(|s| {
            s["taskDefinition"]
                .as_str()
                .map(|td| spec::arn::task_definition_short(td).to_owned())
        })
    };
    let before = family_of(&moto).unwrap();
    let registered: Value = serde_json::from_str(&moto.ecs_call(
        "RegisterTaskDefinition",
        &json!({"family": "by-hand", "containerDefinitions": [{"name": "x", "image": "busybox", "memory": 128}]})
            .to_string(),
    ))
    .unwrap();
    let by_hand = registered["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_owned();
    moto.ecs_call(
        "UpdateService",
        &json!({"cluster": "c1", "service": "a", "taskDefinition": by_hand}).to_string(),
    );
    assert!(family_of(&moto).unwrap().starts_with("by-hand:"));
    let mut event = cloudtrail("cloudtrail-update-service", "a", ALICE);
    event["detail"]["requestParameters"] =
        json!({"cluster": "c1", "service": "a", "taskDefinition": by_hand});
    put(&moto, &event);
    assert!(
        eventually(SOON, || (family_of(&moto).as_deref() == Some(&before))
            .then_some(()))
        .is_some(),
        "{}",
        looping.logs()
    );

    // A delegate task of the tasks-mode group stopped (crashed, or by hand).
    let tasks = running_tasks(&moto, "t");
    moto.ecs_call(
        "StopTask",
        &json!({"cluster": "c1", "task": tasks[0], "reason": "Essential container in task exited"})
            .to_string(),
    );
    assert_eq!(running_tasks(&moto, "t").len(), 1);
    let mut stopped = fixture("task-state-change");
    let detail = &mut stopped["detail"];
    detail["clusterArn"] = format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/c1").into();
    detail["group"] = "family:t".into();
    detail["taskArn"] = tasks[0].clone().into();
    detail["taskDefinitionArn"] =
        format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/t:1").into();
    stopped["resources"] = json!([tasks[0]]);
    put(&moto, &stopped);
    assert!(
        eventually(SOON, || (running_tasks(&moto, "t").len() == 2)
            .then_some(()))
        .is_some(),
        "{}",
        looping.logs()
    );

    // A deleted service.
    moto.ecs_call(
        "DeleteService",
        &json!({"cluster": "c1", "service": "b", "force": true}).to_string(),
    );
    assert_eq!(moto.desired("c1", "b"), None);
    put(&moto, &cloudtrail("cloudtrail-delete-service", "b", ALICE));
    assert!(
        moto.reaches_desired("c1", "b", 2, SOON),
        "{}",
        looping.logs()
    );

    assert!(
        metric(
            &looping,
            "ecs_delegate_controller_events_matched_total{type=\"api_call\"}"
        ) >= 3.0
    );
    assert!(
        metric(
            &looping,
            "ecs_delegate_controller_events_matched_total{type=\"task\"}"
        ) >= 1.0
    );
    assert!(
        metric(
            &looping,
            "ecs_delegate_controller_events_to_reconcile_seconds_count"
        ) >= 4.0
    );
    // On the record at the default level.
    assert!(looping.logs().contains("event: reconciling the group now"));
}

/// Messages in the queue, visible or in flight.
fn queued(moto: &Moto, url: &str) -> i64 {
    let answer = sqs(
        moto,
        "GetQueueAttributes",
        &json!({"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]}),
    );
    [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
    ]
    .iter()
    .map(|k| {
        answer["Attributes"][*k]
            .as_str()
            .and_then(|n| n.parse::<i64>().ok())
            .unwrap_or(0)
    })
    .sum()
}

#[test]
fn malformed_unknown_duplicate_own_and_foreign_messages_change_nothing_and_are_deleted() {
    let (moto, url) = world();
    let looping = start(&moto, &url, &[]);
    // Who the controller is: the endpoint's caller for these credentials.
    let me = moto.query("sts", "Action=GetCallerIdentity&Version=2011-06-15");
    let me = me
        .split("<Arn>")
        .nth(1)
        .and_then(|rest| rest.split("</Arn>").next())
        .unwrap()
        .to_owned();
    std::thread::sleep(Duration::from_secs(2));
    moto.reset_calls();

    let send = |body: &str| {
        sqs(
            &moto,
            "SendMessage",
            &json!({"QueueUrl": url, "MessageBody": body}),
        );
    };
    send("this is not JSON");
    send(&json!({"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {"state": "running"}}).to_string());
    let mut foreign = cloudtrail("cloudtrail-update-service", "not-ours", ALICE);
    foreign["detail"]["requestParameters"]["cluster"] = "other".into();
    send(&foreign.to_string());
    // The controller's own call, as CloudTrail records it.
    send(&cloudtrail("cloudtrail-update-service", "a", &me).to_string());
    // The same completed deployment twice: level-triggered, a look and no write.
    let mut completed = fixture("deployment-state-change");
    completed["resources"] = json!([service_arn("a")]);
    completed["detail"]["eventType"] = "INFO".into();
    completed["detail"]["eventName"] = "SERVICE_DEPLOYMENT_COMPLETED".into();
    send(&completed.to_string());
    send(&completed.to_string());

    assert!(
        eventually(SOON, || (queued(&moto, &url) == 0
            && metric(
                &looping,
                "ecs_delegate_controller_events_dropped_total"
            ) >= 4.0)
            .then_some(()))
        .is_some(),
        "{} messages left; {}",
        queued(&moto, &url),
        looping.logs()
    );
    for reason in ["malformed", "unknown", "foreign", "own"] {
        let (_, text) = looping.get("/metrics");
        assert!(
            text.lines().any(
                |l| l.starts_with("ecs_delegate_controller_events_dropped_total")
                    && l.contains(&format!("reason=\"{reason}\""))
            ),
            "{reason}: {text}"
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(moto.ecs_writes(), Vec::<String>::new(), "no ECS write");
    assert_eq!(looping.get("/healthz").0, 200, "still running");
    assert!(looping
        .logs()
        .contains("dropped a message that is not an ECS event"));
}

#[test]
fn a_deleted_queue_falls_back_to_the_interval_and_is_reported() {
    let (moto, url) = world();
    let looping = start(&moto, &url, &["--events-fallback-interval", "2s"]);
    let (_, body) = looping.get("/status");
    let status: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(status["events"]["reachable"], true, "{body}");
    sqs(&moto, "DeleteQueue", &json!({"QueueUrl": url}));
    // Reported once the receive in flight (a long poll of up to 20 s) has ended.
    let down = eventually(Duration::from_secs(45), || {
        let (_, body) = looping.get("/status");
        let status: Value = serde_json::from_str(&body).ok()?;
        (status["events"]["reachable"] == false).then_some(status)
    })
    .unwrap_or_else(|| panic!("{}", looping.logs()));
    assert_eq!(down["events"]["reason"], "QueueUnreachable", "{down}");
    assert!(down["events"]["message"]
        .as_str()
        .unwrap()
        .contains("sqs:ReceiveMessage"));
    // No event for this one: the fallback interval finds it.
    moto.ecs_call(
        "UpdateService",
        &json!({"cluster": "c1", "service": "a", "desiredCount": 1}).to_string(),
    );
    assert!(
        moto.reaches_desired("c1", "a", 2, SOON),
        "{}",
        looping.logs()
    );
    assert_eq!(
        metric(&looping, "ecs_delegate_controller_events_queue_up"),
        0.0
    );
    assert!(looping.logs().contains("the events queue cannot be read"));
    assert_eq!(looping.get("/healthz").0, 200);
}

#[test]
fn with_a_lease_the_queue_is_long_polled_and_events_still_correct_hand_edits() {
    let (moto, url) = world();
    moto.create_lease_table("edc-leases");
    let looping = start(&moto, &url, &["--lease-table", "edc-leases"]);
    // Three long polls' worth of an empty queue: under a lease the target clients cut their
    // attempts at the write timeout (4 s), the queue's 20 s polls must not be.
    std::thread::sleep(Duration::from_secs(14));
    let logs = looping.logs();
    assert!(!logs.contains("cannot be read"), "{logs}");
    scale_down_by_hand_is_corrected(&moto, &looping);
}
