//! The engine against the in-memory fake.

use super::*;
use crate::fake::FakeEcs;

fn group(name: &str, cluster: &str, extra: &str) -> DesiredGroup {
    let text = format!(
        r#"
apiVersion: ecs-delegate-controller.io/v1alpha1
kind: DelegateGroup
metadata: {{name: {name}}}
spec:
  cluster: {cluster}
  count: 2
  roles: {{execution: "arn:aws:iam::123456789012:role/exec"}}
  delegate:
    image: harness/delegate:1
    accountId: abc
    managerUrl: https://app.harness.io
    token: {{secretArn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:t"}}
{extra}"#
    );
    DesiredGroup::new(
        spec::parse_group(&text).unwrap_or_else(|e| panic!("{e}")),
        "us-east-1",
    )
    .unwrap()
}

fn engine() -> Engine<FakeEcs> {
    let fake = FakeEcs::new();
    fake.add_cluster("us-east-1", "c1");
    fake.add_cluster("us-east-1", "c2");
    Engine::new(
        fake,
        PlanOptions {
            controller_id: "default".into(),
        },
        4,
    )
}

async fn pass(engine: &Engine<FakeEcs>, groups: &[DesiredGroup]) -> Vec<GroupOutcome> {
    let plan = engine.plan(groups).await;
    engine.apply(groups, &plan).await
}

#[tokio::test]
async fn converges_then_a_second_pass_only_describes() {
    let e = engine();
    let groups: Vec<_> = (0..25).map(|i| group(&format!("g{i}"), "c1", "")).collect();
    let outcomes = pass(&e, &groups).await;
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    assert_eq!(
        e.api()
            .writes()
            .iter()
            .filter(|c| *c == "CreateService")
            .count(),
        25
    );
    e.api().clear_calls();
    let plan = e.plan(&groups).await;
    assert!(!plan.has_changes());
    assert_eq!(
        e.api().calls(),
        ["DescribeServices"; 3],
        "ceil(25/10) describes, nothing else"
    );
}

#[tokio::test]
async fn identical_documents_share_one_registration() {
    let e = engine();
    // Same family (via overrides) and same rendered document in two clusters.
    let extra = "  taskDefinitionOverrides: {family: shared}\n";
    let mut a = group("a", "c1", extra);
    let mut b = group("b", "c2", extra);
    // Make the documents identical: the delegate name differs by group, so pin it.
    for d in [&mut a, &mut b] {
        d.rendered.task_definition.container_definitions[0]
            .environment
            .retain(|kv| kv.name != "DELEGATE_NAME");
        d.rendered.spec_hash = spec::hash::spec_hash(&d.rendered.task_definition);
    }
    let outcomes = pass(&e, &[a, b]).await;
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    assert_eq!(e.api().revisions("us-east-1", "shared").len(), 1);
}

#[tokio::test]
async fn a_crash_after_registering_reuses_the_revision() {
    let e = engine();
    let g = group("g", "c1", "");
    // First run registered, then died before CreateService.
    let tags = plan::desired::to_tag_list(&g.ownership_tags("default"));
    e.api()
        .register_task_definition("us-east-1", &g.rendered.task_definition, &tags)
        .await
        .unwrap();
    pass(&e, std::slice::from_ref(&g)).await;
    assert_eq!(e.api().revisions("us-east-1", "g").len(), 1);
    assert!(e.api().service("us-east-1", "c1", "g").is_some());
}

#[tokio::test]
async fn failures_stay_with_their_group() {
    let e = engine();
    let good = group("good", "c1", "");
    let missing_cluster = group("lost", "nowhere", "");
    let unmanaged = group("taken", "c1", "");
    e.api().insert_service(
        "us-east-1",
        "c1",
        ObservedService {
            name: "taken".into(),
            arn: "arn:aws:ecs:us-east-1:123456789012:service/c1/taken".into(),
            status: "ACTIVE".into(),
            desired_count: 7,
            ..ObservedService::default()
        },
    );
    let outcomes = pass(&e, &[good, missing_cluster, unmanaged]).await;
    assert_eq!(outcomes[0].error, None);
    assert!(outcomes[1].error.as_deref().unwrap().contains("nowhere"));
    assert!(outcomes[2]
        .error
        .as_deref()
        .unwrap()
        .contains("not managed by this controller"));
    let taken = e.api().service("us-east-1", "c1", "taken").unwrap();
    assert_eq!(
        (taken.desired_count, taken.tags.len()),
        (7, 0),
        "left exactly as it was"
    );
}

#[tokio::test]
async fn drift_is_put_back_and_revisions_are_cached() {
    let e = engine();
    let g = group("g", "c1", "");
    pass(&e, std::slice::from_ref(&g)).await;
    e.api().edit_service("us-east-1", "c1", "g", |s| {
        s.desired_count = 9;
        s.task_definition = "g:1".into();
    });
    e.api().clear_calls();
    let outcomes = pass(&e, std::slice::from_ref(&g)).await;
    assert!(outcomes[0].error.is_none());
    let s = e.api().service("us-east-1", "c1", "g").unwrap();
    assert_eq!(s.desired_count, 2);
    assert!(s.task_definition.ends_with("task-definition/g:1"));
    assert!(!e
        .api()
        .calls()
        .contains(&"RegisterTaskDefinition".to_owned()));
    // The revision registered in the first pass is known: only g:1 (a new key) is described.
    assert_eq!(
        e.api()
            .calls()
            .iter()
            .filter(|c| *c == "DescribeTaskDefinition")
            .count(),
        2
    );
}

#[tokio::test]
async fn a_count_change_is_a_single_update_call() {
    let e = engine();
    let g = group("g", "c1", "");
    pass(&e, std::slice::from_ref(&g)).await;
    e.api().clear_calls();
    let scaled = group("g", "c1", "").group.clone();
    let mut scaled = scaled;
    scaled.spec.count = 4;
    let scaled = DesiredGroup::new(scaled, "us-east-1").unwrap();
    pass(&e, std::slice::from_ref(&scaled)).await;
    assert_eq!(e.api().writes(), ["UpdateService"]);
    assert_eq!(
        e.api()
            .service("us-east-1", "c1", "g")
            .unwrap()
            .desired_count,
        4
    );
}
