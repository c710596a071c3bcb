//! Leader election for several replicas of the loop: one lease item in a DynamoDB table, taken
//! and renewed with conditional writes (a version incremented on every take, renew and
//! release), in the way of client-go's leader election and the Kinesis Client Library's lease
//! table.
//!
//! Expiry is observed, not computed from clocks: a replica may take a lease only after it has
//! seen the same (holder, version) for a whole lease duration on its own monotonic clock. The
//! holder's write gate closes `renew_deadline` after the start of its last successful renew;
//! since `renew_deadline < duration`, and a contender's observation of a version starts after
//! the renew that wrote it, the holder stops writing before anyone else may start. A paused
//! holder (SIGSTOP, a long GC, a frozen host) resumes with its gate already closed.
//!
//! ECS takes no fencing token, so a write already sent cannot be refused once the lease has
//! moved: the guarantee is time. Every write permitted under a lease is over by its deadline,
//! the lease's gate-close instant minus a clock-drift margin ([`Timing::margin`]): it is cut
//! there, with every attempt and retry of it ([`engine::WritePermit::within`]). A request the
//! network still carries reaches ECS within the write timeout or never (the assumption), so
//! the last write lands by `renew + renew_deadline + write_timeout`, which [`Timing::check`]
//! keeps before `renew + duration - margin`, the earliest a contender takes over. A lease is
//! released (SIGTERM, hand-back) only once its writes are over and a write timeout has passed
//! since the last; otherwise it is left to expire.
//!
//! With `--shards N` the groups are split by a stable hash into N leases, and the same holds
//! per lease. Replicas count each other by membership items (one per replica, advanced every
//! round, alive while seen changing); each holds at most ceil(N / alive). A replica over that
//! share hands leases back (closed to new writes, released once the writes in flight under
//! them are over) rather than having them stolen: a stolen live lease would leave its old
//! holder writing until its next renew failed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{error, info, warn};

mod dynamo;
mod round;

pub use dynamo::DynamoStore;

/// client-go's defaults: lease 15 s, renew deadline 10 s, retry 2 s.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(15);
/// See [`DEFAULT_DURATION`].
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// See [`DEFAULT_DURATION`].
pub const DEFAULT_RETRY: Duration = Duration::from_secs(2);
/// The longest one attempt of a write may take under a lease (the SDK's attempt timeout), and
/// how long a request may travel before it reaches AWS: 15 s >= 10 s + 4 s + 0.75 s.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(4);
/// Clock rates are assumed to differ by less than this fraction (NTP keeps them within
/// 0.05%): the margin is this part of the lease duration.
pub const DRIFT_DIVISOR: u32 = 20;

/// The lease item as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Who holds it; empty once released.
    pub holder: String,
    /// Incremented on every take, renew and release.
    pub version: u64,
}

/// Why a lease call failed (not a lost condition: that is `Ok(false)`).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{action} on lease table {table}: {message}")]
pub struct LeaseError {
    /// The DynamoDB action, e.g. `dynamodb:UpdateItem`.
    pub action: &'static str,
    /// The table.
    pub table: String,
    /// What went wrong.
    pub message: String,
    /// Whether trying again can help.
    pub kind: LeaseErrorKind,
}

/// Whether a lease call's failure passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseErrorKind {
    /// The table does not exist or the call was denied: the configuration must change.
    Configuration,
    /// A throttle, a timeout, a lost connection: the next round may succeed.
    Passing,
}

impl LeaseError {
    /// The configuration must change: the elector stops (at startup, a startup error).
    pub fn is_configuration(&self) -> bool {
        self.kind == LeaseErrorKind::Configuration
    }
}

/// Where the lease lives.
#[async_trait::async_trait]
pub trait LeaseStore: Send + Sync {
    /// The lease item (a strongly consistent read), if any.
    async fn read(&self, name: &str) -> Result<Option<Record>, LeaseError>;
    /// Creates the item held by `holder` at version 1, if there is none.
    async fn create(&self, name: &str, holder: &str) -> Result<bool, LeaseError>;
    /// Sets `holder` and increments the version, if the version is still `version` (a take,
    /// or with `holder` the current holder, a renew; an empty `holder` releases).
    async fn advance(&self, name: &str, holder: &str, version: u64) -> Result<bool, LeaseError>;
    /// Every item named `prefix` or starting with `prefix/` (strongly consistent).
    async fn list(&self, prefix: &str) -> Result<Vec<(String, Record)>, LeaseError>;
}

/// The durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    /// How long a lease seen unchanged may be considered alive.
    pub duration: Duration,
    /// How long after the start of its last renew the holder keeps writing.
    pub renew_deadline: Duration,
    /// How often a replica tries to take or renew.
    pub retry: Duration,
    /// The longest one attempt of a write may take; a request reaches AWS within it or never.
    pub write_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            duration: DEFAULT_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry: DEFAULT_RETRY,
            write_timeout: DEFAULT_WRITE_TIMEOUT,
        }
    }
}

/// A rule of the lease durations that a [`Timing`] breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TimingError {
    /// The holder would write while a contender may take over.
    #[error(
        "the renew deadline ({deadline:?}) must be shorter than the lease duration ({duration:?})"
    )]
    DeadlineNotShorterThanLease {
        /// The renew deadline.
        deadline: Duration,
        /// The lease duration.
        duration: Duration,
    },
    /// A write permitted just before the gate closed could land after a contender took over.
    #[error(
        "the lease duration ({duration:?}) must be at least the renew deadline ({deadline:?}) + the write timeout ({write:?}) + the clock-drift margin ({margin:?}, 1/20 of the lease duration): otherwise a write permitted just before the holder stops writing could reach ECS after another replica took the lease"
    )]
    WritesOutliveLease {
        /// The lease duration.
        duration: Duration,
        /// The renew deadline.
        deadline: Duration,
        /// The write timeout.
        write: Duration,
        /// The drift margin.
        margin: Duration,
    },
    /// The holder would lose its lease between two renews.
    #[error(
        "the retry interval ({retry:?}) must be shorter than the renew deadline ({deadline:?})"
    )]
    RetryNotShorterThanDeadline {
        /// The retry interval.
        retry: Duration,
        /// The renew deadline.
        deadline: Duration,
    },
}

impl Timing {
    /// The margin for clock-rate drift between replicas: 1/20 of the lease duration.
    pub fn margin(&self) -> Duration {
        self.duration / DRIFT_DIVISOR
    }

    /// How long the holder writes after the start of its last renew: every write permitted
    /// under it is over by then.
    pub fn write_window(&self) -> Duration {
        self.renew_deadline.saturating_sub(self.margin())
    }

    /// The renew deadline must be shorter than the lease; the lease at least the renew
    /// deadline, the write timeout and the drift margin together; the retry shorter than the
    /// renew deadline.
    ///
    /// # Errors
    /// The rule broken.
    pub fn check(&self) -> Result<(), TimingError> {
        if self.renew_deadline >= self.duration {
            return Err(TimingError::DeadlineNotShorterThanLease {
                deadline: self.renew_deadline,
                duration: self.duration,
            });
        }
        if self.renew_deadline + self.write_timeout + self.margin() > self.duration {
            return Err(TimingError::WritesOutliveLease {
                duration: self.duration,
                deadline: self.renew_deadline,
                write: self.write_timeout,
                margin: self.margin(),
            });
        }
        if self.retry >= self.renew_deadline {
            return Err(TimingError::RetryNotShorterThanDeadline {
                retry: self.retry,
                deadline: self.renew_deadline,
            });
        }
        Ok(())
    }
}

/// One lease item as this replica knows it.
#[derive(Debug, Default)]
struct Lease {
    /// Held at this version, renewed (or taken) by a call that started then.
    held: Option<(u64, Instant)>,
    /// What was last seen of someone else's lease, and since when unchanged.
    seen: Option<(Record, Instant)>,
    /// Being handed back to a replica that joined: closed to new writes, released once the
    /// writes in flight are over.
    releasing: bool,
    /// Writes in flight under this lease (permits not yet dropped).
    writing: usize,
    /// A write timeout after the last write under this lease ended: until then a request it
    /// sent may still reach AWS, and the lease is not released.
    quiet_at: Option<Instant>,
}

impl Lease {
    /// When nothing written under it can reach AWS any more, once its writes are all over.
    fn quiet_when(&self) -> Option<Instant> {
        (self.writing == 0).then(|| self.quiet_at.unwrap_or_else(Instant::now))
    }

    /// No write under it is in flight, and none can still reach AWS.
    fn quiet(&self) -> bool {
        self.quiet_when().is_some_and(|at| at <= Instant::now())
    }

    fn open(&self, renew_deadline: Duration) -> bool {
        !self.releasing
            && self
                .held
                .is_some_and(|(_, renewed)| renewed.elapsed() < renew_deadline)
    }
}

#[derive(Debug, Default)]
struct State {
    /// One per shard.
    leases: Vec<Lease>,
    /// Other replicas' membership items (with shards): as last seen and since when unchanged.
    members: std::collections::HashMap<String, (Record, Instant)>,
    /// Leases of another shard count (or none), as last seen and since when unchanged.
    foreign: std::collections::HashMap<String, (Record, Instant)>,
    /// This replica's membership item's version, once written.
    member_version: Option<u64>,
    /// Replicas counted alive at the last look, this one included (with shards).
    live: usize,
    /// Leases of another shard count seen alive: nothing is taken until they are gone.
    conflict: Option<String>,
    /// Times a lease was taken or lost.
    transitions: u64,
}

/// One replica's view of the leases; the write gate of its loop.
pub struct Elector {
    store: Arc<dyn LeaseStore>,
    name: String,
    holder: String,
    timing: Timing,
    shards: u32,
    state: Arc<Mutex<State>>,
    acquired: tokio::sync::watch::Sender<u64>,
}

/// A write in flight under a lease; dropping it ends the write.
struct Writing {
    state: Arc<Mutex<State>>,
    shard: usize,
    /// A request it sent may reach AWS until this long after it ended.
    write_timeout: Duration,
}

impl Drop for Writing {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        if let Some(lease) = state.leases.get_mut(self.shard) {
            lease.writing = lease.writing.saturating_sub(1);
            let quiet = Instant::now() + self.write_timeout;
            lease.quiet_at = Some(lease.quiet_at.map_or(quiet, |at| at.max(quiet)));
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Elector {
    /// A replica named `holder` competing for the lease `name` in `store` (plain leader
    /// election).
    pub fn new(store: Arc<dyn LeaseStore>, name: &str, holder: &str, timing: Timing) -> Self {
        Elector::sharded(store, name, holder, timing, 1)
    }

    /// A replica competing for `shards` leases: `NAME/shard/I-of-N` (just `NAME` with one
    /// shard). Each replica holds a fair share, ceil(shards / live replicas), counting the
    /// replicas by their membership items `NAME/replica/HOLDER`; one that holds more hands the
    /// extra back (after its writes in flight) when another joins, KCL-style but without
    /// stealing a live lease, which would let two replicas write for up to a retry period.
    pub fn sharded(
        store: Arc<dyn LeaseStore>,
        name: &str,
        holder: &str,
        timing: Timing,
        shards: u32,
    ) -> Self {
        let shards = shards.max(1);
        let state = State {
            leases: (0..shards).map(|_| Lease::default()).collect(),
            live: 1,
            ..State::default()
        };
        Elector {
            store,
            name: name.to_owned(),
            holder: holder.to_owned(),
            timing,
            shards,
            state: Arc::new(Mutex::new(state)),
            acquired: tokio::sync::watch::channel(0).0,
        }
    }

    /// A unique holder name: the controller id, the host and a random suffix.
    pub fn holder_name(controller_id: &str) -> String {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        format!(
            "{controller_id}/{host}/{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// The item name of shard `i`.
    fn item(&self, i: usize) -> String {
        if self.shards == 1 {
            self.name.clone()
        } else {
            format!("{}/shard/{i}-of-{}", self.name, self.shards)
        }
    }

    fn member_item(&self) -> String {
        format!("{}/replica/{}", self.name, self.holder)
    }

    /// This replica's name.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// A lease is held (with shards, at least one) and its renew deadline has not passed.
    pub fn is_leader(&self) -> bool {
        !self.held().is_empty()
    }

    /// The shards held whose renew deadline has not passed (and not being handed back).
    pub fn held(&self) -> Vec<u32> {
        let deadline = self.timing.renew_deadline;
        self.lock()
            .leases
            .iter()
            .zip(0..)
            .filter(|(lease, _)| lease.open(deadline))
            .map(|(_, i)| i)
            .collect()
    }

    /// Since the start of the oldest renew among the leases held.
    pub fn since_renew(&self) -> Option<Duration> {
        self.lock()
            .leases
            .iter()
            .filter_map(|l| l.held.map(|(_, renewed)| renewed.elapsed()))
            .max()
    }

    /// Times a lease was taken or lost by this replica.
    pub fn transitions(&self) -> u64 {
        self.lock().transitions
    }

    /// Changes each time this replica takes a lease (the loop then reconciles everything).
    pub fn on_acquire(&self) -> tokio::sync::watch::Receiver<u64> {
        self.acquired.subscribe()
    }

    /// Takes part until `stop` resolves, then releases the leases held, so other replicas
    /// take over within one retry period (once no write under them can still land, or they
    /// are left to expire).
    ///
    /// # Errors
    /// A store error of the configuration (the table is missing, a call is denied).
    pub async fn run(
        self: Arc<Self>,
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<(), LeaseError> {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(self.timing.retry);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = &mut stop => break,
                _ = tick.tick() => self.round().await?,
            }
        }
        self.release(self.release_grace()).await;
        Ok(())
    }

    /// How long [`Elector::release`] waits at most for the writes under a lease: until the
    /// last write's deadline (a renew deadline away) and a write timeout after it.
    pub fn release_grace(&self) -> Duration {
        self.timing.renew_deadline + self.timing.write_timeout
    }

    /// Gives every lease up (SIGTERM): closed to new writes at once, each released (its
    /// holder emptied) as soon as no write under it is in flight and a write timeout has passed
    /// since the last one ended, so nothing it sent can still reach AWS. A lease whose writes
    /// are not over within `grace` is left to expire instead. The replica's membership item
    /// is emptied too.
    pub async fn release(&self, grace: Duration) {
        let give_up = Instant::now() + grace;
        let mut held: Vec<(usize, u64)> = {
            let mut state = self.lock();
            state
                .leases
                .iter_mut()
                .enumerate()
                .filter_map(|(i, l)| {
                    l.releasing = true;
                    l.held.map(|(v, _)| (i, v))
                })
                .collect()
        };
        while !held.is_empty() {
            let (quiet, waiting): (Vec<_>, Vec<_>) = {
                let state = self.lock();
                held.iter().partition(|(i, _)| state.leases[*i].quiet())
            };
            for &(i, version) in &quiet {
                self.give_back(i, version).await;
            }
            held = waiting;
            if held.is_empty() {
                break;
            }
            // The earliest a waiting lease may be quiet: its last write's end plus a write
            // timeout; while writes are in flight, look again shortly.
            let next = {
                let state = self.lock();
                held.iter()
                    .filter_map(|(i, _)| state.leases[*i].quiet_when())
                    .min()
                    .unwrap_or_else(|| Instant::now() + Duration::from_millis(50))
            };
            if next > give_up {
                for (i, _) in held.drain(..) {
                    let item = self.item(i);
                    warn!(lease = %item, "writes under the lease may still reach AWS; not released, it expires instead");
                    self.lock().leases[i].held = None;
                }
                break;
            }
            tokio::time::sleep_until(next.max(Instant::now() + Duration::from_millis(1))).await;
        }
        let member = self.lock().member_version.take();
        if let Some(version) = member {
            let _ = self.store.advance(&self.member_item(), "", version).await;
        }
    }

    /// Releases lease `i` held at `version` (its writes are over).
    async fn give_back(&self, i: usize, version: u64) {
        {
            let mut state = self.lock();
            let lease = &mut state.leases[i];
            lease.held = None;
            lease.releasing = false;
        }
        let item = self.item(i);
        match self.store.advance(&item, "", version).await {
            Ok(true) => info!(lease = %item, "released the lease"),
            Ok(false) => {}
            Err(e) => {
                warn!(lease = %item, error = %e, "releasing the lease failed; it expires instead");
            }
        }
    }
}

impl engine::WriteGate for Elector {
    fn enter(&self, group: &engine::GroupId<'_>) -> Option<engine::WritePermit> {
        let shard = group.shard(self.shards) as usize;
        let mut state = self.lock();
        let lease = state.leases.get_mut(shard)?;
        if !lease.open(self.timing.renew_deadline) {
            return None;
        }
        // Over by the gate-close instant minus the drift margin; none starts after it.
        let (_, renewed) = lease.held?;
        let deadline = renewed + self.timing.write_window();
        if deadline <= Instant::now() {
            return None;
        }
        lease.writing += 1;
        let writing = Writing {
            state: Arc::clone(&self.state),
            shard,
            write_timeout: self.timing.write_timeout,
        };
        Some(engine::WritePermit::guarded(writing).until(deadline))
    }

    fn covers(&self, group: &engine::GroupId<'_>) -> bool {
        // A standby of a single lease observes everything: a failover starts warm.
        self.shards == 1
            || self
                .lock()
                .leases
                .get(group.shard(self.shards) as usize)
                .is_some_and(|l| l.open(self.timing.renew_deadline))
    }

    fn leadership(&self) -> Option<engine::Leadership> {
        let held = self.held();
        Some(engine::Leadership {
            lease: self.name.clone(),
            holder: self.holder.clone(),
            leading: !held.is_empty(),
            shards: self.shards,
            held,
            replicas: (self.shards > 1).then(|| self.lock().live),
            transitions: self.transitions(),
            seconds_since_renew: self.since_renew().map(|d| d.as_secs_f64()),
        })
    }
}

#[cfg(test)]
mod tests;
