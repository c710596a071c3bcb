//! What a pass is responsible for ([`Scope`]) and whether it may write ([`WriteGate`]).
//!
//! Both are seams with one implementation today: every group of the files, always allowed to
//! write. A standby replica closes the gate and keeps observing; a sharded fleet gives each
//! replica the shards it holds.

use std::hash::Hasher as _;

use plan::{DesiredGroup, Target};
use spec::arn::cluster_name;

/// A slice of the groups, by a stable hash of their identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This shard, `0..count`.
    pub index: u32,
    /// How many shards the groups are split into (at least 1).
    pub count: u32,
}

impl Shard {
    /// The shard a group belongs to among `count`: a hash of (account, region, cluster, name)
    /// that is the same on every machine and in every version of this program.
    pub fn of(group: &DesiredGroup, count: u32) -> u32 {
        Shard::of_identity(
            &group.target,
            cluster_name(group.cluster()),
            group.name(),
            count,
        )
    }

    /// The shard of a group known only by its identity (a group found by its tags, to prune):
    /// account and region, cluster name (never its ARN), group name. A group of the
    /// controller's own account hashes as it did before accounts existed.
    pub fn of_identity(target: &Target, cluster: &str, name: &str, count: u32) -> u32 {
        let mut hasher = fnv::FnvHasher::default();
        let account = target.account_id();
        for part in account
            .into_iter()
            .chain([target.region.as_str(), cluster, name])
        {
            hasher.write(part.as_bytes());
            hasher.write_u8(0);
        }
        let count = u64::from(count.max(1));
        u32::try_from(hasher.finish() % count).unwrap_or(0)
    }

    /// Whether the group of this identity is in this shard.
    pub fn holds(&self, target: &Target, cluster: &str, name: &str) -> bool {
        Shard::of_identity(target, cluster, name, self.count) == self.index
    }

    /// Whether `group` is in this shard.
    pub fn contains(&self, group: &DesiredGroup) -> bool {
        Shard::of(group, self.count) == self.index
    }
}

/// Which groups a pass covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The `--selector` the groups were chosen with (empty: every group); prune is refused
    /// with one.
    pub selector: Vec<(String, String)>,
    /// The shard this replica holds; `None`: every group.
    pub shard: Option<Shard>,
}

impl Scope {
    /// Every group, no selector.
    pub fn all() -> Self {
        Scope::default()
    }

    /// Whether a pass over this scope covers `group`.
    pub fn contains(&self, group: &DesiredGroup) -> bool {
        self.shard.is_none_or(|s| s.contains(group))
    }

    /// A label selector narrows the groups.
    pub fn is_selected(&self) -> bool {
        !self.selector.is_empty()
    }
}

/// Consulted before every write: closed, a pass observes and plans but changes nothing.
pub trait WriteGate: Send + Sync {
    /// Writes are allowed now.
    fn is_open(&self) -> bool;

    /// Who leads, for `/status` and the metrics; `None` with a single replica.
    fn leadership(&self) -> Option<Leadership> {
        None
    }
}

/// A replica's part in leader election.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Leadership {
    /// The lease item's name.
    pub lease: String,
    /// This replica's name in the lease.
    pub holder: String,
    /// It holds the lease and its renew deadline has not passed: it writes.
    pub leading: bool,
    /// Times this replica took or lost the lease.
    pub transitions: u64,
    /// Seconds since the start of its last successful renew, while it holds the lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seconds_since_renew: Option<f64>,
}

/// The gate of a single replica: always open.
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysOpen;

impl WriteGate for AlwaysOpen {
    fn is_open(&self) -> bool {
        true
    }
}
