//! The reconcile loop: source -> queue -> passes of the engine -> status, until shut down.
//!
//! ```text
//! select! { biased;
//!     shutdown            -> stop taking work, let passes in flight finish (bounded), return
//!     a pass finished     -> status, metrics, requeue as the error policy says
//!     a reload finished   -> changed groups due now (all of them at a resync)
//!     the source changed  -> reload
//!     resync timer        -> reload; every group due now (drift is put back here); prune
//!     groups due          -> one pass over all of them, observed together
//! }
//! ```
//!
//! Decisions (what to change, when to retry, what to prune) are the engine's and the plan's;
//! the loop only schedules.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use client::ClientProvider;
use engine::{Engine, GroupId, Mode, PassReport, PruneLimits, Scope, WriteGate};
use plan::DesiredGroup;
use rand::Rng as _;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tracing::{debug, error, info, warn, Instrument as _};

use crate::events::{Batch, EventsConfig, Router, SharedQueueStatus, Verdict};
use crate::history::{self, EventType};
use crate::metrics::{ControllerMetrics, EventDropLabels, EventLabels, EventMetrics, GroupLabels};
use crate::notify::{Notice, NoticeKind, Notifier};
use crate::page::State;
use crate::queue::WorkQueue;
use crate::source::{DesiredSource, Load, SourceError};
use crate::status::{write, SharedStatus, StatusState};

mod pruning;
mod record;
mod reload;
mod routing;

use record::log_connection;

/// How the loop behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Every group is reconciled at least this often (with ±10 % jitter).
    pub interval: Duration,
    /// Plan only; never write.
    pub dry_run: bool,
    /// How long in-flight work may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Passes in flight at once (each a batch of groups; AWS calls within a pass are bounded by
    /// the engine's concurrency).
    pub max_passes: usize,
    /// Wait this long after a file event for the rest of a multi-file write.
    pub debounce: Duration,
    /// `--prune` with its `--max-prune`: at each resync, remove the groups no longer in the
    /// files (never after an invalid load).
    pub prune: Option<usize>,
    /// Called after each pass's results are recorded, when the pass's garbage has just been
    /// freed (the binary hands that memory back to the system here: `src/memory.rs`).
    pub after_pass: Option<fn()>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(60),
            dry_run: false,
            shutdown_grace: Duration::from_secs(20),
            max_passes: 4,
            debounce: Duration::from_millis(100),
            prune: None,
            after_pass: None,
        }
    }
}

/// A pass handed back to the loop.
struct PassDone {
    report: PassReport,
    elapsed: Duration,
}

/// A load of the source handed back to the loop; `all`: a resync (every group is due).
struct Loaded {
    result: Result<Load, SourceError>,
    all: bool,
}

type Desired = BTreeMap<String, Arc<DesiredGroup>>;

/// The controller.
pub struct Controller<P, S> {
    engine: Arc<Engine<P>>,
    source: Arc<S>,
    scope: Arc<Scope>,
    gate: Arc<dyn WriteGate>,
    settings: Settings,
    status: SharedStatus,
    metrics: ControllerMetrics,
    leadership: Option<tokio::sync::watch::Receiver<u64>>,
    events: Option<Events>,
    notifier: Option<Notifier>,
}

/// Event-driven mode's parts.
struct Events {
    config: EventsConfig,
    metrics: EventMetrics,
    status: SharedQueueStatus,
}

/// What the loop keeps of event-driven mode while it runs.
struct EventLoop {
    reachable: tokio::sync::watch::Receiver<bool>,
    router: Router,
    /// Groups queued by an event, and when the earliest such event was sent.
    pending: HashMap<String, SystemTime>,
    consumer: tokio::task::JoinHandle<()>,
}

impl<P: ClientProvider + 'static, S: DesiredSource> Controller<P, S> {
    /// A controller reconciling `source` through `engine`, for the groups in `scope`, writing
    /// only while `gate` is open.
    pub fn new(
        engine: Engine<P>,
        source: S,
        scope: Scope,
        gate: Arc<dyn WriteGate>,
        settings: Settings,
        status: SharedStatus,
        metrics: ControllerMetrics,
    ) -> Self {
        Controller {
            engine: Arc::new(engine),
            source: Arc::new(source),
            scope: Arc::new(scope),
            gate,
            settings,
            status,
            metrics,
            leadership: None,
            events: None,
            notifier: None,
        }
    }

    /// Sends notices (`--notify`) of groups turning Degraded or Stalled, recovering, having
    /// drift corrected, or pruned.
    #[must_use]
    pub fn with_notifier(mut self, notifier: Option<Notifier>) -> Self {
        self.notifier = notifier;
        self
    }

    /// Reconciles the groups ECS and CloudTrail events concern as they arrive (`--events-queue`),
    /// reporting the queue's condition in `status`.
    #[must_use]
    pub fn on_events(
        mut self,
        config: Option<EventsConfig>,
        metrics: EventMetrics,
        status: Option<SharedQueueStatus>,
    ) -> Self {
        self.events = config.zip(status).map(|(config, status)| Events {
            config,
            metrics,
            status,
        });
        self
    }

    /// Reconciles every group each time `acquired` changes (this replica took the lease).
    #[must_use]
    pub fn on_leadership(mut self, acquired: Option<tokio::sync::watch::Receiver<u64>>) -> Self {
        self.leadership = acquired;
        self
    }

    /// Runs until `shutdown` completes, then lets work in flight finish (bounded by
    /// `shutdown_grace`).
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut leadership = self.leadership.take();
        let (tx, mut changes) = mpsc::channel(1);
        let _watch = match self.source.watch(tx) {
            Ok(watch) => Some(watch),
            Err(e) => {
                warn!(error = %e, "cannot watch the source; changes are seen at each resync only");
                None
            }
        };
        let mut queue = WorkQueue::new();
        let mut desired: Desired = BTreeMap::new();
        let mut passes: JoinSet<PassDone> = JoinSet::new();
        let mut loads: JoinSet<Loaded> = JoinSet::new();
        let mut prunes: JoinSet<()> = JoinSet::new();
        let (tx, mut batches) = mpsc::channel(4);
        let (reachable_tx, mut reachable) = tokio::sync::watch::channel(true);
        let events_on = self.events.is_some();
        let mut events = self.events.as_ref().map(|e| {
            info!(queue = %e.config.queue.name(), "event-driven: reconciling the groups ECS and CloudTrail events concern as they arrive");
            EventLoop {
                reachable: reachable.clone(),
                router: Router::new(e.config.identity.clone()),
                pending: HashMap::new(),
                consumer: tokio::spawn(crate::events::consume(
                    Arc::clone(&e.config.queue),
                    tx,
                    reachable_tx,
                    Arc::clone(&e.status),
                    e.metrics.clone(),
                )),
            }
        });
        self.start_load(&mut loads, true);
        let mut next_resync = Instant::now() + self.jittered_interval(events.as_ref());
        tokio::pin!(shutdown);

        loop {
            let due = queue.next_due();
            let can_start = passes.len() < self.settings.max_passes;
            tokio::select! {
                biased;
                () = &mut shutdown => {
                    info!("shutting down: no new work, waiting for work in flight");
                    break;
                }
                Some(done) = passes.join_next(), if !passes.is_empty() => match done {
                    Ok(done) => {
                        self.finish(done, &desired, &mut queue, events.as_mut());
                        if let Some(after_pass) = self.settings.after_pass {
                            after_pass();
                        }
                    }
                    Err(e) => error!(error = %e, "a reconcile pass panicked"),
                },
                Some(loaded) = loads.join_next(), if !loads.is_empty() => match loaded {
                    Ok(loaded) => {
                        let resync = loaded.all;
                        let changed = self.reloaded(loaded, &mut desired, &mut queue);
                        if let Some(events) = events.as_mut().filter(|_| changed) {
                            events.router.reindex(desired.values().map(|g| &**g));
                        }
                        if resync {
                            self.start_prune(&desired, &mut prunes);
                        }
                    }
                    Err(e) => error!(error = %e, "loading the desired state panicked"),
                },
                Some(()) = changes.recv() => {
                    // Let a multi-file write (git checkout, editor save) land before reading.
                    sleep(self.settings.debounce).await;
                    while changes.try_recv().is_ok() {}
                    info!("the desired state changed; reloading");
                    self.start_load(&mut loads, false);
                }
                () = sleep_until(next_resync) => {
                    self.start_load(&mut loads, true);
                    next_resync = Instant::now() + self.jittered_interval(events.as_ref());
                }
                Some(batch) = batches.recv(), if events_on => {
                    if let Some(events) = events.as_mut() {
                        self.route(batch, events, &desired, &mut queue);
                    }
                }
                true = went_down(&mut reachable), if events_on => {
                    // The queue went down: resync by the fallback interval from now on.
                    let sooner = Instant::now() + self.jittered_interval(events.as_ref());
                    next_resync = next_resync.min(sooner);
                }
                Some(_) = prunes.join_next(), if !prunes.is_empty() => {}
                true = acquired(&mut leadership) => {
                    info!("this replica took the lease: reconciling every group now");
                    self.start_load(&mut loads, true);
                    next_resync = Instant::now() + self.jittered_interval(events.as_ref());
                }
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() && can_start => {
                    let names = queue.take_due(Instant::now(), usize::MAX);
                    self.start_pass(names, &desired, &mut queue, &mut passes);
                }
            }
            self.metrics.queue_depth.set(gauge(queue.len()));
            self.metrics.in_flight.set(gauge(queue.in_flight()));
        }

        if let Some(events) = &events {
            events.consumer.abort();
        }
        let drain = async {
            while let Some(done) = passes.join_next().await {
                if let Ok(done) = done {
                    self.finish(done, &desired, &mut queue, events.as_mut());
                }
            }
        };
        if timeout(self.settings.shutdown_grace, drain).await.is_err() {
            warn!("work in flight did not finish within the grace period; stopping anyway");
            passes.abort_all();
        }
    }

    /// The resync interval, jittered; while the events queue cannot be read, no longer than
    /// its fallback interval.
    fn jittered_interval(&self, events: Option<&EventLoop>) -> Duration {
        let mut interval = self.settings.interval;
        if let (Some(e), Some(config)) = (events, &self.events) {
            if !*e.reachable.borrow() {
                interval = interval.min(config.config.fallback_interval);
            }
        }
        interval.mul_f64(rand::thread_rng().gen_range(0.9..1.1))
    }

    fn start_pass(
        &self,
        names: Vec<String>,
        desired: &Desired,
        queue: &mut WorkQueue,
        passes: &mut JoinSet<PassDone>,
    ) {
        let mut groups = Vec::new();
        let mut elsewhere = Vec::new();
        for name in names {
            match desired.get(&name) {
                // With shards: another replica's group, until this one takes its shard (which
                // reconciles every group again).
                Some(group) if !self.gate.covers(&GroupId::of(group)) => {
                    queue.done(&name, engine::Next::AwaitChange, Instant::now());
                    elsewhere.push(name);
                }
                Some(group) => groups.push(Arc::clone(group)),
                None => {
                    queue.done(&name, engine::Next::AwaitChange, Instant::now());
                }
            }
        }
        if !elsewhere.is_empty() {
            let mut status = write(&self.status);
            for name in &elsewhere {
                status.forget(name);
                let labels = GroupLabels {
                    group: name.clone(),
                };
                self.metrics.running_tasks.remove(&labels);
                self.metrics.connected_delegates.remove(&labels);
            }
        }
        if groups.is_empty() {
            return;
        }
        let engine = Arc::clone(&self.engine);
        let scope = Arc::clone(&self.scope);
        let gate = Arc::clone(&self.gate);
        let mode = if self.settings.dry_run {
            Mode::Plan
        } else {
            Mode::Apply
        };
        // Every write logged in this pass carries the git commit its files were read at.
        let span = tracing::info_span!("pass", revision = tracing::field::Empty);
        if let Some(git) = &crate::status::read(&self.status).git {
            span.record("revision", git.as_str());
        }
        passes.spawn(async move {
            let start = Instant::now();
            let report = engine
                .pass(&scope, &groups, mode, None, &*gate)
                .instrument(span)
                .await;
            PassDone {
                report,
                elapsed: start.elapsed(),
            }
        });
    }

    fn finish(
        &self,
        done: PassDone,
        desired: &Desired,
        queue: &mut WorkQueue,
        mut events: Option<&mut EventLoop>,
    ) {
        self.metrics
            .reconcile_duration
            .observe(done.elapsed.as_secs_f64());
        let now = Instant::now();
        let mut status = write(&self.status);
        for group in done.report.groups {
            let name = group.desired.name();
            ControllerMetrics::result(&self.metrics.reconciles, group.error.is_none());
            if let Some(events) = events.as_deref_mut() {
                if !group.done.is_empty() {
                    events.router.wrote(name, now);
                }
                if let (Some(sent), Some(parts)) = (events.pending.remove(name), &self.events) {
                    let latency = SystemTime::now().duration_since(sent).unwrap_or_default();
                    parts.metrics.latency.observe(latency.as_secs_f64());
                }
            }
            let delay = queue.done(name, self.engine.next_step(&group), now);
            if let Some(error) = &group.error {
                let retry_in = delay.map(engine::retry::for_people);
                match retry_in {
                    Some(retry_in) => {
                        warn!(group = %name, cluster = %group.desired.cluster(), account = %group.desired.target.account_label(), region = %group.desired.target.region, reason = %error.reason, %error, %retry_in, "reconcile failed");
                    }
                    None => {
                        warn!(group = %name, cluster = %group.desired.cluster(), account = %group.desired.target.account_label(), region = %group.desired.target.region, reason = %error.reason, %error, "reconcile failed; waiting for a change");
                    }
                }
            }
            // A group removed from the files while it was reconciling leaves no trace.
            if !desired.contains_key(name) {
                continue;
            }
            self.metrics
                .running_tasks
                .get_or_create(&GroupLabels { group: name.into() })
                .set(group.status.running);
            if let Some(connected) = group.status.harness.connected {
                self.metrics
                    .connected_delegates
                    .get_or_create(&GroupLabels { group: name.into() })
                    .set(connected);
            }
            log_connection(status.groups.get(name), &group.status);
            self.record(&mut status, &group);
            status.awaiting_first_pass.remove(name);
            status.groups.insert(name.into(), group.status);
        }
    }
}

/// Resolves (true) when the events queue became unreachable, (false) when it came back.
async fn went_down(reachable: &mut tokio::sync::watch::Receiver<bool>) -> bool {
    if reachable.changed().await.is_err() {
        return std::future::pending().await;
    }
    let down = !*reachable.borrow();
    down
}

/// Resolves (true) when the lease was taken again; never without leader election, and never
/// again once the election is gone.
async fn acquired(leadership: &mut Option<tokio::sync::watch::Receiver<u64>>) -> bool {
    match leadership {
        Some(rx) => {
            if rx.changed().await.is_ok() {
                true
            } else {
                *leadership = None;
                std::future::pending().await
            }
        }
        None => std::future::pending().await,
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
