//! Issue 24 end to end: a commit is not root. The binary against the local endpoint refuses,
//! before any AWS write, what the operator's policy and its baseline forbid, files that leave
//! the directory, and never echoes a token pasted where an ARN belongs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use support::{group_yaml, show, Moto};

/// `reconcile --once` over `dir`: exit 1, the expected lines on stderr, and no ECS write.
fn refused(moto: &Moto, args: &[&str], expected: &[&str]) -> String {
    moto.reset_calls();
    let out = moto.run(args);
    let text = show(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    for line in expected {
        assert!(text.contains(line), "{line}\nnot in\n{text}");
    }
    assert_eq!(moto.writes(), Vec::<String>::new(), "nothing written");
    text
}

#[test]
fn the_baseline_and_the_operators_allow_lists_refuse_before_any_write() {
    let moto = Moto::with_clusters(&["c1", "c2"]);
    // The baseline, with no policy at all: the Docker socket, host networking, root.
    moto.write(
        "groups/socket.yaml",
        &group_yaml(
            "socket",
            "c1",
            "  taskDefinitionOverrides:\n    volumes: [{name: docker, host: {sourcePath: /var/run/docker.sock}}]\n    pidMode: host\n",
        ),
    );
    moto.write(
        "groups/hostnet.yaml",
        &group_yaml("hostnet", "c1", "  networkMode: host\n"),
    );
    let container = |extra: &str| {
        format!(
            "  taskDefinitionOverrides:\n    containerDefinitions:\n      - name: ecs-delegate\n        image: harness/delegate:24.10.84200\n{extra}"
        )
    };
    moto.write(
        "groups/root.yaml",
        &group_yaml("root", "c1", &container("        user: \"0\"\n")),
    );
    moto.write(
        "groups/privileged.yaml",
        &group_yaml("privileged", "c1", &container("        privileged: true\n")),
    );
    moto.write(
        "groups/caps.yaml",
        &group_yaml(
            "caps",
            "c1",
            &container("        linuxParameters: {capabilities: {add: [SYS_ADMIN]}}\n"),
        ),
    );
    moto.write(
        "groups/sidecar.yaml",
        &group_yaml(
            "sidecar",
            "c1",
            &container("      - {name: miner, image: evil.example/miner}\n"),
        ),
    );
    refused(
        &moto,
        &["reconcile", "--once", "groups"],
        &[
            "socket.yaml:",
            "(policy rule baseline.hostVolumes)",
            "(policy rule baseline.hostPid)",
            "hostnet.yaml:",
            "spec.networkMode: host network mode shares the host's network stack (policy rule baseline.hostNetwork)",
            "root.yaml:",
            "container \"ecs-delegate\" would run as root (policy rule baseline.root)",
            "privileged.yaml:",
            "privileged containers are root on the host (policy rule baseline.privileged)",
            "caps.yaml:",
            "added Linux capabilities are not allowed (policy rule baseline.capabilities)",
            "sidecar.yaml:",
            "overrides may not add, remove or rename containers or change their image (policy rule baseline.containers)",
            "nothing was applied",
        ],
    );
    for file in ["socket", "hostnet", "root", "privileged", "caps", "sidecar"] {
        moto.remove(&format!("groups/{file}.yaml"));
    }

    // The operator's allow-lists: another cluster, an image from elsewhere, a family outside
    // the prefix, a count over the ceiling; plan refuses the same as reconcile.
    let policy = moto.operator_policy(
        "clusters: [c1]\nimages: {repositories: [harness/delegate]}\nfamilyPrefix: team-a-\ncount: {perGroup: 3}\n",
    );
    moto.write(
        "groups/wide.yaml",
        &group_yaml("wide", "c2", "")
            .replace("harness/delegate:", "evil.example/miner:")
            .replace("count: 2", "count: 9"),
    );
    for command in ["reconcile", "plan"] {
        let mut args = vec![command];
        if command == "reconcile" {
            args.push("--once");
        }
        args.extend(["groups", "--policy", &policy]);
        refused(
            &moto,
            &args,
            &[
                "spec.cluster: cluster \"c2\" is not allowed (policy rule clusters)",
                "spec.delegate.image: repository \"evil.example/miner\" is not allowed (policy rule images.repositories)",
                "metadata.name: family \"wide\" does not start with \"team-a-\" (policy rule familyPrefix)",
                "spec.count: 9 is over the ceiling of 3 (policy rule count.perGroup)",
            ],
        );
    }

    // Every other allow-list, in one group that breaks them all.
    let strict = moto.operator_policy(
        "images: {repositories: [harness/delegate], digestsOnly: true}
roles: {execution: [arn:aws:iam::123456789012:role/other-execution], task: [arn:aws:iam::123456789012:role/delegates-*]}
accounts: [arn:aws:iam::111122223333:role/edc-target]
subnets: [subnet-allowed]
securityGroups: [sg-allowed]
secretPrefixes: [\"arn:aws:secretsmanager:us-east-1:123456789012:secret:harness/\"]
launchTypes: [EC2]
managerOrigins: [\"https://harness.example.com\"]
count: {total: 1}
resources: {maxCpu: 512, maxMemory: 2048}
",
    );
    moto.write(
        "groups/wide.yaml",
        &plan::DesiredGroup::test("wide")
            .cluster("c1")
            .fargate("subnet-elsewhere")
            .spec("  roles: {execution: arn:aws:iam::123456789012:role/ecsTaskExecutionRole, task: arn:aws:iam::123456789012:role/admin}")
            .spec("  account: {roleArn: \"arn:aws:iam::444455556666:role/other\"}")
            .yaml()
            .replace("  roles:\n    execution: arn:aws:iam::123456789012:role/ecsTaskExecutionRole\n", "")
            .replace("{subnets: [subnet-elsewhere]}", "{subnets: [subnet-elsewhere], securityGroups: [sg-elsewhere]}"),
    );
    refused(
        &moto,
        &["plan", "groups", "--policy", &strict],
        &[
            "(policy rule images.digestsOnly)",
            "(policy rule roles.execution)",
            "(policy rule roles.task)",
            "(policy rule accounts)",
            "(policy rule subnets)",
            "(policy rule securityGroups)",
            "(policy rule secretPrefixes)",
            "(policy rule launchTypes)",
            "spec.delegate.managerUrl: origin \"https://app.harness.io\" is not allowed (the delegates send their token there) (policy rule managerOrigins)",
            "(policy rule count.total)",
            "(policy rule resources.maxCpu)",
            "(policy rule resources.maxMemory)",
        ],
    );

    // Within the policy, the same files apply.
    moto.write("groups/wide.yaml", &group_yaml("team-a-ok", "c1", ""));
    moto.run_ok(&["reconcile", "--once", "groups", "--policy", &policy]);
    assert!(moto.writes().contains(&"CreateService".to_owned()));

    // A policy inside the watched directory would be the authors' to change: refused.
    let inside = moto.write(
        "groups/policy/operator.yaml",
        "apiVersion: ecs-delegate-controller.io/v1alpha1\nkind: GuardrailPolicy\nbaseline: false\n",
    );
    let out = moto.run(&[
        "validate",
        "groups",
        "--policy",
        &inside.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        show(&out).contains("keep the policy outside the watched paths"),
        "{}",
        show(&out)
    );
}

#[test]
fn links_out_of_the_directory_and_devices_are_refused_and_a_pasted_token_is_never_echoed() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("groups/a.yaml", &group_yaml("a", "c1", ""));
    let groups = moto.path().join("groups");
    std::os::unix::fs::symlink("/dev/zero", groups.join("zero.yaml")).unwrap();
    std::os::unix::fs::symlink("/", groups.join("everything")).unwrap();
    let text = refused(
        &moto,
        &["reconcile", "--once", "groups"],
        &[
            "groups/everything: error: symlink to a path outside",
            "groups/zero.yaml: error: symlink to a path outside",
        ],
    );
    assert_eq!(text.matches("error:").count(), 2, "{text}");
    std::fs::remove_file(groups.join("zero.yaml")).unwrap();
    std::fs::remove_file(groups.join("everything")).unwrap();

    // A token pasted into secretArn: "not an ARN", the value never shown.
    let pasted = "pat.0123456789abcdef.ZZsecretZZ";
    moto.write(
        "groups/a.yaml",
        &group_yaml("a", "c1", "").replace(
            "secretArn: \"arn:aws:secretsmanager:us-east-1:123456789012:secret:delegate-token\"",
            &format!("secretArn: \"{pasted}\""),
        ),
    );
    let text = refused(
        &moto,
        &["reconcile", "--once", "groups"],
        &["spec.delegate.token.secretArn: not an ARN"],
    );
    assert!(!text.contains("ZZsecretZZ"), "{text}");
}
