//! Asks Harness whether a group's delegates are connected (`Connected`, and with it `Ready`).
//!
//! One call per [`HarnessScope`] (manager, account, org, project) per pass, however many groups
//! share it; answers are kept for [`FRESH`], failures hold the scope off with a doubling delay,
//! every call waits for a token of one bucket, and each call retries 429/5xx/timeouts with
//! backoff. A Harness that cannot be read is reported per group (`HarnessUnreachable`,
//! `HarnessUnauthorized`); it never fails a pass or blocks ECS reconciliation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use client::limiter::TokenBucket;
use plan::harness::{HarnessDelegate, HarnessFailure, HarnessScope, HarnessView};
use plan::DesiredGroup;
use tokio::time::Instant;
use tracing::{info, warn};

mod http;

pub use http::{
    parse_firstgen, parse_nextgen, AllowedOrigins, ApiKey, FirstgenPage, HttpHarness,
    MAX_ANSWER_BYTES,
};

/// Lists the delegates of a scope.
#[async_trait::async_trait]
pub trait HarnessApi: Send + Sync {
    /// Every delegate Harness lists in `scope` (all names: one call serves every group).
    async fn list_delegates(
        &self,
        scope: &HarnessScope,
    ) -> Result<Vec<HarnessDelegate>, HarnessFailure>;
}

/// How long an answer serves the passes that follow (the loop's passes of single groups, a
/// `--wait` poll) before Harness is asked again.
pub const FRESH: Duration = Duration::from_secs(5);

/// The longest a failing scope is held off.
const HOLD_MAX: Duration = Duration::from_secs(300);

/// Harness calls at most this many at once, and this many a second after a burst.
const BURST: f64 = 10.0;
const RATE: f64 = 2.0;

/// The default grace period: the manual procedure's "wait 5 to 10 minutes".
pub const DEFAULT_GRACE: Duration = Duration::from_secs(600);

struct Entry {
    at: Instant,
    hold: Duration,
    failures: u32,
    answer: Result<Arc<Vec<HarnessDelegate>>, HarnessFailure>,
}

/// The Harness check: an API, the grace period, the cache and the limiter.
pub struct HarnessCheck {
    api: Arc<dyn HarnessApi>,
    grace: Duration,
    bucket: TokenBucket,
    cache: Mutex<HashMap<HarnessScope, Entry>>,
}

impl HarnessCheck {
    /// The check over `api`, with `grace` for delegates to connect after a deployment.
    pub fn new(api: Arc<dyn HarnessApi>, grace: Duration) -> Self {
        HarnessCheck {
            api,
            grace,
            bucket: TokenBucket::new(BURST, RATE),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// What Harness says about each group's delegates, aligned with `groups`: one call per
    /// scope not asked within [`FRESH`] (or held off after a failure), all at once.
    pub async fn views(&self, groups: &[&DesiredGroup]) -> Vec<HarnessView> {
        let scopes: Vec<HarnessScope> = groups.iter().map(|g| HarnessScope::of(g)).collect();
        let mut wanted: Vec<&HarnessScope> = scopes.iter().collect();
        wanted.sort();
        wanted.dedup();
        let stale: Vec<&HarnessScope> = wanted
            .into_iter()
            .filter(|scope| !self.fresh(scope))
            .collect();
        let answers = futures::future::join_all(stale.iter().map(|scope| async move {
            self.bucket.take().await;
            (*scope, self.api.list_delegates(scope).await)
        }))
        .await;
        for (scope, answer) in answers {
            self.remember(scope, answer);
        }
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let grace_seconds = i64::try_from(self.grace.as_secs()).unwrap_or(i64::MAX);
        let cache = self.lock();
        groups
            .iter()
            .zip(&scopes)
            .map(|(group, scope)| {
                let delegates = match cache.get(scope).map(|e| &e.answer) {
                    Some(Ok(all)) => Ok(all
                        .iter()
                        .filter(|d| plan::harness::belongs(group, d))
                        .cloned()
                        .collect()),
                    Some(Err(failure)) => Err(failure.clone()),
                    None => Err(HarnessFailure::Unreachable("not asked yet".into())),
                };
                HarnessView {
                    delegates,
                    grace_seconds,
                    now,
                    unlisted_hint: plan::harness::unlisted_hint(group),
                }
            })
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<HarnessScope, Entry>> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Answered within [`FRESH`], or failed and still held off.
    fn fresh(&self, scope: &HarnessScope) -> bool {
        self.lock()
            .get(scope)
            .is_some_and(|e| e.at.elapsed() < e.hold)
    }

    fn remember(&self, scope: &HarnessScope, answer: Result<Vec<HarnessDelegate>, HarnessFailure>) {
        let mut cache = self.lock();
        let failures = cache.get(scope).map_or(0, |e| e.failures);
        let entry = match answer {
            Ok(delegates) => {
                if failures > 0 {
                    info!(harness = %scope, "Harness answers again");
                }
                Entry {
                    at: Instant::now(),
                    hold: FRESH,
                    failures: 0,
                    answer: Ok(Arc::new(delegates)),
                }
            }
            Err(failure) => {
                // 5 s, 10 s, 20 s, ... up to 5 minutes: a Harness outage costs one call per
                // scope per hold, not one per pass.
                let hold = FRESH.saturating_mul(1 << failures.min(6)).min(HOLD_MAX);
                warn!(harness = %scope, error = %failure, retry_in = %humantime::format_duration(hold), "reading delegates from Harness failed");
                Entry {
                    at: Instant::now(),
                    hold,
                    failures: failures.saturating_add(1),
                    answer: Err(failure),
                }
            }
        };
        cache.insert(scope.clone(), entry);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        calls: AtomicUsize,
        fail: bool,
    }

    #[async_trait::async_trait]
    impl HarnessApi for Counting {
        async fn list_delegates(
            &self,
            _scope: &HarnessScope,
        ) -> Result<Vec<HarnessDelegate>, HarnessFailure> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.fail {
                return Err(HarnessFailure::Unreachable("HTTP 503".into()));
            }
            Ok(vec![HarnessDelegate {
                name: "a".into(),
                connected: true,
                ..HarnessDelegate::default()
            }])
        }
    }

    fn group(name: &str, project: &str) -> DesiredGroup {
        let mut group = DesiredGroup::test(name).build();
        group.group.spec.delegate.project = Some(project.into());
        group
    }

    #[tokio::test(start_paused = true)]
    async fn one_call_per_scope_per_pass_and_answers_are_kept_briefly() {
        let api = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            fail: false,
        });
        let check = HarnessCheck::new(api.clone(), DEFAULT_GRACE);
        let (a, b, c) = (group("a", "p1"), group("b", "p1"), group("c", "p2"));
        let views = check.views(&[&a, &b, &c]).await;
        assert_eq!(api.calls.load(Ordering::SeqCst), 2, "two scopes");
        assert_eq!(views[0].delegates.as_ref().unwrap().len(), 1);
        assert!(views[1].delegates.as_ref().unwrap().is_empty(), "by name");
        check.views(&[&a]).await;
        assert_eq!(api.calls.load(Ordering::SeqCst), 2, "fresh");
        tokio::time::advance(FRESH).await;
        check.views(&[&a]).await;
        assert_eq!(api.calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_scope_is_held_off_longer_each_time() {
        let api = Arc::new(Counting {
            calls: AtomicUsize::new(0),
            fail: true,
        });
        let check = HarnessCheck::new(api.clone(), DEFAULT_GRACE);
        let a = group("a", "p1");
        let views = check.views(&[&a]).await;
        assert!(views[0].delegates.is_err());
        tokio::time::advance(FRESH).await;
        check.views(&[&a]).await;
        assert_eq!(api.calls.load(Ordering::SeqCst), 2);
        tokio::time::advance(FRESH).await;
        check.views(&[&a]).await;
        assert_eq!(
            api.calls.load(Ordering::SeqCst),
            2,
            "held 10 s after two failures"
        );
        tokio::time::advance(FRESH).await;
        check.views(&[&a]).await;
        assert_eq!(api.calls.load(Ordering::SeqCst), 3);
    }
}
