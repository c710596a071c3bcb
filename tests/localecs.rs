//! The local ECS endpoint (`scripts/ecs_behaviour.py`): each request rule real ECS enforces and
//! moto does not is refused with ECS's error code and message, and the endpoint schedules,
//! fails, rolls back and drains as ECS does. Raw JSON requests, so nothing in the controller
//! can hide a rule.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use serde_json::{json, Value};
use support::{assert_has, Moto};

fn call(moto: &Moto, operation: &str, body: &Value) -> Value {
    let answer = moto.ecs_call(operation, &body.to_string());
    let value: Value = serde_json::from_str(&answer).unwrap_or_else(|_| panic!("{answer}"));
    assert!(
        value.get("__type").is_none(),
        "{operation} was refused: {answer}"
    );
    value
}

/// The error ECS answers with: (`__type`, message).
fn refused(moto: &Moto, operation: &str, body: &Value) -> (String, String) {
    let answer = moto.ecs_call(operation, &body.to_string());
    let value: Value = serde_json::from_str(&answer).unwrap_or_else(|_| panic!("{answer}"));
    let kind = value["__type"]
        .as_str()
        .unwrap_or_else(|| panic!("{operation} was accepted: {answer}"));
    // ECS writes "message"; moto's generic errors "Message" (both are read by the SDKs).
    let message = value["message"].as_str().or(value["Message"].as_str());
    let message = message.unwrap_or_default();
    (
        kind.rsplit('#').next().unwrap().to_owned(),
        message.to_owned(),
    )
}

fn bridge_definition(moto: &Moto, family: &str, image: &str) -> String {
    let body = json!({"family": family, "containerDefinitions": [
        {"name": "d", "image": image, "memory": 2048}]});
    call(moto, "RegisterTaskDefinition", &body)["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn fargate_definition(moto: &Moto, family: &str, image: &str) -> String {
    let body = json!({"family": family, "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc", "cpu": "256", "memory": "512",
        "containerDefinitions": [{"name": "d", "image": image}]});
    call(moto, "RegisterTaskDefinition", &body)["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn network(moto: &Moto) -> Value {
    let (subnet, group) = moto.default_network().await;
    json!({"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}})
}

fn describe(moto: &Moto, cluster: &str, service: &str) -> Value {
    call(
        moto,
        "DescribeServices",
        &json!({"cluster": cluster, "services": [service]}),
    )["services"][0]
        .clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_service_on_an_active_name_with_other_parameters_is_not_idempotent() {
    let moto = Moto::with_clusters(&["c1"]);
    let td = fargate_definition(&moto, "f", "harness/delegate:1");
    let net = network(&moto).await;
    let create = json!({"cluster": "c1", "serviceName": "s", "taskDefinition": td,
        "desiredCount": 1, "launchType": "FARGATE", "networkConfiguration": net});
    let first = call(&moto, "CreateService", &create);
    // The same request again is answered with the existing service.
    let again = call(&moto, "CreateService", &create);
    assert_eq!(
        first["service"]["serviceArn"],
        again["service"]["serviceArn"]
    );
    let mut other = create.clone();
    other["desiredCount"] = json!(2);
    assert_eq!(
        refused(&moto, "CreateService", &other),
        (
            "InvalidParameterException".into(),
            "Creation of service was not idempotent.".into()
        )
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn assign_public_ip_is_refused_outside_fargate() {
    let moto = Moto::with_clusters(&["c1"]);
    let body = json!({"family": "e", "networkMode": "awsvpc",
        "containerDefinitions": [{"name": "d", "image": "i", "memory": 512}]});
    let td = call(&moto, "RegisterTaskDefinition", &body)["taskDefinition"]["taskDefinitionArn"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut net = network(&moto).await;
    net["awsvpcConfiguration"]["assignPublicIp"] = json!("ENABLED");
    let create = json!({"cluster": "c1", "serviceName": "s", "taskDefinition": td,
        "desiredCount": 1, "launchType": "EC2", "networkConfiguration": net});
    assert_eq!(
        refused(&moto, "CreateService", &create),
        (
            "InvalidParameterException".into(),
            "Assign public IP is not supported for this launch type.".into()
        )
    );
    let run = json!({"cluster": "c1", "taskDefinition": td, "launchType": "EC2",
        "networkConfiguration": net});
    assert_eq!(
        refused(&moto, "RunTask", &run).1,
        "Assign public IP is not supported for this launch type."
    );
}

#[test]
fn tags_are_checked_on_every_call_that_takes_them() {
    let moto = Moto::with_clusters(&["c1"]);
    let td = bridge_definition(&moto, "e", "i");
    // The model's constraints (ecs_model.py), then ECS's rules beyond them (rule_tags).
    let model = "LocalModelViolation";
    let rule = "InvalidParameterException";
    let bad_tags = [
        (
            json!([{"key": "k".repeat(129), "value": "v"}]),
            (model, "129 characters, at most 128"),
        ),
        (
            json!([{"key": "k", "value": "v".repeat(257)}]),
            (model, "257 characters, at most 256"),
        ),
        (
            json!([{"key": "k", "value": "a,b"}]),
            (model, "'a,b' does not match"),
        ),
        (
            json!([{"key": "aws:k", "value": "v"}]),
            (rule, "reserved prefix 'aws:'"),
        ),
        (
            json!([{"key": "k", "value": "AWS:v"}]),
            (rule, "reserved prefix 'aws:'"),
        ),
        (
            Value::Array(
                (0..51)
                    .map(|i| json!({"key": format!("k{i}"), "value": "v"}))
                    .collect(),
            ),
            (model, "51 items, at most 50"),
        ),
    ];
    for (tags, (code, expected)) in bad_tags {
        let requests = [
            (
                "RegisterTaskDefinition",
                json!({"family": "t", "containerDefinitions": [{"name": "d", "image": "i", "memory": 512}], "tags": tags}),
            ),
            (
                "CreateService",
                json!({"cluster": "c1", "serviceName": "s", "taskDefinition": td, "desiredCount": 0, "tags": tags}),
            ),
            (
                "RunTask",
                json!({"cluster": "c1", "taskDefinition": td, "tags": tags}),
            ),
            ("TagResource", json!({"resourceArn": td, "tags": tags})),
        ];
        for (operation, body) in requests {
            let (kind, message) = refused(&moto, operation, &body);
            assert_eq!(kind, code, "{operation}: {message}");
            assert!(message.contains(expected), "{operation}: {message}");
        }
    }
    // TagResource counts the tags the resource already has.
    let forty: Vec<Value> = (0..40)
        .map(|i| json!({"key": format!("a{i}"), "value": "v"}))
        .collect();
    call(
        &moto,
        "TagResource",
        &json!({"resourceArn": td, "tags": forty}),
    );
    let eleven: Vec<Value> = (0..11)
        .map(|i| json!({"key": format!("b{i}"), "value": "v"}))
        .collect();
    let (_, message) = refused(
        &moto,
        "TagResource",
        &json!({"resourceArn": td, "tags": eleven}),
    );
    assert_has(&message, "would give it 51");
}

#[test]
fn list_tasks_with_started_by_and_another_filter_is_refused() {
    let moto = Moto::with_clusters(&["c1"]);
    for other in [
        json!({"desiredStatus": "STOPPED"}),
        json!({"family": "f"}),
        json!({"serviceName": "s"}),
    ] {
        let mut body = json!({"cluster": "c1", "startedBy": "me"});
        body.as_object_mut()
            .unwrap()
            .extend(other.as_object().unwrap().clone());
        let (kind, message) = refused(&moto, "ListTasks", &body);
        assert_eq!(kind, "InvalidParameterException");
        assert!(
            message.starts_with("startedBy must be the only filter"),
            "{message}"
        );
    }
    call(
        &moto,
        "ListTasks",
        &json!({"cluster": "c1", "startedBy": "me"}),
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn update_service_refuses_a_network_configuration_for_bridge_and_a_launch_type() {
    let moto = Moto::with_clusters(&["c1"]);
    let td = bridge_definition(&moto, "e", "i");
    call(
        &moto,
        "CreateService",
        &json!({"cluster": "c1", "serviceName": "s", "taskDefinition": td, "desiredCount": 0}),
    );
    let net = network(&moto).await;
    assert_eq!(
        refused(
            &moto,
            "UpdateService",
            &json!({"cluster": "c1", "service": "s", "networkConfiguration": net})
        ),
        (
            "InvalidParameterException".into(),
            "Network Configuration is not valid for the given networkMode of this task definition."
                .into()
        )
    );
    let (kind, message) = refused(
        &moto,
        "UpdateService",
        &json!({"cluster": "c1", "service": "s",
            "capacityProviderStrategy": [{"capacityProvider": "FARGATE", "weight": 1}]}),
    );
    assert_eq!(kind, "InvalidParameterException");
    assert_has(&message, "requires forceNewDeployment");
}

#[tokio::test(flavor = "multi_thread")]
async fn awsvpc_needs_a_network_configuration_and_fargate_a_compatible_definition() {
    let moto = Moto::with_clusters(&["c1"]);
    let fargate = fargate_definition(&moto, "f", "i");
    assert_eq!(
        refused(
            &moto,
            "CreateService",
            &json!({"cluster": "c1", "serviceName": "s", "taskDefinition": fargate,
                "desiredCount": 1, "launchType": "FARGATE"})
        )
        .1,
        "Network Configuration must be provided when networkMode 'awsvpc' is specified."
    );
    let bridge = bridge_definition(&moto, "e", "i");
    let net = network(&moto).await;
    assert_eq!(
        refused(
            &moto,
            "CreateService",
            &json!({"cluster": "c1", "serviceName": "s", "taskDefinition": bridge,
                "desiredCount": 1, "launchType": "FARGATE", "networkConfiguration": net})
        )
        .1,
        "Network Configuration is not valid for the given networkMode of this task definition."
    );
    let body = json!({"family": "ec2only", "requiresCompatibilities": ["EC2"], "networkMode": "awsvpc",
        "cpu": "256", "memory": "512", "containerDefinitions": [{"name": "d", "image": "i"}]});
    let ec2_only =
        call(&moto, "RegisterTaskDefinition", &body)["taskDefinition"]["taskDefinitionArn"].clone();
    assert_eq!(
        refused(
            &moto,
            "CreateService",
            &json!({"cluster": "c1", "serviceName": "s", "taskDefinition": ec2_only,
                "desiredCount": 1, "launchType": "FARGATE", "networkConfiguration": net})
        )
        .1,
        "Task definition does not support launch_type FARGATE."
    );
}

#[test]
fn fargate_task_definitions_follow_the_size_table() {
    let moto = Moto::start();
    let definition = |cpu: &str, memory: &str, mode: &str| {
        json!({"family": "f", "requiresCompatibilities": ["FARGATE"], "networkMode": mode,
            "cpu": cpu, "memory": memory, "containerDefinitions": [{"name": "d", "image": "i"}]})
    };
    for (cpu, memory) in [
        ("256", "4096"),
        ("1024", "1024"),
        ("4096", "4096"),
        ("300", "512"),
    ] {
        let (kind, message) = refused(
            &moto,
            "RegisterTaskDefinition",
            &definition(cpu, memory, "awsvpc"),
        );
        assert_eq!(kind, "ClientException");
        assert!(
            message.starts_with(&format!(
                "No Fargate configuration exists for given values: {cpu} CPU, {memory} memory."
            )),
            "{message}"
        );
    }
    for (cpu, memory) in [
        ("256", "512"),
        ("1024", "4096"),
        ("1 vCPU", "2 GB"),
        ("16384", "122880"),
    ] {
        call(
            &moto,
            "RegisterTaskDefinition",
            &definition(cpu, memory, "awsvpc"),
        );
    }
    assert_eq!(
        refused(
            &moto,
            "RegisterTaskDefinition",
            &definition("256", "512", "bridge")
        ),
        (
            "ClientException".into(),
            "Fargate only supports network mode 'awsvpc'.".into()
        )
    );
    let mut no_cpu = definition("256", "512", "awsvpc");
    no_cpu.as_object_mut().unwrap().remove("cpu");
    assert_eq!(
        refused(&moto, "RegisterTaskDefinition", &no_cpu).1,
        "Fargate requires that 'cpu' be defined at the task level."
    );
}

#[test]
fn describe_services_takes_at_most_ten_and_list_services_pages() {
    let moto = Moto::with_clusters(&["c1"]);
    let td = bridge_definition(&moto, "e", "i");
    for i in 0..12 {
        call(
            &moto,
            "CreateService",
            &json!({"cluster": "c1", "serviceName": format!("s{i:02}"), "taskDefinition": td, "desiredCount": 0}),
        );
    }
    let names: Vec<String> = (0..11).map(|i| format!("s{i:02}")).collect();
    let (kind, message) = refused(
        &moto,
        "DescribeServices",
        &json!({"cluster": "c1", "services": names}),
    );
    assert_eq!(kind, "InvalidParameterException");
    assert_has(&message, "up to 10 services");

    // The default page is 10; maxResults up to 100.
    let first = call(&moto, "ListServices", &json!({"cluster": "c1"}));
    assert_eq!(first["serviceArns"].as_array().unwrap().len(), 10);
    let rest = call(
        &moto,
        "ListServices",
        &json!({"cluster": "c1", "nextToken": first["nextToken"]}),
    );
    assert_eq!(rest["serviceArns"].as_array().unwrap().len(), 2);
    assert!(rest.get("nextToken").is_none_or(Value::is_null));
    let all = call(
        &moto,
        "ListServices",
        &json!({"cluster": "c1", "maxResults": 100}),
    );
    assert_eq!(all["serviceArns"].as_array().unwrap().len(), 12);
    assert_eq!(
        refused(
            &moto,
            "ListServices",
            &json!({"cluster": "c1", "maxResults": 101})
        )
        .0,
        "InvalidParameterException"
    );
}

#[test]
fn a_deleted_service_drains_and_blocks_its_name_until_inactive() {
    let moto = Moto::start_configured(&[("LOCALECS_DRAIN_SECONDS", "1")]);
    moto.create_clusters(&["c1"]);
    moto.register_container_instance("c1");
    let td = bridge_definition(&moto, "e", "i");
    let create =
        json!({"cluster": "c1", "serviceName": "s", "taskDefinition": td, "desiredCount": 1});
    call(&moto, "CreateService", &create);
    assert_eq!(
        refused(
            &moto,
            "DeleteService",
            &json!({"cluster": "c1", "service": "s"})
        ),
        (
            "InvalidParameterException".into(),
            "The service cannot be stopped while it is scaled above 0.".into()
        )
    );
    call(
        &moto,
        "DeleteService",
        &json!({"cluster": "c1", "service": "s", "force": true}),
    );
    assert_eq!(describe(&moto, "c1", "s")["status"], "DRAINING");
    assert_eq!(
        refused(&moto, "CreateService", &create),
        (
            "InvalidParameterException".into(),
            "Unable to Start a service that is still Draining.".into()
        )
    );
    assert_eq!(
        refused(
            &moto,
            "UpdateService",
            &json!({"cluster": "c1", "service": "s", "desiredCount": 0})
        ),
        (
            "ServiceNotActiveException".into(),
            "Service was not ACTIVE.".into()
        )
    );
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(describe(&moto, "c1", "s")["status"], "INACTIVE");
    let listed = call(&moto, "ListServices", &json!({"cluster": "c1"}));
    assert_eq!(listed["serviceArns"], json!([]), "INACTIVE is not listed");
    call(&moto, "CreateService", &create);
}

#[test]
fn services_of_other_deployment_controllers_take_no_task_definition() {
    let moto = Moto::with_clusters(&["c1"]);
    let td = bridge_definition(&moto, "e", "i");
    call(
        &moto,
        "CreateService",
        &json!({"cluster": "c1", "serviceName": "s", "taskDefinition": td, "desiredCount": 0,
            "deploymentController": {"type": "CODE_DEPLOY"}}),
    );
    let (kind, message) = refused(
        &moto,
        "UpdateService",
        &json!({"cluster": "c1", "service": "s", "taskDefinition": td}),
    );
    assert_eq!(kind, "InvalidParameterException");
    assert!(
        message.starts_with("Unable to update task definition on services with a CODE_DEPLOY"),
        "{message}"
    );
}

#[test]
fn client_tokens_are_bounded_and_honoured() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instance("c1");
    let td = bridge_definition(&moto, "e", "i");
    let long = "x".repeat(37);
    assert_eq!(
        refused(
            &moto,
            "CreateService",
            &json!({"cluster": "c1", "serviceName": "s", "taskDefinition": td, "desiredCount": 0, "clientToken": long})
        )
        .0,
        "InvalidParameterException"
    );
    let run = json!({"cluster": "c1", "taskDefinition": td, "clientToken": "t-1"});
    let first = call(&moto, "RunTask", &run);
    let again = call(&moto, "RunTask", &run);
    assert_eq!(first["tasks"][0]["taskArn"], again["tasks"][0]["taskArn"]);
}

#[test]
fn ec2_placement_by_memory_and_run_task_failures() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.register_container_instance("c1"); // 4096 CPU units, 7482 MiB
    let td = bridge_definition(&moto, "e", "harness/delegate:1"); // 2048 MiB
    let answer = call(
        &moto,
        "RunTask",
        &json!({"cluster": "c1", "taskDefinition": td, "count": 4, "startedBy": "me"}),
    );
    assert_eq!(answer["tasks"].as_array().unwrap().len(), 3);
    assert_eq!(answer["tasks"][0]["lastStatus"], "PENDING");
    let failures = answer["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["reason"], "RESOURCE:MEMORY");
    // The next request finds them RUNNING (start delay 0 in tests).
    let arn = answer["tasks"][0]["taskArn"].clone();
    let described = call(
        &moto,
        "DescribeTasks",
        &json!({"cluster": "c1", "tasks": [arn]}),
    );
    assert_eq!(described["tasks"][0]["lastStatus"], "RUNNING");

    // A service that fits nowhere: no task, pendingCount 0, ECS's event.
    call(
        &moto,
        "CreateService",
        &json!({"cluster": "c1", "serviceName": "s", "taskDefinition": td, "desiredCount": 1}),
    );
    let service = describe(&moto, "c1", "s");
    assert_eq!(
        (
            service["runningCount"].clone(),
            service["pendingCount"].clone()
        ),
        (json!(0), json!(0))
    );
    let event = service["events"][0]["message"].as_str().unwrap();
    assert!(
        event.starts_with("(service s) was unable to place a task because no container instance met all of its requirements.")
            && event.contains("has insufficient memory available."),
        "{event}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashing_image_fails_the_deployment_and_the_breaker_rolls_back() {
    let moto = Moto::with_clusters(&["c1"]);
    let good = fargate_definition(&moto, "f", "harness/delegate:1");
    let bad = fargate_definition(&moto, "f", "harness/delegate:crash");
    let net = network(&moto).await;
    call(
        &moto,
        "CreateService",
        &json!({"cluster": "c1", "serviceName": "s", "taskDefinition": good, "desiredCount": 2,
            "launchType": "FARGATE", "networkConfiguration": net,
            "deploymentConfiguration": {"deploymentCircuitBreaker": {"enable": true, "rollback": true}}}),
    );
    let service = describe(&moto, "c1", "s");
    assert_eq!(service["runningCount"], 2);
    assert_eq!(service["deployments"][0]["rolloutState"], "COMPLETED");

    call(
        &moto,
        "UpdateService",
        &json!({"cluster": "c1", "service": "s", "taskDefinition": bad}),
    );
    // Each request lets the failing tasks stop and new ones start: the threshold is 3.
    let mut service = describe(&moto, "c1", "s");
    for _ in 0..10 {
        if service["taskDefinition"] == json!(good)
            && service["deployments"].as_array().unwrap().len() == 1
        {
            break;
        }
        service = describe(&moto, "c1", "s");
    }
    assert_eq!(
        service["taskDefinition"],
        json!(good),
        "rolled back: {service:#}"
    );
    assert_eq!(service["runningCount"], 2);
    let events: Vec<&str> = service["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["message"].as_str().unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e.ends_with("deployment failed: tasks failed to start.")),
        "{events:?}"
    );
    // No service event names the rollback (none is documented); the service deployments do.
    assert!(
        !events.iter().any(|e| e.contains("rolling back")),
        "{events:?}"
    );
    let service_arn = service["serviceArn"].clone();
    let listed = call(
        &moto,
        "ListServiceDeployments",
        &json!({"cluster": "c1", "service": "s", "status": ["ROLLBACK_SUCCESSFUL"]}),
    );
    let rolled_back = &listed["serviceDeployments"][0];
    assert_eq!(rolled_back["serviceArn"], service_arn, "{listed:#}");
    let described = call(
        &moto,
        "DescribeServiceDeployments",
        &json!({"serviceDeploymentArns": [rolled_back["serviceDeploymentArn"]]}),
    );
    let deployment = &described["serviceDeployments"][0];
    let reason = deployment["rollback"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/"),
        "{deployment:#}"
    );
    let revisions = call(
        &moto,
        "DescribeServiceRevisions",
        &json!({"serviceRevisionArns": [
            deployment["targetServiceRevision"]["arn"],
            deployment["rollback"]["serviceRevisionArn"],
        ]}),
    );
    let task_definitions: Vec<&Value> = revisions["serviceRevisions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["taskDefinition"])
        .collect();
    assert_eq!(
        task_definitions,
        [&json!(bad), &json!(good)],
        "{revisions:#}"
    );

    let stopped = call(
        &moto,
        "ListTasks",
        &json!({"cluster": "c1", "serviceName": "s", "desiredStatus": "STOPPED"}),
    );
    let tasks = call(
        &moto,
        "DescribeTasks",
        &json!({"cluster": "c1", "tasks": stopped["taskArns"]}),
    );
    let crashed: Vec<&Value> = tasks["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["taskDefinitionArn"] == json!(bad))
        .collect();
    assert!(crashed.len() >= 3, "{tasks:#}");
    for task in crashed {
        assert_eq!(task["stoppedReason"], "Essential container in task exited");
        assert_eq!(task["stopCode"], "EssentialContainerExited");
        assert_eq!(task["containers"][0]["exitCode"], 1);
        assert_eq!(task["group"], "service:s");
    }
}

#[test]
fn plain_moto_is_one_flag_away() {
    let moto = Moto::start_plain();
    moto.create_clusters(&["c1"]);
    let td = bridge_definition(&moto, "e", "i");
    let create =
        json!({"cluster": "c1", "serviceName": "s", "taskDefinition": td, "desiredCount": 1});
    call(&moto, "CreateService", &create);
    let mut other = create.clone();
    other["desiredCount"] = json!(3);
    // moto overwrites the service where ECS refuses.
    call(&moto, "CreateService", &other);
    assert_eq!(describe(&moto, "c1", "s")["desiredCount"], 3);
}

/// AssumeRole succeeds only as the role's trust policy allows: the caller's account, and the
/// external id its condition names; a missing role is refused the same way (API_AssumeRole.html).
#[test]
fn assume_role_follows_the_roles_trust_policy() {
    let moto = Moto::start();
    moto.target_account(
        "111111111111",
        &["us-east-1"],
        support::ACCOUNT,
        Some("ext-1"),
    );
    moto.target_account("222222222222", &["us-east-1"], "999999999999", None);
    let assume = |role: &str, external: Option<&str>| {
        let mut query = format!(
            "Action=AssumeRole&Version=2011-06-15&RoleSessionName=test&RoleArn={}",
            support::form_encode(role)
        );
        if let Some(external) = external {
            query.push_str(&format!("&ExternalId={external}"));
        }
        moto.query("sts", &query)
    };
    let ok = assume("arn:aws:iam::111111111111:role/edc-target", Some("ext-1"));
    assert_has(&ok, "<AccessKeyId>");
    for (role, external) in [
        ("arn:aws:iam::111111111111:role/edc-target", None),
        ("arn:aws:iam::111111111111:role/edc-target", Some("ext-2")),
        ("arn:aws:iam::222222222222:role/edc-target", None),
        ("arn:aws:iam::111111111111:role/no-such-role", Some("ext-1")),
    ] {
        let refused = assume(role, external);
        assert!(
            refused.contains("<Code>AccessDenied</Code>"),
            "{role}: {refused}"
        );
        assert_has(
            &refused,
            &format!("is not authorized to perform: sts:AssumeRole on resource: {role}"),
        );
    }
}

/// Every request is checked against ECS's published service model first (scripts/ecs_model.py),
/// so that a test whose controller sends what the model does not allow fails.
#[test]
fn requests_the_service_model_does_not_allow_are_refused() {
    let moto = Moto::with_clusters(&["c1"]);
    let cases = [
        (
            "ListServices",
            json!({"cluster": "c1", "maxResults": "10"}),
            "ListServices.maxResults: an integer was expected",
        ),
        (
            "RunTask",
            json!({"cluster": "c1", "taskDefinition": "t", "launchType": "EC3"}),
            "RunTask.launchType: 'EC3' is not one of EC2, FARGATE, EXTERNAL",
        ),
        (
            "DescribeServices",
            json!({"cluster": "c1", "services": ["s"], "includeTags": true}),
            "DescribeServices.includeTags: not a member of DescribeServicesRequest",
        ),
        (
            "UpdateService",
            json!({"cluster": "c1"}),
            "UpdateService.service: required",
        ),
    ];
    for (operation, body, expected) in cases {
        let (kind, message) = refused(&moto, operation, &body);
        assert_eq!(kind, "LocalModelViolation", "{operation}: {message}");
        assert!(message.contains(expected), "{operation}: {message}");
    }
}

/// The other services the controller calls are checked against their own models too: Secrets
/// Manager and Application Auto Scaling every member (JSON), STS its top-level members (query).
#[test]
fn other_services_requests_are_checked_against_their_models() {
    let moto = Moto::start();
    let unknown = r#"{"SecretId": "x", "Bogus": 1}"#;
    let sm = moto.json_call("secretsmanager", "secretsmanager.DescribeSecret", unknown);
    support::assert_has(&sm, "LocalModelViolation");
    support::assert_has(
        &sm,
        "DescribeSecret.Bogus: not a member of DescribeSecretRequest",
    );
    let form = "Action=AssumeRole&Version=2011-06-15\
        &RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr&RoleSessionName=a%20b";
    let sts = moto.query("sts", form);
    support::assert_has(&sts, "LocalModelViolation");
    support::assert_has(&sts, "AssumeRole.RoleSessionName: 'a b' does not match");
    let missing = "Action=AssumeRole&Version=2011-06-15&RoleSessionName=ab";
    support::assert_has(&moto.query("sts", missing), "AssumeRole.RoleArn: required");
    // A request the model allows goes on to moto's own answer.
    let allowed = moto.json_call(
        "secretsmanager",
        "secretsmanager.DescribeSecret",
        r#"{"SecretId": "nope"}"#,
    );
    assert!(!allowed.contains("LocalModelViolation"), "{allowed}");
    // Application Auto Scaling: Java's \p{Print} and surrogate-pair ranges as the model has them.
    let scaling = moto.json_call(
        "application-autoscaling",
        "AnyScaleFrontendService.PutScalingPolicy",
        r#"{"ServiceNamespace": "ecs", "ResourceId": "service/c1/g",
            "ScalableDimension": "ecs:service:DesiredCount", "PolicyName": "caf\u00e9"}"#,
    );
    support::assert_has(&scaling, "LocalModelViolation");
    support::assert_has(
        &scaling,
        "PutScalingPolicy.PolicyName: 'caf\\u00e9' does not match",
    );
    let dimension = moto.json_call(
        "application-autoscaling",
        "AnyScaleFrontendService.RegisterScalableTarget",
        r#"{"ServiceNamespace": "ecs", "ResourceId": "service/c1/g",
            "ScalableDimension": "ecs:service:Desired"}"#,
    );
    support::assert_has(&dimension, "RegisterScalableTarget.ScalableDimension");
    // What the documentation states in words: a dimension needs a resource id, and
    // DescribeScalingPolicies pages are of at most 10.
    let words = moto.json_call(
        "application-autoscaling",
        "AnyScaleFrontendService.DescribeScalingPolicies",
        r#"{"ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount",
            "MaxResults": 50}"#,
    );
    support::assert_has(&words, "ScalableDimension: given without a resource ID");
    support::assert_has(&words, "MaxResults: 50, between 1 and 10");
}

/// A launch type and a capacity provider strategy exclude each other ("If a launchType is
/// specified, the capacityProviderStrategy parameter must be omitted", CreateService).
#[test]
fn a_launch_type_and_a_capacity_provider_strategy_are_refused_together() {
    let moto = Moto::with_clusters(&["c1"]);
    let td = bridge_definition(&moto, "e", "i");
    let strategy = json!([{"capacityProvider": "FARGATE"}]);
    let create = json!({"cluster": "c1", "serviceName": "s", "taskDefinition": td,
        "desiredCount": 1, "launchType": "EC2", "capacityProviderStrategy": strategy});
    let run = json!({"cluster": "c1", "taskDefinition": td, "launchType": "EC2",
        "capacityProviderStrategy": strategy});
    for (operation, body) in [("CreateService", create), ("RunTask", run)] {
        assert_eq!(
            refused(&moto, operation, &body),
            (
                "InvalidParameterException".into(),
                "Specifying both a launch type and capacity provider strategy is not supported."
                    .into()
            ),
            "{operation}"
        );
    }
}
