//! The work queue: one entry per group, due at an instant.
//!
//! - Adding a group that is already queued keeps the earlier due time (duplicates merge).
//! - A group is in flight at most once; adding it meanwhile is remembered and it becomes due
//!   when the running reconcile finishes.
//! - When a reconcile finishes, the group is requeued as the engine's error policy said
//!   ([`Next`]): after a backoff, soon while progressing, or not until a change or resync.
//!
//! Pure: time is passed in, so tests drive it with paused tokio time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use engine::Next;
use tokio::time::Instant;

/// The queue, keyed by group name.
#[derive(Debug, Default)]
pub struct WorkQueue {
    due: BTreeMap<String, Instant>,
    in_flight: HashSet<String>,
    /// Added while in flight: due at this instant once the reconcile finishes.
    deferred: HashMap<String, Instant>,
}

impl WorkQueue {
    /// An empty queue.
    pub fn new() -> Self {
        WorkQueue::default()
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

    /// Whether `key` is queued, in flight, or due again after its reconcile in flight.
    pub fn is_scheduled(&self, key: &str) -> bool {
        self.due.contains_key(key)
            || self.in_flight.contains(key)
            || self.deferred.contains_key(key)
    }

    /// Forgets a group (its file was removed).
    pub fn remove(&mut self, key: &str) {
        self.due.remove(key);
        self.deferred.remove(key);
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

    /// Records the end of a reconcile of `key` at `now` and requeues it as `next` says.
    /// Returns the delay, if the group was requeued.
    pub fn done(&mut self, key: &str, next: Next, now: Instant) -> Option<Duration> {
        self.in_flight.remove(key);
        let delay = next.delay();
        if let Some(delay) = delay {
            self.add(key, now + delay);
        }
        if let Some(at) = self.deferred.remove(key) {
            // A change arrived while it ran: run again, but not before a retry's backoff.
            let at = match next {
                Next::Retry(backoff) => at.max(now + backoff),
                _ => at,
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

    #[tokio::test(start_paused = true)]
    async fn duplicates_merge_and_keep_the_earliest_time() {
        let mut q = WorkQueue::new();
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
        let mut q = WorkQueue::new();
        let now = Instant::now();
        q.add("a", now);
        assert_eq!(q.take_due(now, 10), ["a"]);
        q.add("a", now); // the file changed while "a" was reconciling
        assert!(q.take_due(now, 10).is_empty(), "not twice at once");
        assert_eq!(q.in_flight(), 1);
        q.done("a", Next::AwaitChange, now);
        assert_eq!(q.take_due(now, 10), ["a"], "runs again right after");
    }

    #[tokio::test(start_paused = true)]
    async fn a_change_during_a_failing_reconcile_waits_for_the_backoff() {
        let mut q = WorkQueue::new();
        let now = Instant::now();
        q.add("a", now);
        q.take_due(now, 1);
        q.add("a", now);
        let delay = q.done("a", Next::Retry(Duration::from_secs(4)), now);
        assert_eq!(delay, Some(Duration::from_secs(4)));
        assert_eq!(q.next_due(), Some(now + Duration::from_secs(4)));
    }

    #[tokio::test(start_paused = true)]
    async fn requeues_as_the_error_policy_says() {
        let mut q = WorkQueue::new();
        let now = Instant::now();
        q.add("a", now);
        q.take_due(now, 1);
        q.done("a", Next::RequeueAfter(Duration::from_secs(5)), now);
        assert_eq!(q.next_due(), Some(now + Duration::from_secs(5)));
        q.take_due(now + Duration::from_secs(5), 1);
        assert_eq!(q.done("a", Next::AwaitChange, now), None);
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn take_due_is_bounded_and_earliest_first() {
        let mut q = WorkQueue::new();
        let now = Instant::now();
        for (i, key) in ["c", "a", "b"].iter().enumerate() {
            q.add(key, now + Duration::from_millis(i as u64));
        }
        tokio::time::advance(Duration::from_millis(5)).await;
        assert_eq!(q.take_due(Instant::now(), 2), ["c", "a"]);
        assert_eq!(q.take_due(Instant::now(), 2), ["b"]);
    }
}
