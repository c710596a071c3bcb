//! deploy/'s CloudFormation templates: cfn-lint (pinned, in the project's virtualenv) finds
//! nothing, and resolved with example parameters they say what deploy/'s JSON documents say: the
//! controller's policy is deploy/iam-policy.json, its containers deploy/task-definition.json, its
//! rules deploy/events-rules.json, the target account's role deploy/target-account-*.json; and
//! every flag the template passes exists in `reconcile --help`. Each consistency check is also
//! shown failing on a mutated copy.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::collections::BTreeMap;

use serde_json::{json, Value};

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const STACK: &str = "ecs-delegate-controller";

fn read(path: &str) -> String {
    std::fs::read_to_string(support::repo().join(path)).unwrap()
}

fn json_doc(path: &str) -> Value {
    serde_json::from_str(&read(path)).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

/// A template resolved for one set of parameters: CloudFormation's intrinsic functions (the
/// long forms the templates use) evaluated as CloudFormation would, resources named by their
/// logical id.
struct Stack {
    template: Value,
    params: BTreeMap<String, Value>,
    conditions: BTreeMap<String, bool>,
}

impl Stack {
    fn new(template: Value, given: &[(&str, Value)]) -> Stack {
        let mut params = BTreeMap::new();
        for (name, decl) in template["Parameters"].as_object().unwrap() {
            let value = given
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
                .or_else(|| decl.get("Default").cloned())
                .unwrap_or_else(|| panic!("parameter {name} has no value"));
            let value = match (decl["Type"].as_str(), value) {
                (Some("CommaDelimitedList"), Value::String(s)) => {
                    json!(s.split(',').map(str::trim).collect::<Vec<_>>())
                }
                (Some("Number"), Value::Number(n)) => json!(n.to_string()),
                (_, v) => v,
            };
            params.insert(name.clone(), value);
        }
        let mut stack = Stack {
            template,
            params,
            conditions: BTreeMap::new(),
        };
        let conditions: Vec<(String, Value)> = stack.template["Conditions"]
            .as_object()
            .map(|c| c.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default();
        for _ in 0..conditions.len() {
            for (name, expr) in &conditions {
                if let Some(v) = stack.condition(expr) {
                    stack.conditions.insert(name.clone(), v);
                }
            }
        }
        stack
    }

    fn condition(&self, expr: &Value) -> Option<bool> {
        let (f, args) = expr.as_object()?.iter().next()?;
        Some(match f.as_str() {
            "Fn::Equals" => {
                let a = self.resolve(&args[0])?;
                let b = self.resolve(&args[1])?;
                let text = |v: &Value| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                text(&a) == text(&b)
            }
            "Fn::Not" => !self.condition(&args[0])?,
            "Fn::Or" => args
                .as_array()?
                .iter()
                .map(|a| self.condition(a))
                .collect::<Option<Vec<_>>>()?
                .into_iter()
                .any(|b| b),
            "Fn::And" => args
                .as_array()?
                .iter()
                .map(|a| self.condition(a))
                .collect::<Option<Vec<_>>>()?
                .into_iter()
                .all(|b| b),
            "Condition" => *self.conditions.get(args.as_str()?)?,
            other => panic!("condition function {other}"),
        })
    }

    fn is(&self, condition: &str) -> bool {
        *self
            .conditions
            .get(condition)
            .unwrap_or_else(|| panic!("condition {condition}"))
    }

    /// What `Ref` of a name gives.
    fn reference(&self, name: &str) -> Option<Value> {
        Some(match name {
            "AWS::AccountId" => json!(ACCOUNT),
            "AWS::Region" => json!(REGION),
            "AWS::Partition" => json!("aws"),
            "AWS::StackName" => json!(STACK),
            "AWS::URLSuffix" => json!("amazonaws.com"),
            "AWS::NoValue" => return None,
            _ => {
                if let Some(p) = self.params.get(name) {
                    return Some(p.clone());
                }
                let resource = &self.template["Resources"][name];
                assert!(resource.is_object(), "Ref to unknown {name}");
                let props = &resource["Properties"];
                match resource["Type"].as_str().unwrap() {
                    "AWS::Logs::LogGroup" => self.resolve(&props["LogGroupName"])?,
                    "AWS::SQS::Queue" => json!(format!(
                        "https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{}",
                        self.resolve(&props["QueueName"])?.as_str()?
                    )),
                    _ => json!(format!("{name}-ref")),
                }
            }
        })
    }

    fn get_att(&self, name: &str, attribute: &str) -> Value {
        json!(format!("arn:aws:{name}:{attribute}"))
    }

    fn sub(&self, text: &str, vars: &serde_json::Map<String, Value>) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(i) = rest.find("${") {
            out.push_str(&rest[..i]);
            let end = rest[i..].find('}').unwrap() + i;
            let name = &rest[i + 2..end];
            let value = match vars.get(name) {
                Some(v) => self.resolve(v),
                None => match name.split_once('.') {
                    Some((res, attr)) if !name.starts_with("AWS::") => {
                        Some(self.get_att(res, attr))
                    }
                    _ => self.reference(name),
                },
            };
            out.push_str(value.as_ref().and_then(Value::as_str).unwrap_or_default());
            rest = &rest[end + 1..];
        }
        out.push_str(rest);
        out
    }

    /// `None`: AWS::NoValue (the key or item disappears).
    fn resolve(&self, value: &Value) -> Option<Value> {
        match value {
            Value::Object(map) if map.len() == 1 => {
                let (f, args) = map.iter().next().unwrap();
                match f.as_str() {
                    "Ref" => self.reference(args.as_str().unwrap()),
                    "Fn::Sub" => Some(json!(match args {
                        Value::String(s) => self.sub(s, &serde_json::Map::new()),
                        Value::Array(a) =>
                            self.sub(a[0].as_str().unwrap(), a[1].as_object().unwrap()),
                        other => panic!("Fn::Sub {other}"),
                    })),
                    "Fn::If" => {
                        let branch = if self.is(args[0].as_str().unwrap()) {
                            1
                        } else {
                            2
                        };
                        self.resolve(&args[branch])
                    }
                    "Fn::Join" => {
                        let parts = self.resolve(&args[1])?;
                        Some(json!(parts
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|p| p.as_str().unwrap().to_owned())
                            .collect::<Vec<_>>()
                            .join(args[0].as_str().unwrap())))
                    }
                    "Fn::Split" => {
                        let text = self.resolve(&args[1])?;
                        Some(json!(text
                            .as_str()
                            .unwrap()
                            .split(args[0].as_str().unwrap())
                            .collect::<Vec<_>>()))
                    }
                    "Fn::GetAtt" => {
                        Some(self.get_att(args[0].as_str().unwrap(), args[1].as_str().unwrap()))
                    }
                    _ => Some(Value::Object(self.resolve_map(map))),
                }
            }
            Value::Object(map) => Some(Value::Object(self.resolve_map(map))),
            Value::Array(items) => Some(Value::Array(
                items.iter().filter_map(|i| self.resolve(i)).collect(),
            )),
            other => Some(other.clone()),
        }
    }

    fn resolve_map(&self, map: &serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
        map.iter()
            .filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v)))
            .collect()
    }

    /// A resource's properties, resolved; `None` when its condition is false.
    fn resource(&self, name: &str) -> Option<Value> {
        let resource = &self.template["Resources"][name];
        if let Some(c) = resource["Condition"].as_str() {
            if !self.is(c) {
                return None;
            }
        }
        self.resolve(&resource["Properties"])
    }
}

fn template(path: &str) -> Value {
    // YAML numbers and booleans come through as JSON's.
    serde_json::to_value(yaml(&read(path))).unwrap()
}

/// Parameters that make the template say what deploy/'s JSON documents say, every feature on.
fn all_on() -> Vec<(&'static str, Value)> {
    vec![
        ("RepositoryUrl", json!("https://github.com/example/delegates-gitops")),
        ("Cluster", json!("platform")),
        ("Subnets", json!(["subnet-0a1b2c3d"])),
        ("SecurityGroups", json!(["sg-0a1b2c3d"])),
        (
            "ControllerImage",
            json!("123456789012.dkr.ecr.us-east-1.amazonaws.com/ecs-delegate-controller:0.1.0"),
        ),
        ("Replicas", json!(2)),
        (
            "DelegateRoleArns",
            json!("arn:aws:iam::123456789012:role/ecsTaskExecutionRole,arn:aws:iam::123456789012:role/delegate-task-role"),
        ),
        (
            "TargetAccountRoleArns",
            json!("arn:aws:iam::111122223333:role/ecs-delegate-controller-target,arn:aws:iam::444455556666:role/ecs-delegate-controller-target"),
        ),
        ("HarnessApiKeyName", json!("ecs-delegate-controller/harness-api-key")),
        ("EventDriven", json!("true")),
        (
            "DelegateClusterArns",
            json!("arn:aws:ecs:*:123456789012:cluster/delegates,arn:aws:ecs:*:123456789012:cluster/delegates-fargate"),
        ),
        (
            "AdoptableServiceArns",
            json!("arn:aws:ecs:*:123456789012:service/delegates/*"),
        ),
        (
            "GuardrailPolicyParameterArn",
            json!("arn:aws:ssm:us-east-1:123456789012:parameter/ecs-delegate-controller/guardrail-policy"),
        ),
    ]
}

fn controller_policy(stack: &Stack) -> Value {
    stack.resource("TaskRole").unwrap()["Policies"][0]["PolicyDocument"].clone()
}

/// The template's policy against the document's, statement by statement.
fn same_policy(template: &Value, document: &Value) -> Result<(), String> {
    if template == document {
        return Ok(());
    }
    let sids = |v: &Value| -> Vec<String> {
        v["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    for (t, d) in template["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .zip(document["Statement"].as_array().unwrap())
    {
        if t != d {
            return Err(format!("template {t}\ndocument {d}"));
        }
    }
    Err(format!(
        "statements {:?} vs {:?}",
        sids(template),
        sids(document)
    ))
}

#[test]
fn the_templates_policy_is_deploy_iam_policy_json_and_drift_is_caught() {
    let stack = Stack::new(template("deploy/cloudformation.yaml"), &all_on());
    let document = json_doc("deploy/iam-policy.json");
    same_policy(&controller_policy(&stack), &document).unwrap();
    // A mutated copy of the document: one action fewer.
    let mut drifted = document.clone();
    let observe = drifted["Statement"][0]["Action"].as_array_mut().unwrap();
    observe.retain(|a| a != "ecs:ListTasks");
    assert!(same_policy(&controller_policy(&stack), &drifted).is_err());

    // With the optional features off, their statements are gone and the rest is unchanged.
    let mut off = all_on();
    off.retain(|(k, _)| {
        ![
            "Replicas",
            "TargetAccountRoleArns",
            "HarnessApiKeyName",
            "EventDriven",
            "AdoptableServiceArns",
        ]
        .contains(k)
    });
    let stack = Stack::new(template("deploy/cloudformation.yaml"), &off);
    let mut expected = document;
    expected["Statement"].as_array_mut().unwrap().retain(|s| {
        ![
            "AssumeTheTargetAccountsRoles",
            "ElectTheLeaderOnTheLeaseTable",
            "ReadTheEventsQueue",
            "ReadTheHarnessApiKey",
            "AdoptUnmanagedServices",
        ]
        .contains(&s["Sid"].as_str().unwrap())
    });
    same_policy(&controller_policy(&stack), &expected).unwrap();
    assert!(stack.resource("LeaseTable").is_none() && stack.resource("EventsQueue").is_none());
}

/// CloudFormation's property names are the API's with a capital first letter; the awslogs
/// options are passed as they are.
fn camel(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let key = format!("{}{}", k[..1].to_lowercase(), &k[1..]);
                    let v = if k == "Options" { v.clone() } else { camel(v) };
                    (key, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(camel).collect()),
        other => other.clone(),
    }
}

fn containers(stack: &Stack) -> Value {
    camel(&stack.resource("TaskDefinition").unwrap()["ContainerDefinitions"])
}

#[test]
fn the_templates_containers_are_deploy_task_definition_json() {
    // Two replicas (the lease table flag), nothing else optional: deploy/task-definition.json.
    let mut params = all_on();
    params.retain(|(k, _)| !["HarnessApiKeyName", "EventDriven"].contains(k));
    let stack = Stack::new(template("deploy/cloudformation.yaml"), &params);
    let document = json_doc("deploy/task-definition.json");
    assert_eq!(containers(&stack), document["containerDefinitions"]);
    let td = stack.resource("TaskDefinition").unwrap();
    assert_eq!(td["Family"], document["family"]);
    assert_eq!(td["Cpu"], document["cpu"]);
    assert_eq!(td["Memory"], document["memory"]);
    assert_eq!(camel(&td["Volumes"]), document["volumes"]);
    // A flag changed in a copy of the document: caught.
    let mut drifted = document["containerDefinitions"].clone();
    drifted[1]["command"][3] = json!("0.0.0.0:9464");
    assert_ne!(containers(&stack), drifted);
    // deploy/service.json's service, too.
    let service = stack.resource("Service").unwrap();
    let document = json_doc("deploy/service.json");
    assert_eq!(service["DesiredCount"], json!("2"));
    assert_eq!(
        camel(&service["DeploymentConfiguration"]),
        document["deploymentConfiguration"]
    );
    assert_eq!(service["PropagateTags"], document["propagateTags"]);
    assert_eq!(camel(&service["Tags"]), document["tags"], "never adoptable");

    // One replica: the old task stops first, or no deployment could ever start.
    let mut one = params.clone();
    one.retain(|(k, _)| *k != "Replicas");
    one.push(("Replicas", json!(1)));
    let stack = Stack::new(template("deploy/cloudformation.yaml"), &one);
    let service = stack.resource("Service").unwrap();
    assert_eq!(
        service["DeploymentConfiguration"]["MinimumHealthyPercent"],
        json!(0)
    );
    assert_eq!(
        service["DeploymentConfiguration"]["MaximumPercent"],
        json!(100)
    );

    // HTTP on the task's address only when the operator opts in.
    let mut open = params;
    open.push(("ServeHttpOnTaskNetwork", json!("true")));
    let stack = Stack::new(template("deploy/cloudformation.yaml"), &open);
    let controller = &containers(&stack)[1];
    assert_eq!(controller["command"][3], json!("0.0.0.0:9464"));
    assert_eq!(
        controller["portMappings"],
        json!([{"containerPort": 9464, "protocol": "tcp"}])
    );
}

/// The flags of the controller's command, with every feature on.
fn flags(template_text: &str) -> Vec<String> {
    let stack = Stack::new(yaml_json(template_text), &all_on());
    let containers = containers(&stack);
    let command = containers
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "controller")
        .unwrap()["command"]
        .clone();
    command
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str())
        .filter(|a| a.starts_with("--"))
        .map(str::to_owned)
        .collect()
}

fn yaml_json(text: &str) -> Value {
    serde_json::to_value(yaml(text)).unwrap()
}

fn unknown_flags(flags: &[String], help: &str) -> Vec<String> {
    flags
        .iter()
        .filter(|f| {
            !help
                .split(|c: char| c.is_whitespace() || c == ',' || c == '=')
                .any(|word| word == f.as_str())
        })
        .cloned()
        .collect()
}

#[test]
fn every_flag_the_template_passes_exists_in_reconcile_help() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ecs-delegate-controller"))
        .args(["reconcile", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    let text = read("deploy/cloudformation.yaml");
    let passed = flags(&text);
    for flag in [
        "--listen",
        "--log-format",
        "--lease-table",
        "--events-queue",
        "--harness-api-key-secret",
    ] {
        assert!(
            passed.iter().any(|f| f == flag),
            "{flag} not passed: {passed:?}"
        );
    }
    assert_eq!(unknown_flags(&passed, &help), Vec::<String>::new());
    // A misspelled flag in a copy of the template: caught.
    let drifted = text.replace("--lease-table", "--lease-tabel");
    assert_eq!(unknown_flags(&flags(&drifted), &help), ["--lease-tabel"]);
}

#[test]
fn the_templates_rules_are_deploy_events_rules_json() {
    let stack = Stack::new(template("deploy/cloudformation.yaml"), &all_on());
    let rules = json_doc("deploy/events-rules.json");
    let names = [
        "DeploymentsRule",
        "ServiceProblemsRule",
        "StoppedTasksRule",
        "EcsWritesRule",
    ];
    for (name, rule) in names.iter().zip(rules["Rules"].as_array().unwrap()) {
        let resource = stack.resource(name).unwrap();
        assert_eq!(resource["EventPattern"], rule["EventPattern"], "{name}");
    }
    assert_eq!(names.len(), rules["Rules"].as_array().unwrap().len());
    let queue = stack.resource("EventsQueue").unwrap();
    let document = json_doc("deploy/events-queue.json");
    let redrive: Value =
        serde_json::from_str(document["Attributes"]["RedrivePolicy"].as_str().unwrap()).unwrap();
    assert_eq!(
        queue["RedrivePolicy"]["maxReceiveCount"],
        redrive["maxReceiveCount"]
    );
    assert_eq!(
        queue["VisibilityTimeout"].to_string(),
        document["Attributes"]["VisibilityTimeout"]
            .as_str()
            .unwrap()
    );
}

#[test]
fn the_target_account_template_is_deploy_target_account_json() {
    let stack = Stack::new(
        template("deploy/cloudformation-target-account.yaml"),
        &[
            ("ControllerRoleArn", json!("arn:aws:iam::123456789012:role/ecs-delegate-controller")),
            ("ExternalId", json!("REPLACE-WITH-A-RANDOM-EXTERNAL-ID")),
            (
                "DelegateRoleArns",
                json!("arn:aws:iam::111122223333:role/ecsTaskExecutionRole,arn:aws:iam::111122223333:role/delegate-task-role"),
            ),
            (
                "DelegateClusterArns",
                json!("arn:aws:ecs:*:111122223333:cluster/delegates,arn:aws:ecs:*:111122223333:cluster/delegates-fargate"),
            ),
            (
                "AdoptableServiceArns",
                json!("arn:aws:ecs:*:111122223333:service/delegates/*"),
            ),
        ],
    );
    let role = stack.resource("Role").unwrap();
    // The target account's own id where the documents say 111122223333.
    let policy = role["Policies"][0]["PolicyDocument"]
        .to_string()
        .replace(ACCOUNT, "111122223333");
    let document = json_doc("deploy/target-account-policy.json");
    same_policy(&serde_json::from_str(&policy).unwrap(), &document).unwrap();
    assert_eq!(
        role["AssumeRolePolicyDocument"],
        json_doc("deploy/target-account-trust.json")
    );
}

#[test]
fn cfn_lint_finds_nothing_in_either_template() {
    let out = std::process::Command::new(support::venv().join("bin/cfn-lint"))
        .arg("deploy/cloudformation.yaml")
        .arg("deploy/cloudformation-target-account.yaml")
        .current_dir(support::repo())
        .output()
        .expect("cfn-lint runs (make setup installs it)");
    let printed = support::printed(&out);
    assert!(out.status.success(), "{printed}");
    assert_eq!(printed.trim(), "", "no error and no warning");
    // And it does look: a template with a mistake is refused.
    let broken =
        read("deploy/cloudformation.yaml").replace("LaunchType: FARGATE", "LaunchType: FARGATTE");
    let path = std::env::temp_dir().join(format!("edc-broken-{}.yaml", std::process::id()));
    std::fs::write(&path, broken).unwrap();
    let out = std::process::Command::new(support::venv().join("bin/cfn-lint"))
        .arg(&path)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(!out.status.success(), "cfn-lint accepted FARGATTE");
}
