//! `reconcile --once` and `--wait`, on top of the one pass: retry rounds for groups whose next
//! step is a retry (the error policy's backoff), and polling until every group is Ready.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use client::ClientProvider;
use plan::{DesiredGroup, GroupStatus, PruneLimits};
use tokio::time::Instant;
use tracing::info;

use crate::pass::{Mode, PassReport};
use crate::retry::{for_people, Next};
use crate::scope::{Scope, WriteGate};
use crate::Engine;

/// Rounds in which `--once` tries again the groups that failed for a passing reason.
pub const ONCE_RETRY_ROUNDS: u32 = 4;

/// How often `--wait` looks at ECS.
pub const WAIT_POLL: Duration = Duration::from_secs(2);

/// How a wait ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitEnd {
    /// Every group is Ready.
    Ready,
    /// A deployment failed or a group stalled: waiting longer cannot help.
    Failed,
    /// The time ran out.
    TimedOut,
}

/// One look at the fleet while waiting.
#[derive(Debug, Clone)]
pub struct WaitProgress {
    /// Every group's status now.
    pub statuses: Vec<GroupStatus>,
    /// Since the wait began.
    pub elapsed: Duration,
    /// How it ended, if this was the last look.
    pub end: Option<WaitEnd>,
}

impl WaitProgress {
    /// Groups that are Ready.
    pub fn ready(&self) -> usize {
        self.statuses.iter().filter(|s| s.is_ready()).count()
    }
}

impl<P: ClientProvider> Engine<P> {
    /// One applying pass (with the prune, if asked), then up to [`ONCE_RETRY_ROUNDS`] passes
    /// over the groups whose next step is a retry, each after the longest of their backoffs.
    /// What a group did in an earlier round stays in its report. A prune that was refused or
    /// could not list what exists applies nothing, and nothing is retried.
    pub async fn reconcile_once(
        &self,
        scope: &Scope,
        groups: &[Arc<DesiredGroup>],
        prune: Option<PruneLimits>,
        gate: &dyn WriteGate,
    ) -> PassReport {
        let mut report = self.pass(scope, groups, Mode::Apply, prune, gate).await;
        if report.prune_problem().is_some() {
            return report;
        }
        for round in 0..ONCE_RETRY_ROUNDS {
            let retry: Vec<(usize, Duration)> = report
                .groups
                .iter()
                .enumerate()
                .filter_map(|(i, g)| match self.next_step(g) {
                    Next::Retry(after) => Some((i, after)),
                    _ => None,
                })
                .collect();
            let Some(wait) = retry.iter().map(|(_, after)| *after).max() else {
                break;
            };
            info!(
                groups = retry.len(),
                round,
                retry_in = %for_people(wait),
                "retrying groups that failed for a passing reason"
            );
            tokio::time::sleep(wait).await;
            let subset: Vec<Arc<DesiredGroup>> = retry
                .iter()
                .map(|(i, _)| Arc::clone(&report.groups[*i].desired))
                .collect();
            let again = self.pass(scope, &subset, Mode::Apply, None, gate).await;
            let mut by_name: HashMap<String, _> = again
                .groups
                .into_iter()
                .map(|g| (g.desired.name().to_owned(), g))
                .collect();
            for (i, _) in retry {
                let slot = &mut report.groups[i];
                if let Some(mut fresh) = by_name.remove(slot.desired.name()) {
                    let mut done = std::mem::take(&mut slot.done);
                    done.append(&mut fresh.done);
                    fresh.done = done;
                    *slot = fresh;
                }
            }
        }
        report
    }

    /// Polls until every group is Ready, a deployment fails or a group stalls, or `limit`
    /// passes; `progress` sees every look, the last one with its end. Each look plans only,
    /// unless groups are held for an earlier rollout wave: then it applies (`mode` Apply), so
    /// that `reconcile --once --wait` walks the waves.
    pub async fn wait_ready(
        &self,
        scope: &Scope,
        groups: &[Arc<DesiredGroup>],
        limit: Duration,
        mode: Mode,
        mut progress: impl FnMut(&WaitProgress),
    ) -> WaitEnd {
        let start = Instant::now();
        let mut walking = false;
        loop {
            let look = if walking { mode } else { Mode::Plan };
            let report = self
                .pass(scope, groups, look, None, &crate::AlwaysOpen)
                .await;
            walking = report
                .groups
                .iter()
                .any(|g| matches!(g.held, Some((plan::Reason::HeldByWave, _))));
            let statuses: Vec<GroupStatus> = report.groups.into_iter().map(|g| g.status).collect();
            let elapsed = start.elapsed();
            let end = if statuses.iter().all(GroupStatus::is_ready) {
                Some(WaitEnd::Ready)
            } else if statuses.iter().any(GroupStatus::is_hopeless) {
                Some(WaitEnd::Failed)
            } else if elapsed >= limit {
                Some(WaitEnd::TimedOut)
            } else {
                None
            };
            progress(&WaitProgress {
                statuses,
                elapsed,
                end: end.clone(),
            });
            if let Some(end) = end {
                return end;
            }
            tokio::time::sleep(
                WAIT_POLL
                    .min(limit.saturating_sub(elapsed))
                    .max(Duration::from_millis(100)),
            )
            .await;
        }
    }
}
