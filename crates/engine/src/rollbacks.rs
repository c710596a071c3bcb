//! Rollbacks after their FAILED deployment left the list: what ECS's service deployments
//! record (ListServiceDeployments, DescribeServiceDeployments, DescribeServiceRevisions), looked
//! up only for the services whose revision only that can explain (`rollback_evidence_needed`).
//! A converged fleet costs nothing here.

use client::api::AwsApi;
use client::call;
use client::{AwsError, ClientProvider, Target};
use plan::{rollback_evidence_needed, DesiredGroup, ObservedRollback};

use crate::{bounded, Engine, Observations};

/// The service deployment statuses of a rollback (ServiceDeploymentStatus).
const ROLLED_BACK: [&str; 2] = ["ROLLBACK_SUCCESSFUL", "ROLLBACK_IN_PROGRESS"];

impl<P: ClientProvider> Engine<P> {
    /// Records on each such service the newest rollback ECS's service deployments show.
    pub(crate) async fn observe_rollbacks(
        &self,
        desired: &[&DesiredGroup],
        results: &mut Observations,
    ) {
        let wanted: Vec<(usize, Target, String, String)> = desired
            .iter()
            .zip(results.iter())
            .enumerate()
            .filter_map(|(i, (d, o))| {
                let s = o.as_ref().ok()?.service.as_ref()?;
                rollback_evidence_needed(d, s)
                    .then(|| (i, d.target.clone(), d.cluster().to_owned(), s.name.clone()))
            })
            .collect();
        let look = |(i, target, cluster, service): (usize, Target, String, String)| async move {
            (i, self.newest_rollback(&target, cluster, service).await)
        };
        let found: Vec<_> = bounded(wanted, look, self.concurrency).await;
        for (i, rollback) in found {
            match (rollback, &mut results[i]) {
                (Ok(rollback), Ok(o)) => {
                    if let Some(s) = o.service.as_mut() {
                        s.rolled_back = rollback.map(Box::new);
                    }
                }
                (Err(e), slot) => *slot = Err(e),
                (Ok(_), Err(_)) => {}
            }
        }
    }

    /// The newest rolled-back service deployment of `service`: the task definition it deployed
    /// and the one ECS went back to.
    async fn newest_rollback(
        &self,
        target: &Target,
        cluster: String,
        service: String,
    ) -> Result<Option<ObservedRollback>, AwsError> {
        let api = self.client(target);
        let statuses = ROLLED_BACK.map(str::to_owned).to_vec();
        let list = call::ListServiceDeployments {
            cluster,
            service,
            statuses,
        };
        let listed = api.send(list).await?;
        let Some(newest) = listed.into_iter().max_by_key(|d| d.created_at) else {
            return Ok(None);
        };
        let arns = vec![newest.arn];
        let described = api.send(call::DescribeServiceDeployments { arns }).await?;
        let Some(deployment) = described.into_iter().next() else {
            return Ok(None);
        };
        let (Some(failed), Some(running)) =
            (deployment.target_revision, deployment.rollback_revision)
        else {
            return Ok(None);
        };
        let arns = vec![failed.clone(), running.clone()];
        let revisions = api.send(call::DescribeServiceRevisions { arns }).await?;
        let task_definition = |arn: &str| {
            let revision = revisions.iter().find(|r| r.arn == arn);
            revision.map(|r| r.task_definition.clone())
        };
        Ok(task_definition(&failed)
            .zip(task_definition(&running))
            .map(|(failed, running)| ObservedRollback { failed, running }))
    }
}
