//! The reconcile loop: files -> queue -> passes of the engine -> status, until shut down.
//!
//! ```text
//! select! { biased;
//!     shutdown            -> stop taking work, let passes in flight finish (bounded), return
//!     a pass finished     -> status, metrics, requeue (sooner while progressing, backoff on error)
//!     a file changed      -> reload; changed groups due now
//!     resync timer        -> reload; every group due now (drift is put back here)
//!     groups due          -> one pass over all of them, observed together
//! }
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use client::{AwsError, EcsApi, IamApi};
use engine::{Engine, GroupOutcome};
use plan::{DesiredGroup, ObservedGroup, Plan};
use rand::Rng as _;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::{sleep, sleep_until, timeout, Instant};
use tracing::{error, info, warn};

use crate::metrics::{ControllerMetrics, GroupLabels};
use crate::queue::{BackoffPolicy, Outcome, WorkQueue};
use crate::source::{Source, SourceError};
use crate::status::{write, SharedStatus};

/// How the loop behaves.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Every group is reconciled at least this often (with ±10 % jitter).
    pub interval: Duration,
    /// Plan only; never write.
    pub dry_run: bool,
    /// How soon a group that is progressing is looked at again.
    pub progress_requeue: Duration,
    /// How long in-flight work may take to finish after a shutdown signal.
    pub shutdown_grace: Duration,
    /// Passes in flight at once (each a batch of groups; AWS calls within a pass are bounded by
    /// the engine's concurrency).
    pub max_passes: usize,
    /// Wait this long after a file event for the rest of a multi-file write.
    pub debounce: Duration,
    /// Retry policy of failing groups.
    pub backoff: BackoffPolicy,
    /// `--prune` with its `--max-prune`: at each resync, remove the groups no longer in the
    /// files (never after an invalid load).
    pub prune: Option<usize>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            interval: Duration::from_secs(60),
            dry_run: false,
            progress_requeue: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(20),
            max_passes: 4,
            debounce: Duration::from_millis(100),
            backoff: BackoffPolicy::default(),
            prune: None,
        }
    }
}

/// The result of one pass, handed back to the loop.
struct PassResult {
    groups: Vec<Arc<DesiredGroup>>,
    plan: Plan,
    observed: Vec<Result<ObservedGroup, AwsError>>,
    outcomes: Option<Vec<GroupOutcome>>,
    elapsed: Duration,
}

/// The controller.
pub struct Controller<A> {
    engine: Arc<Engine<A>>,
    source: Source,
    settings: Settings,
    status: SharedStatus,
    metrics: ControllerMetrics,
}

impl<A: EcsApi + IamApi + 'static> Controller<A> {
    /// A controller reconciling `source` through `engine`.
    pub fn new(
        engine: Engine<A>,
        source: Source,
        settings: Settings,
        status: SharedStatus,
        metrics: ControllerMetrics,
    ) -> Self {
        Controller {
            engine: Arc::new(engine),
            source,
            settings,
            status,
            metrics,
        }
    }

    /// Runs until `shutdown` completes, then lets work in flight finish (bounded by
    /// `shutdown_grace`).
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let (tx, mut changes) = mpsc::channel(1);
        let _watch = match crate::watch::watch(&self.source.paths, tx) {
            Ok(watch) => Some(watch),
            Err(e) => {
                warn!(error = %e, "cannot watch the files; changes are seen at each resync only");
                None
            }
        };
        let mut queue = WorkQueue::new(self.settings.backoff);
        let mut desired: BTreeMap<String, Arc<DesiredGroup>> = BTreeMap::new();
        let mut passes: JoinSet<PassResult> = JoinSet::new();
        let mut prunes: JoinSet<()> = JoinSet::new();
        self.reload(&mut desired, &mut queue, true);
        let mut next_resync = Instant::now() + self.jittered_interval();
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
                    Ok(result) => self.finish(result, &desired, &mut queue),
                    Err(e) => error!(error = %e, "a reconcile pass panicked"),
                },
                Some(()) = changes.recv() => {
                    // Let a multi-file write (git checkout, editor save) land before reading.
                    sleep(self.settings.debounce).await;
                    while changes.try_recv().is_ok() {}
                    info!("files changed; reloading");
                    self.reload(&mut desired, &mut queue, false);
                }
                () = sleep_until(next_resync) => {
                    self.reload(&mut desired, &mut queue, true);
                    next_resync = Instant::now() + self.jittered_interval();
                    self.start_prune(&desired, &mut prunes);
                }
                Some(_) = prunes.join_next(), if !prunes.is_empty() => {}
                () = sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() && can_start => {
                    let names = queue.take_due(Instant::now(), usize::MAX);
                    self.start_pass(names, &desired, &mut queue, &mut passes);
                }
            }
            self.metrics.queue_depth.set(gauge(queue.len()));
            self.metrics.in_flight.set(gauge(queue.in_flight()));
        }

        let drain = async {
            while let Some(done) = passes.join_next().await {
                if let Ok(result) = done {
                    self.finish(result, &desired, &mut queue);
                }
            }
        };
        if timeout(self.settings.shutdown_grace, drain).await.is_err() {
            warn!("work in flight did not finish within the grace period; stopping anyway");
            passes.abort_all();
        }
    }

    /// A prune over the last valid state, unless one runs already, the files are invalid, or
    /// pruning is off.
    fn start_prune(&self, desired: &BTreeMap<String, Arc<DesiredGroup>>, prunes: &mut JoinSet<()>) {
        let Some(max_prune) = self.settings.prune else {
            return;
        };
        if !prunes.is_empty() || !crate::status::read(&self.status).config_errors.is_empty() {
            return;
        }
        if self.settings.dry_run {
            return;
        }
        let engine = Arc::clone(&self.engine);
        let groups: Vec<Arc<DesiredGroup>> = desired.values().cloned().collect();
        prunes.spawn(async move {
            let orphans = match engine.plan_prune(&groups).await {
                Ok(orphans) => orphans,
                Err(e) => {
                    warn!(error = %e, "prune skipped: could not list what this controller manages");
                    return;
                }
            };
            if let Some(refusal) = plan::prune_refusal(groups.len(), &orphans, max_prune) {
                if !orphans.is_empty() || groups.is_empty() {
                    error!(%refusal, "prune refused");
                }
                return;
            }
            for outcome in engine.apply_prune(&orphans).await {
                match &outcome.error {
                    None => info!(group = %outcome.group, cluster = %outcome.cluster, done = ?outcome.done, "pruned"),
                    Some(e) => warn!(group = %outcome.group, cluster = %outcome.cluster, error = %e, "prune failed"),
                }
            }
        });
    }

    fn jittered_interval(&self) -> Duration {
        self.settings
            .interval
            .mul_f64(rand::thread_rng().gen_range(0.9..1.1))
    }

    /// Reloads the files. On success, groups that changed (all of them with `all`) are due now
    /// and removed groups are forgotten. On failure the last good state is kept, the problems
    /// are reported, and (with `all`) the last good groups are still reconciled.
    fn reload(
        &self,
        desired: &mut BTreeMap<String, Arc<DesiredGroup>>,
        queue: &mut WorkQueue,
        all: bool,
    ) {
        let now = Instant::now();
        match self.source.load_map() {
            Ok(new) => {
                let new: BTreeMap<String, Arc<DesiredGroup>> =
                    new.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
                ControllerMetrics::result(&self.metrics.config_loads, true);
                let mut status = write(&self.status);
                if !status.config_errors.is_empty() {
                    info!("the files are valid again");
                }
                status.config_errors.clear();
                for name in desired.keys().filter(|n| !new.contains_key(*n)) {
                    info!(group = %name, "group removed from the files; no longer reconciled");
                    queue.remove(name);
                    status.groups.remove(name);
                    status.awaiting_first_pass.remove(name);
                    let labels = GroupLabels {
                        group: name.clone(),
                    };
                    self.metrics.desired_tasks.remove(&labels);
                    self.metrics.running_tasks.remove(&labels);
                }
                for (name, group) in &new {
                    if all || desired.get(name).map(|d| &**d) != Some(&**group) {
                        queue.add(name, now);
                    }
                    if !status.config_loaded || !desired.contains_key(name) {
                        status.awaiting_first_pass.insert(name.clone());
                    }
                    self.metrics
                        .desired_tasks
                        .get_or_create(&GroupLabels {
                            group: name.clone(),
                        })
                        .set(group.group.spec.count);
                }
                status.config_loaded = true;
                *desired = new;
            }
            Err(e) => {
                ControllerMetrics::result(&self.metrics.config_loads, false);
                let lines = match &e {
                    SourceError::Invalid(lines) => lines.clone(),
                    other => vec![other.to_string()],
                };
                for line in &lines {
                    error!(problem = %line, "invalid DelegateGroup files; keeping the last valid state");
                }
                write(&self.status).config_errors = lines;
                if all {
                    for name in desired.keys() {
                        queue.add(name, now);
                    }
                }
            }
        }
    }

    fn start_pass(
        &self,
        names: Vec<String>,
        desired: &BTreeMap<String, Arc<DesiredGroup>>,
        queue: &mut WorkQueue,
        passes: &mut JoinSet<PassResult>,
    ) {
        let mut groups = Vec::new();
        for name in names {
            match desired.get(&name) {
                Some(group) => groups.push(Arc::clone(group)),
                None => {
                    queue.done(&name, Outcome::Success(None), Instant::now());
                }
            }
        }
        if groups.is_empty() {
            return;
        }
        let engine = Arc::clone(&self.engine);
        let dry_run = self.settings.dry_run;
        passes.spawn(async move {
            let start = Instant::now();
            let (plan, observed) = engine.observe_and_plan(&groups).await;
            let outcomes = if dry_run {
                None
            } else {
                Some(engine.apply(&groups, &plan).await)
            };
            PassResult {
                groups,
                plan,
                observed,
                outcomes,
                elapsed: start.elapsed(),
            }
        });
    }

    fn finish(
        &self,
        result: PassResult,
        desired: &BTreeMap<String, Arc<DesiredGroup>>,
        queue: &mut WorkQueue,
    ) {
        self.metrics
            .reconcile_duration
            .observe(result.elapsed.as_secs_f64());
        let now = Instant::now();
        let derived = engine::statuses(
            &result.groups,
            &result.plan,
            &result.observed,
            result.outcomes.as_deref(),
        );
        let mut status = write(&self.status);
        for (group, group_status) in result.groups.iter().zip(derived) {
            let name = group.name();
            // A group failed exactly when its status stalled: statuses() derived both.
            let error = group_status
                .condition(plan::ConditionType::Stalled)
                .filter(|c| c.is_true())
                .map(|c| c.message.clone());
            ControllerMetrics::result(&self.metrics.reconciles, error.is_none());
            let next = if error.is_some() {
                Outcome::Failure
            } else if group_status.is_progressing() {
                Outcome::Success(Some(self.settings.progress_requeue))
            } else {
                Outcome::Success(None)
            };
            let delay = queue.done(name, next, now);
            if let Some(error) = &error {
                warn!(group = %name, cluster = %group.cluster(), %error, retry_in = ?delay, "reconcile failed");
            }
            // A group removed from the files while it was reconciling leaves no trace.
            if !desired.contains_key(name) {
                continue;
            }
            self.metrics
                .running_tasks
                .get_or_create(&GroupLabels { group: name.into() })
                .set(group_status.running);
            status.awaiting_first_pass.remove(name);
            status.groups.insert(name.into(), group_status);
        }
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
