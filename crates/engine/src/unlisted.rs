//! What this engine created that ECS may not list yet. The RunTask reference: "The Amazon ECS
//! API follows an eventual consistency model. ... the result of an API command you run that
//! affects your Amazon ECS resources might not be immediately visible to all subsequent
//! commands you run."
//!
//! A service CreateService answered, and the tasks RunTask answered with, stand in for what
//! DescribeServices and ListTasks do not show yet, for at most [`VISIBILITY_GRACE`]: the next
//! pass then neither creates the service again nor starts more tasks than the count. Once ECS
//! lists them (or the grace is over), what ECS says is all there is.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use plan::{ObservedService, ObservedTask};
use tokio::time::Instant;

use crate::GroupKey;

/// How long a created service or started task is taken as existing while ECS does not list it.
/// ECS documents no bound; seconds are what its consistency usually takes, and a minute keeps
/// a service deleted by hand meanwhile from being believed for long.
pub(crate) const VISIBILITY_GRACE: Duration = Duration::from_secs(60);

/// The writes not yet seen in ECS's listings, by group (target, cluster, group name).
#[derive(Default)]
pub(crate) struct Unlisted {
    services: HashMap<GroupKey, (ObservedService, Instant)>,
    tasks: HashMap<GroupKey, Vec<(ObservedTask, Instant)>>,
}

impl Unlisted {
    /// CreateService answered `service` for the group.
    pub(crate) fn created(&mut self, key: GroupKey, service: ObservedService) {
        let now = Instant::now();
        self.forget_expired(now);
        self.services.insert(key, (service, now));
    }

    /// RunTask answered with `tasks` for the group.
    pub(crate) fn started(&mut self, key: GroupKey, tasks: &[ObservedTask]) {
        let now = Instant::now();
        self.forget_expired(now);
        let list = self.tasks.entry(key).or_default();
        list.extend(tasks.iter().map(|t| (t.clone(), now)));
    }

    /// The group's service: as DescribeServices `described` it, or, while it is not described
    /// yet, the one CreateService answered within the grace.
    pub(crate) fn service(
        &mut self,
        key: &GroupKey,
        described: Option<ObservedService>,
        now: Instant,
    ) -> Option<ObservedService> {
        let Some((created, at)) = self.services.get(key) else {
            return described;
        };
        if described.is_some() || now.duration_since(*at) > VISIBILITY_GRACE {
            self.services.remove(key);
            return described;
        }
        Some(created.clone())
    }

    /// Adds to `live` (the group's tasks ListTasks showed running) those RunTask started that
    /// ECS has not listed at all yet (`seen`: every ARN its listings showed, stopped ones too),
    /// within the grace; forgets the ones seen or too old.
    pub(crate) fn tasks(
        &mut self,
        key: &GroupKey,
        live: &mut Vec<ObservedTask>,
        seen: &HashSet<&str>,
        now: Instant,
    ) {
        let Some(started) = self.tasks.get_mut(key) else {
            return;
        };
        started.retain(|(task, at)| {
            now.duration_since(*at) <= VISIBILITY_GRACE && !seen.contains(task.arn.as_str())
        });
        live.extend(started.iter().map(|(task, _)| task.clone()));
        if started.is_empty() {
            self.tasks.remove(key);
        }
    }

    /// Nothing is waiting to be listed (a steady fleet's case: observation skips the lookups).
    pub(crate) fn is_empty(&self) -> bool {
        self.services.is_empty() && self.tasks.is_empty()
    }

    /// Drops what is past the grace, so that the entries of a group removed from the files
    /// (never observed again) do not stay for the life of the loop.
    fn forget_expired(&mut self, now: Instant) {
        let fresh = |at: &Instant| now.duration_since(*at) <= VISIBILITY_GRACE;
        self.services.retain(|_, (_, at)| fresh(at));
        self.tasks.retain(|_, list| {
            list.retain(|(_, at)| fresh(at));
            !list.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use client::Target;

    fn key() -> GroupKey {
        (Target::default(), "c1".into(), "d1".into())
    }

    fn task(arn: &str) -> ObservedTask {
        ObservedTask {
            arn: arn.into(),
            ..ObservedTask::default()
        }
    }

    fn service() -> ObservedService {
        ObservedService {
            name: "d1".into(),
            ..ObservedService::default()
        }
    }

    #[test]
    fn a_created_service_stands_in_until_described_or_the_grace_is_over() {
        let mut unlisted = Unlisted::default();
        let start = Instant::now();
        assert_eq!(unlisted.service(&key(), None, start), None);
        unlisted.created(key(), service());
        let stand_in = unlisted.service(&key(), None, start);
        assert_eq!(stand_in.map(|s| s.name), Some("d1".into()));
        let later = start + VISIBILITY_GRACE + Duration::from_secs(1);
        assert_eq!(unlisted.service(&key(), None, later), None);
        assert!(unlisted.is_empty());

        unlisted.created(key(), service());
        let described = ObservedService {
            desired_count: 7,
            ..service()
        };
        let seen = unlisted.service(&key(), Some(described.clone()), start);
        assert_eq!(seen, Some(described));
        assert!(unlisted.is_empty(), "what ECS describes is all there is");
    }

    #[test]
    fn entries_past_the_grace_go_with_the_next_write() {
        let mut unlisted = Unlisted::default();
        let removed = (Target::default(), "c1".into(), "gone".into());
        unlisted.created(removed.clone(), service());
        unlisted.started(removed.clone(), &[task("t0")]);
        let long_ago = Instant::now() - VISIBILITY_GRACE - Duration::from_secs(1);
        unlisted.services.get_mut(&removed).unwrap().1 = long_ago;
        unlisted.tasks.get_mut(&removed).unwrap()[0].1 = long_ago;
        unlisted.created(key(), service());
        assert!(!unlisted.services.contains_key(&removed));
        assert!(!unlisted.tasks.contains_key(&removed));
        assert!(unlisted.services.contains_key(&key()));
    }

    #[test]
    fn started_tasks_count_until_listed_and_never_twice() {
        let mut unlisted = Unlisted::default();
        let start = Instant::now();
        unlisted.started(key(), &[task("t1"), task("t2")]);
        let mut live = vec![task("t1")];
        unlisted.tasks(&key(), &mut live, &HashSet::from(["t1"]), start);
        let arns: Vec<_> = live.iter().map(|t| t.arn.as_str()).collect();
        assert_eq!(arns, ["t1", "t2"]);

        // t2 listed as stopped only: seen, so no longer counted as live.
        let mut live = vec![task("t1")];
        unlisted.tasks(&key(), &mut live, &HashSet::from(["t1", "t2"]), start);
        assert_eq!(live.len(), 1);
        assert!(unlisted.is_empty());

        unlisted.started(key(), &[task("t3")]);
        let mut live = Vec::new();
        let later = start + VISIBILITY_GRACE + Duration::from_secs(1);
        unlisted.tasks(&key(), &mut live, &HashSet::new(), later);
        assert!(
            live.is_empty(),
            "a task never listed is forgotten after the grace"
        );
        assert!(unlisted.is_empty());
    }
}
