//! The operator's guardrail policy: every baseline refusal and one refusal of each allow-list,
//! each located at its field and naming its rule; a group within the policy passes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::path::PathBuf;

use ecs_delegate_spec::{load_with_policy, Policy};

/// A valid FARGATE group; `spec_extra` is appended under `spec:`.
fn group(name: &str, spec_extra: &str) -> String {
    format!(
        "apiVersion: ecs-delegate-controller.io/v1alpha1
kind: DelegateGroup
metadata:
  name: {name}
spec:
  cluster: delegates
  count: 2
  launchType: FARGATE
  network: {{subnets: [subnet-0a1b], securityGroups: [sg-0a1b]}}
  roles:
    task: arn:aws:iam::123456789012:role/delegate-task-role
    execution: arn:aws:iam::123456789012:role/ecsTaskExecutionRole
  resources: {{cpu: 1024, memory: 4096}}
  delegate:
    image: harness/delegate:24.10.84200
    accountId: abc123
    managerUrl: https://app.harness.io/gratis
    token: {{secretArn: \"arn:aws:secretsmanager:us-east-1:123456789012:secret:harness/token\"}}
{spec_extra}"
    )
}

/// An EC2 bridge group, for the host-level rules FARGATE cannot express.
fn ec2_group(name: &str, spec_extra: &str) -> String {
    group(name, spec_extra).replace(
        "  launchType: FARGATE\n  network: {subnets: [subnet-0a1b], securityGroups: [sg-0a1b]}\n",
        "",
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spec-policy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The errors of one file under `policy`, without the directory.
fn errors(name: &str, yaml: &str, policy: &Policy) -> Vec<String> {
    let dir = scratch(name);
    std::fs::write(dir.join("g.yaml"), yaml).unwrap();
    let result = load_with_policy(&[&dir], policy);
    std::fs::remove_dir_all(&dir).unwrap();
    match result {
        Ok(_) => Vec::new(),
        Err(d) => {
            d.0.iter()
                .map(|d| d.to_string().replace(&format!("{}/", dir.display()), ""))
                .collect()
        }
    }
}

fn policy(yaml: &str) -> Policy {
    Policy::parse(&format!(
        "apiVersion: ecs-delegate-controller.io/v1alpha1\nkind: GuardrailPolicy\n{yaml}"
    ))
    .unwrap_or_else(|e| panic!("{e:?}"))
}

#[test]
fn the_baseline_refuses_each_host_level_escape_by_default() {
    let default = Policy::default();
    let cases = [
        (
            "network",
            ec2_group("g", "  networkMode: host\n"),
            "g.yaml:17:3: error: spec.networkMode: host network mode shares the host's network stack (policy rule baseline.hostNetwork)",
        ),
        (
            "pid",
            ec2_group("g", "  taskDefinitionOverrides:\n    pidMode: host\n"),
            "g.yaml:18:5: error: spec.taskDefinitionOverrides.pidMode: host PID mode sees every process on the host (policy rule baseline.hostPid)",
        ),
        (
            "volume",
            ec2_group(
                "g",
                "  taskDefinitionOverrides:\n    volumes:\n      - {name: docker, host: {sourcePath: /var/run/docker.sock}}\n",
            ),
            "g.yaml:19:24: error: spec.taskDefinitionOverrides.volumes[0].host: volume \"docker\" mounts a path of the host (policy rule baseline.hostVolumes)",
        ),
        (
            "root",
            ec2_group(
                "g",
                "  taskDefinitionOverrides:\n    containerDefinitions:\n      - {name: ecs-delegate, image: \"harness/delegate:24.10.84200\", user: \"0\"}\n",
            ),
            "(policy rule baseline.root)",
        ),
        (
            "sidecar",
            ec2_group(
                "g",
                "  taskDefinitionOverrides:\n    containerDefinitions:\n      - {name: ecs-delegate, image: \"harness/delegate:24.10.84200\"}\n      - {name: miner, image: evil/miner}\n",
            ),
            "g.yaml:18:5: error: spec.taskDefinitionOverrides.containerDefinitions: overrides may not add, remove or rename containers or change their image (policy rule baseline.containers)",
        ),
        (
            "privileged",
            ec2_group(
                "g",
                "  taskDefinitionOverrides:\n    containerDefinitions:\n      - {name: ecs-delegate, image: \"harness/delegate:24.10.84200\", privileged: true}\n",
            ),
            "spec.taskDefinitionOverrides.containerDefinitions[0].privileged: privileged containers are root on the host (policy rule baseline.privileged)",
        ),
        (
            "capabilities",
            ec2_group(
                "g",
                "  taskDefinitionOverrides:\n    containerDefinitions:\n      - name: ecs-delegate\n        image: harness/delegate:24.10.84200\n        linuxParameters: {capabilities: {add: [SYS_ADMIN]}}\n",
            ),
            "spec.taskDefinitionOverrides.containerDefinitions[0].linuxParameters.capabilities.add: added Linux capabilities are not allowed (policy rule baseline.capabilities)",
        ),
    ];
    for (name, yaml, expected) in cases {
        let found = errors(name, &yaml, &default);
        assert!(
            found.iter().any(|e| e.contains(expected)),
            "{name}: {expected}\nnot in {found:#?}"
        );
    }
    // Turned off by the operator, the renderable ones pass.
    let off = policy("baseline: false\n");
    for yaml in [
        ec2_group("g", "  networkMode: host\n"),
        ec2_group("g", "  taskDefinitionOverrides:\n    pidMode: host\n"),
    ] {
        assert_eq!(errors("off", &yaml, &off), Vec::<String>::new());
    }
}

#[test]
fn each_allow_list_refuses_what_it_does_not_name() {
    let strict = policy(
        "images: {repositories: [\"123456789012.dkr.ecr.us-east-1.amazonaws.com/*\"], digestsOnly: true}
roles:
  execution: [arn:aws:iam::123456789012:role/delegate-execution]
  task: [arn:aws:iam::123456789012:role/delegates-*]
clusters: [prod-delegates]
accounts: [arn:aws:iam::111122223333:role/edc-target]
subnets: [subnet-allowed]
securityGroups: [sg-allowed]
secretPrefixes: [\"arn:aws:secretsmanager:us-east-1:123456789012:secret:delegates/\"]
launchTypes: [EC2]
managerOrigins: [\"https://harness.example.com\"]
count: {perGroup: 1, total: 1}
resources: {maxCpu: 512, maxMemory: 2048}
familyPrefix: delegate-
",
    );
    let yaml = group(
        "g",
        "  account: {roleArn: \"arn:aws:iam::444455556666:role/other\"}\n  service: {adopt: true}\n",
    );
    let found = errors("strict", &yaml, &strict);
    let rules = [
        "images.repositories",
        "images.digestsOnly",
        "roles.execution",
        "roles.task",
        "clusters",
        "accounts",
        "subnets",
        "securityGroups",
        "secretPrefixes",
        "launchTypes",
        "managerOrigins",
        "count.perGroup",
        "count.total",
        "resources.maxCpu",
        "resources.maxMemory",
        "familyPrefix",
        "adoption",
    ];
    for rule in rules {
        assert!(
            found
                .iter()
                .any(|e| e.ends_with(&format!("(policy rule {rule})"))),
            "{rule} not in {found:#?}"
        );
    }
    assert!(found.contains(
        &"g.yaml:15:5: error: spec.delegate.image: repository \"harness/delegate\" is not allowed (policy rule images.repositories)".to_owned()
    ), "{found:#?}");
    assert!(found.contains(
        &"g.yaml:6:3: error: spec.cluster: cluster \"delegates\" is not allowed (policy rule clusters)".to_owned()
    ), "{found:#?}");

    // The same group, within the policy, passes.
    let fitting = group("delegate-g", "")
        .replace("cluster: delegates", "cluster: prod-delegates")
        .replace("launchType: FARGATE", "launchType: EC2")
        .replace(
            "  network: {subnets: [subnet-0a1b], securityGroups: [sg-0a1b]}\n",
            "",
        )
        .replace("count: 2", "count: 1")
        .replace("{cpu: 1024, memory: 4096}", "{cpu: 512, memory: 2048}")
        .replace(
            "harness/delegate:24.10.84200",
            &format!(
                "123456789012.dkr.ecr.us-east-1.amazonaws.com/delegate@sha256:{}",
                "a".repeat(64)
            ),
        )
        .replace("role/ecsTaskExecutionRole", "role/delegate-execution")
        .replace("role/delegate-task-role", "role/delegates-task")
        .replace("secret:harness/token", "secret:delegates/token")
        .replace(
            "https://app.harness.io/gratis",
            "https://harness.example.com/gratis",
        );
    assert_eq!(errors("fits", &fitting, &strict), Vec::<String>::new());
}

#[test]
fn adoption_is_off_unless_the_operator_names_the_cluster() {
    let yaml = group("g", "  service: {adopt: true}\n");
    assert_eq!(
        errors("adopt-off", &yaml, &Policy::default()),
        ["g.yaml:19:13: error: spec.service.adopt: adopting a service this controller did not create is off; the operator allows it per cluster (policy rule adoption)"]
    );
    let elsewhere = policy("adoption: {clusters: [other]}\n");
    assert_eq!(
        errors("adopt-elsewhere", &yaml, &elsewhere),
        ["g.yaml:19:13: error: spec.service.adopt: adoption is not allowed in cluster \"delegates\" (policy rule adoption)"]
    );
    let here = policy("adoption: {clusters: [\"arn:aws:ecs:us-east-1:123456789012:cluster/delegates\", delegates]}\n");
    assert_eq!(errors("adopt-here", &yaml, &here), Vec::<String>::new());
}

#[test]
fn a_policy_file_is_checked_like_a_group_file() {
    let (at, message) = Policy::parse(
        "apiVersion: ecs-delegate-controller.io/v1alpha1\nkind: GuardrailPolicy\nclusterz: [x]\n",
    )
    .unwrap_err();
    assert!(message.contains("unknown field `clusterz`"), "{message}");
    assert!(at.is_some());
    assert!(Policy::parse("kind: DelegateGroup\napiVersion: x\n").is_err());
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policy.yaml"),
    )
    .unwrap();
    let parsed = Policy::parse(&example).unwrap_or_else(|e| panic!("deploy/policy.yaml: {e:?}"));
    assert!(parsed.baseline && parsed.adoption.is_some());
}

#[test]
fn the_checked_in_policy_schema_is_up_to_date() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/policy.schema.json");
    let schema = serde_json::to_string_pretty(&Policy::json_schema()).unwrap() + "\n";
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(&path, &schema).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(&path).unwrap_or_default(),
        schema,
        "deploy/policy.schema.json is stale: run `make schema`"
    );
}

/// `launchTypes` holds for capacity providers too: FARGATE_SPOT runs FARGATE tasks, and the
/// refusal points at the strategy the file chose.
#[test]
fn launch_types_hold_for_capacity_providers() {
    let ec2_only = policy("launchTypes: [EC2]\n");
    let spot = group("g", "").replace(
        "  launchType: FARGATE\n",
        "  capacityProviderStrategy: [{capacityProvider: FARGATE_SPOT, weight: 1}]\n",
    );
    let found = errors("spot", &spot, &ec2_only);
    assert_eq!(
        found,
        ["g.yaml:8:3: error: spec.capacityProviderStrategy: FARGATE (through its capacity providers) is not allowed (policy rule launchTypes)"],
        "{found:#?}"
    );
}

/// A FirstGen delegate's start script downloads the watcher from its `firstgen` URLs and runs
/// it: with `managerOrigins`, those are held to the same origins as the manager.
#[test]
fn firstgen_download_urls_are_held_to_the_manager_origins() {
    let origins = policy("managerOrigins: [\"https://app.harness.io\"]\n");
    let firstgen = |watchers: &str| {
        group("fg", "").replace("  delegate:\n", "  delegate:\n    flavor: firstgen\n")
            + &format!(
                "    firstgen:\n      watcherStorageUrl: {watchers}\n      watcherCheckLocation: current.version\n      delegateStorageUrl: https://app.harness.io\n      delegateCheckLocation: delegateprod.txt\n"
            )
    };
    assert!(errors(
        "fg-ok",
        &firstgen("https://app.harness.io/public/prod/premium/watchers"),
        &origins
    )
    .is_empty());
    let found = errors(
        "fg-evil",
        &firstgen("https://evil.example.com/watchers"),
        &origins,
    );
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0].contains("spec.delegate.firstgen.watcherStorageUrl: origin \"https://evil.example.com\" is not allowed"),
        "{found:#?}"
    );
}
