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
use engine::{Engine, GroupId, Mode, PassReport, PrunePolicy, Scope, WriteGate};
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
                    Ok(done) => self.finish(done, &desired, &mut queue, events.as_mut()),
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

    fn start_load(&self, loads: &mut JoinSet<Loaded>, all: bool) {
        let source = Arc::clone(&self.source);
        loads.spawn(async move {
            Loaded {
                result: source.load().await,
                all,
            }
        });
    }

    /// A prune over the last valid state, unless one runs already, the files are invalid,
    /// pruning is off, or this is a dry run.
    fn start_prune(&self, desired: &Desired, prunes: &mut JoinSet<()>) {
        let Some(max_prune) = self.settings.prune else {
            return;
        };
        if !prunes.is_empty()
            || self.settings.dry_run
            || !crate::status::read(&self.status).config_errors.is_empty()
        {
            return;
        }
        let engine = Arc::clone(&self.engine);
        let scope = Arc::clone(&self.scope);
        let gate = Arc::clone(&self.gate);
        let groups: Vec<Arc<DesiredGroup>> = desired.values().cloned().collect();
        let policy = PrunePolicy {
            max_prune,
            selector: false,
        };
        let notifier = self.notifier.clone();
        let revision = crate::status::read(&self.status).git.clone();
        prunes.spawn(async move {
            let report = engine
                .prune(&scope, &groups, policy, Mode::Apply, &*gate)
                .await;
            if let Some(notifier) = &notifier {
                for outcome in report.outcomes.iter().filter(|o| o.error.is_none()) {
                    let done: Vec<String> = outcome.done.iter().map(ToString::to_string).collect();
                    notifier.send(Notice {
                        kind: NoticeKind::Pruned,
                        group: outcome.group.clone(),
                        cluster: outcome.cluster.clone(),
                        account: outcome.target.account_label().to_owned(),
                        region: outcome.target.region.clone(),
                        reason: "Pruned".into(),
                        message: done.join("; "),
                        revision: revision.clone(),
                    });
                }
            }
            match report.problem {
                Some(engine::PruneProblem::Refused(refusal)) => {
                    error!(%refusal, "prune refused");
                }
                Some(engine::PruneProblem::Unlisted(e)) => {
                    warn!(error = %e, "prune skipped: could not list what this controller manages");
                }
                None => {}
            }
        });
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

    /// A batch of events: the groups they concern are due now (those this replica covers).
    fn route(
        &self,
        batch: Batch,
        events: &mut EventLoop,
        desired: &Desired,
        queue: &mut WorkQueue,
    ) {
        let Some(parts) = &self.events else { return };
        let now = Instant::now();
        for (event, sent) in batch.events {
            let kind = event.kind.label();
            match events.router.route(&event) {
                Verdict::Drop(reason) => {
                    debug!(event = %event.kind, id = %event.id, reason, "event dropped");
                    parts
                        .metrics
                        .dropped
                        .get_or_create(&EventDropLabels {
                            r#type: kind.into(),
                            reason: reason.into(),
                        })
                        .inc();
                }
                Verdict::Reconcile { groups, coalesce } => {
                    let (mut queued, mut coalesced) = (false, false);
                    for name in groups {
                        let Some(group) = desired.get(&name) else {
                            continue;
                        };
                        if !self.gate.covers(&GroupId::of(group)) {
                            continue;
                        }
                        // A deployment this controller started: its normal requeue looks.
                        if coalesce
                            && events.router.recently_wrote(&name, now)
                            && queue.is_scheduled(&name)
                        {
                            coalesced = true;
                            continue;
                        }
                        queued = true;
                        info!(target: crate::events::LOG_TARGET, group = %name, cluster = %group.cluster(), account = %group.target.account_label(), region = %group.target.region, event = %event.kind, "event: reconciling the group now");
                        let sent = sent.unwrap_or_else(SystemTime::now);
                        events
                            .pending
                            .entry(name.clone())
                            .and_modify(|t| *t = (*t).min(sent))
                            .or_insert(sent);
                        queue.add(&name, now);
                    }
                    let labels = EventLabels {
                        r#type: kind.into(),
                    };
                    if queued {
                        parts.metrics.matched.get_or_create(&labels).inc();
                    } else {
                        // Coalesced into a requeue, or all of another replica's shards.
                        let reason = if coalesced { "own" } else { "other_shard" };
                        parts
                            .metrics
                            .dropped
                            .get_or_create(&EventDropLabels {
                                r#type: labels.r#type,
                                reason: reason.into(),
                            })
                            .inc();
                    }
                }
            }
        }
        let _ = batch.handled.send(());
    }

    /// A load finished. Valid: groups that changed (all of them at a resync) are due now and
    /// removed groups are forgotten. Invalid: the last good state is kept, the problems are
    /// reported, and at a resync the last good groups are still reconciled. Whether the groups
    /// changed.
    fn reloaded(&self, loaded: Loaded, desired: &mut Desired, queue: &mut WorkQueue) -> bool {
        let now = Instant::now();
        let all = loaded.all;
        match loaded.result {
            Ok(Load::Unchanged) => {
                ControllerMetrics::result(&self.metrics.config_loads, true);
                if all {
                    for name in desired.keys() {
                        queue.add(name, now);
                    }
                }
                false
            }
            Ok(Load::Changed(snapshot)) => {
                // A group that did not change keeps its Arc: passes in flight and the new
                // state share it instead of holding two copies.
                let new: Desired = snapshot
                    .groups
                    .into_iter()
                    .map(|(name, group)| match desired.get(&name) {
                        Some(old) if **old == group => (name, Arc::clone(old)),
                        _ => (name, Arc::new(group)),
                    })
                    .collect();
                ControllerMetrics::result(&self.metrics.config_loads, true);
                self.metrics.config_errors.set(0);
                let mut status = write(&self.status);
                if !status.config_errors.is_empty() {
                    info!("the files are valid again");
                }
                status.config_errors.clear();
                status.git = snapshot.git.clone();
                for name in desired.keys().filter(|n| !new.contains_key(*n)) {
                    info!(group = %name, "group removed from the files; no longer reconciled");
                    queue.remove(name);
                    self.engine.policy().forget(name);
                    status.forget(name);
                    let labels = GroupLabels {
                        group: name.clone(),
                    };
                    self.metrics.desired_tasks.remove(&labels);
                    self.metrics.running_tasks.remove(&labels);
                }
                for (name, group) in &new {
                    if all || !desired.get(name).is_some_and(|d| Arc::ptr_eq(d, group)) {
                        queue.add(name, now);
                    }
                    if !status.config_loaded || !desired.contains_key(name) {
                        status.awaiting_first_pass.insert(name.clone());
                    }
                    status
                        .labels
                        .insert(name.clone(), group.group.metadata.labels.clone());
                    self.metrics
                        .desired_tasks
                        .get_or_create(&GroupLabels {
                            group: name.clone(),
                        })
                        .set(group.group.spec.count);
                }
                status.config_loaded = true;
                if desired.is_empty() || !all {
                    info!(revision = %snapshot.revision, groups = new.len(), "loaded the desired state");
                }
                *desired = new;
                true
            }
            Err(e) => {
                ControllerMetrics::result(&self.metrics.config_loads, false);
                let lines = match &e {
                    SourceError::Invalid(lines) => lines.clone(),
                    other => vec![other.to_string()],
                };
                self.metrics.config_errors.set(gauge(lines.len()));
                let mut status = write(&self.status);
                // One log line per problem when the problems change, not at every resync.
                if status.config_errors != lines {
                    for line in &lines {
                        error!(problem = %line, "invalid DelegateGroup files; keeping the last valid state");
                    }
                    status.config_errors = lines;
                }
                drop(status);
                if all {
                    for name in desired.keys() {
                        queue.add(name, now);
                    }
                }
                false
            }
        }
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
            let delay = queue.done(name, group.next, now);
            if let Some(error) = &group.error {
                let retry_in = delay.map(engine::policy::for_people);
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

    /// A group's history after a pass: its writes, its failure, a change of state (and the
    /// notices those make), the revision it was applied from, when.
    fn record(&self, status: &mut StatusState, group: &engine::GroupReport) {
        let name = group.desired.name();
        let at = SystemTime::now();
        let spec = fingerprint(&group.desired);
        // Writes to a group whose files did not change since its last clean pass: drift.
        let drift = !group.done.is_empty() && status.spec_applied.get(name) == Some(&spec);
        if drift {
            info!(group = %name, cluster = %group.desired.cluster(), account = %group.desired.target.account_label(), region = %group.desired.target.region, "drift corrected: ECS had changed, the files had not");
        }
        let history = status.events.entry(name.to_owned()).or_default();
        for done in &group.done {
            history::record(
                history,
                EventType::Normal,
                done.reason(),
                &done.to_string(),
                at,
            );
        }
        if let Some(error) = &group.error {
            history::record(
                history,
                EventType::Warning,
                &error.reason.to_string(),
                &error.message,
                at,
            );
        }
        let before = status.groups.get(name).map(State::of);
        let now = State::of(&group.status);
        let notice = |kind: NoticeKind, reason: String, message: String| Notice {
            kind,
            group: name.to_owned(),
            cluster: group.desired.cluster().to_owned(),
            account: group.desired.target.account_label().to_owned(),
            region: group.desired.target.region.clone(),
            reason,
            message,
            revision: status.git.clone(),
        };
        let mut notices = Vec::new();
        if drift {
            let message = group
                .done
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            history::record(history, EventType::Normal, "DriftCorrected", &message, at);
            notices.push(notice(
                NoticeKind::DriftCorrected,
                "DriftCorrected".into(),
                message,
            ));
        }
        if before != Some(now) {
            let condition = |kind| group.status.condition(kind).cloned();
            match now {
                State::Degraded | State::Stalled => {
                    let (kind, notice_kind) = if now == State::Stalled {
                        (plan::ConditionType::Stalled, NoticeKind::Stalled)
                    } else {
                        (plan::ConditionType::Degraded, NoticeKind::Degraded)
                    };
                    if let Some(c) = condition(kind) {
                        let reason = c.reason.to_string();
                        history::record(history, EventType::Warning, &reason, &c.message, at);
                        warn!(group = %name, cluster = %group.desired.cluster(), account = %group.desired.target.account_label(), region = %group.desired.target.region, state = now.label(), reason = %reason, message = %c.message, "group is {}", now.label());
                        notices.push(notice(notice_kind, reason, c.message));
                    }
                }
                State::Ready => {
                    let message = condition(plan::ConditionType::Ready)
                        .map(|c| c.message)
                        .unwrap_or_default();
                    history::record(history, EventType::Normal, "Ready", &message, at);
                    if matches!(before, Some(State::Degraded | State::Stalled)) {
                        info!(group = %name, cluster = %group.desired.cluster(), "group recovered: Ready");
                        notices.push(notice(NoticeKind::Recovered, "Ready".into(), message));
                    }
                }
                State::Progressing => {}
            }
        }
        if group.error.is_none() {
            status.spec_applied.insert(name.to_owned(), spec);
            if let Some(git) = &status.git {
                status.applied.insert(name.to_owned(), git.clone());
            }
        }
        status.last_reconciled.insert(
            name.to_owned(),
            humantime::format_rfc3339_seconds(at).to_string(),
        );
        if let Some(notifier) = &self.notifier {
            for n in notices {
                notifier.send(n);
            }
        }
    }
}

/// Identifies a group's whole spec as written (not only its task definition's spec-hash: a
/// count change is a change of the files too).
fn fingerprint(group: &DesiredGroup) -> u64 {
    use std::hash::Hasher as _;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(&serde_json::to_vec(&group.group).unwrap_or_default());
    hasher.write(group.target.to_string().as_bytes());
    hasher.finish()
}

/// A change of what Harness says about a group, on the record.
fn log_connection(before: Option<&plan::GroupStatus>, now: &plan::GroupStatus) {
    let Some(connected) = now.condition(plan::ConditionType::Connected) else {
        return;
    };
    let previous = before
        .and_then(|b| b.condition(plan::ConditionType::Connected))
        .map(|c| c.reason);
    if previous == Some(connected.reason) {
        return;
    }
    if connected.reason == plan::Reason::DelegatesConnected {
        info!(group = %now.name, cluster = %now.cluster, reason = %connected.reason, message = %connected.message, "delegates connected to Harness");
    } else {
        warn!(group = %now.name, cluster = %now.cluster, reason = %connected.reason, message = %connected.message, "delegates not connected to Harness");
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
