//! Capacity: for EC2 groups missing tasks, the free CPU and memory of the cluster's container
//! instances, read once per cluster (it explains InsufficientCapacity; it never fails a group).

use std::collections::{BTreeMap, HashMap};

use client::api::AwsApi;
use client::{ClientProvider, Target};
use futures::StreamExt as _;
use plan::DesiredGroup;
use spec::LaunchType;

use crate::{bounded, Engine, Observations};

impl<P: ClientProvider> Engine<P> {
    /// EC2 groups with tasks neither running nor placed: the cluster's free resources, read once
    /// per cluster.
    pub(crate) async fn observe_capacity(
        &self,
        desired: &[&DesiredGroup],
        results: &mut Observations,
    ) {
        let mut clusters: BTreeMap<(Target, String), Vec<usize>> = BTreeMap::new();
        for (i, d) in desired.iter().enumerate() {
            let Ok(o) = &results[i] else { continue };
            if d.group.spec.launch_type != LaunchType::Ec2 {
                continue;
            }
            let (running, pending) = o.task_counts(d.mode());
            if d.group.spec.count > running + pending && !d.group.spec.suspend {
                clusters
                    .entry((d.target.clone(), d.cluster().to_owned()))
                    .or_default()
                    .push(i);
            }
        }
        let answers: HashMap<_, _> = bounded(
            clusters
                .keys()
                .map(|(target, cluster)| async move {
                    (
                        (target.clone(), cluster.clone()),
                        self.client(target).container_instances(cluster).await,
                    )
                })
                .collect(),
            self.concurrency,
        )
        .collect()
        .await;
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
