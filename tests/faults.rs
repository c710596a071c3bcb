//! Reliability under faults, end to end: throttles and 5xx, lost answers, SIGKILL at random
//! moments, and ECS's token buckets. The binary talks to moto through a fault-injecting proxy;
//! the checks read moto directly.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

mod support;

use std::collections::HashMap;
use std::time::Duration;

use support::proxy::{Faults, Proxy};
use support::{group_yaml, show, Moto};

fn write_groups(moto: &Moto, n: usize) {
    for i in 0..n {
        moto.write(
            &format!("groups/g{i:03}.yaml"),
            &group_yaml(&format!("g{i:03}"), "c1", ""),
        );
    }
}

/// Revisions per family and ACTIVE services per name, read from moto directly.
fn inventory(moto: &Moto) -> (HashMap<String, usize>, HashMap<String, usize>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let ecs = moto.ecs().await;
        let mut revisions: HashMap<String, usize> = HashMap::new();
        let tds = ecs.list_task_definitions().send().await.unwrap();
        for arn in tds.task_definition_arns() {
            let family = arn
                .rsplit('/')
                .next()
                .unwrap()
                .rsplit_once(':')
                .unwrap()
                .0
                .to_owned();
            *revisions.entry(family).or_default() += 1;
        }
        let mut services: HashMap<String, usize> = HashMap::new();
        // ECS pages ListServices (at most 100 a page).
        let mut arns = Vec::new();
        let mut pages = ecs
            .list_services()
            .cluster("c1")
            .max_results(100)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            arns.extend(page.unwrap().service_arns().iter().cloned());
        }
        for chunk in arns.chunks(10) {
            let described = ecs
                .describe_services()
                .cluster("c1")
                .set_services(Some(chunk.to_vec()))
                .send()
                .await
                .unwrap();
            for s in described
                .services()
                .iter()
                .filter(|s| s.status() == Some("ACTIVE"))
            {
                *services
                    .entry(s.service_name().unwrap().to_owned())
                    .or_default() += 1;
            }
        }
        (revisions, services)
    })
}

fn assert_converged_once(moto: &Moto, n: usize) {
    let (revisions, services) = inventory(moto);
    assert_eq!(revisions.len(), n, "{revisions:?}");
    assert!(
        revisions.values().all(|r| *r == 1),
        "exactly one revision per family: {revisions:?}"
    );
    assert_eq!(services.len(), n, "{services:?}");
    assert!(services.values().all(|s| *s == 1));
    // A following pass, straight to moto, writes nothing.
    moto.reset_calls();
    moto.run_ok(&["reconcile", "--once", "groups"]);
    assert_eq!(moto.writes(), Vec::<String>::new());
}

#[test]
fn thirty_groups_converge_through_throttles_and_503s() {
    let moto = Moto::with_clusters(&["c1"]);
    write_groups(&moto, 30);
    let proxy = Proxy::start(
        moto.port(),
        Faults {
            throttle_every: Some(3),
            fail_every: Some(7),
            ..Faults::default()
        },
    );
    let out = moto.run_via(&proxy, &["reconcile", "--once", "groups"]);
    assert!(out.status.success(), "{}", show(&out));
    let stats = proxy.stats();
    assert!(
        stats.throttled >= 10 && stats.failed >= 5,
        "faults were injected: {stats:?}"
    );
    assert_converged_once(&moto, 30);
}

#[test]
fn answers_lost_after_the_write_do_not_duplicate_anything() {
    let moto = Moto::with_clusters(&["c1"]);
    write_groups(&moto, 10);
    let proxy = Proxy::start(
        moto.port(),
        Faults {
            drop_answers_of: vec!["RegisterTaskDefinition", "CreateService"],
            ..Faults::default()
        },
    );
    let out = moto.run_via(&proxy, &["reconcile", "--once", "groups"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(
        proxy.stats().dropped,
        20,
        "every register and create lost its answer once"
    );
    assert_converged_once(&moto, 10);
}

#[test]
fn killed_at_random_moments_then_rerun_converges_without_duplicates() {
    let moto = Moto::with_clusters(&["c1"]);
    write_groups(&moto, 20);
    // Latency stretches a run to a couple of seconds so that kills land mid-way.
    let proxy = Proxy::start(
        moto.port(),
        Faults {
            latency: Duration::from_millis(30),
            ..Faults::default()
        },
    );
    // Pseudo-random but reproducible moments (a fixed-seed LCG).
    let mut seed: u64 = 0x5eed;
    for _ in 0..4 {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let after = Duration::from_millis(100 + (seed >> 33) % 900);
        let mut child = moto
            .command(&["reconcile", "--once", "groups"])
            .env("AWS_ENDPOINT_URL", &proxy.url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(after);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    let out = moto.run_via(&proxy, &["reconcile", "--once", "groups"]);
    assert!(out.status.success(), "{}", show(&out));
    assert_converged_once(&moto, 20);
}

/// A hundred groups converging once through a proxy that enforces ECS's token buckets
/// (sustained rates x10, test time); `limiter`: with the client limiter at the same scale.
/// The throttles the proxy answered.
fn hundred_groups_under_ecs_buckets(limiter: bool) -> (u64, std::process::Output) {
    let moto = Moto::with_clusters(&["c1"]);
    write_groups(&moto, 100);
    let proxy = Proxy::start(
        moto.port(),
        Faults {
            token_buckets: Some(10.0),
            ..Faults::default()
        },
    );
    let mut args = vec!["reconcile", "--once", "groups"];
    if limiter {
        args.splice(0..0, ["--api-rate-scale", "10"]);
    }
    let out = moto.run_via(&proxy, &args);
    if limiter {
        assert_converged_once(&moto, 100);
    }
    (proxy.stats().throttled, out)
}

#[test]
fn at_ecs_rates_the_client_limiter_keeps_a_hundred_groups_clear_of_throttles() {
    let (with_limiter, out) = hundred_groups_under_ecs_buckets(true);
    assert!(out.status.success(), "{}", show(&out));
    assert!(String::from_utf8_lossy(&out.stdout)
        .contains("Reconciled 100 groups: 100 changed, 0 in sync, 0 failed."));
    // The buckets refill continuously and the client's start is not the server's: a throttle
    // or two at the edge is absorbed by the retries; a limiter that does nothing meets dozens.
    assert!(
        with_limiter <= 3,
        "{with_limiter} throttles with the limiter"
    );
    let (without_limiter, _) = hundred_groups_under_ecs_buckets(false);
    eprintln!("throttles: {with_limiter} with the limiter, {without_limiter} without");
    assert!(
        without_limiter >= 10 * with_limiter.max(1),
        "{without_limiter} throttles without the limiter, {with_limiter} with it"
    );
}
