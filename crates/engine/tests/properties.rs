//! Properties of the pure core and the pass, for random valid groups over random observed
//! states (the in-memory fake, seeded with services of this controller, of another controller
//! and of nobody): planning is deterministic, applying converges within a bounded number of
//! passes after which the plan is empty, and no pass changes a service this controller does not
//! own.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::BTreeMap;
use std::sync::Arc;

use client::fake::FakeAws;
use ecs_delegate_engine::{AlwaysOpen, Engine, Mode, Scope};
use plan::{DesiredGroup, ObservedService, PlanOptions};
use proptest::prelude::*;

const REGION: &str = "us-east-1";
const CLUSTERS: [&str; 2] = ["c1", "c2"];
/// Passes allowed to converge: create, then at most a correction after the scheduler settles.
const MAX_PASSES: usize = 4;

/// A group as the strategy draws it.
#[derive(Debug, Clone)]
struct GroupDraw {
    count: i64,
    cluster: usize,
    tasks_mode: bool,
    fargate: bool,
}

/// What stands in ECS before the first pass, for one group's service name.
#[derive(Debug, Clone, Copy)]
enum Existing {
    Nothing,
    /// Created by hand, no tags: never to be touched.
    Foreign,
    /// Managed by another controller id: never to be touched.
    OtherController,
    /// Ours, with a drifted count.
    OursDrifted(i32),
}

fn group_draw() -> impl Strategy<Value = GroupDraw> {
    (0_i64..4, 0..CLUSTERS.len(), any::<bool>(), any::<bool>()).prop_map(
        |(count, cluster, tasks_mode, fargate)| GroupDraw {
            count,
            cluster,
            tasks_mode,
            fargate,
        },
    )
}

fn existing() -> impl Strategy<Value = Existing> {
    prop_oneof![
        3 => Just(Existing::Nothing),
        1 => Just(Existing::Foreign),
        1 => Just(Existing::OtherController),
        1 => (0_i32..9).prop_map(Existing::OursDrifted),
    ]
}

fn build(i: usize, draw: &GroupDraw) -> DesiredGroup {
    let mut fixture = DesiredGroup::test(&format!("g{i}"))
        .cluster(CLUSTERS[draw.cluster])
        .count(draw.count);
    if draw.fargate {
        fixture = fixture.fargate("subnet-0a1b");
    }
    if draw.tasks_mode {
        fixture = fixture.tasks_mode();
    }
    fixture.build()
}

fn engine() -> Engine<FakeAws> {
    let fake = FakeAws::new();
    for cluster in CLUSTERS {
        fake.add_cluster(REGION, cluster);
        // Room for every draw (at most 5 groups of 3 tasks of 6 GiB in one cluster): a group
        // that cannot be placed is rightly never converged.
        for _ in 0..3 {
            fake.add_instance(REGION, cluster, 16384, 65536);
        }
    }
    fake.add_role("ecsTaskExecutionRole", &["ecs-tasks.amazonaws.com"]);
    Engine::new(
        fake,
        PlanOptions {
            controller_id: "default".into(),
            ..PlanOptions::default()
        },
        4,
    )
}

fn seed(fake: &FakeAws, group: &DesiredGroup, existing: Existing) {
    let cluster = &group.group.spec.cluster;
    let name = group.service_name();
    let arn = format!("arn:aws:ecs:{REGION}:123456789012:service/{cluster}/{name}");
    let tags = |owner: &str| {
        BTreeMap::from([
            (spec::render::TAG_MANAGED_BY.to_owned(), owner.to_owned()),
            (spec::render::TAG_GROUP.to_owned(), group.name().to_owned()),
        ])
    };
    let service = |desired_count, tags| ObservedService {
        name: name.to_owned(),
        arn: arn.clone(),
        status: "ACTIVE".into(),
        desired_count,
        tags,
        ..ObservedService::default()
    };
    match existing {
        Existing::Nothing => {}
        Existing::Foreign => fake.insert_service(REGION, cluster, service(5, BTreeMap::new())),
        Existing::OtherController => {
            fake.insert_service(REGION, cluster, service(5, tags("someone-else")));
        }
        Existing::OursDrifted(count) => {
            fake.insert_service(REGION, cluster, service(count, tags("default")));
        }
    }
}

/// Every service the fake holds that this controller does not own, as it stands, less what
/// ECS's scheduler changes on its own (running and pending counts, deployments: the fake's
/// `settle` plays the scheduler for every service).
fn not_ours(
    fake: &FakeAws,
    groups: &[Arc<DesiredGroup>],
) -> Vec<(String, Option<ObservedService>)> {
    groups
        .iter()
        .map(|g| {
            let s = fake
                .service(REGION, &g.group.spec.cluster, g.service_name())
                .map(|s| ObservedService {
                    running_count: 0,
                    pending_count: 0,
                    deployments: Vec::new(),
                    ..s
                });
            (g.name().to_owned(), s)
        })
        .filter(|(_, s)| {
            s.as_ref().is_some_and(|s| {
                s.tags.get(spec::render::TAG_MANAGED_BY).map(String::as_str) != Some("default")
            })
        })
        .collect()
}

async fn plan_json(engine: &Engine<FakeAws>, groups: &[Arc<DesiredGroup>]) -> serde_json::Value {
    let plan = engine
        .pass(&Scope::all(), groups, Mode::Plan, None, &AlwaysOpen)
        .await
        .plan();
    plan::output::to_json(&plan)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn planning_is_deterministic_applying_converges_and_foreign_services_stay_untouched(
        draws in prop::collection::vec((group_draw(), existing()), 1..6)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let engine = engine();
            let groups: Vec<Arc<DesiredGroup>> = draws
                .iter()
                .enumerate()
                .map(|(i, (draw, _))| Arc::new(build(i, draw)))
                .collect();
            for (group, (_, existing)) in groups.iter().zip(&draws) {
                seed(engine.api(), group, *existing);
            }
            let foreign_before = not_ours(engine.api(), &groups);

            // Deterministic: the same state planned twice gives the same plan.
            let first = plan_json(&engine, &groups).await;
            let again = plan_json(&engine, &groups).await;
            prop_assert_eq!(&first, &again);

            // Converges within MAX_PASSES applying passes (ECS's scheduler settling between).
            let mut converged = false;
            for _ in 0..MAX_PASSES {
                engine
                    .pass(&Scope::all(), &groups, Mode::Apply, None, &AlwaysOpen)
                    .await;
                engine.api().settle();
                let plan = engine
                    .pass(&Scope::all(), &groups, Mode::Plan, None, &AlwaysOpen)
                    .await
                    .plan();
                if !plan.has_changes() {
                    converged = true;
                    break;
                }
            }
            let last = plan_json(&engine, &groups).await;
            prop_assert!(converged, "not converged after {} passes: {}", MAX_PASSES, last);

            // Nothing this controller does not own was changed, and only those groups fail.
            prop_assert_eq!(not_ours(engine.api(), &groups), foreign_before.clone());
            for (name, _) in &foreign_before {
                let planned = last["changes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["group"] == name.as_str());
                prop_assert!(!planned, "a change planned for {}'s foreign service: {}", name, last);
            }
            Ok(())
        })?;
    }
}
