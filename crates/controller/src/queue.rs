//! The work queue: one entry per group, due at an instant.
//!
//! - Adding a group that is already queued keeps the earlier due time (duplicates merge).
//! - A group is in flight at most once; adding it meanwhile is remembered and it becomes due
//!   when the running reconcile finishes.
//! - A failure requeues the group after an exponential backoff with jitter that grows with each
//!   consecutive failure; a success resets it.
//!
//! Pure: time is passed in, so tests drive it with paused tokio time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use backoff::backoff::Backoff as _;
use backoff::ExponentialBackoff;
use tokio::time::Instant;

/// How a reconcile ended, as the queue needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Done; look again after this long (e.g. while a deployment progresses), or only at the
    /// next resync.
    Success(Option<Duration>),
    /// Failed: retry with backoff.
    Failure,
}

/// Backoff settings.
#[derive(Debug, Clone, Copy)]
pub struct BackoffPolicy {
    /// First delay.
    pub initial: Duration,
    /// Longest delay.
    pub max: Duration,
    /// Growth per failure.
    pub multiplier: f64,
    /// Jitter: each delay is drawn from [d(1-r), d(1+r)].
    pub randomization: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(300),
            multiplier: 2.0,
            randomization: 0.3,
        }
    }
}

impl BackoffPolicy {
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

/// The queue, keyed by group name.
#[derive(Debug)]
pub struct WorkQueue {
    due: BTreeMap<String, Instant>,
    in_flight: HashSet<String>,
    /// Added while in flight: due at this instant once the reconcile finishes.
    deferred: HashMap<String, Instant>,
    failures: HashMap<String, ExponentialBackoff>,
    policy: BackoffPolicy,
}

impl WorkQueue {
    /// An empty queue.
    pub fn new(policy: BackoffPolicy) -> Self {
        WorkQueue {
            due: BTreeMap::new(),
            in_flight: HashSet::new(),
            deferred: HashMap::new(),
            failures: HashMap::new(),
            policy,
        }
    }

    /// Queues `key` to run at `at` (or earlier, if it is already queued for earlier).
    pub fn add(&mut self, key: &str, at: Instant) {
        let slot = if self.in_flight.contains(key) {
            self.deferred.entry(key.to_owned()).or_insert(at)
        } else {
            self.due.entry(key.to_owned()).or_insert(at)
        };
        if at < *slot {
            *slot = at;
        }
    }

    /// Forgets a group (its file was removed).
    pub fn remove(&mut self, key: &str) {
        self.due.remove(key);
        self.deferred.remove(key);
        self.failures.remove(key);
    }

    /// When the earliest queued group is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    /// Takes up to `max` groups due at `now`, earliest first, and marks them in flight.
    pub fn take_due(&mut self, now: Instant, max: usize) -> Vec<String> {
        let mut ready: Vec<(Instant, String)> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(k, at)| (*at, k.clone()))
            .collect();
        ready.sort();
        ready.truncate(max);
        for (_, key) in &ready {
            self.due.remove(key);
            self.in_flight.insert(key.clone());
        }
        ready.into_iter().map(|(_, k)| k).collect()
    }

    /// Records the end of a reconcile of `key` at `now` and requeues it as the outcome says.
    /// Returns the delay chosen, if the group was requeued.
    pub fn done(&mut self, key: &str, outcome: Outcome, now: Instant) -> Option<Duration> {
        self.in_flight.remove(key);
        let delay = match outcome {
            Outcome::Success(after) => {
                self.failures.remove(key);
                after
            }
            Outcome::Failure => {
                let policy = self.policy;
                let backoff = self
                    .failures
                    .entry(key.to_owned())
                    .or_insert_with(|| policy.start());
                Some(backoff.next_backoff().unwrap_or(policy.max))
            }
        };
        if let Some(delay) = delay {
            self.add(key, now + delay);
        }
        if let Some(at) = self.deferred.remove(key) {
            // A change arrived while it ran: run again, but not before a failure's backoff.
            let at = if outcome == Outcome::Failure {
                at.max(now + delay.unwrap_or_default())
            } else {
                at
            };
            self.add(key, at);
        }
        delay
    }

    /// Groups queued (not in flight).
    pub fn len(&self) -> usize {
        self.due.len()
    }

    /// Nothing queued.
    pub fn is_empty(&self) -> bool {
        self.due.is_empty()
    }

    /// Groups in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue() -> WorkQueue {
        WorkQueue::new(BackoffPolicy {
            randomization: 0.0,
            ..BackoffPolicy::default()
        })
    }

    #[tokio::test(start_paused = true)]
    async fn duplicates_merge_and_keep_the_earliest_time() {
        let mut q = queue();
        let now = Instant::now();
        q.add("a", now + Duration::from_secs(10));
        q.add("a", now + Duration::from_secs(2));
        q.add("a", now + Duration::from_secs(5));
        assert_eq!(q.len(), 1);
        assert_eq!(q.next_due(), Some(now + Duration::from_secs(2)));
        assert!(q.take_due(now, 10).is_empty());
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(q.take_due(Instant::now(), 10), ["a"]);
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_group_is_in_flight_once_and_changes_meanwhile_run_after() {
        let mut q = queue();
        let now = Instant::now();
        q.add("a", now);
        assert_eq!(q.take_due(now, 10), ["a"]);
        q.add("a", now); // the file changed while "a" was reconciling
        assert!(q.take_due(now, 10).is_empty(), "not twice at once");
        assert_eq!(q.in_flight(), 1);
        q.done("a", Outcome::Success(None), now);
        assert_eq!(q.take_due(now, 10), ["a"], "runs again right after");
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_grows_with_failures_and_resets_on_success() {
        let mut q = queue();
        let mut seen = Vec::new();
        q.add("b", Instant::now());
        for _ in 0..4 {
            assert_eq!(
                q.take_due(Instant::now(), 1),
                ["b"],
                "due exactly after its backoff"
            );
            let delay = q.done("b", Outcome::Failure, Instant::now()).unwrap();
            seen.push(delay.as_secs());
            tokio::time::advance(delay - Duration::from_millis(1)).await;
            assert!(q.take_due(Instant::now(), 1).is_empty(), "not before");
            tokio::time::advance(Duration::from_millis(1)).await;
        }
        assert_eq!(seen, [1, 2, 4, 8]);
        q.take_due(Instant::now(), 1);
        assert_eq!(q.done("b", Outcome::Success(None), Instant::now()), None);
        q.add("b", Instant::now());
        q.take_due(Instant::now(), 1);
        assert_eq!(
            q.done("b", Outcome::Failure, Instant::now()),
            Some(Duration::from_secs(1)),
            "a success resets the backoff"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn backoff_is_capped_and_jittered() {
        let mut q = WorkQueue::new(BackoffPolicy::default());
        let mut now = Instant::now();
        q.add("c", now);
        let mut last = Duration::ZERO;
        for _ in 0..20 {
            q.take_due(now, 1);
            last = q.done("c", Outcome::Failure, now).unwrap();
            now += last;
        }
        assert!(last <= Duration::from_secs(390), "{last:?}"); // max 300 s + 30 % jitter
        assert!(last >= Duration::from_secs(210), "{last:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn progressing_groups_come_back_sooner() {
        let mut q = queue();
        let now = Instant::now();
        q.add("a", now);
        q.take_due(now, 1);
        q.done("a", Outcome::Success(Some(Duration::from_secs(5))), now);
        assert_eq!(q.next_due(), Some(now + Duration::from_secs(5)));
    }

    #[tokio::test(start_paused = true)]
    async fn take_due_is_bounded_and_earliest_first() {
        let mut q = queue();
        let now = Instant::now();
        for (i, key) in ["c", "a", "b"].iter().enumerate() {
            q.add(key, now + Duration::from_millis(i as u64));
        }
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(q.take_due(Instant::now(), 2), ["c", "a"]);
        assert_eq!(q.take_due(Instant::now(), 2), ["b"]);
    }
}
