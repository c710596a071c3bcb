//! Event-driven drift detection: a consumer task long-polls the queue EventBridge feeds and
//! hands each batch of parsed events to the loop, which maps them to groups and queues those
//! at once; the batch is deleted once the loop has taken it. Malformed and unknown messages
//! are logged and deleted; the queue being unreachable is a condition in `/status`, a metric,
//! and a shorter resync interval until it is back (retried with backoff).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use events::{Event, EventQueue, Identity, Index, Kind};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::metrics::{EventDropLabels, EventLabels, EventMetrics};

/// The log target of what events do (on at the default level: drift on the record).
pub const LOG_TARGET: &str = "ecs_delegate_controller_loop::events";

/// `--events-queue`.
#[derive(Clone)]
pub struct EventsConfig {
    /// The queue.
    pub queue: Arc<dyn EventQueue>,
    /// Who the controller is in CloudTrail: its own calls are not drift.
    pub identity: Identity,
    /// While the queue cannot be read, every group is reconciled at least this often.
    pub fallback_interval: Duration,
}

/// Events of a group the controller wrote within this long, of the kinds its own writes cause
/// (a deployment it started, tasks the scheduler replaced), are left to the group's normal
/// requeue when one is scheduled: they do not make a pass of their own.
pub const OWN_WRITE_WINDOW: Duration = Duration::from_secs(60);

/// A batch handed to the loop; `handled` is answered once its groups are queued.
pub struct Batch {
    /// The events, with when EventBridge sent each.
    pub events: Vec<(Event, Option<SystemTime>)>,
    /// Answered when the loop has queued the groups: the messages may then be deleted.
    pub handled: oneshot::Sender<()>,
}

/// The queue's condition, for `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    /// The queue URL.
    pub queue: String,
    /// `True` while messages can be received.
    pub reachable: bool,
    /// `Receiving`, `QueueUnreachable` (or `Starting` before the first call answered).
    pub reason: String,
    /// The last error, while unreachable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// When `reachable` last changed (RFC 3339).
    pub last_transition_time: String,
}

/// Shared with `/status`.
pub type SharedQueueStatus = Arc<std::sync::RwLock<QueueStatus>>;

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

impl QueueStatus {
    /// Before the first receive.
    pub fn starting(queue: &str) -> Self {
        QueueStatus {
            queue: queue.to_owned(),
            reachable: true,
            reason: "Starting".into(),
            message: None,
            last_transition_time: now_rfc3339(),
        }
    }
}

/// Receives until the loop is gone: parses, hands over, deletes; backs off while the queue
/// cannot be read and reports that on `reachable` and `status`.
pub async fn consume(
    queue: Arc<dyn EventQueue>,
    tx: mpsc::Sender<Batch>,
    reachable: watch::Sender<bool>,
    status: SharedQueueStatus,
    metrics: EventMetrics,
) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let messages = match queue.receive(Duration::from_secs(20)).await {
            Ok(messages) => messages,
            Err(e) => {
                if *reachable.borrow() {
                    warn!(queue = %queue.name(), error = %e, "the events queue cannot be read; reconciling every group by interval until it can, retrying with backoff");
                    reachable.send_replace(false);
                } else {
                    debug!(queue = %queue.name(), error = %e, retry_in = %humantime::format_duration(backoff), "the events queue still cannot be read");
                }
                metrics.queue_up.set(0);
                set_status(&status, false, "QueueUnreachable", Some(e.to_string()));
                tokio::time::sleep(jitter(backoff)).await;
                backoff = (backoff * 2).min(Duration::from_secs(60));
                continue;
            }
        };
        backoff = Duration::from_secs(1);
        if !*reachable.borrow() {
            info!(queue = %queue.name(), "the events queue can be read again");
            reachable.send_replace(true);
        }
        metrics.queue_up.set(1);
        set_status(&status, true, "Receiving", None);
        if messages.is_empty() {
            continue;
        }
        let mut batch = Vec::new();
        for message in &messages {
            match events::parse(&message.body) {
                Ok(event) => {
                    metrics
                        .received
                        .get_or_create(&EventLabels {
                            r#type: event.kind.label().into(),
                        })
                        .inc();
                    batch.push((event, message.sent));
                }
                Err(e) => {
                    // Deleted like the rest: the reconcile is level-triggered, and a message
                    // that cannot be read will not read better the next time.
                    warn!(queue = %queue.name(), reason = e.label(), error = %e, "dropped a message that is not an ECS event");
                    metrics
                        .dropped
                        .get_or_create(&EventDropLabels {
                            r#type: e.label().into(),
                            reason: e.label().into(),
                        })
                        .inc();
                }
            }
        }
        if !batch.is_empty() {
            let (handled, taken) = oneshot::channel();
            if tx
                .send(Batch {
                    events: batch,
                    handled,
                })
                .await
                .is_err()
                || taken.await.is_err()
            {
                // The loop is shutting down: the messages come back to another replica.
                return;
            }
        }
        let receipts: Vec<String> = messages.into_iter().map(|m| m.receipt).collect();
        if let Err(e) = queue.delete(&receipts).await {
            warn!(queue = %queue.name(), error = %e, "deleting handled messages failed; they come back and are harmless");
        }
    }
}

fn jitter(d: Duration) -> Duration {
    use rand::Rng as _;
    d.mul_f64(rand::thread_rng().gen_range(0.8..1.2))
}

fn set_status(status: &SharedQueueStatus, reachable: bool, reason: &str, message: Option<String>) {
    let mut s = status
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if s.reachable != reachable {
        s.last_transition_time = now_rfc3339();
    }
    s.reachable = reachable;
    s.reason = reason.to_owned();
    s.message = message;
}

/// What the loop does with one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Reconcile these groups now; with `coalesce`, not those the controller wrote within
    /// [`OWN_WRITE_WINDOW`] and that are scheduled anyway.
    Reconcile {
        /// The groups.
        groups: Vec<String>,
        /// The event is of a kind the controller's own writes cause.
        coalesce: bool,
    },
    /// Nothing to do, and why (the metrics' `reason`).
    Drop(&'static str),
}

/// The loop's side: which groups an event concerns and whether it is drift to act on.
pub struct Router {
    identity: Identity,
    index: Index,
    /// Groups this controller wrote, and when.
    written: HashMap<String, Instant>,
}

impl Router {
    /// A router for the controller `identity`.
    pub fn new(identity: Identity) -> Self {
        Router {
            identity,
            index: Index::default(),
            written: HashMap::new(),
        }
    }

    /// The desired groups changed.
    pub fn reindex<'a>(&mut self, groups: impl IntoIterator<Item = &'a plan::DesiredGroup>) {
        self.index = Index::new(groups);
    }

    /// This controller wrote `group` just now.
    pub fn wrote(&mut self, group: &str, at: Instant) {
        self.written.insert(group.to_owned(), at);
        self.written
            .retain(|_, when| at.duration_since(*when) < OWN_WRITE_WINDOW);
    }

    /// This controller wrote `group` within [`OWN_WRITE_WINDOW`] of `now`.
    pub fn recently_wrote(&self, group: &str, now: Instant) -> bool {
        self.written
            .get(group)
            .is_some_and(|at| now.duration_since(*at) < OWN_WRITE_WINDOW)
    }

    /// Whether `event` is drift to act on, and for which groups.
    pub fn route(&self, event: &Event) -> Verdict {
        let groups = self.index.groups(event, self.identity.account.as_deref());
        if groups.is_empty() {
            return Verdict::Drop("foreign");
        }
        let coalesce = match &event.kind {
            Kind::ApiCall { failed: true, .. } => return Verdict::Drop("failed_call"),
            Kind::ApiCall {
                caller: Some(caller),
                ..
            } if self.identity.is_own(caller, &self.index) => return Verdict::Drop("own"),
            Kind::ApiCall { .. } => false,
            Kind::Task {
                stopped_by_us: true,
                ..
            } => return Verdict::Drop("own"),
            Kind::Task { status, .. } if *status != plan::TaskStatus::Stopped => {
                return Verdict::Drop("no_change")
            }
            Kind::Task { by_scheduler, .. } => *by_scheduler,
            Kind::ServiceAction { problem, .. }
            | Kind::Deployment {
                failed: problem, ..
            } => !problem,
        };
        Verdict::Reconcile { groups, coalesce }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router() -> Router {
        let mut router = Router::new(Identity::new(
            Some("123456789012".into()),
            Some("arn:aws:sts::123456789012:assumed-role/edc/task-1"),
        ));
        let groups = [plan::DesiredGroup::test("a").cluster("c1").build()];
        router.reindex(&groups);
        router
    }

    fn event(kind: Kind) -> Event {
        Event {
            id: "1".into(),
            kind,
            account: Some("123456789012".into()),
            region: Some("us-east-1".into()),
            refs: [events::Ref::Service {
                cluster: Some("c1".into()),
                service: "a".into(),
            }]
            .into(),
        }
    }

    fn call(caller: &str) -> Kind {
        Kind::ApiCall {
            operation: "UpdateService".into(),
            caller: Some(caller.into()),
            failed: false,
        }
    }

    #[test]
    fn the_controllers_own_calls_and_stops_are_dropped_and_its_deployments_coalesced() {
        let r = router();
        // Another replica of the controller (same role, another session) is the controller.
        assert_eq!(
            r.route(&event(call(
                "arn:aws:sts::123456789012:assumed-role/edc/task-2"
            ))),
            Verdict::Drop("own")
        );
        assert_eq!(
            r.route(&event(call(
                "arn:aws:sts::123456789012:assumed-role/Admin/alice"
            ))),
            Verdict::Reconcile {
                groups: vec!["a".into()],
                coalesce: false
            }
        );
        let stop = |by_us, by_scheduler| Kind::Task {
            status: plan::TaskStatus::Stopped,
            stopped_by_us: by_us,
            by_scheduler,
        };
        assert_eq!(r.route(&event(stop(true, false))), Verdict::Drop("own"));
        assert!(matches!(
            r.route(&event(stop(false, true))),
            Verdict::Reconcile { coalesce: true, .. }
        ));
        assert!(matches!(
            r.route(&event(stop(false, false))),
            Verdict::Reconcile {
                coalesce: false,
                ..
            }
        ));
        let deployment = |failed| Kind::Deployment {
            name: "X".into(),
            failed,
        };
        assert!(matches!(
            r.route(&event(deployment(false))),
            Verdict::Reconcile { coalesce: true, .. }
        ));
        assert!(matches!(
            r.route(&event(deployment(true))),
            Verdict::Reconcile {
                coalesce: false,
                ..
            }
        ));
        let mut foreign = event(call("arn:aws:sts::123456789012:assumed-role/Admin/alice"));
        foreign.region = Some("eu-west-1".into());
        assert_eq!(r.route(&foreign), Verdict::Drop("foreign"));
    }

    #[test]
    fn writes_are_remembered_for_the_window_only() {
        let mut r = router();
        let t0 = Instant::now();
        r.wrote("a", t0);
        assert!(r.recently_wrote("a", t0 + Duration::from_secs(59)));
        assert!(!r.recently_wrote("a", t0 + OWN_WRITE_WINDOW));
    }
}
