//! The deploy documents and the ecosystem commands: the controller's own task definition and
//! service parse with the project's document types, the IAM policy lists exactly the AWS
//! actions the code calls, completions and the health probe work.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::collections::BTreeSet;
use std::path::Path;

use spec::document::{ServiceDocument, TaskDefinitionDocument};
use support::{assert_has, binary, repo};

fn read(path: &str) -> String {
    std::fs::read_to_string(repo().join(path)).unwrap()
}

#[test]
fn the_controllers_own_task_definition_and_service_are_valid_documents() {
    let td: TaskDefinitionDocument =
        serde_json::from_str(&read("deploy/task-definition.json")).unwrap();
    let controller = td
        .container_definitions
        .iter()
        .find(|c| c.name == "controller")
        .unwrap();
    let sidecar = td
        .container_definitions
        .iter()
        .find(|c| c.name == "git-sync")
        .unwrap();
    assert!(controller
        .command
        .windows(2)
        .any(|w| w == ["--listen", "127.0.0.1:9464"]));
    assert!(controller
        .command
        .windows(2)
        .any(|w| w == ["--log-format", "json"]));
    let health = controller.health_check.as_ref().unwrap();
    assert!(health
        .command
        .iter()
        .any(|c| c == "http://127.0.0.1:9464/healthz"));
    assert_eq!(
        controller.log_configuration.as_ref().unwrap().log_driver,
        "awslogs"
    );
    assert_eq!(
        sidecar.mount_points[0].source_volume,
        controller.mount_points[0].source_volume
    );
    assert_eq!(controller.mount_points[0].read_only, Some(true));
    assert!(controller
        .command
        .iter()
        .any(|c| c.starts_with(&sidecar.mount_points[0].container_path)));

    // CreateService's `tags` are not part of the service document the controller renders.
    let mut service: serde_json::Value =
        serde_json::from_str(&read("deploy/service.json")).unwrap();
    service.as_object_mut().unwrap().remove("tags");
    let service: ServiceDocument = serde_json::from_value(service).unwrap();
    assert_eq!(
        service.desired_count, 2,
        "two replicas: a failover starts warm"
    );
    assert!(
        controller
            .command
            .windows(2)
            .any(|w| w == ["--lease-table", "ecs-delegate-controller-leases"]),
        "more than one replica only with leader election"
    );
    let table: serde_json::Value = serde_json::from_str(&read("deploy/lease-table.json")).unwrap();
    assert_eq!(table["TableName"], "ecs-delegate-controller-leases");
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(table["KeySchema"][0]["AttributeName"], "name");
}

/// `service:Operation` for every AWS call the controller makes: the typed operation set the
/// SDK adapter, the limiter and the metrics all share.
fn actions_the_code_calls() -> BTreeSet<String> {
    client::Operation::ALL
        .iter()
        .map(|op| format!("{}:{}", op.service(), op.name()))
        .collect()
}

#[test]
fn the_policy_allows_exactly_the_actions_the_code_calls() {
    let policy: serde_json::Value = serde_json::from_str(&read("deploy/iam-policy.json")).unwrap();
    let mut allowed = BTreeSet::new();
    for statement in policy["Statement"].as_array().unwrap() {
        // Deny statements only narrow what an Allow grants.
        if statement["Effect"] == "Deny" {
            continue;
        }
        assert_eq!(statement["Effect"], "Allow");
        match &statement["Action"] {
            serde_json::Value::String(a) => {
                allowed.insert(a.clone());
            }
            serde_json::Value::Array(list) => {
                allowed.extend(list.iter().map(|a| a.as_str().unwrap().to_owned()));
            }
            other => panic!("unexpected Action {other}"),
        }
    }
    // iam:PassRole is not a call the code makes: ECS checks it when a task definition, service or
    // task names the delegate roles.
    assert!(allowed.remove("iam:PassRole"));
    // Neither are these: Application Auto Scaling creates its service-linked role on the first
    // RegisterScalableTarget, and the target-tracking policy's alarms, as the caller.
    for dependent in [
        "iam:CreateServiceLinkedRole",
        "cloudwatch:DescribeAlarms",
        "cloudwatch:PutMetricAlarm",
        "cloudwatch:DeleteAlarms",
    ] {
        assert!(allowed.remove(dependent), "{dependent}");
    }
    let called = actions_the_code_calls();
    assert!(
        called.contains("ecs:RegisterTaskDefinition") && called.contains("iam:GetRole"),
        "{called:?}"
    );
    assert_eq!(
        allowed, called,
        "policy (left) vs client::Operation::ALL (right)"
    );

    // Writes are limited by tags; PassRole by role and service. (Deny statements only narrow.)
    for statement in policy["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Effect"] == "Allow")
    {
        let actions = statement["Action"].to_string();
        let writes = [
            "UpdateService",
            "DeleteService",
            "StopTask",
            "CreateService",
            "RunTask",
            "TagResource",
            "RegisterTaskDefinition",
        ];
        if writes.iter().any(|w| actions.contains(&format!("ecs:{w}"))) {
            let condition = statement["Condition"].to_string();
            assert!(
                condition.contains("ecs-delegate-controller.io/managed-by"),
                "{statement}"
            );
        }
        if actions.contains("iam:PassRole") {
            assert_eq!(
                statement["Condition"]["StringEquals"]["iam:PassedToService"],
                "ecs-tasks.amazonaws.com"
            );
            assert_ne!(statement["Resource"], "*");
        }
    }
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let out = binary().args(["completions", shell]).output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        for command in ["reconcile", "validate", "import", "status"] {
            assert!(text.contains(command), "{shell} completions lack {command}");
        }
    }
}

#[test]
fn probe_is_a_health_check() {
    let moto = support::Moto::start();
    let ok = binary()
        .args(["probe", &format!("{}/moto-api/", moto.url)])
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", support::show(&ok));
    let port = support::free_port();
    let down = binary()
        .args(["probe", &format!("http://127.0.0.1:{port}/healthz")])
        .output()
        .unwrap();
    assert_eq!(down.status.code(), Some(1));
    assert!(Path::new(&repo().join("deploy/Dockerfile")).exists());
}

#[test]
fn ci_examples_parse_and_use_the_documented_commands() {
    let workflow = repo().join("examples/ci/.github/workflows/delegates.yml");
    let python = support::venv().join("bin/python");
    let out = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))",
        ])
        .arg(&workflow)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", support::show(&out));
    let parsed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = parsed.to_string();
    for needle in [
        "validate delegates/",
        "plan delegates/ --prune -o markdown --detailed-exitcode",
        "reconcile --once --prune --wait 10m delegates/",
        "gh pr comment",
    ] {
        assert!(text.contains(needle), "workflow lacks {needle}");
    }
    let step = repo().join("examples/ci/pipeline-step.sh");
    let syntax = std::process::Command::new("bash")
        .arg("-n")
        .arg(&step)
        .status()
        .unwrap();
    assert!(syntax.success());
    assert!(read("examples/ci/pipeline-step.sh").contains("reconcile --once --prune --wait 10m"));
}

/// parliament (PyPI, pinned in the Makefile's venv) over `policy`: its findings, one a line,
/// but "Unnecessary use of Resource *" (deliberate: see deploy/README.md); empty when clean.
fn lint_policy(policy: &str) -> String {
    let out = std::process::Command::new(support::venv().join("bin/parliament"))
        .args(["--string", policy])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("parliament: run `make setup`");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    text.lines()
        .filter(|l| !l.starts_with("LOW - Unnecessary use of Resource *"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// An IAM policy linter finds no unknown action or condition key, no malformed statement.
/// (Its LOW finding "unnecessary Resource *" is deliberate: see deploy/README.md.)
#[test]
fn the_policy_passes_an_iam_linter_which_catches_a_misspelling() {
    let policy = read("deploy/iam-policy.json");
    assert_eq!(lint_policy(&policy), "", "deploy/iam-policy.json");
    let misspelled = policy
        .replace("ecs:UpdateService", "ecs:UpdateServices")
        .replace("ecs:CreateAction", "ecs:CreateActions");
    let findings = lint_policy(&misspelled);
    assert_has(&findings, "ecs:UpdateServices");
    assert_has(&findings, "ecs:CreateActions");
}

/// The role a target account gives the controller: the controller's policy without what only
/// the controller's own account needs (assuming roles, reading the Harness key), linted, and a
/// trust that names the controller's role with an external id.
#[test]
fn the_target_account_role_is_the_policy_minus_the_controllers_own_statements() {
    let mut own: serde_json::Value = serde_json::from_str(&read("deploy/iam-policy.json")).unwrap();
    own["Statement"].as_array_mut().unwrap().retain(|s| {
        ![
            "AssumeTheTargetAccountsRoles",
            "ReadTheHarnessApiKey",
            "ElectTheLeaderOnTheLeaseTable",
            "ReadTheEventsQueue",
        ]
        .contains(&s["Sid"].as_str().unwrap_or_default())
    });
    let expected = own.to_string().replace("123456789012", "111122223333");
    let target_text = read("deploy/target-account-policy.json");
    let target: serde_json::Value = serde_json::from_str(&target_text).unwrap();
    assert_eq!(
        target.to_string(),
        expected,
        "deploy/target-account-policy.json drifted from deploy/iam-policy.json"
    );
    assert_eq!(
        lint_policy(&target_text),
        "",
        "deploy/target-account-policy.json"
    );

    let trust: serde_json::Value =
        serde_json::from_str(&read("deploy/target-account-trust.json")).unwrap();
    let statement = &trust["Statement"][0];
    assert_eq!(statement["Action"], "sts:AssumeRole");
    assert!(statement["Principal"]["AWS"]
        .as_str()
        .unwrap()
        .ends_with(":role/ecs-delegate-controller"));
    assert!(statement["Condition"]["StringEquals"]["sts:ExternalId"].is_string());
    // The controller may assume only the listed target roles.
    let policy: serde_json::Value = serde_json::from_str(&read("deploy/iam-policy.json")).unwrap();
    let assume = support::find_in(&policy["Statement"], "Action", "sts:AssumeRole");
    assert!(assume["Resource"].as_array().unwrap().iter().all(|r| r
        .as_str()
        .unwrap()
        .ends_with(":role/ecs-delegate-controller-target")));
}

/// The Service Authorization Reference as parliament ships it (its `iam_definition.json`): for
/// each ECS action, the condition keys it supports (action-level and through its resources).
fn ecs_condition_keys() -> std::collections::BTreeMap<String, BTreeSet<String>> {
    let path = std::fs::read_dir(support::venv().join("lib"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| {
            e.path()
                .join("site-packages/parliament/iam_definition.json")
        })
        .find(|p| p.exists())
        .expect("parliament's iam_definition.json: run `make setup`");
    let all: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let ecs = all
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["prefix"] == "ecs")
        .unwrap();
    let mut keys = std::collections::BTreeMap::new();
    for privilege in ecs["privileges"].as_array().unwrap() {
        let action = format!("ecs:{}", privilege["privilege"].as_str().unwrap());
        let set: BTreeSet<String> = privilege["resource_types"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| r["condition_keys"].as_array().unwrap().iter())
            .map(|k| k.as_str().unwrap().to_owned())
            .collect();
        keys.insert(action, set);
    }
    keys
}

/// Issue 24: IAM enforces ownership even if the code is wrong. Each ECS condition key of the
/// policy is one the reference lists for every action of its statement (so it is evaluated, not
/// silently absent); the writes are scoped to the delegate clusters and the family prefix, a
/// privileged task definition is denied, and adoption names its clusters and spares a service
/// marked never adoptable. The CloudFormation templates carry the same statements (the
/// template tests compare them with these documents).
#[test]
fn the_policy_scopes_writes_with_the_condition_keys_ecs_documents() {
    let keys = ecs_condition_keys();
    for file in [
        "deploy/iam-policy.json",
        "deploy/target-account-policy.json",
    ] {
        let policy: serde_json::Value = serde_json::from_str(&read(file)).unwrap();
        let statements = policy["Statement"].as_array().unwrap();
        for s in statements {
            let actions: Vec<&str> = match &s["Action"] {
                serde_json::Value::String(a) => vec![a.as_str()],
                serde_json::Value::Array(a) => a.iter().map(|a| a.as_str().unwrap()).collect(),
                _ => unreachable!(),
            };
            for (_, block) in s["Condition"].as_object().into_iter().flatten() {
                for key in block.as_object().unwrap().keys() {
                    if !key.starts_with("ecs:") {
                        continue;
                    }
                    for action in &actions {
                        assert!(
                            keys[*action].contains(key.as_str()),
                            "{file} {}: {key} is not a condition key of {action}",
                            s["Sid"]
                        );
                    }
                }
            }
        }
        let sid = |name: &str| {
            statements
                .iter()
                .find(|s| s["Sid"] == name)
                .unwrap_or_else(|| panic!("{file}: no statement {name}"))
        };
        for name in [
            "CreateTaggedServicesInTheDelegateClusters",
            "RunTaggedTasksInTheDelegateClusters",
            "ChangeOnlyWhatThisControllerOwns",
        ] {
            let clusters = sid(name)["Condition"]["ArnLike"]["ecs:cluster"]
                .as_array()
                .unwrap();
            assert!(
                clusters
                    .iter()
                    .all(|c| c.as_str().unwrap().contains(":cluster/delegates")),
                "{file} {name}"
            );
        }
        let family = sid("RegisterTaggedTaskDefinitions")["Resource"]
            .as_str()
            .unwrap();
        assert!(family.contains(":task-definition/"), "{file}: {family}");
        assert_eq!(
            sid("RunTaggedTasksInTheDelegateClusters")["Resource"],
            family
        );
        let deny = sid("NeverPointServicesOutsideTheFamilies");
        assert_eq!(deny["Effect"], "Deny");
        assert_eq!(
            deny["Condition"]["ArnNotLikeIfExists"]["ecs:task-definition"],
            family
        );
        let privileged = sid("NeverRegisterPrivilegedTaskDefinitions");
        assert_eq!(privileged["Effect"], "Deny");
        // The reference types ecs:privileged as a String.
        assert_eq!(
            privileged["Condition"]["StringEqualsIgnoreCase"]["ecs:privileged"],
            "true"
        );
        let adopt = sid("AdoptUnmanagedServices");
        assert!(adopt["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r.as_str().unwrap().contains(":service/delegates/")));
        assert_eq!(
            adopt["Condition"]["Null"]["aws:ResourceTag/ecs-delegate-controller.io/adoptable"],
            "true"
        );
    }
}

/// Issue 24's fixes to deploy/: the HTTP listener on loopback (the health check calls it
/// there), git-sync retrying a failed fetch for ever instead of exiting, the controller's own
/// service never adoptable, the policy injected from its own parameter, a .dockerignore.
#[test]
fn deploy_listens_on_loopback_retries_fetches_and_protects_its_own_service() {
    let task: serde_json::Value =
        serde_json::from_str(&read("deploy/task-definition.json")).unwrap();
    let containers = task["containerDefinitions"].as_array().unwrap();
    let controller = containers
        .iter()
        .find(|c| c["name"] == "controller")
        .unwrap();
    let command: Vec<&str> = controller["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let listen = command.iter().position(|c| *c == "--listen").unwrap();
    assert_eq!(command[listen + 1], "127.0.0.1:9464");
    assert!(controller.get("portMappings").is_none());
    assert!(controller["healthCheck"]["command"]
        .to_string()
        .contains("127.0.0.1:9464"));
    assert_eq!(controller["secrets"][0]["name"], "EDC_POLICY_DOCUMENT");
    let git_sync = containers.iter().find(|c| c["name"] == "git-sync").unwrap();
    assert!(git_sync["command"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!("--max-failures=-1")));
    let service: serde_json::Value = serde_json::from_str(&read("deploy/service.json")).unwrap();
    assert_eq!(
        service["tags"][0],
        serde_json::json!({"key": "ecs-delegate-controller.io/adoptable", "value": "false"})
    );
    let ignore = read(".dockerignore");
    for line in ["target", ".venv", ".git"] {
        assert!(
            ignore.lines().any(|l| l.trim_start_matches('/') == line),
            "{line}"
        );
    }
}
