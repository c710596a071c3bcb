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
use plan::harness::{
    HarnessDelegate, HarnessFailure, HarnessScope, HarnessView, SupportedVersion, VersionScope,
};
use plan::DesiredGroup;
use tokio::time::Instant;
use tracing::{info, warn};

mod http;

pub use http::{
    parse_firstgen, parse_latest, parse_nextgen, AllowedOrigins, ApiKey, FirstgenPage, HttpHarness,
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

    /// Harness's latest supported delegate version for an account.
    async fn latest_version(
        &self,
        _scope: &VersionScope,
    ) -> Result<SupportedVersion, HarnessFailure> {
        Err(HarnessFailure::Unreachable(
            "this API does not answer the latest supported version".into(),
        ))
    }
}

/// How long Harness's latest supported version is kept before Harness is asked again: the
/// Kubernetes upgrader's hourly cron ("a cron job that runs every hour by default", Harness's
/// "Delegate automatic upgrades and expiration policy").
pub const VERSION_FRESH: Duration = Duration::from_secs(3600);

/// The default warning period before a version expires.
pub const DEFAULT_EXPIRY_WARNING: Duration = Duration::from_secs(30 * 24 * 3600);

/// A version `auto` resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The version (the image tag).
    pub version: String,
    /// When Harness answered it.
    pub asked_at: SystemTime,
    /// Harness failed since: this is the last version it named.
    pub stale: Option<HarnessFailure>,
}

struct VersionEntry {
    at: Instant,
    hold: Duration,
    failures: u32,
    good: Option<(SupportedVersion, SystemTime)>,
    error: Option<HarnessFailure>,
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
    expiry_warning: Duration,
    bucket: TokenBucket,
    cache: Mutex<HashMap<HarnessScope, Entry>>,
    versions: Mutex<HashMap<VersionScope, VersionEntry>>,
}

impl HarnessCheck {
    /// The check over `api`, with `grace` for delegates to connect after a deployment.
    pub fn new(api: Arc<dyn HarnessApi>, grace: Duration) -> Self {
        HarnessCheck {
            api,
            grace,
            expiry_warning: DEFAULT_EXPIRY_WARNING,
            bucket: TokenBucket::new(BURST, RATE),
            cache: Mutex::new(HashMap::new()),
            versions: Mutex::new(HashMap::new()),
        }
    }

    /// Warns (`ExpiringSoon`) this long before a connected delegate's version expires.
    #[must_use]
    pub fn with_expiry_warning(mut self, period: Duration) -> Self {
        self.expiry_warning = period;
        self
    }

    /// What `version: auto` resolves to for each group, aligned with `groups` (`None` for a
    /// group without it): Harness's latest supported version on the group's track. One call per
    /// (manager, account) an hour ([`VERSION_FRESH`]), through the same bucket as the listings.
    /// When Harness fails, the last version it named serves (marked stale), and the scope is
    /// held off as a failing listing is; with no version ever named, the failure.
    pub async fn resolve(
        &self,
        groups: &[&DesiredGroup],
    ) -> Vec<Option<Result<Resolved, HarnessFailure>>> {
        let scopes: Vec<Option<(VersionScope, spec::Track)>> = groups
            .iter()
            .map(|g| {
                g.group
                    .spec
                    .delegate
                    .auto_track()
                    .map(|track| (VersionScope::of(g), track))
            })
            .collect();
        let mut wanted: Vec<&VersionScope> = scopes.iter().flatten().map(|(s, _)| s).collect();
        wanted.sort();
        wanted.dedup();
        let stale: Vec<&VersionScope> = wanted
            .into_iter()
            .filter(|scope| {
                self.versions_lock()
                    .get(*scope)
                    .is_none_or(|e| e.at.elapsed() >= e.hold)
            })
            .collect();
        let answers = futures::future::join_all(stale.iter().map(|scope| async move {
            self.bucket.take().await;
            (*scope, self.api.latest_version(scope).await)
        }))
        .await;
        for (scope, answer) in answers {
            self.remember_version(scope, answer);
        }
        let cache = self.versions_lock();
        scopes
            .iter()
            .map(|wanted| {
                let (scope, track) = wanted.as_ref()?;
                let entry = cache.get(scope);
                Some(match entry.and_then(|e| e.good.as_ref()) {
                    Some((supported, asked_at)) => Ok(Resolved {
                        version: supported.of(*track).to_owned(),
                        asked_at: *asked_at,
                        stale: entry.and_then(|e| e.error.clone()),
                    }),
                    None => Err(entry
                        .and_then(|e| e.error.clone())
                        .unwrap_or_else(|| HarnessFailure::Unreachable("not asked yet".into()))),
                })
            })
            .collect()
    }

    fn versions_lock(&self) -> std::sync::MutexGuard<'_, HashMap<VersionScope, VersionEntry>> {
        self.versions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn remember_version(
        &self,
        scope: &VersionScope,
        answer: Result<SupportedVersion, HarnessFailure>,
    ) {
        let mut cache = self.versions_lock();
        let entry = cache.entry(scope.clone()).or_insert(VersionEntry {
            at: Instant::now(),
            hold: Duration::ZERO,
            failures: 0,
            good: None,
            error: None,
        });
        entry.at = Instant::now();
        match answer {
            Ok(supported) => {
                let changed = entry.good.as_ref().map(|(s, _)| s) != Some(&supported);
                if changed {
                    info!(harness = %scope, latest = %supported.latest, "Harness's latest supported delegate version");
                }
                entry.good = Some((supported, SystemTime::now()));
                entry.hold = VERSION_FRESH;
                entry.failures = 0;
                entry.error = None;
            }
            Err(failure) => {
                let hold = FRESH
                    .saturating_mul(1 << entry.failures.min(6))
                    .min(HOLD_MAX);
                warn!(harness = %scope, error = %failure, retry_in = %humantime::format_duration(hold), "asking Harness for the latest supported delegate version failed");
                entry.hold = hold;
                entry.failures = entry.failures.saturating_add(1);
                entry.error = Some(failure);
            }
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
                    wanted_version: plan::harness::wanted_version(group),
                    expiry_warning_seconds: i64::try_from(self.expiry_warning.as_secs())
                        .unwrap_or(i64::MAX),
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

    /// Answers the latest version (`25.01.<calls>`), or fails once `fail` is set.
    struct Versions {
        calls: AtomicUsize,
        fail: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl HarnessApi for Versions {
        async fn list_delegates(
            &self,
            _scope: &HarnessScope,
        ) -> Result<Vec<HarnessDelegate>, HarnessFailure> {
            Ok(Vec::new())
        }

        async fn latest_version(
            &self,
            _scope: &VersionScope,
        ) -> Result<SupportedVersion, HarnessFailure> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.fail.load(Ordering::SeqCst) {
                return Err(HarnessFailure::Unreachable("HTTP 503".into()));
            }
            Ok(SupportedVersion {
                latest: format!("25.01.{n}"),
                minimal: format!("25.01.{n}.minimal"),
            })
        }
    }

    fn auto(name: &str, account: &str, track: &str) -> DesiredGroup {
        let mut group = DesiredGroup::test(name)
            .image("harness/delegate")
            .version(track)
            .build();
        group.group.spec.delegate.account_id = account.into();
        group
    }

    #[tokio::test(start_paused = true)]
    async fn the_latest_version_is_asked_once_an_hour_per_account_and_kept_through_failures() {
        let api = Arc::new(Versions {
            calls: AtomicUsize::new(0),
            fail: std::sync::atomic::AtomicBool::new(false),
        });
        let check = HarnessCheck::new(api.clone(), DEFAULT_GRACE);
        let (a, b, c) = (
            auto("a", "acct1", "auto"),
            auto("b", "acct1", "{auto: minimal}"),
            auto("c", "acct2", "auto"),
        );
        let pinned = DesiredGroup::test("p")
            .image("harness/delegate")
            .version("25.01.1")
            .build();
        let versions =
            |answers: Vec<Option<Result<Resolved, HarnessFailure>>>| -> Vec<Option<String>> {
                answers
                    .into_iter()
                    .map(|a| a.map(|r| r.map_or_else(|e| e.to_string(), |r| r.version)))
                    .collect()
            };
        let first = versions(check.resolve(&[&a, &b, &c, &pinned]).await);
        assert_eq!(api.calls.load(Ordering::SeqCst), 2, "one call per account");
        assert_eq!(first[0].as_deref(), Some("25.01.1"));
        assert_eq!(first[1].as_deref(), Some("25.01.1.minimal"), "the track");
        assert!(first[3].is_none(), "a pinned version is not asked");
        tokio::time::advance(VERSION_FRESH - Duration::from_secs(1)).await;
        check.resolve(&[&a, &b, &c]).await;
        assert_eq!(api.calls.load(Ordering::SeqCst), 2, "kept for an hour");
        tokio::time::advance(Duration::from_secs(1)).await;
        api.fail.store(true, std::sync::atomic::Ordering::SeqCst);
        let failing = check.resolve(&[&a]).await;
        assert_eq!(api.calls.load(Ordering::SeqCst), 3);
        let kept = failing[0].clone().unwrap().unwrap();
        assert_eq!(kept.version, "25.01.1", "the last version Harness named");
        assert!(kept.stale.is_some());
        check.resolve(&[&a]).await;
        assert_eq!(
            api.calls.load(Ordering::SeqCst),
            3,
            "a failing scope is held off"
        );
        // A scope never answered has no version: the failure.
        let d = auto("d", "acct3", "auto");
        let none = check.resolve(&[&d]).await;
        assert!(none[0].clone().unwrap().is_err());
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
