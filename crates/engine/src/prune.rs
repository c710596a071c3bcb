//! `--prune` effects: list what exists in the groups' regions (the decision is
//! `plan::prune`'s), and remove the orphans it found: services scaled to 0 then deleted,
//! standalone tasks stopped.

use std::borrow::Borrow;

use futures::StreamExt as _;
use plan::{DesiredGroup, Inventory, ObservedService, Orphan, PruneAction};
use spec::arn::{cluster_name, service_cluster_and_name};

use crate::event::Event;
use spec::render::STARTED_BY;

use crate::{borrowed, bounded, Engine};
use client::api::{EcsApi, TaskFilter};
use client::AwsError;
use client::ClientProvider;

impl<P: ClientProvider> Engine<P> {
    /// What exists in every cluster of the desired groups' regions: services, and the running
    /// tasks the controller started. Reads only; `plan::prune` decides what goes.
    ///
    /// # Errors
    /// Any AWS failure: a partial picture must not be pruned from.
    pub async fn inventory<G: Borrow<DesiredGroup> + Sync>(
        &self,
        desired: &[G],
    ) -> Result<Vec<Inventory>, AwsError> {
        let desired = borrowed(desired);
        let mut regions: Vec<&str> = desired.iter().map(|d| d.region.as_str()).collect();
        regions.sort_unstable();
        regions.dedup();
        let mut inventories = Vec::new();
        for region in regions {
            let clusters = self.client(region).list_clusters().await?;
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
                inventories.push(scan?);
            }
        }
        Ok(inventories)
    }

    /// One cluster: its services (described with tags) and the running tasks started by the
    /// controller.
    async fn scan_cluster(&self, region: &str, cluster: &str) -> Result<Inventory, AwsError> {
        let services = self.services_in_cluster(region, cluster).await?;
        // startedBy alone (ECS accepts no other filter with it) lists the RUNNING ones.
        let filter = TaskFilter::StartedBy(STARTED_BY.into());
        let tasks = self.tasks(region, cluster, filter).await?;
        Ok(Inventory {
            region: region.to_owned(),
            cluster: cluster.to_owned(),
            services,
            tasks,
        })
    }

    /// Every service of one cluster, described with tags.
    pub(crate) async fn services_in_cluster(
        &self,
        region: &str,
        cluster: &str,
    ) -> Result<Vec<ObservedService>, AwsError> {
        let arns = self.client(region).list_services(cluster).await?;
        // Some endpoints match the cluster by substring: keep exactly this cluster's services.
        let names: Vec<String> = arns
            .iter()
            .filter_map(|arn| service_cluster_and_name(arn))
            .filter(|(c, _)| *c == cluster)
            .map(|(_, name)| name.to_owned())
            .collect();
        let mut services = Vec::new();
        for chunk in names.chunks(crate::DESCRIBE_SERVICES_BATCH) {
            services.extend(
                self.client(region)
                    .describe_services(cluster, chunk)
                    .await?,
            );
        }
        Ok(services)
    }

    /// Removes the orphans, each group on its own (a failure stays with its group).
    pub async fn apply_prune(&self, orphans: &[Orphan]) -> Vec<crate::GroupOutcome> {
        let mut outcomes = Vec::new();
        for orphan in orphans {
            let mut outcome = crate::GroupOutcome {
                group: orphan.group.clone(),
                cluster: orphan.cluster.clone(),
                done: Vec::new(),
                error: None,
            };
            for action in &orphan.actions {
                let result = match action {
                    PruneAction::DeleteService {
                        cluster,
                        service_name,
                        ..
                    } => self
                        .delete_service(&orphan.region, cluster, service_name)
                        .await
                        .map(|()| Event::DeletedService {
                            service: service_name.clone(),
                        }),
                    PruneAction::StopTask {
                        cluster,
                        task_arn,
                        reason,
                    } => self
                        .client(&orphan.region)
                        .stop_task(cluster, task_arn, reason)
                        .await
                        .map(|()| Event::StoppedTask {
                            task: task_arn.clone(),
                            reason: reason.clone(),
                        }),
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

    /// Scales a service to 0 (ECS refuses to delete one whose desired count is not 0), then
    /// deletes it. Always scaled: the count seen when it was found may have changed since.
    pub(crate) async fn delete_service(
        &self,
        region: &str,
        cluster: &str,
        service: &str,
    ) -> Result<(), AwsError> {
        let api = self.client(region);
        api.scale_service(cluster, service, 0).await?;
        api.delete_service(cluster, service).await
    }
}
