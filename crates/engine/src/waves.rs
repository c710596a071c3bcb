//! Rollouts in waves: a change that touches groups of several waves (`spec.rollout.wave`, 0
//! first) reaches a group of wave N only once every group of the waves before it is in sync,
//! Ready (and connected, with the Harness check), not failed, and has been so for the bake time.
//!
//! The state is what ECS says, not what this process remembers having done: each pass records
//! each group it observed (its wave, whether it has changes pending, its status before writing,
//! and when its service's primary deployment last changed), and a group of a later wave is held
//! while a group of an earlier one is not settled. A restarted or newly elected controller
//! observes every group in its first pass, so the order holds across restarts and replicas.
//! With shards, a replica only observes the groups of the shards it holds, and orders only
//! those: give the groups of one rollout one shard.
//!
//! A failed or rolled-back group of an earlier wave halts the later ones ("halted"), until a
//! new commit changes it and it settles (`--wave-failure continue` lets them go on instead).

use std::collections::HashMap;
use std::time::Duration;

use plan::{GroupStatus, ObservedGroup};

/// What the controller does when a group of an earlier wave failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnFailure {
    /// Later waves wait for a new commit (the default).
    #[default]
    Halt,
    /// Later waves go on.
    Continue,
}

/// The operator's wave settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaveSettings {
    /// How long a changed group must have been Ready before the next wave starts.
    pub bake: Duration,
    /// A failed group's effect on later waves.
    pub on_failure: OnFailure,
}

impl Default for WaveSettings {
    fn default() -> Self {
        WaveSettings {
            bake: Duration::from_secs(300),
            on_failure: OnFailure::Halt,
        }
    }
}

/// What the last pass that observed a group saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Seen {
    wave: u32,
    /// Changes planned that were not written yet (or are being written this pass).
    pending: bool,
    ready: bool,
    /// Why it failed (Degraded RolledBack or DeploymentFailed, or Stalled), if it did.
    failed: Option<String>,
    /// When its service's primary deployment last changed (seconds since the epoch).
    settled_at: Option<i64>,
}

impl Seen {
    /// The group's wave.
    pub(crate) fn wave(&self) -> u32 {
        self.wave
    }

    /// What a pass saw of a group: its wave, pending changes, status (before this pass's
    /// writes) and service.
    pub(crate) fn of(
        wave: u32,
        pending: bool,
        status: &GroupStatus,
        observed: Option<&ObservedGroup>,
    ) -> Seen {
        let failed = status.is_hopeless().then(|| {
            status
                .conditions
                .iter()
                .find(|c| {
                    c.is_true()
                        && matches!(
                            c.kind,
                            plan::ConditionType::Degraded | plan::ConditionType::Stalled
                        )
                })
                .map_or_else(|| "failed".to_owned(), |c| c.reason.to_string())
        });
        let settled_at = observed
            .and_then(|o| o.service.as_ref())
            .and_then(|s| {
                s.deployments
                    .iter()
                    .find(|d| d.status == plan::DeploymentStatus::Primary)
            })
            .and_then(|d| d.updated_at.or(d.created_at));
        Seen {
            wave,
            pending,
            ready: status.is_ready(),
            failed,
            settled_at,
        }
    }
}

/// Why a group of wave `wave` must wait, given what was seen of every group (by name) at
/// `now` (seconds since the epoch); `None`: it may go.
pub(crate) fn wait_reason(
    wave: u32,
    seen: &HashMap<String, Seen>,
    settings: WaveSettings,
    now: i64,
) -> Option<(plan::Reason, String)> {
    if wave == 0 {
        return None;
    }
    let bake = i64::try_from(settings.bake.as_secs()).unwrap_or(i64::MAX);
    let mut earlier: Vec<(&String, &Seen)> = seen.iter().filter(|(_, s)| s.wave < wave).collect();
    earlier.sort_by_key(|(name, s)| (s.wave, (*name).clone()));
    for (name, s) in earlier {
        let w = s.wave;
        if let Some(why) = &s.failed {
            if settings.on_failure == OnFailure::Halt {
                return Some((
                    plan::Reason::WaveHalted,
                    format!(
                        "halted: {name} of wave {w} failed ({why}); later waves wait for a \
                         new commit that fixes it"
                    ),
                ));
            }
            continue;
        }
        if s.pending {
            return Some((
                plan::Reason::HeldByWave,
                format!("waiting for wave {w}: {name} has changes to roll out"),
            ));
        }
        if !s.ready {
            return Some((
                plan::Reason::HeldByWave,
                format!("waiting for wave {w}: {name} is not Ready"),
            ));
        }
        if let Some(at) = s.settled_at {
            let left = at.saturating_add(bake).saturating_sub(now);
            if left > 0 {
                return Some((
                    plan::Reason::HeldByWave,
                    format!("waiting for wave {w}: {name} bakes {left}s more"),
                ));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(wave: u32, pending: bool, ready: bool, failed: Option<&str>, at: i64) -> Seen {
        Seen {
            wave,
            pending,
            ready,
            failed: failed.map(str::to_owned),
            settled_at: Some(at),
        }
    }

    #[test]
    fn a_later_wave_waits_for_the_earlier_ones_to_settle_and_bake() {
        let settings = WaveSettings {
            bake: Duration::from_secs(60),
            on_failure: OnFailure::Halt,
        };
        let mut all = HashMap::new();
        all.insert("a".to_owned(), seen(0, true, true, None, 0));
        all.insert("b".to_owned(), seen(1, true, true, None, 0));
        assert!(
            wait_reason(0, &all, settings, 1000).is_none(),
            "wave 0 goes"
        );
        let (reason, why) = wait_reason(1, &all, settings, 1000).unwrap();
        assert_eq!(reason, plan::Reason::HeldByWave);
        assert!(why.contains("a has changes"), "{why}");
        all.insert("a".to_owned(), seen(0, false, true, None, 970));
        assert!(wait_reason(1, &all, settings, 1000)
            .unwrap()
            .1
            .contains("bakes 30s more"));
        assert!(wait_reason(1, &all, settings, 1030).is_none());
        all.insert("a".to_owned(), seen(0, false, false, Some("RolledBack"), 0));
        let (reason, why) = wait_reason(2, &all, settings, 5000).unwrap();
        assert_eq!(reason, plan::Reason::WaveHalted);
        assert!(why.contains("a of wave 0 failed (RolledBack)"), "{why}");
        let go_on = WaveSettings {
            on_failure: OnFailure::Continue,
            ..settings
        };
        assert!(wait_reason(1, &all, go_on, 5000).is_none());
    }
}
