//! What a pass is responsible for ([`Scope`]) and whether it may write ([`WriteGate`]).
//!
//! The gate is asked per group and per write: a single replica's is always open; with leader
//! election it is open while this replica holds the lease, and with shards, for the groups of
//! the shards it holds (which are also the only ones it observes).

use std::hash::Hasher as _;

use plan::{DesiredGroup, Target};
use spec::arn::cluster_name;

/// Which groups a pass covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The `--selector` the groups were chosen with (empty: every group); prune is refused
    /// with one.
    pub selector: Vec<(String, String)>,
}

impl Scope {
    /// Every group, no selector.
    pub fn all() -> Self {
        Scope::default()
    }

    /// A label selector narrows the groups.
    pub fn is_selected(&self) -> bool {
        !self.selector.is_empty()
    }
}

/// A group as the write gate sees it: the identity its shard is hashed from.
#[derive(Debug, Clone, Copy)]
pub struct GroupId<'a> {
    /// Account and region.
    pub target: &'a Target,
    /// The cluster's name (not its ARN).
    pub cluster: &'a str,
    /// The group's name.
    pub name: &'a str,
}

impl<'a> GroupId<'a> {
    /// The identity of a desired group.
    pub fn of(group: &'a DesiredGroup) -> Self {
        GroupId {
            target: &group.target,
            cluster: cluster_name(group.cluster()),
            name: group.name(),
        }
    }

    /// The identity of a group known only by its tags (an orphan to prune).
    pub fn of_orphan(orphan: &'a plan::Orphan) -> Self {
        GroupId {
            target: &orphan.target,
            cluster: cluster_name(&orphan.cluster),
            name: &orphan.group,
        }
    }

    /// The shard of this group among `count`: a hash of (account, region, cluster name, group
    /// name) that is the same on every machine and in every version of this program. A group
    /// of the controller's own account hashes as it did before accounts existed.
    pub fn shard(&self, count: u32) -> u32 {
        let mut hasher = fnv::FnvHasher::default();
        let account = self.target.account_id();
        for part in
            account
                .into_iter()
                .chain([self.target.region.as_str(), self.cluster, self.name])
        {
            hasher.write(part.as_bytes());
            hasher.write_u8(0);
        }
        // FNV's own output spreads badly modulo small numbers (20 names over 3 shards left one
        // empty); MurmurHash3's finalizer mixes every bit into the low ones first.
        let mut h = hasher.finish();
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
        let count = u64::from(count.max(1));
        u32::try_from(h % count).unwrap_or(0)
    }
}

/// Held while one write is in flight; the gate does not hand the group's lease over before
/// every permit of it is dropped. Under a lease it carries a deadline: the write, every attempt
/// and retry of it, must be over by then ([`WritePermit::within`]), because after it another
/// replica may take the lease and ECS takes no fencing token.
#[must_use = "the permit covers the write only while it is held"]
pub struct WritePermit {
    /// Dropped with the permit: what tells the gate the write is over.
    _guard: Option<Box<dyn Send + Sync>>,
    /// When the write must be over (none: a single replica's).
    deadline: Option<tokio::time::Instant>,
}

/// A write cut at its permit's deadline: whatever it sent may or may not have landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the write was abandoned at its lease deadline (the lease's renew deadline minus the clock-drift margin); whether it landed is unknown, and the lease's next holder plans it again")]
pub struct DeadlinePassed;

impl WritePermit {
    /// A permit with nothing to release (a single replica).
    pub fn free() -> Self {
        WritePermit {
            _guard: None,
            deadline: None,
        }
    }

    /// A permit that drops `guard` when the write is over.
    pub fn guarded(guard: impl Send + Sync + 'static) -> Self {
        WritePermit {
            _guard: Some(Box::new(guard)),
            deadline: None,
        }
    }

    /// The same permit, which the write must be over by `deadline`.
    pub fn until(self, deadline: tokio::time::Instant) -> Self {
        WritePermit {
            deadline: Some(deadline),
            ..self
        }
    }

    /// When the write must be over, if ever.
    pub fn deadline(&self) -> Option<tokio::time::Instant> {
        self.deadline
    }

    /// Runs `write` (every attempt and retry of it) until the deadline: dropped then, so the
    /// request in flight is abandoned and no further attempt starts.
    ///
    /// # Errors
    /// The deadline passed first.
    pub async fn within<T>(
        &self,
        write: impl std::future::Future<Output = T>,
    ) -> Result<T, DeadlinePassed> {
        match self.deadline {
            None => Ok(write.await),
            Some(deadline) => tokio::time::timeout_at(deadline, write)
                .await
                .map_err(|_| DeadlinePassed),
        }
    }
}

impl std::fmt::Debug for WritePermit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WritePermit")
    }
}

/// Consulted before every write: closed, a pass observes and plans but changes nothing.
pub trait WriteGate: Send + Sync {
    /// A permit to write to `group` now, to hold while the write is in flight; `None`: closed.
    fn enter(&self, group: &GroupId<'_>) -> Option<WritePermit>;

    /// Whether this replica reconciles `group` at all. A standby of a single lease observes
    /// every group (a failover starts warm); with shards, a replica observes only the groups
    /// of the shards it holds, so the fleet's API calls are split too.
    fn covers(&self, _group: &GroupId<'_>) -> bool {
        true
    }

    /// Who leads, for `/status` and the metrics; `None` with a single replica.
    fn leadership(&self) -> Option<Leadership> {
        None
    }
}

/// A replica's part in leader election.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Leadership {
    /// The lease item's name (with shards, the prefix of theirs).
    pub lease: String,
    /// This replica's name in the lease.
    pub holder: String,
    /// It holds a lease (with shards, at least one) whose renew deadline has not passed.
    pub leading: bool,
    /// How many shards the groups are split into (1: plain leader election).
    pub shards: u32,
    /// The shards this replica holds and writes.
    pub held: Vec<u32>,
    /// Replicas this one counts as alive (itself included); with shards only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<usize>,
    /// Times this replica took or lost a lease.
    pub transitions: u64,
    /// Seconds since the start of the oldest renew of the leases it holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_since_renew: Option<f64>,
}

/// The gate of a single replica: always open.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOpen;

impl WriteGate for AlwaysOpen {
    fn enter(&self, _group: &GroupId<'_>) -> Option<WritePermit> {
        Some(WritePermit::free())
    }
}
