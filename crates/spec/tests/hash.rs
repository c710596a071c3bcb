//! The spec-hash is stable under reordering of what users write, and changes with what ECS gets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use ecs_delegate_spec::{parse_group, render, DelegateGroup};

const GROUP: &str = r#"
apiVersion: ecs-delegate-controller.io/v1alpha1
kind: DelegateGroup
metadata: {name: hashed}
spec:
  cluster: delegates
  count: 2
  roles: {execution: "arn:aws:iam::123456789012:role/exec", task: "arn:aws:iam::123456789012:role/task"}
  selectors: [a, b]
  delegate:
    image: harness/delegate:1
    accountId: abc
    managerUrl: https://app.harness.io
    token: {secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:t"}
    env: {ZETA: "1", ALPHA: "2"}
"#;

/// The same group with every mapping written in another order.
const REORDERED: &str = r#"
kind: DelegateGroup
spec:
  delegate:
    env: {ALPHA: "2", ZETA: "1"}
    token: {secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:t"}
    managerUrl: https://app.harness.io
    accountId: abc
    image: harness/delegate:1
  selectors: [a, b]
  roles: {task: "arn:aws:iam::123456789012:role/task", execution: "arn:aws:iam::123456789012:role/exec"}
  count: 2
  cluster: delegates
metadata: {name: hashed}
apiVersion: ecs-delegate-controller.io/v1alpha1
"#;

fn hash_of(group: &DelegateGroup) -> String {
    render(group, "us-east-1").unwrap().spec_hash
}

fn group(text: &str) -> DelegateGroup {
    parse_group(text).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn reordering_keys_and_env_entries_keeps_the_hash() {
    assert_eq!(hash_of(&group(GROUP)), hash_of(&group(REORDERED)));
}

#[test]
fn env_order_inside_overrides_keeps_the_hash() {
    let with = |env: &str| {
        group(&format!(
            "{GROUP}  taskDefinitionOverrides:\n    containerDefinitions:\n      - name: ecs-delegate\n        image: x\n        environment: {env}\n"
        ))
    };
    let a = with(r#"[{name: A, value: "1"}, {name: B, value: "2"}]"#);
    let b = with(r#"[{name: B, value: "2"}, {name: A, value: "1"}]"#);
    assert_eq!(hash_of(&a), hash_of(&b));
}

#[test]
fn the_count_is_not_part_of_the_task_definition_hash() {
    assert_eq!(
        hash_of(&group(GROUP)),
        hash_of(&group(&GROUP.replace("count: 2", "count: 5")))
    );
}

#[test]
fn every_rendered_change_changes_the_hash() {
    let base = hash_of(&group(GROUP));
    for (from, to) in [
        ("harness/delegate:1", "harness/delegate:2"),
        ("accountId: abc", "accountId: abd"),
        ("selectors: [a, b]", "selectors: [b, a]"),
        ("ZETA: \"1\"", "ZETA: \"3\""),
        ("role/task", "role/other"),
        ("secret:t", "secret:u"),
        (
            "count: 2",
            "count: 2\n  resources: {cpu: 2048, memory: 6144}",
        ),
        // count is not in the task definition: the difference is the hostname's.
        ("count: 2", "count: 1\n  hostname: d1"),
    ] {
        assert!(GROUP.contains(from), "{from}");
        assert_ne!(
            base,
            hash_of(&group(&GROUP.replacen(from, to, 1))),
            "{from} -> {to}"
        );
    }
}

#[test]
fn the_hash_is_the_same_on_every_machine() {
    // Pinned: a change here makes every deployed group register a new revision.
    assert_eq!(hash_of(&group(GROUP)).len(), 32);
    insta::assert_snapshot!(hash_of(&group(GROUP)));
}
