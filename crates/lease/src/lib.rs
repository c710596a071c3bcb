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

pub use dynamo::DynamoStore;

/// client-go's defaults: lease 15 s, renew deadline 10 s, retry 2 s.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(15);
/// See [`DEFAULT_DURATION`].
pub const DEFAULT_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// See [`DEFAULT_DURATION`].
pub const DEFAULT_RETRY: Duration = Duration::from_secs(2);

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
    /// The table does not exist or the call was denied: a configuration error.
    pub fatal: bool,
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
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            duration: DEFAULT_DURATION,
            renew_deadline: DEFAULT_RENEW_DEADLINE,
            retry: DEFAULT_RETRY,
        }
    }
}

impl Timing {
    /// The renew deadline must be shorter than the lease, and the retry than the deadline.
    ///
    /// # Errors
    /// When they are not.
    pub fn check(&self) -> Result<(), String> {
        if self.renew_deadline >= self.duration {
            return Err("--lease-renew-deadline must be shorter than --lease-duration".into());
        }
        if self.retry >= self.renew_deadline {
            return Err("--lease-retry must be shorter than --lease-renew-deadline".into());
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
}

impl Lease {
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
}

impl Drop for Writing {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        if let Some(lease) = state.leases.get_mut(self.shard) {
            lease.writing = lease.writing.saturating_sub(1);
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

    /// One round: renew what is held, then (with shards) count the replicas, hand back what
    /// is over the fair share, and take free or expired leases up to it.
    ///
    /// # Errors
    /// A fatal store error (missing table, access denied).
    pub async fn round(&self) -> Result<(), LeaseError> {
        let started = Instant::now();
        let held: Vec<(usize, u64)> = self
            .lock()
            .leases
            .iter()
            .enumerate()
            .filter_map(|(i, l)| l.held.map(|(v, _)| (i, v)))
            .collect();
        for (i, version) in held {
            self.renew(i, version, started).await?;
        }
        if self.shards == 1 {
            if self.lock().leases[0].held.is_none() {
                let current = match self.store.read(&self.name).await {
                    Ok(current) => current,
                    Err(e) if e.fatal => return Err(e),
                    Err(e) => {
                        warn!(lease = %self.name, error = %e, "reading the lease failed; retrying");
                        return Ok(());
                    }
                };
                if self.try_take(0, current, started).await? {
                    self.acquired.send_modify(|n| *n += 1);
                }
            }
            return Ok(());
        }
        self.heartbeat().await?;
        let items = match self.store.list(&self.name).await {
            Ok(items) => items,
            Err(e) if e.fatal => return Err(e),
            Err(e) => {
                warn!(lease = %self.name, error = %e, "listing the leases failed; retrying");
                return Ok(());
            }
        };
        let (share, current) = self.look(items);
        self.hand_back(share).await?;
        let mut took = false;
        for (i, record) in current.into_iter().enumerate() {
            if self.count_held() >= share || self.lock().conflict.is_some() {
                break;
            }
            if self.lock().leases[i].held.is_some() {
                continue;
            }
            took |= self.try_take(i, record, started).await?;
        }
        if took {
            self.acquired.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    fn count_held(&self) -> usize {
        self.lock()
            .leases
            .iter()
            .filter(|l| l.held.is_some() && !l.releasing)
            .count()
    }

    /// This replica's membership item: created once, advanced every round.
    async fn heartbeat(&self) -> Result<(), LeaseError> {
        let item = self.member_item();
        let version = self.lock().member_version;
        let written = match version {
            None => self
                .store
                .create(&item, &self.holder)
                .await
                .map(|ok| ok.then_some(1)),
            Some(v) => self
                .store
                .advance(&item, &self.holder, v)
                .await
                .map(|ok| ok.then_some(v + 1)),
        };
        match written {
            Ok(Some(v)) => self.lock().member_version = Some(v),
            // Changed under us (it never should be): read it again next round.
            Ok(None) => {
                let current = self.store.read(&item).await;
                self.lock().member_version = current.ok().flatten().map(|r| r.version);
            }
            Err(e) if e.fatal => return Err(e),
            Err(e) => warn!(lease = %item, error = %e, "the replica's heartbeat failed; retrying"),
        }
        Ok(())
    }

    /// Reads the listed items: the replicas alive (this one included), the fair share, leases
    /// of another shard count, and each shard's item.
    fn look(&self, items: Vec<(String, Record)>) -> (usize, Vec<Option<Record>>) {
        let mut shards: Vec<Option<Record>> = vec![None; self.shards as usize];
        let members_prefix = format!("{}/replica/", self.name);
        let shard_prefix = format!("{}/shard/", self.name);
        let ours = format!("-of-{}", self.shards);
        let now = Instant::now();
        let duration = self.timing.duration;
        let mut state = self.lock();
        // Each record with the time it was first seen as it is now.
        let since = |seen: &std::collections::HashMap<String, (Record, Instant)>,
                     key: &str,
                     record: &Record| match seen.get(key) {
            Some((old, since)) if old == record => *since,
            _ => now,
        };
        let mut members = std::collections::HashMap::new();
        let mut foreign = std::collections::HashMap::new();
        for (key, record) in items {
            if let Some(member) = key.strip_prefix(&members_prefix) {
                if member != self.holder && !record.holder.is_empty() {
                    let first = since(&state.members, member, &record);
                    members.insert(member.to_owned(), (record, first));
                }
            } else if let Some(index) = key
                .strip_prefix(&shard_prefix)
                .and_then(|rest| rest.strip_suffix(&ours))
                .and_then(|i| i.parse::<usize>().ok())
                .filter(|i| *i < shards.len())
            {
                shards[index] = Some(record);
            } else if (key == self.name || key.starts_with(&shard_prefix))
                && !record.holder.is_empty()
            {
                // A lease of a replica with another --shards (or none).
                let first = since(&state.foreign, &key, &record);
                foreign.insert(key, (record, first));
            }
        }
        let alive = |(_, since): &(Record, Instant)| now.duration_since(*since) < duration;
        let live = 1 + members.values().filter(|m| alive(m)).count();
        let conflict = foreign
            .iter()
            .find(|(_, f)| alive(f))
            .map(|(key, _)| key.clone());
        if conflict.is_some() && conflict != state.conflict {
            error!(lease = %conflict.as_deref().unwrap_or_default(), shards = self.shards, "a lease of another shard count is held: every replica of one --lease-name needs the same --shards; taking nothing until it expires");
        }
        let share = (self.shards as usize).div_ceil(live);
        if live != state.live {
            info!(lease = %self.name, replicas = live, share, "the number of replicas alive changed");
        }
        // Every other replica's lease is watched from the first look, so one whose holder
        // died expires a lease duration after that, not after this replica wants it.
        for (lease, record) in state.leases.iter_mut().zip(&shards) {
            match (record, &lease.seen) {
                (Some(record), Some((seen, _))) if seen == record => {}
                (Some(record), _) if lease.held.is_none() => {
                    lease.seen = Some((record.clone(), now));
                }
                _ => {}
            }
        }
        state.conflict = conflict;
        state.live = live;
        state.members = members;
        state.foreign = foreign;
        (share, shards)
    }

    /// Over the fair share: close the extra leases to new writes, and release each once its
    /// writes in flight are over (this round or a later one).
    async fn hand_back(&self, share: usize) -> Result<(), LeaseError> {
        let ready: Vec<(usize, u64)> = {
            let mut state = self.lock();
            let mut keep = 0;
            for lease in &mut state.leases {
                if lease.held.is_some() && !lease.releasing {
                    keep += 1;
                    if keep > share {
                        lease.releasing = true;
                    }
                }
            }
            state
                .leases
                .iter()
                .enumerate()
                .filter(|(_, l)| l.releasing && l.writing == 0)
                .filter_map(|(i, l)| l.held.map(|(v, _)| (i, v)))
                .collect()
        };
        for (i, version) in ready {
            let item = self.item(i);
            let released = self.store.advance(&item, "", version).await;
            let mut state = self.lock();
            let lease = &mut state.leases[i];
            lease.held = None;
            lease.releasing = false;
            state.transitions += 1;
            match released {
                Ok(_) => {
                    info!(lease = %item, "handed the lease back to share the shards with a replica that joined");
                }
                Err(e) if e.fatal => return Err(e),
                Err(e) => {
                    warn!(lease = %item, error = %e, "handing the lease back failed; it expires instead");
                }
            }
        }
        Ok(())
    }

    async fn renew(&self, i: usize, version: u64, started: Instant) -> Result<(), LeaseError> {
        let item = self.item(i);
        match self.store.advance(&item, &self.holder, version).await {
            Ok(true) => {
                self.lock().leases[i].held = Some((version + 1, started));
                Ok(())
            }
            Ok(false) => {
                self.lose(i, "another replica took the lease");
                Ok(())
            }
            Err(e) if e.fatal => Err(e),
            Err(e) => {
                // Still held until the renew deadline; the gate closes by itself then.
                warn!(lease = %item, error = %e, "renewing the lease failed; retrying");
                let expired = self.lock().leases[i]
                    .held
                    .is_some_and(|(_, renewed)| renewed.elapsed() >= self.timing.renew_deadline);
                if expired {
                    self.lose(i, "the renew deadline passed");
                }
                Ok(())
            }
        }
    }

    /// Takes lease `i` if it is missing, free, or expired; whether it was taken.
    async fn try_take(
        &self,
        i: usize,
        current: Option<Record>,
        started: Instant,
    ) -> Result<bool, LeaseError> {
        let item = self.item(i);
        let taken = match current {
            None => self
                .store
                .create(&item, &self.holder)
                .await
                .map(|won| won.then_some(1)),
            Some(record) => {
                let free = record.holder.is_empty() || record.holder == self.holder;
                if !free && !self.expired(i, &record) {
                    return Ok(false);
                }
                self.store
                    .advance(&item, &self.holder, record.version)
                    .await
                    .map(|won| won.then_some(record.version + 1))
            }
        };
        let taken = match taken {
            Ok(taken) => taken,
            Err(e) if e.fatal => return Err(e),
            Err(e) => {
                warn!(lease = %item, error = %e, "taking the lease failed; retrying");
                return Ok(false);
            }
        };
        let Some(version) = taken else {
            return Ok(false);
        };
        {
            let mut state = self.lock();
            let lease = &mut state.leases[i];
            lease.held = Some((version, started));
            lease.seen = None;
            lease.releasing = false;
            state.transitions += 1;
        }
        info!(lease = %item, holder = %self.holder, version, "acquired the lease: this replica writes");
        Ok(true)
    }

    /// Someone else's lease, seen unchanged for a whole lease duration on this clock.
    fn expired(&self, i: usize, record: &Record) -> bool {
        let mut state = self.lock();
        let lease = &mut state.leases[i];
        match &lease.seen {
            Some((seen, since)) if seen == record => since.elapsed() >= self.timing.duration,
            _ => {
                lease.seen = Some((record.clone(), Instant::now()));
                false
            }
        }
    }

    fn lose(&self, i: usize, why: &str) {
        let mut state = self.lock();
        let lease = &mut state.leases[i];
        lease.releasing = false;
        if lease.held.take().is_some() {
            state.transitions += 1;
            drop(state);
            warn!(lease = %self.item(i), holder = %self.holder, why, "lost the lease: this replica stops writing");
        }
    }

    /// Takes part until `stop` resolves, then releases the leases held, so other replicas
    /// take over within one retry period.
    ///
    /// # Errors
    /// A fatal store error (the table is missing, a call is denied).
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
        self.release().await;
        Ok(())
    }

    /// Gives every lease up at once (SIGTERM): each item's holder becomes empty, and so does
    /// the replica's membership item.
    pub async fn release(&self) {
        let held: Vec<(usize, u64)> = {
            let mut state = self.lock();
            state
                .leases
                .iter_mut()
                .enumerate()
                .filter_map(|(i, l)| l.held.take().map(|(v, _)| (i, v)))
                .collect()
        };
        for (i, version) in held {
            let item = self.item(i);
            match self.store.advance(&item, "", version).await {
                Ok(true) => info!(lease = %item, "released the lease"),
                Ok(false) => {}
                Err(e) => {
                    warn!(lease = %item, error = %e, "releasing the lease failed; it expires instead");
                }
            }
        }
        let member = self.lock().member_version.take();
        if let Some(version) = member {
            let _ = self.store.advance(&self.member_item(), "", version).await;
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
        lease.writing += 1;
        Some(engine::WritePermit::guarded(Writing {
            state: Arc::clone(&self.state),
            shard,
        }))
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
