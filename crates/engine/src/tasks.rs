//! Task-level observation: only for tasks-mode groups and for services that are not steady.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use plan::{DesiredGroup, ObservedTask};
use spec::render::{STARTED_BY, TAG_GROUP};
use spec::Mode;

use crate::{bounded, by_cluster, group_key, Engine, Observations};
use client::api::{AwsApi, DesiredStatus, TaskFilter};
use client::call;
use client::AwsError;
use client::{ClientProvider, Target};
use tokio::time::Instant;

/// DescribeTasks takes at most 100 ARNs.
const DESCRIBE_TASKS_BATCH: usize = 100;
fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl<P: ClientProvider> Engine<P> {
    /// Lists and describes tasks matching `filter` in one cluster.
    pub(crate) async fn tasks(
        &self,
        target: &Target,
        cluster: &str,
        filter: TaskFilter,
    ) -> Result<Vec<ObservedTask>, AwsError> {
        let api = self.client(target);
        let arns = api.list_tasks(cluster, &filter).await?;
        let chunks: Vec<Vec<String>> = arns
            .chunks(DESCRIBE_TASKS_BATCH)
            .map(<[String]>::to_vec)
            .collect();
        let describe = |arns: Vec<String>| {
            let cluster = cluster.to_owned();
            api.send(call::DescribeTasks { cluster, arns })
        };
        let described: Vec<_> = bounded(chunks, describe, self.concurrency).await;
        let mut tasks = Vec::new();
        for batch in described {
            tasks.extend(batch?);
        }
        Ok(tasks)
    }

    /// Tasks mode: per cluster, the controller's tasks (RUNNING and recently STOPPED), assigned
    /// to groups by their tags; then the revisions they run (cached), and the family's latest
    /// revision where none of those carries the desired hash.
    pub(crate) async fn observe_tasks(
        &self,
        desired: &[&DesiredGroup],
        results: &mut Observations,
    ) {
        let clusters = by_cluster(desired, results, |d, _| d.mode() == Mode::Tasks);
        let now = now_secs();
        for ((region, cluster), members) in clusters {
            // startedBy must be ListTasks' only filter (and then lists RUNNING tasks); stopped
            // ones are listed by family. Tags tell whose each task is either way.
            let mut families: Vec<&str> = members
                .iter()
                .map(|&i| desired[i].rendered.task_definition.family.as_str())
                .collect();
            families.sort_unstable();
            families.dedup();
            let stopped_by_family = families.iter().map(|family| {
                let filter = TaskFilter::Family {
                    family: (*family).to_owned(),
                    desired_status: DesiredStatus::Stopped,
                };
                self.tasks(&region, &cluster, filter)
            });
            let (live, stopped) = futures::join!(
                self.tasks(&region, &cluster, TaskFilter::StartedBy(STARTED_BY.into())),
                futures::future::join_all(stopped_by_family),
            );
            let stopped = stopped
                .into_iter()
                .collect::<Result<Vec<_>, _>>()
                .map(|lists| lists.concat());
            let (live, stopped) = match (live, stopped) {
                (Ok(live), Ok(stopped)) => (live, stopped),
                (Err(e), _) | (_, Err(e)) => {
                    for i in members {
                        results[i] = Err(e.clone());
                    }
                    continue;
                }
            };
            let seen: HashSet<&str> = live
                .iter()
                .chain(&stopped)
                .map(|t| t.arn.as_str())
                .collect();
            for &i in &members {
                let name = desired[i].name();
                let ours = |t: &&ObservedTask| {
                    t.tags.get(TAG_GROUP).map(String::as_str) == Some(name)
                        && t.is_ours(&self.options.controller_id)
                };
                if let Ok(o) = &mut results[i] {
                    o.tasks = live.iter().filter(ours).cloned().collect();
                    // Tasks RunTask started moments ago may not be listed yet.
                    let mut unlisted = self.unlisted();
                    if !unlisted.is_empty() {
                        let key = group_key(desired[i]);
                        unlisted.tasks(&key, &mut o.tasks, &seen, Instant::now());
                    }
                    o.stopped_tasks = stopped
                        .iter()
                        .filter(ours)
                        .filter(|t| t.is_failure_stop(now))
                        .cloned()
                        .collect();
                }
            }
        }

        // The revisions the tasks run (immutable, cached), then the family's latest for groups
        // none of whose tasks runs the desired hash.
        let mut needed: Vec<(usize, String)> = Vec::new();
        for (i, d) in desired.iter().enumerate() {
            let Ok(o) = &results[i] else { continue };
            if d.mode() != Mode::Tasks {
                continue;
            }
            let mut arns: Vec<&String> = o.tasks.iter().map(|t| &t.task_definition).collect();
            arns.sort();
            arns.dedup();
            let mut revisions = Vec::new();
            let mut failed = None;
            for arn in arns {
                match self.revision(&d.target, arn).await {
                    Ok(Some(r)) => revisions.push(r),
                    Ok(None) => {}
                    Err(e) => failed = Some(e),
                }
            }
            if let Some(e) = failed {
                results[i] = Err(e);
                continue;
            }
            let hash = &d.rendered.spec_hash;
            if !revisions.iter().any(|r| r.spec_hash.as_ref() == Some(hash))
                && !d.group.spec.suspend
            {
                needed.push((i, d.rendered.task_definition.family.clone()));
            }
            if let Ok(o) = &mut results[i] {
                o.task_revisions = revisions;
            }
        }
        let latest = self.latest_revisions(desired, &needed).await;
        for (i, family) in &needed {
            match latest.get(&(desired[*i].target.clone(), family.clone())) {
                Some(Ok(r)) => {
                    if let Ok(o) = &mut results[*i] {
                        o.latest_revision = r.clone();
                    }
                }
                Some(Err(e)) => results[*i] = Err(e.clone()),
                None => {}
            }
        }
    }

    /// Service mode: for services that are not steady, the tasks that stopped recently without
    /// being asked to (crash-loop evidence). Steady services cost nothing here.
    pub(crate) async fn observe_unsteady_services(
        &self,
        desired: &[&DesiredGroup],
        results: &mut Observations,
    ) {
        let mut wanted = Vec::new();
        for (i, d) in desired.iter().enumerate() {
            let Ok(o) = &results[i] else { continue };
            let Some(s) = o.service.as_ref().filter(|s| s.is_active()) else {
                continue;
            };
            let owned = s.is_ours(&self.options.controller_id);
            // A rolled-back service is steady again, but its status names why the failed
            // revision's tasks stopped.
            let rolled_back = plan::rollback_of(d, s).is_some();
            if owned && (!s.is_steady() || rolled_back) && d.mode() == Mode::Service {
                wanted.push((i, d.target.clone(), d.cluster().to_owned(), s.name.clone()));
            }
        }
        let stopped = |(i, region, cluster, name): (usize, Target, String, String)| async move {
            let filter = TaskFilter::Service {
                service_name: name.clone(),
                desired_status: DesiredStatus::Stopped,
            };
            let tasks = self.tasks(&region, &cluster, filter).await;
            (i, name, tasks)
        };
        let found: Vec<_> = bounded(wanted, stopped, self.concurrency).await;
        let now = now_secs();
        for (i, name, tasks) in found {
            match (tasks, &mut results[i]) {
                (Ok(tasks), Ok(o)) => {
                    // ListTasks may ignore serviceName (some endpoints do): the task group says
                    // whose it is.
                    let group = format!("service:{name}");
                    o.stopped_tasks = tasks
                        .into_iter()
                        .filter(|t| t.group.as_deref() == Some(group.as_str()))
                        .filter(|t| t.is_failure_stop(now))
                        .collect();
                }
                (Err(e), slot) => *slot = Err(e),
                (Ok(_), Err(_)) => {}
            }
        }
    }
}
