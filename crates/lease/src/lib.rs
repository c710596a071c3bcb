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

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info, warn};

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

#[derive(Debug, Default)]
struct State {
    /// Held at this version, renewed (or taken) by a call that started then.
    held: Option<(u64, Instant)>,
    /// What was last seen of someone else's lease, and since when unchanged.
    seen: Option<(Record, Instant)>,
    /// Times the lease was taken or lost.
    transitions: u64,
}

/// One replica's view of the lease; the write gate of its loop.
pub struct Elector {
    store: Arc<dyn LeaseStore>,
    name: String,
    holder: String,
    timing: Timing,
    state: Mutex<State>,
    acquired: tokio::sync::watch::Sender<u64>,
}

impl Elector {
    /// A replica named `holder` competing for the lease `name` in `store`.
    pub fn new(store: Arc<dyn LeaseStore>, name: &str, holder: &str, timing: Timing) -> Self {
        Elector {
            store,
            name: name.to_owned(),
            holder: holder.to_owned(),
            timing,
            state: Mutex::new(State::default()),
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
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// This replica's name.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The lease is held and its renew deadline has not passed.
    pub fn is_leader(&self) -> bool {
        self.lock()
            .held
            .is_some_and(|(_, renewed)| renewed.elapsed() < self.timing.renew_deadline)
    }

    /// Since the start of the last successful renew, while held.
    pub fn since_renew(&self) -> Option<Duration> {
        self.lock().held.map(|(_, renewed)| renewed.elapsed())
    }

    /// Times the lease was taken or lost by this replica.
    pub fn transitions(&self) -> u64 {
        self.lock().transitions
    }

    /// Changes each time this replica takes the lease (the loop then reconciles everything).
    pub fn on_acquire(&self) -> tokio::sync::watch::Receiver<u64> {
        self.acquired.subscribe()
    }

    /// One round: renew when held, else look and take when free or expired.
    ///
    /// # Errors
    /// A fatal store error (missing table, access denied).
    pub async fn round(&self) -> Result<(), LeaseError> {
        let started = Instant::now();
        let held = self.lock().held;
        match held {
            Some((version, _)) => self.renew(version, started).await,
            None => self.try_take(started).await,
        }
    }

    async fn renew(&self, version: u64, started: Instant) -> Result<(), LeaseError> {
        match self.store.advance(&self.name, &self.holder, version).await {
            Ok(true) => {
                self.lock().held = Some((version + 1, started));
                Ok(())
            }
            Ok(false) => {
                self.lose("another replica took the lease");
                Ok(())
            }
            Err(e) if e.fatal => Err(e),
            Err(e) => {
                // Still held until the renew deadline; the gate closes by itself then.
                warn!(lease = %self.name, error = %e, "renewing the lease failed; retrying");
                if !self.is_leader() {
                    self.lose("the renew deadline passed");
                }
                Ok(())
            }
        }
    }

    async fn try_take(&self, started: Instant) -> Result<(), LeaseError> {
        let current = match self.store.read(&self.name).await {
            Ok(current) => current,
            Err(e) if e.fatal => return Err(e),
            Err(e) => {
                warn!(lease = %self.name, error = %e, "reading the lease failed; retrying");
                return Ok(());
            }
        };
        let taken = match current {
            None => self
                .store
                .create(&self.name, &self.holder)
                .await
                .map(|won| won.then_some(1)),
            Some(record) => {
                let free = record.holder.is_empty() || record.holder == self.holder;
                if !free && !self.expired(&record) {
                    return Ok(());
                }
                self.store
                    .advance(&self.name, &self.holder, record.version)
                    .await
                    .map(|won| won.then_some(record.version + 1))
            }
        };
        let taken = match taken {
            Ok(taken) => taken,
            Err(e) if e.fatal => return Err(e),
            Err(e) => {
                warn!(lease = %self.name, error = %e, "taking the lease failed; retrying");
                return Ok(());
            }
        };
        if let Some(version) = taken {
            {
                let mut state = self.lock();
                state.held = Some((version, started));
                state.seen = None;
                state.transitions += 1;
            }
            info!(lease = %self.name, holder = %self.holder, version, "acquired the lease: this replica writes");
            self.acquired.send_modify(|n| *n += 1);
        }
        Ok(())
    }

    /// Someone else's lease, seen unchanged for a whole lease duration on this clock.
    fn expired(&self, record: &Record) -> bool {
        let mut state = self.lock();
        match &state.seen {
            Some((seen, since)) if seen == record => since.elapsed() >= self.timing.duration,
            _ => {
                state.seen = Some((record.clone(), Instant::now()));
                false
            }
        }
    }

    fn lose(&self, why: &str) {
        let mut state = self.lock();
        if state.held.take().is_some() {
            state.transitions += 1;
            warn!(lease = %self.name, holder = %self.holder, why, "lost the lease: this replica stops writing");
        }
    }

    /// Takes part until `stop` resolves, then releases the lease if held, so another replica
    /// takes over within one retry period.
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

    /// Gives the lease up at once (SIGTERM): the item's holder becomes empty.
    pub async fn release(&self) {
        let held = self.lock().held.take();
        if let Some((version, _)) = held {
            match self.store.advance(&self.name, "", version).await {
                Ok(true) => info!(lease = %self.name, "released the lease"),
                Ok(false) => {}
                Err(e) => {
                    warn!(lease = %self.name, error = %e, "releasing the lease failed; it expires instead")
                }
            }
        }
    }
}

impl engine::WriteGate for Elector {
    fn is_open(&self) -> bool {
        self.is_leader()
    }

    fn leadership(&self) -> Option<engine::Leadership> {
        Some(engine::Leadership {
            lease: self.name.clone(),
            holder: self.holder.clone(),
            leading: self.is_leader(),
            transitions: self.transitions(),
            seconds_since_renew: self.since_renew().map(|d| d.as_secs_f64()),
        })
    }
}

#[cfg(test)]
mod tests;
