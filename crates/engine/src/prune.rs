//! `--prune` effects: list what exists in the groups' accounts and regions (the decision is
//! `plan::prune`'s), and remove the orphans it found: services scaled to 0 then deleted,
//! standalone tasks stopped.

use std::borrow::Borrow;

use plan::{DesiredGroup, Inventory, ObservedService, Orphan, PruneAction};
use spec::arn::{cluster_name, service_cluster_and_name};

use crate::write::Write;
use spec::render::STARTED_BY;

use crate::{borrowed, bounded, Engine};
use client::api::{AwsApi, TaskFilter};
use client::call;
use client::AwsError;
use client::{ClientProvider, Target};

impl<P: ClientProvider> Engine<P> {
    /// What exists in every cluster of the desired groups' targets (each account and region, in
    /// that account only): services, and the running
    /// tasks the controller started. Reads only; `plan::prune` decides what goes.
    ///
    /// # Errors
    /// Any AWS failure: a partial picture must not be pruned from.
    pub async fn inventory<G: Borrow<DesiredGroup> + Sync>(
        &self,
        desired: &[G],
    ) -> Result<Vec<Inventory>, AwsError> {
        let desired = borrowed(desired);
        let mut targets: Vec<&Target> = desired.iter().map(|d| &d.target).collect();
        targets.sort_unstable();
        targets.dedup();
        let mut inventories = Vec::new();
        for target in targets {
            let clusters = self.client(target).list_clusters().await?;
            let names = clusters.iter().map(|arn| cluster_name(arn).to_owned());
            let scan = |name: String| async move { self.scan_cluster(target, &name).await };
            let scans: Vec<_> = bounded(names, scan, self.concurrency).await;
            for scan in scans {
                inventories.push(scan?);
            }
        }
        Ok(inventories)
    }

    /// One cluster: its services (described with tags) and the running tasks started by the
    /// controller.
    async fn scan_cluster(&self, target: &Target, cluster: &str) -> Result<Inventory, AwsError> {
        let services = self.services_in_cluster(target, cluster).await?;
        // startedBy alone (ECS accepts no other filter with it) lists the RUNNING ones.
        let filter = TaskFilter::StartedBy(STARTED_BY.into());
        let tasks = self.tasks(target, cluster, filter).await?;
        Ok(Inventory {
            target: target.clone(),
            cluster: cluster.to_owned(),
            services,
            tasks,
        })
    }

    /// Every service of one cluster, described with tags.
    pub(crate) async fn services_in_cluster(
        &self,
        target: &Target,
        cluster: &str,
    ) -> Result<Vec<ObservedService>, AwsError> {
        let arns = self.client(target).list_services(cluster).await?;
        // Some endpoints match the cluster by substring: keep exactly this cluster's services.
        let names: Vec<String> = arns
            .iter()
            .filter_map(|arn| service_cluster_and_name(arn))
            .filter(|(c, _)| *c == cluster)
            .map(|(_, name)| name.to_owned())
            .collect();
        let mut services = Vec::new();
        for chunk in names.chunks(crate::DESCRIBE_SERVICES_BATCH) {
            let describe = call::DescribeServices {
                cluster: cluster.to_owned(),
                names: chunk.to_vec(),
            };
            // A service ECS cannot describe is not seen, so not pruned.
            services.extend(self.client(target).send(describe).await?.services);
        }
        Ok(services)
    }

    /// Removes the orphans while `gate` lets it, each group on its own (a failure stays with
    /// its group); an orphan the gate closes on is left to the next prune.
    pub async fn apply_prune(
        &self,
        orphans: &[Orphan],
        gate: &dyn crate::WriteGate,
    ) -> Vec<crate::GroupOutcome> {
        let mut outcomes = Vec::new();
        for orphan in orphans {
            let mut outcome = crate::GroupOutcome {
                group: orphan.group.clone(),
                cluster: orphan.cluster.clone(),
                target: orphan.target.clone(),
                done: Vec::new(),
                error: None,
            };
            let id = crate::GroupId::of_orphan(orphan);
            for action in &orphan.actions {
                let Some(permit) = gate.enter(&id) else {
                    break;
                };
                let write = self.prune_action(&orphan.target, action);
                // Cut at the lease's deadline: the next holder prunes what is left.
                let result = match permit.within(write).await {
                    Ok(written) => written.map_err(|e| e.to_string()),
                    Err(cut) => Err(cut.to_string()),
                };
                drop(permit);
                match result {
                    Ok(done) => outcome.done.push(done),
                    Err(e) => {
                        outcome.error =
                            Some(plan::GroupError::new(plan::Reason::ReconcileError, e));
                        break;
                    }
                }
            }
            if !outcome.done.is_empty() || outcome.error.is_some() {
                outcomes.push(outcome);
            }
        }
        outcomes
    }

    /// One write of an orphan's removal.
    async fn prune_action(&self, target: &Target, action: &PruneAction) -> Result<Write, AwsError> {
        match action {
            PruneAction::DeleteService {
                cluster,
                service_name,
                scaling,
                ..
            } => {
                let deregistered = if *scaling {
                    self.client(target)
                        .send(call::DeregisterScalableTarget {
                            resource_id: format!(
                                "service/{}/{service_name}",
                                spec::arn::cluster_name(cluster)
                            ),
                        })
                        .await
                } else {
                    Ok(())
                };
                match deregistered {
                    Ok(()) => self
                        .delete_service(target, cluster, service_name)
                        .await
                        .map(|()| Write::DeletedService {
                            service: service_name.clone(),
                        }),
                    Err(e) => Err(e),
                }
            }
            PruneAction::StopTask {
                cluster,
                task_arn,
                reason,
            } => self
                .stop_task(target, cluster, task_arn, reason)
                .await
                .map(|()| Write::StoppedTask {
                    task: task_arn.clone(),
                    reason: reason.clone(),
                }),
        }
    }

    /// Scales a service to 0 (ECS refuses to delete one whose desired count is not 0), then
    /// deletes it. Always scaled: the count seen when it was found may have changed since.
    pub(crate) async fn delete_service(
        &self,
        target: &Target,
        cluster: &str,
        service: &str,
    ) -> Result<(), AwsError> {
        let api = self.client(target);
        let scale = call::ScaleService {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
            count: 0,
        };
        api.send(scale).await?;
        let delete = call::DeleteService {
            cluster: cluster.to_owned(),
            service: service.to_owned(),
        };
        api.send(delete).await
    }

    /// StopTask, with the reason ECS keeps on the task (how own stops are told from others).
    pub(crate) async fn stop_task(
        &self,
        target: &Target,
        cluster: &str,
        task: &str,
        reason: &str,
    ) -> Result<(), AwsError> {
        let stop = call::StopTask {
            cluster: cluster.to_owned(),
            arn: task.to_owned(),
            reason: reason.to_owned(),
        };
        self.client(target).send(stop).await
    }
}
