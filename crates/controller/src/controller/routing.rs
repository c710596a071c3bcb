//! Events from the queue, routed to the groups they concern (those this replica covers),
//! with the metrics of what was matched, coalesced or dropped.

use super::*;

impl<P: ClientProvider + 'static, S: DesiredSource> Controller<P, S> {
    /// A batch of events: the groups they concern are due now (those this replica covers).
    pub(super) fn route(
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
}
