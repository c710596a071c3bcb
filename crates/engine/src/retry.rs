//! The one error policy (kube-runtime's `error_policy`): what happens to a group after a pass.
//!
//! - It failed for a passing reason (throttling, a 5xx, a lost connection): try again after an
//!   exponential backoff with jitter that grows with each consecutive failure (the `backoff`
//!   crate).
//! - It failed for a reason that needs a person (a conflict, a missing role, a refused
//!   replacement): it is Stalled, and waits for a change of the files or the next resync.
//! - It is progressing (a deployment rolls out): look again soon.
//! - Otherwise: nothing until a change or the next resync.
//!
//! `reconcile --once` retries the groups whose next step is a retry, for a few rounds; the loop
//! requeues every group as its next step says. Both read it from here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use backoff::backoff::Backoff as _;
use backoff::ExponentialBackoff;
use plan::{GroupError, GroupStatus};

/// What to do with a group after a pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Reconcile it again after this long.
    RequeueAfter(Duration),
    /// It failed for a passing reason: try again after this backoff.
    Retry(Duration),
    /// Only a change of the files (or the periodic resync) brings it back.
    AwaitChange,
}

impl Next {
    /// The delay before the group is due again, if it is requeued at all.
    pub fn delay(self) -> Option<Duration> {
        match self {
            Next::RequeueAfter(d) | Next::Retry(d) => Some(d),
            Next::AwaitChange => None,
        }
    }
}

/// A delay for people, in logs: whole milliseconds (`1.237s`, not `1.237617459s`).
pub fn for_people(d: Duration) -> String {
    let millis = d.as_millis();
    if millis < 1000 {
        format!("{millis}ms")
    } else if millis < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
    }
}

/// Backoff settings of failing groups.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Growth per failure.
    pub multiplier: f64,
    /// Jitter: each delay is drawn from [d(1-r), d(1+r)].
    pub randomization: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            multiplier: 2.0,
            randomization: 0.3,
        }
    }
}

impl Backoff {
    fn start(&self) -> ExponentialBackoff {
        ExponentialBackoff {
            current_interval: self.initial,
            initial_interval: self.initial,
            randomization_factor: self.randomization,
            multiplier: self.multiplier,
            max_interval: self.max,
            // Never give up: a controller retries until told otherwise.
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        }
    }
}

/// The error policy, with the consecutive-failure state of each group.
#[derive(Debug)]
pub struct Retries {
    backoff: Backoff,
    progress_requeue: Duration,
    failures: Mutex<HashMap<String, ExponentialBackoff>>,
}

impl Default for Retries {
    fn default() -> Self {
        Retries::new(Backoff::default(), Duration::from_secs(10))
    }
}

impl Retries {
    /// Backoff for passing failures; progressing groups come back after `progress_requeue`.
    pub fn new(backoff: Backoff, progress_requeue: Duration) -> Self {
        Retries {
            backoff,
            progress_requeue,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// The next step for group `key` after a pass that ended with `error` (if any) and
    /// `status`; records a failure, or forgets the failures after a success.
    pub fn next(&self, key: &str, error: Option<&GroupError>, status: &GroupStatus) -> Next {
        let mut failures = self
            .failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match error {
            Some(error) if error.retryable => {
                let policy = self.backoff;
                let backoff = failures
                    .entry(key.to_owned())
                    .or_insert_with(|| policy.start());
                Next::Retry(backoff.next_backoff().unwrap_or(policy.max))
            }
            Some(_) => {
                failures.remove(key);
                Next::AwaitChange
            }
            None => {
                failures.remove(key);
                if status.is_progressing() {
                    Next::RequeueAfter(self.progress_requeue)
                } else {
                    Next::AwaitChange
                }
            }
        }
    }

    /// Forgets a group (removed from the files).
    pub fn forget(&self, key: &str) {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plan::Reason;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(for_people(Duration::from_millis(84)), "84ms");
        assert_eq!(for_people(Duration::from_millis(1237)), "1.2s");
        assert_eq!(for_people(Duration::from_secs(125)), "2m 5s");
    }

    fn status() -> GroupStatus {
        GroupStatus {
            name: "g".into(),
            cluster: "c".into(),
            account: None,
            region: "us-east-1".into(),
            mode: "service".into(),
            desired: 1,
            running: 1,
            pending: 0,
            task_definition: None,
            capacity: None,
            in_sync: true,
            harness: plan::harness::Connection::default(),
            conditions: Vec::new(),
            version: None,
            window: None,
            autoscaling: None,
        }
    }

    fn exact() -> Retries {
        Retries::new(
            Backoff {
                randomization: 0.0,
                ..Backoff::default()
            },
            Duration::from_secs(10),
        )
    }

    #[test]
    fn passing_failures_back_off_and_a_success_resets() {
        let policy = exact();
        let throttled = GroupError::new(Reason::ReconcileError, "throttled").retryable(true);
        let delays: Vec<_> = (0..4)
            .map(|_| policy.next("g", Some(&throttled), &status()))
            .collect();
        assert_eq!(
            delays,
            [1, 2, 4, 8].map(|s| Next::Retry(Duration::from_secs(s)))
        );
        assert_eq!(policy.next("g", None, &status()), Next::AwaitChange);
        assert_eq!(
            policy.next("g", Some(&throttled), &status()),
            Next::Retry(Duration::from_secs(1)),
            "a success resets the backoff"
        );
    }

    #[test]
    fn failures_that_need_a_person_wait_for_a_change() {
        let policy = exact();
        let conflict = GroupError::new(Reason::ConflictUnmanaged, "someone else's service");
        assert_eq!(
            policy.next("g", Some(&conflict), &status()),
            Next::AwaitChange
        );
    }

    #[test]
    fn backoff_is_capped_and_jittered() {
        let policy = Retries::default();
        let throttled = GroupError::new(Reason::ReconcileError, "throttled").retryable(true);
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            last = policy
                .next("c", Some(&throttled), &status())
                .delay()
                .unwrap();
        }
        assert!(last <= Duration::from_secs(390), "{last:?}"); // max 300 s + 30 % jitter
        assert!(last >= Duration::from_secs(210), "{last:?}");
    }
}
