//! Capacity: for EC2 groups missing tasks, the free CPU and memory of the cluster's container
//! instances, read once per cluster (it explains InsufficientCapacity; it never fails a group).

use std::collections::HashMap;

use client::api::AwsApi;
use client::{ClientProvider, Target};
use plan::DesiredGroup;
use spec::LaunchType;

use crate::{bounded, by_cluster, Engine, Observations};

impl<P: ClientProvider> Engine<P> {
    /// EC2 groups with tasks neither running nor placed: the cluster's free resources, read once
    /// per cluster.
    pub(crate) async fn observe_capacity(
        &self,
        desired: &[&DesiredGroup],
        results: &mut Observations,
    ) {
        let clusters = by_cluster(desired, results, |d, o| {
            let (running, pending) = o.task_counts(d.mode());
            let spec = &d.group.spec;
            spec.compatibility() == LaunchType::Ec2
                && spec.fixed_count().unwrap_or_else(|| o.desired_count()) > running + pending
                && !spec.suspend
        });
        let read = |(target, cluster): (Target, String)| async move {
            let instances = self.client(&target).container_instances(&cluster).await;
            ((target, cluster), instances)
        };
        let keys = clusters.keys().cloned();
        let answers: HashMap<_, _> = bounded(keys, read, self.concurrency).await;
        for (key, members) in clusters {
            for i in members {
                match (answers.get(&key), &mut results[i]) {
                    (Some(Ok(instances)), Ok(o)) => o.capacity = Some(instances.clone()),
                    // Capacity only explains; failing to read it must not fail the group.
                    (Some(Err(e)), _) => {
                        tracing::debug!(error = %e, "container instances not readable");
                    }
                    _ => {}
                }
            }
        }
    }
}
