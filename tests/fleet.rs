//! Fleet operations against the local endpoint: a count someone else owns, change windows.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use support::{assert_has, show, status_json, Moto};

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
    moto.ecs_call(
        "UpdateService",
        &serde_json::json!({"cluster": "c1", "service": "g", "desiredCount": 3}).to_string(),
    );
    for pass in 0..3 {
        moto.reset_calls();
        let out = moto.run_ok(&["reconcile", "--once", "g.yaml"]);
        assert!(
            moto.ecs_writes().is_empty(),
            "pass {pass}: {:?}\n{}",
            moto.ecs_writes(),
            show(&out)
        );
    }
    assert_eq!(moto.desired("c1", "g"), Some(3));
    let status = status_json(&moto, "g.yaml");
    assert_eq!(status["groups"][0]["desired"], 3, "{status:#}");
    let plan = moto.run_ok(&["plan", "g.yaml"]);
    assert_has(&String::from_utf8_lossy(&plan.stdout), "No changes");
}
