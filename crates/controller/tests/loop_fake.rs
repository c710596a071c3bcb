//! The loop in process, over the in-memory fake, with tokio's clock paused: every delay (the
//! resync interval, the backoff, the progress requeue) is exact and instant to wait for.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client::fake::FakeAws;
use client::Operation;
use ecs_delegate_controller_loop::controller::{Controller, Settings};
use ecs_delegate_controller_loop::metrics::ControllerMetrics;
use ecs_delegate_controller_loop::source::{
    DesiredSource, Load, Snapshot, SourceError, WatchGuard,
};
use ecs_delegate_controller_loop::SharedStatus;
use engine::{AlwaysOpen, Backoff, Engine, Retries, Scope};
use plan::{DesiredGroup, PlanOptions};
use tokio::sync::{mpsc, oneshot};

const REGION: &str = "us-east-1";

/// Desired state held in memory; `set` replaces it and wakes the loop.
#[derive(Clone, Default)]
struct MemorySource {
    groups: Arc<Mutex<Vec<DesiredGroup>>>,
    wake: Arc<Mutex<Option<mpsc::Sender<()>>>>,
}

impl MemorySource {
    fn set(&self, groups: Vec<DesiredGroup>) {
        *self.groups.lock().unwrap() = groups;
        if let Some(tx) = self.wake.lock().unwrap().as_ref() {
            let _ = tx.try_send(());
        }
    }
}

impl DesiredSource for MemorySource {
    async fn load(&self) -> Result<Load, SourceError> {
        let groups: BTreeMap<String, DesiredGroup> = self
            .groups
            .lock()
            .unwrap()
            .iter()
            .map(|g| (g.name().to_owned(), g.clone()))
            .collect();
        Ok(Load::Changed(Snapshot {
            git: None,
            revision: format!("{}", groups.len()),
            groups,
        }))
    }

    fn watch(&self, tx: mpsc::Sender<()>) -> Result<WatchGuard, String> {
        *self.wake.lock().unwrap() = Some(tx);
        Ok(Box::new(()))
    }
}

struct Running {
    fake: FakeAws,
    source: MemorySource,
    status: SharedStatus,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.await.unwrap();
    }

    fn count(&self, name: &str) -> Option<i32> {
        self.fake
            .service(REGION, "c1", name)
            .map(|s| s.desired_count)
    }
}

/// The loop over `groups`, resync every 60 s, exact backoff (no jitter).
fn start(groups: Vec<DesiredGroup>) -> Running {
    let fake = FakeAws::new();
    fake.add_cluster(REGION, "c1");
    fake.add_role("ecsTaskExecutionRole", &["ecs-tasks.amazonaws.com"]);
    let source = MemorySource::default();
    source.set(groups);
    let backoff = Backoff {
        randomization: 0.0,
        ..Backoff::default()
    };
    let engine = Engine::with_retries(
        fake.clone(),
        PlanOptions {
            controller_id: "default".into(),
            allow_replace: false,
        },
        4,
        Retries::new(backoff, Duration::from_secs(10)),
    );
    let status = SharedStatus::default();
    let controller = Controller::new(
        engine,
        source.clone(),
        Scope::all(),
        Arc::new(AlwaysOpen),
        Settings {
            interval: Duration::from_secs(60),
            ..Settings::default()
        },
        Arc::clone(&status),
        ControllerMetrics::default(),
    );
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(controller.run(async {
        let _ = stopped.await;
    }));
    Running {
        fake,
        source,
        status,
        stop: Some(stop),
        task,
    }
}

/// Lets the loop run for `d` of (paused) time.
async fn run_for(d: Duration) {
    let step = Duration::from_millis(50);
    let mut left = d;
    while left > Duration::ZERO {
        tokio::time::sleep(step.min(left)).await;
        left = left.saturating_sub(step);
    }
}

fn calls(fake: &FakeAws, operation: Operation) -> usize {
    fake.calls()
        .iter()
        .filter(|c| *c == operation.name())
        .count()
}

#[tokio::test(start_paused = true)]
async fn drift_is_put_back_at_the_resync_and_not_before() {
    let running = start(vec![DesiredGroup::test("d1").build()]);
    run_for(Duration::from_secs(1)).await;
    assert_eq!(running.count("d1"), Some(2), "created at once");
    running.fake.settle();
    run_for(Duration::from_secs(15)).await; // the progress requeue sees it steady
    running.fake.clear_calls();

    running
        .fake
        .edit_service(REGION, "c1", "d1", |s| s.desired_count = 5);
    // The first resync comes 54 to 66 s after the start (60 s, jittered by 10 %); it is 16 s.
    run_for(Duration::from_secs(30)).await;
    assert_eq!(
        running.count("d1"),
        Some(5),
        "nothing happens between resyncs"
    );
    assert!(running.fake.writes().is_empty());

    run_for(Duration::from_secs(30)).await; // 76 s: past the latest first resync
    assert_eq!(
        running.count("d1"),
        Some(2),
        "the resync put the count back"
    );
    assert_eq!(running.fake.writes(), ["UpdateService"]);
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_throttled_group_backs_off_exponentially_then_converges() {
    let running = start(Vec::new());
    // Four passes meet a throttle; the fifth goes through.
    running.fake.throttle(Operation::DescribeServices, 4);
    running.source.set(vec![DesiredGroup::test("d1").build()]);
    // Attempts at 0 s, then after backoffs of 1, 2, 4 and 8 s: at 1, 3, 7 and 15 s. Looked at
    // half-way through each second, the count of attempts so far:
    run_for(Duration::from_millis(500)).await;
    let mut seen = vec![calls(&running.fake, Operation::DescribeServices)];
    for _ in 0..16 {
        run_for(Duration::from_secs(1)).await;
        seen.push(calls(&running.fake, Operation::DescribeServices));
    }
    assert_eq!(
        seen,
        [1, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 5, 5],
        "attempts by t = 0.5 s, 1.5 s, ..."
    );
    assert_eq!(
        running.count("d1"),
        Some(2),
        "converged after the throttles"
    );
    running.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_changed_source_is_applied_at_once_and_status_follows() {
    let running = start(vec![DesiredGroup::test("d1").build()]);
    run_for(Duration::from_secs(1)).await;
    running.fake.settle();
    run_for(Duration::from_secs(11)).await;
    {
        let status = ecs_delegate_controller_loop::status::read(&running.status);
        assert!(status.is_ready());
        assert!(status.groups["d1"].is_ready(), "{:?}", status.groups["d1"]);
    }
    running
        .source
        .set(vec![DesiredGroup::test("d1").count(4).build()]);
    run_for(Duration::from_secs(1)).await;
    assert_eq!(running.count("d1"), Some(4), "well before the resync");
    running.stop().await;
}
