//! `--prune`: find what this controller created for groups the files no longer describe, by
//! its ownership tags, and remove it: services scaled to 0 then deleted, standalone tasks
//! stopped. Services without this controller id's managed-by tag are never touched.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashSet};

use futures::StreamExt as _;
use plan::{Action, DesiredGroup, GroupPlan, Orphan};
use spec::arn::{cluster_name, last_segment, service_cluster_and_name};
use spec::render::{STARTED_BY, TAG_GROUP, TAG_MANAGED_BY};
use spec::Mode;

use super::{borrowed, bounded, Engine};
use client::api::{EcsApi, IamApi, TaskFilter};
use client::{AwsError, Operation};

impl<A: EcsApi + IamApi> Engine<A> {
    /// Every group this controller manages in the desired groups' regions that the files no
    /// longer describe. Reads only.
    ///
    /// # Errors
    /// Any AWS failure: a partial picture must not be pruned from.
    pub async fn plan_prune<G: Borrow<DesiredGroup> + Sync>(
        &self,
        desired: &[G],
    ) -> Result<Vec<Orphan>, AwsError> {
        let desired = borrowed(desired);
        let mut regions: Vec<&str> = desired.iter().map(|d| d.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        let wanted_services: HashSet<(&str, &str, &str)> = desired
            .iter()
            .filter(|d| d.mode() == Mode::Service)
            .map(|d| {
                (
                    d.region.as_str(),
                    cluster_name(d.cluster()),
                    d.service_name(),
                )
            })
            .collect();
        let wanted_tasks: HashSet<(&str, &str, &str)> = desired
            .iter()
            .filter(|d| d.mode() == Mode::Tasks)
            .map(|d| (d.region.as_str(), cluster_name(d.cluster()), d.name()))
            .collect();

        let mut orphans: BTreeMap<(String, String, String), Vec<Action>> = BTreeMap::new();
        for region in regions {
            let clusters = self.api.list_clusters(region).await?;
            let scans = bounded(
                clusters
                    .iter()
                    .map(|arn| self.scan_cluster(region, cluster_name(arn)))
                    .collect(),
                self.concurrency,
            )
            .collect::<Vec<_>>()
            .await;
            for scan in scans {
                let (cluster, services, tasks) = scan?;
                for (group, service, desired_count) in services {
                    if !wanted_services.contains(&(region, cluster.as_str(), service.as_str())) {
                        orphans
                            .entry((region.to_owned(), cluster.clone(), group))
                            .or_default()
                            .push(Action::DeleteService {
                                cluster: cluster.clone(),
                                service_name: service,
                                desired_count,
                            });
                    }
                }
                for (group, task_arn) in tasks {
                    if !wanted_tasks.contains(&(region, cluster.as_str(), group.as_str())) {
                        orphans
                            .entry((region.to_owned(), cluster.clone(), group))
                            .or_default()
                            .push(Action::StopTask {
                                cluster: cluster.clone(),
                                task_arn,
                                reason: format!(
                                    "{} pruned: the group is no longer in the files",
                                    spec::render::STOP_REASON_PREFIX
                                ),
                            });
                    }
                }
            }
        }
        Ok(orphans
            .into_iter()
            .map(|((region, cluster, group), actions)| Orphan {
                region,
                plan: GroupPlan {
                    group,
                    cluster,
                    actions,
                    error: None,
                    suspended: false,
                },
            })
            .collect())
    }

    /// One cluster: this controller's ACTIVE services (group, name, desired count) and its
    /// running standalone tasks (group, ARN).
    #[allow(clippy::type_complexity)]
    async fn scan_cluster(
        &self,
        region: &str,
        cluster: &str,
    ) -> Result<(String, Vec<(String, String, i32)>, Vec<(String, String)>), AwsError> {
        let arns = self.api.list_services(region, cluster).await?;
        // Some endpoints match the cluster by substring: keep exactly this cluster's services.
        let names: Vec<String> = arns
            .iter()
            .filter_map(|arn| service_cluster_and_name(arn))
            .filter(|(c, _)| *c == cluster)
            .map(|(_, name)| name.to_owned())
            .collect();
        let mut services = Vec::new();
        for chunk in names.chunks(super::DESCRIBE_SERVICES_BATCH) {
            for s in self.api.describe_services(region, cluster, chunk).await? {
                let ours = s.tags.get(TAG_MANAGED_BY) == Some(&self.options.controller_id);
                if ours && s.is_active() {
                    let group = s
                        .tags
                        .get(TAG_GROUP)
                        .cloned()
                        .unwrap_or_else(|| s.name.clone());
                    services.push((group, s.name.clone(), s.desired_count));
                }
            }
        }
        let filter = TaskFilter {
            started_by: Some(STARTED_BY.into()),
            service_name: None,
            desired_status: "RUNNING".into(),
        };
        let tasks = self
            .tasks(region, cluster, filter)
            .await?
            .into_iter()
            .filter(|t| t.tags.get(TAG_MANAGED_BY) == Some(&self.options.controller_id))
            .filter_map(|t| Some((t.tags.get(TAG_GROUP)?.clone(), t.arn)))
            .collect();
        Ok((cluster.to_owned(), services, tasks))
    }

    /// Removes the orphans, each group on its own (a failure stays with its group).
    pub async fn apply_prune(&self, orphans: &[Orphan]) -> Vec<super::GroupOutcome> {
        let mut outcomes = Vec::new();
        for orphan in orphans {
            let mut outcome = super::GroupOutcome {
                group: orphan.plan.group.clone(),
                cluster: orphan.plan.cluster.clone(),
                done: Vec::new(),
                error: None,
            };
            for action in &orphan.plan.actions {
                let result = match action {
                    Action::DeleteService {
                        cluster,
                        service_name,
                        desired_count,
                    } => self
                        .delete_service(&orphan.region, cluster, service_name, *desired_count)
                        .await
                        .map(|()| format!("deleted service {service_name}")),
                    Action::StopTask {
                        cluster,
                        task_arn,
                        reason,
                    } => self
                        .api
                        .stop_task(&orphan.region, cluster, task_arn, reason)
                        .await
                        .map(|()| format!("stopped task {}", last_segment(task_arn))),
                    other => Err(AwsError::invalid(
                        Operation::Internal,
                        format!("unexpected {} in a prune", other.kind()),
                    )),
                };
                match result {
                    Ok(done) => outcome.done.push(done),
                    Err(e) => {
                        outcome.error = Some(plan::GroupError::new(
                            plan::Reason::ReconcileError,
                            e.to_string(),
                        ));
                        break;
                    }
                }
            }
            outcomes.push(outcome);
        }
        outcomes
    }

    /// Scales a service to 0 (ECS refuses to delete a running one), then deletes it.
    pub(super) async fn delete_service(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
        desired_count: i32,
    ) -> Result<(), AwsError> {
        if desired_count > 0 {
            self.api.scale_service(region, cluster, service, 0).await?;
        }
        self.api.delete_service(region, cluster, service).await
    }
}
