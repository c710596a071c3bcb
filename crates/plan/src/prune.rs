//! `--prune` decisions: which of this controller's resources belong to groups the files no
//! longer describe, and when pruning must not happen at all. Pure: the engine lists what exists
//! (an [`Inventory`] per cluster) and carries out the [`PruneAction`]s.
//!
//! Prune has its own action type, so a group's plan can never hold a deletion.

use std::collections::{BTreeMap, HashSet};

use spec::arn::{cluster_name, last_segment};
use spec::render::{STOP_REASON_PREFIX, TAG_GROUP};
use spec::Mode;

use crate::classify::{owner, Owner};
use crate::desired::DesiredGroup;
use crate::observed::{ObservedService, ObservedTask};
use crate::target::Target;

/// One step of removing a group the files no longer describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PruneAction {
    /// Scale the service to 0 (ECS refuses to delete a running one), then delete it.
    DeleteService {
        /// Cluster name.
        cluster: String,
        /// Service name.
        service_name: String,
        /// Its desired count when it was found.
        desired_count: i32,
        /// The controller registered its scalable target (deregistered first, or Application
        /// Auto Scaling could scale it up again while it drains).
        scaling: bool,
    },
    /// Stop a standalone task.
    StopTask {
        /// Cluster name.
        cluster: String,
        /// Task ARN.
        task_arn: String,
        /// Why, recorded on the task.
        reason: String,
    },
}

impl PruneAction {
    /// The name used in plan output and JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            PruneAction::DeleteService { .. } => "delete-service",
            PruneAction::StopTask { .. } => "stop-task",
        }
    }

    /// One line for people, e.g. `delete-service d1 (scale 2 -> 0, ...)`.
    pub fn headline(&self) -> String {
        match self {
            PruneAction::DeleteService {
                service_name,
                desired_count,
                ..
            } => format!(
                "delete-service {service_name} (scale {desired_count} -> 0, then delete; removed from the files)"
            ),
            PruneAction::StopTask {
                task_arn, reason, ..
            } => format!(
                "stop-task {} ({})",
                last_segment(task_arn),
                reason.trim_start_matches(STOP_REASON_PREFIX).trim()
            ),
        }
    }
}

/// A group the files no longer describe, found by its ownership tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    /// Where it is: account and region.
    pub target: Target,
    /// Cluster name.
    pub cluster: String,
    /// The group name its tags carry.
    pub group: String,
    /// What removing it takes.
    pub actions: Vec<PruneAction>,
}

/// What exists in one cluster: its ACTIVE services and its running standalone tasks started by
/// the controller (any controller id; ownership is decided here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    /// Account and region.
    pub target: Target,
    /// Cluster name.
    pub cluster: String,
    /// Services, as DescribeServices reports them (with tags).
    pub services: Vec<ObservedService>,
    /// Running tasks started by the controller (with tags).
    pub tasks: Vec<ObservedTask>,
}

/// Why nothing may be pruned this time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PruneRefusal {
    /// The files describe no group: pruning would remove everything this controller manages.
    #[error(
        "refusing to prune: the files describe no group, which would remove every group this \
         controller manages"
    )]
    NoGroups,
    /// A `--selector` hides groups that would then look removed.
    #[error("refusing to prune with --selector: groups outside the selection would look removed")]
    Selector,
    /// More groups would go than `--max-prune` allows.
    #[error(
        "refusing to prune {count} groups, more than --max-prune {max_prune}: {names}; nothing was deleted"
    )]
    TooMany {
        /// How many would go.
        count: usize,
        /// The limit.
        max_prune: usize,
        /// `group (cluster)`, comma-separated.
        names: String,
    },
}

/// What pruning is allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneLimits {
    /// At most this many groups go in one prune.
    pub max_prune: usize,
    /// A label selector narrows the desired groups (pruning is then refused).
    pub selector: bool,
}

impl PruneLimits {
    /// Refusals of the limits themselves, whatever the files say: a selector narrows the
    /// groups (the loop refuses to start with one).
    pub fn refusal(self) -> Option<PruneRefusal> {
        self.selector.then_some(PruneRefusal::Selector)
    }

    /// Admits a prune over `desired` groups, before anything is listed (no AWS call is spent
    /// on a refused prune): the only way to a [`plan_prune`].
    ///
    /// # Errors
    /// The limits' refusal, or no groups at all (an empty directory would remove everything).
    pub fn admit(self, desired: usize) -> Result<Admitted, PruneRefusal> {
        match self.refusal() {
            Some(refusal) => Err(refusal),
            None if desired == 0 => Err(PruneRefusal::NoGroups),
            None => Ok(Admitted { limits: self }),
        }
    }
}

/// A prune that [`PruneLimits::admit`] let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    limits: PruneLimits,
}

/// The groups to remove: this controller's services and tasks (by its managed-by tag) in the
/// listed clusters whose group the files no longer describe.
///
/// # Errors
/// More groups to remove than `--max-prune`: then nothing at all may be pruned.
pub fn plan_prune(
    desired: &[&DesiredGroup],
    inventories: &[Inventory],
    controller_id: &str,
    admitted: Admitted,
) -> Result<Vec<Orphan>, PruneRefusal> {
    let limits = admitted.limits;
    let wanted_services: HashSet<(&Target, &str, &str)> = desired
        .iter()
        .filter(|d| d.mode() == Mode::Service)
        .map(|d| (&d.target, cluster_name(d.cluster()), d.service_name()))
        .collect();
    let wanted_tasks: HashSet<(&Target, &str, &str)> = desired
        .iter()
        .filter(|d| d.mode() == Mode::Tasks)
        .map(|d| (&d.target, cluster_name(d.cluster()), d.name()))
        .collect();
    let ours = |tags: &BTreeMap<String, String>| owner(tags, controller_id) == Owner::This;

    let mut orphans: BTreeMap<(&Target, &str, String), Vec<PruneAction>> = BTreeMap::new();
    for inventory in inventories {
        let (region, cluster) = (&inventory.target, inventory.cluster.as_str());
        for s in &inventory.services {
            if !s.is_active() || !ours(&s.tags) {
                continue;
            }
            if wanted_services.contains(&(region, cluster, s.name.as_str())) {
                continue;
            }
            let group = s.tags.get(TAG_GROUP).unwrap_or(&s.name).clone();
            orphans
                .entry((region, cluster, group))
                .or_default()
                .push(PruneAction::DeleteService {
                    cluster: cluster.to_owned(),
                    service_name: s.name.clone(),
                    desired_count: s.desired_count,
                    scaling: s.tags.contains_key(spec::render::TAG_SCALING),
                });
        }
        for t in &inventory.tasks {
            let Some(group) = t.tags.get(TAG_GROUP).filter(|_| ours(&t.tags)) else {
                continue;
            };
            if !t.is_live() || wanted_tasks.contains(&(region, cluster, group.as_str())) {
                continue;
            }
            orphans
                .entry((region, cluster, group.clone()))
                .or_default()
                .push(PruneAction::StopTask {
                    cluster: cluster.to_owned(),
                    task_arn: t.arn.clone(),
                    reason: format!(
                        "{STOP_REASON_PREFIX} pruned: the group is no longer in the files"
                    ),
                });
        }
    }
    let orphans: Vec<Orphan> = orphans
        .into_iter()
        .map(|((target, cluster, group), actions)| Orphan {
            target: target.clone(),
            cluster: cluster.to_owned(),
            group,
            actions,
        })
        .collect();
    if orphans.len() > limits.max_prune {
        let names: Vec<String> = orphans
            .iter()
            .map(|o| {
                format!(
                    "{} ({})",
                    o.group,
                    crate::output::place(&o.cluster, &o.target)
                )
            })
            .collect();
        return Err(PruneRefusal::TooMany {
            count: orphans.len(),
            max_prune: limits.max_prune,
            names: names.join(", "),
        });
    }
    Ok(orphans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use spec::render::TAG_MANAGED_BY;

    const LIMITS: PruneLimits = PruneLimits {
        max_prune: 5,
        selector: false,
    };

    fn service(name: &str, owner: Option<&str>, status: &str) -> ObservedService {
        let mut tags = BTreeMap::new();
        if let Some(owner) = owner {
            tags.insert(TAG_MANAGED_BY.to_owned(), owner.to_owned());
            tags.insert(TAG_GROUP.to_owned(), name.to_owned());
        }
        ObservedService {
            name: name.into(),
            status: status.into(),
            desired_count: 2,
            tags,
            ..ObservedService::default()
        }
    }

    fn desired(name: &str) -> DesiredGroup {
        DesiredGroup::test(name).build()
    }

    fn inventory(services: Vec<ObservedService>) -> Vec<Inventory> {
        vec![Inventory {
            target: Target::region("us-east-1"),
            cluster: "c1".into(),
            services,
            tasks: Vec::new(),
        }]
    }

    #[test]
    fn only_this_controllers_active_services_of_removed_groups_go() {
        let keep = desired("keep");
        let found = inventory(vec![
            service("keep", Some("default"), "ACTIVE"),
            service("gone", Some("default"), "ACTIVE"),
            service("other-id", Some("other"), "ACTIVE"),
            service("hand-made", None, "ACTIVE"),
            service("drained", Some("default"), "INACTIVE"),
        ]);
        let admitted = LIMITS.admit(1).unwrap();
        let orphans = plan_prune(&[&keep], &found, "default", admitted).unwrap();
        assert_eq!(orphans.len(), 1);
        assert_eq!(orphans[0].group, "gone");
        assert_eq!(
            orphans[0].actions,
            [PruneAction::DeleteService {
                cluster: "c1".into(),
                service_name: "gone".into(),
                desired_count: 2,
                scaling: false,
            }]
        );
    }

    #[test]
    fn refusals() {
        let keep = desired("keep");
        let found = inventory(
            (0..3)
                .map(|i| service(&format!("gone{i}"), Some("default"), "ACTIVE"))
                .collect(),
        );
        assert_eq!(LIMITS.admit(0), Err(PruneRefusal::NoGroups));
        let selector = PruneLimits {
            selector: true,
            ..LIMITS
        };
        assert_eq!(selector.refusal(), Some(PruneRefusal::Selector));
        assert_eq!(selector.admit(1), Err(PruneRefusal::Selector));
        let two = PruneLimits {
            max_prune: 2,
            ..LIMITS
        };
        let refusal = plan_prune(&[&keep], &found, "default", two.admit(1).unwrap()).unwrap_err();
        assert!(
            refusal
                .to_string()
                .starts_with("refusing to prune 3 groups, more than --max-prune 2: gone0 (c1)"),
            "{refusal}"
        );
    }
}
