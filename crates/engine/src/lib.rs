//! The engine: observe ECS (batched), apply plans, and run the one reconcile pass with its error
//! policy that both `reconcile --once` and the loop call. Generic over the client crate's
//! traits, so it is tested with the in-memory fake.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Mutex;

use std::sync::Arc;

use client::{ClientProvider, Target};
use futures::stream::{self, StreamExt};
use plan::{DesiredGroup, GroupError, ObservedTaskDefinition, PlanOptions};

mod apply;
mod capacity;
mod observe;
pub mod once;
pub mod pass;
mod prune;
pub mod retry;
mod roles;
mod rollbacks;
pub mod scope;
mod tasks;
mod unlisted;
pub mod waves;
pub mod windows;
pub mod write;
mod writes;

#[cfg(test)]
mod tests;

pub use once::{WaitEnd, WaitProgress, ONCE_RETRY_ROUNDS};
pub use pass::{GroupReport, Mode, PassReport, PruneProblem, PruneReport};
pub use plan::PruneLimits;
pub use retry::{Backoff, Next, Retries};
pub use scope::{AlwaysOpen, DeadlinePassed, GroupId, Leadership, Scope, WriteGate, WritePermit};
pub use write::Write;
pub use writes::group_error;

/// Groups as plain references, whatever the caller holds them in (values, `Arc`s).
fn borrowed<G: Borrow<DesiredGroup>>(desired: &[G]) -> Vec<&DesiredGroup> {
    desired.iter().map(Borrow::borrow).collect()
}

/// `make` applied to each item, with at most `limit` of the futures in flight; their results,
/// in completion order, collected into `C`.
///
/// The futures are built before they are streamed: a stream that maps a borrowing closure is
/// not provably `Send` for every lifetime, which a task spawned on the runtime requires.
fn bounded<T, F, C>(
    items: impl IntoIterator<Item = T>,
    make: impl FnMut(T) -> F,
    limit: usize,
) -> impl std::future::Future<Output = C>
where
    F: std::future::Future,
    C: Default + Extend<F::Output>,
{
    let futures: Vec<F> = items.into_iter().map(make).collect();
    stream::iter(futures).buffer_unordered(limit).collect()
}

/// The groups (by index into `desired`) observed so far that `wants` keeps, by the cluster
/// they are in: what one call per cluster serves.
fn by_cluster(
    desired: &[&DesiredGroup],
    results: &Observations,
    mut wants: impl FnMut(&DesiredGroup, &plan::ObservedGroup) -> bool,
) -> std::collections::BTreeMap<(Target, String), Vec<usize>> {
    let mut clusters = std::collections::BTreeMap::<_, Vec<usize>>::new();
    for (i, (d, o)) in desired.iter().zip(results).enumerate() {
        if o.as_ref().is_ok_and(|o| wants(d, o)) {
            let key = (d.target.clone(), d.cluster().to_owned());
            clusters.entry(key).or_default().push(i);
        }
    }
    clusters
}

/// Each group's observation (or why it failed), aligned with the groups being observed.
type Observations = Vec<Result<plan::ObservedGroup, client::AwsError>>;

/// DescribeServices takes at most 10 names.
const DESCRIBE_SERVICES_BATCH: usize = 10;

/// What happened to one group in an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOutcome {
    /// Group name.
    pub group: String,
    /// Cluster as written.
    pub cluster: String,
    /// Account and region.
    pub target: Target,
    /// What was done, one event per write.
    pub done: Vec<Write>,
    /// Why the group failed, if it did.
    pub error: Option<GroupError>,
}

/// (account and region, cluster, group name).
type GroupKey = (Target, String, String);

/// A group's key: (target, cluster, name).
fn group_key(d: &DesiredGroup) -> GroupKey {
    (
        d.target.clone(),
        d.cluster().to_owned(),
        d.name().to_owned(),
    )
}

/// The reconcile engine: the API, the plan settings, the caches (immutable revisions, roles
/// found good) and the retry policy's per-group state, for the life of the process.
pub struct Engine<P> {
    provider: P,
    options: PlanOptions,
    concurrency: usize,
    retries: Retries,
    revisions: Mutex<HashMap<(Target, String), ObservedTaskDefinition>>,
    /// Roles found good, and when.
    roles: Mutex<HashMap<String, tokio::time::Instant>>,
    /// (target, cluster, group) -> the service name no renamed service was found for, and when:
    /// a group whose service stays missing (a Stalled one) does not list its cluster every pass.
    renames: Mutex<HashMap<GroupKey, (String, tokio::time::Instant)>>,
    /// (execution role, token) -> when checked, and what was found.
    secrets: Mutex<HashMap<String, (tokio::time::Instant, Option<plan::SecretAccessProblem>)>>,
    /// Services created and tasks started that ECS may not list yet (eventual consistency).
    unlisted: Mutex<unlisted::Unlisted>,
    /// With `--harness-api-key-secret`: Ready also means connected to Harness.
    harness: Option<Arc<harness::HarnessCheck>>,
    /// The operator's change windows: when writes are held.
    windows: Option<Arc<windows::Windows>>,
    /// Rollout waves: the bake time and the failure policy.
    wave_settings: waves::WaveSettings,
    /// What the last pass that observed each group saw of it, by name (see [`waves`]).
    seen: Mutex<HashMap<String, waves::Seen>>,
    /// Each group's [`fingerprint`] at its last clean pass (in sync, or applied without
    /// error): a later difference with the same fingerprint is drift, not a change of files.
    clean: Mutex<HashMap<GroupKey, u64>>,
}

/// Identifies a group's whole spec as written and resolved (not only its task definition's
/// spec-hash: a count change is a change of the files too).
pub fn fingerprint(group: &DesiredGroup) -> u64 {
    use std::hash::Hasher as _;
    let mut hasher = fnv::FnvHasher::default();
    hasher.write(&serde_json::to_vec(&group.group).unwrap_or_default());
    hasher.write(group.target.to_string().as_bytes());
    // `version: auto` resolved to a new version is a change of what is wanted, not drift.
    if let Some(version) = &group.group.spec.delegate.resolved_version {
        hasher.write(version.as_bytes());
    }
    hasher.finish()
}

impl<P: ClientProvider> Engine<P> {
    /// An engine over the targets `provider` gives clients for, running up to `concurrency`
    /// calls or groups at once, with the default retry policy.
    pub fn new(provider: P, options: PlanOptions, concurrency: usize) -> Self {
        Engine::with_retries(provider, options, concurrency, Retries::default())
    }

    /// An engine with its own retry policy (the loop's backoff settings).
    pub fn with_retries(
        provider: P,
        options: PlanOptions,
        concurrency: usize,
        retries: Retries,
    ) -> Self {
        Engine {
            provider,
            options,
            concurrency: concurrency.max(1),
            retries,
            revisions: Mutex::new(HashMap::new()),
            roles: Mutex::new(HashMap::new()),
            secrets: Mutex::new(HashMap::new()),
            renames: Mutex::new(HashMap::new()),
            unlisted: Mutex::new(unlisted::Unlisted::default()),
            harness: None,
            windows: None,
            wave_settings: waves::WaveSettings::default(),
            seen: Mutex::new(HashMap::new()),
            clean: Mutex::new(HashMap::new()),
        }
    }

    /// Rollout waves with `settings` (bake time, failure policy).
    #[must_use]
    pub fn with_waves(mut self, settings: waves::WaveSettings) -> Self {
        self.wave_settings = settings;
        self
    }

    /// Writes only as `windows` allow.
    #[must_use]
    pub fn with_windows(mut self, windows: Option<Arc<windows::Windows>>) -> Self {
        self.windows = windows.filter(|w| !w.is_empty());
        self
    }

    /// Ready also requires the delegates connected to Harness, as `check` reads it.
    #[must_use]
    pub fn with_harness(mut self, check: Option<Arc<harness::HarnessCheck>>) -> Self {
        self.harness = check;
        self
    }

    /// What was created and may not be listed yet.
    fn unlisted(&self) -> std::sync::MutexGuard<'_, unlisted::Unlisted> {
        self.unlisted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The retries (the loop forgets removed groups through them).
    pub fn retries(&self) -> &Retries {
        &self.retries
    }

    /// The provider of the clients the engine calls.
    pub fn api(&self) -> &P {
        &self.provider
    }

    /// The clients of a target (an account and region).
    fn client(&self, target: &Target) -> Arc<P::Api> {
        self.provider.clients(target)
    }
}
