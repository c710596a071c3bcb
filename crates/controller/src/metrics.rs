//! The loop's metrics; the AWS call metrics live with the AWS boundary (`client::metrics`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// `result` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// success or error.
    pub result: String,
}

/// `group` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    /// Group name.
    pub group: String,
}

/// Metrics of the reconcile loop.
#[derive(Debug, Clone)]
pub struct ControllerMetrics {
    /// Group reconciles by result.
    pub reconciles: Family<ResultLabels, Counter>,
    /// Duration of a reconcile pass (a batch of groups observed together).
    pub reconcile_duration: Histogram,
    /// Tasks wanted per group.
    pub desired_tasks: Family<GroupLabels, Gauge>,
    /// Tasks running per group.
    pub running_tasks: Family<GroupLabels, Gauge>,
    /// Delegates connected to Harness per group (with the Harness check on).
    pub connected_delegates: Family<GroupLabels, Gauge>,
    /// Groups waiting in the queue.
    pub queue_depth: Gauge,
    /// Groups being reconciled.
    pub in_flight: Gauge,
    /// Loads of the files by result.
    pub config_loads: Family<ResultLabels, Counter>,
    /// Problems in the files of the last load (0 when it was valid): the loop is serving the
    /// last valid configuration while this is above 0.
    pub config_errors: Gauge,
}

impl Default for ControllerMetrics {
    fn default() -> Self {
        ControllerMetrics {
            reconciles: Family::default(),
            reconcile_duration: Histogram::new(exponential_buckets(0.01, 2.0, 14)),
            desired_tasks: Family::default(),
            running_tasks: Family::default(),
            connected_delegates: Family::default(),
            queue_depth: Gauge::default(),
            in_flight: Gauge::default(),
            config_loads: Family::default(),
            config_errors: Gauge::default(),
        }
    }
}

impl ControllerMetrics {
    /// Registers the metrics in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "reconciles",
            "Group reconciles by result (success, error)",
            self.reconciles.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of a reconcile pass over a batch of groups",
            self.reconcile_duration.clone(),
        );
        registry.register(
            "desired_tasks",
            "Delegate tasks wanted, per group",
            self.desired_tasks.clone(),
        );
        registry.register(
            "running_tasks",
            "Delegate tasks running as ECS last reported, per group",
            self.running_tasks.clone(),
        );
        registry.register(
            "connected_delegates",
            "Delegates Harness lists as connected, per group (only with --harness-api-key-secret)",
            self.connected_delegates.clone(),
        );
        registry.register(
            "queue_depth",
            "Groups waiting to be reconciled",
            self.queue_depth.clone(),
        );
        registry.register(
            "in_flight",
            "Groups being reconciled",
            self.in_flight.clone(),
        );
        registry.register(
            "config_loads",
            "Loads of the DelegateGroup files by result (success, error)",
            self.config_loads.clone(),
        );
        registry.register(
            "config_errors",
            "Problems in the DelegateGroup files at the last load; above 0, the last valid configuration is served",
            self.config_errors.clone(),
        );
    }

    /// Counts a result.
    pub fn result(family: &Family<ResultLabels, Counter>, ok: bool) {
        family
            .get_or_create(&ResultLabels {
                result: if ok { "success" } else { "error" }.into(),
            })
            .inc();
    }
}

/// `shard` label: `0` with plain leader election.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ShardLabels {
    /// The shard's index.
    pub shard: u32,
}

/// Leader election's metrics (registered only with a lease): held per shard, transitions,
/// replicas counted alive, time since the last renew. Brought up to date from the write gate
/// at each scrape.
#[derive(Debug, Clone, Default)]
pub struct LeaseMetrics {
    /// Per shard, 1 while this replica holds its lease and writes.
    pub held: Family<ShardLabels, Gauge>,
    /// Times this replica took or lost a lease.
    pub transitions: Counter,
    /// Replicas this one counts alive, itself included (with shards).
    pub replicas: Gauge,
    /// Seconds since the start of the oldest renew of the leases held.
    pub since_renew: Gauge<f64, std::sync::atomic::AtomicU64>,
}

impl LeaseMetrics {
    /// Registers them (prefix `lease_`).
    pub fn register(&self, registry: &mut Registry) {
        let lease = registry.sub_registry_with_prefix("lease");
        lease.register(
            "held",
            "1 while this replica holds the shard's lease and may write its groups",
            self.held.clone(),
        );
        lease.register(
            "transitions",
            "Times this replica took or lost a lease",
            self.transitions.clone(),
        );
        lease.register(
            "replicas",
            "Replicas this one counts alive, itself included (with --shards)",
            self.replicas.clone(),
        );
        lease.register(
            "seconds_since_renew",
            "Seconds since the start of the oldest renew of the leases held",
            self.since_renew.clone(),
        );
    }

    /// From the gate's leadership, if any.
    pub fn update(&self, leadership: Option<&engine::Leadership>) {
        let Some(l) = leadership else { return };
        for shard in 0..l.shards {
            self.held
                .get_or_create(&ShardLabels { shard })
                .set(i64::from(l.held.contains(&shard)));
        }
        let seen = self.transitions.get();
        if l.transitions > seen {
            self.transitions.inc_by(l.transitions - seen);
        }
        if let Some(n) = l.replicas {
            self.replicas.set(i64::try_from(n).unwrap_or(i64::MAX));
        }
        self.since_renew.set(l.seconds_since_renew.unwrap_or(0.0));
    }
}

/// `type` label of an event: `service_action`, `deployment`, `task`, `api_call` (or
/// `malformed`, `unknown` for messages that are not such events).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    /// The event's type.
    pub r#type: String,
}

/// `type` and `reason` of a dropped event.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventDropLabels {
    /// The event's type.
    pub r#type: String,
    /// `foreign`, `own`, `failed_call`, `no_change`, `malformed`, `unknown`.
    pub reason: String,
}

/// Event-driven mode's metrics (registered only with `--events-queue`).
#[derive(Debug, Clone)]
pub struct EventMetrics {
    /// Events received, by type.
    pub received: Family<EventLabels, Counter>,
    /// Events that queued at least one group, by type.
    pub matched: Family<EventLabels, Counter>,
    /// Messages dropped, by type and reason.
    pub dropped: Family<EventDropLabels, Counter>,
    /// From EventBridge sending an event to the end of the pass it caused.
    pub latency: Histogram,
    /// 1 while the queue can be read.
    pub queue_up: Gauge,
}

impl Default for EventMetrics {
    fn default() -> Self {
        EventMetrics {
            received: Family::default(),
            matched: Family::default(),
            dropped: Family::default(),
            latency: Histogram::new(exponential_buckets(0.05, 2.0, 14)),
            queue_up: Gauge::default(),
        }
    }
}

impl EventMetrics {
    /// Registers them (prefix `events_`).
    pub fn register(&self, registry: &mut Registry) {
        let events = registry.sub_registry_with_prefix("events");
        events.register(
            "received",
            "ECS and CloudTrail events received from the queue, by type",
            self.received.clone(),
        );
        events.register(
            "matched",
            "Events that queued at least one group, by type",
            self.matched.clone(),
        );
        events.register(
            "dropped",
            "Messages dropped, by type and reason",
            self.dropped.clone(),
        );
        events.register(
            "to_reconcile_seconds",
            "From EventBridge sending an event to the end of the reconcile it caused",
            self.latency.clone(),
        );
        events.register(
            "queue_up",
            "1 while the events queue can be read",
            self.queue_up.clone(),
        );
    }
}
