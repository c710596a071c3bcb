//! The first run against a real account, before any set-up (issue 26): no region, no
//! credentials, an unknown profile, an empty directory. Each is one line that says what to do,
//! with exit 1 (or a warning), and none of the SDK's own warnings at the default level. The
//! instance metadata endpoint is never asked (AWS_EC2_METADATA_DISABLED), and nothing is sent
//! anywhere: the endpoint is a closed loopback port.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::path::PathBuf;
use std::process::Output;

use support::proxy::{Faults, Proxy};
use support::{assert_has, binary, group_yaml, repo, show, Moto};

/// A home with no ~/.aws and no AWS variable but those given.
fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = std::env::temp_dir().join(format!("edc-first-run-home-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let mut command = binary();
    for (key, _) in std::env::vars() {
        if key.starts_with("AWS_") {
            command.env_remove(&key);
        }
    }
    command
        .args(args)
        .current_dir(repo())
        .env("HOME", &home)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env_remove("RUST_LOG")
        .envs(env.iter().copied());
    command.output().unwrap()
}

fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(str::to_owned)
        .collect()
}

fn quiet(out: &Output) {
    let text = show(out);
    // The SDK's own targets (aws_config, aws_smithy_*, aws_runtime); the controller's own
    // warnings (a failed write) are its audit record.
    assert!(
        !text.contains("WARN aws_"),
        "an SDK warning at the default level: {text}"
    );
    assert!(
        !text.contains("SdkBody") && !text.contains("Extensions {"),
        "{text}"
    );
}

#[test]
fn no_credentials_is_one_line_with_the_fix() {
    let out = run(&["plan", "examples"], &[("AWS_REGION", "us-east-1")]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        stderr_lines(&out),
        ["error: no AWS credentials found: tried the environment (AWS_ACCESS_KEY_ID), the shared files (profile \"default\"), web identity, the ECS container and instance metadata; run `aws configure`, `aws sso login`, or set AWS_PROFILE"]
    );
    assert!(out.stdout.is_empty());
    quiet(&out);
}

#[test]
fn an_unknown_profile_is_named() {
    let out = run(
        &["plan", "examples"],
        &[("AWS_REGION", "us-east-1"), ("AWS_PROFILE", "nosuch")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        stderr_lines(&out),
        ["error: AWS profile \"nosuch\" is not defined in ~/.aws/config or ~/.aws/credentials: list them with `aws configure list-profiles`, or unset AWS_PROFILE"]
    );
    quiet(&out);
}

#[test]
fn no_region_names_the_group_and_the_fix_without_sdk_noise() {
    let out = run(
        &["plan", "examples/ec2-bridge.yaml"],
        &[
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].ends_with(
            "has no spec.region and no default region is configured (set --region or AWS_REGION)"
        ),
        "{lines:?}"
    );
    quiet(&out);
}

#[test]
fn an_empty_directory_is_a_warning_or_with_the_flag_an_error() {
    let empty: PathBuf =
        std::env::temp_dir().join(format!("edc-first-run-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let dir = empty.display().to_string();
    let creds = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
    ];
    let out = run(&["plan", &dir], &creds);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        stderr_lines(&out),
        [format!("warning: no DelegateGroup in {dir}; nothing to do (--fail-on-empty makes this an error)")]
    );
    let out = run(&["reconcile", "--once", "--fail-on-empty", &dir], &creds);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert_eq!(
        stderr_lines(&out),
        [format!("error: no DelegateGroup in {dir}")]
    );
    quiet(&out);
}

/// IAM refuses one action (through a proxy answering as AWS does): the group's error carries
/// AWS's message, with the action and the resource it named, and the statement of
/// deploy/iam-policy.json that grants the action.
#[test]
fn an_access_denial_names_the_action_and_the_statement_that_grants_it() {
    let moto = Moto::with_clusters(&["c1"]);
    moto.write("g.yaml", &group_yaml("g", "c1", ""));
    let proxy = Proxy::start(
        moto.port(),
        Faults {
            deny: vec!["CreateService"],
            ..Faults::default()
        },
    );
    let out = moto.run_via(&proxy, &["reconcile", "--once", "g.yaml"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let text = show(&out);
    assert_has(&text, "g (c1): error: CreateService: User: arn:aws:sts::123456789012:assumed-role/ecs-delegate-controller/edc is not authorized to perform: ecs:CreateService on resource: arn:aws:ecs:us-east-1:123456789012:service/c1/g because no identity-based policy allows the ecs:CreateService action (deploy/iam-policy.json grants ecs:CreateService in statement CreateTaggedServicesInTheDelegateClusters: give the controller's role that statement, with its conditions)");
    quiet(&out);
}
