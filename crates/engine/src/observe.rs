//! Observation: what ECS says about each group, batched (10 services per DescribeServices per
//! cluster), with immutable task definition revisions cached by ARN for the engine's life.
//!
//! Observation cost per pass for converged service-mode groups: one DescribeServices per 10
//! services of a cluster and nothing else. Task definitions are looked up only for groups whose
//! service tags do not already prove convergence.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use client::api::DescribeFailure;
use client::call;
use client::{AwsApi, AwsError, Operation};
use client::{ClientProvider, Target};
use plan::{
    plan_group, task_definition_lookup_needed, DesiredGroup, GroupError, GroupPlan, ObservedGroup,
    ObservedService, ObservedTaskDefinition,
};
use spec::render::{TAG_GROUP, TAG_TASK_DEFINITION};
use spec::Mode;
use tokio::time::Instant;

use crate::{
    borrowed, bounded, by_cluster, group_error, group_key, Engine, GroupReport,
    DESCRIBE_SERVICES_BATCH,
};

impl<P: ClientProvider> Engine<P> {
    /// Observes and plans every group, in order: each group's plan and what was observed (or
    /// why it could not be). The roles of groups with planned writes are observed too, and
    /// the group planned again with what they showed (`plan_group` refuses to write with a
    /// bad role): a converged fleet costs no IAM call.
    pub(crate) async fn observe_and_plan(&self, groups: &[Arc<DesiredGroup>]) -> Vec<GroupReport> {
        let observed = self.observe(groups).await;
        let mut records = Vec::with_capacity(groups.len());
        for (desired, observed) in groups.iter().zip(observed) {
            let mut record = GroupReport::new(Arc::clone(desired));
            let d = &*record.desired;
            match observed {
                Err(e) => record.error = Some(observe_error(d, e)),
                Ok(mut observed) => {
                    record.plan = plan_group(d, &observed, &self.options);
                    if !record.plan.actions.is_empty() && record.plan.error.is_none() {
                        match self.observe_roles(d, &mut observed).await {
                            Ok(()) => record.plan = plan_group(d, &observed, &self.options),
                            Err(e) => {
                                record.plan = GroupPlan::empty(d);
                                record.error = Some(crate::group_error(e));
                            }
                        }
                    }
                    if record.error.is_none() {
                        // The plan's refusal (a conflict, a bad role) is the group's error.
                        record.error.clone_from(&record.plan.error);
                    }
                    record.observed = Some(observed);
                }
            }
            records.push(record);
        }
        records
    }

    /// Reads the live state of every group, aligned with `desired`.
    pub(crate) async fn observe<G: Borrow<DesiredGroup> + Sync>(
        &self,
        desired: &[G],
    ) -> Vec<Result<ObservedGroup, AwsError>> {
        let desired = &borrowed(desired)[..];
        let services = self.describe_services(desired).await;
        let mut results = self.described(desired, &services);

        // Task definitions, only for groups whose service tags do not prove convergence.
        let mut lookups: Vec<(usize, String)> = Vec::new();
        // The revision the service runs and, when different, the one its task-definition tag
        // names (someone may have pointed the service elsewhere).
        let mut revisions: Vec<RevisionLookup> = Vec::new();
        for (i, (d, o)) in desired.iter().zip(&results).enumerate() {
            let Ok(o) = o else { continue };
            if !task_definition_lookup_needed(d, o.service.as_ref(), &self.options.controller_id) {
                continue;
            }
            lookups.push((i, d.rendered.task_definition.family.clone()));
            if let Some(s) = o.service.as_ref().filter(|s| s.is_active()) {
                if !s.task_definition.is_empty() {
                    revisions.push(RevisionLookup {
                        group: i,
                        which: Revision::Running,
                        arn: s.task_definition.clone(),
                    });
                }
                if let Some(tagged) = s.tags.get(TAG_TASK_DEFINITION) {
                    if *tagged != s.task_definition {
                        revisions.push(RevisionLookup {
                            group: i,
                            which: Revision::Tagged,
                            arn: tagged.clone(),
                        });
                    }
                }
            }
        }
        let latest_by_family = self.latest_revisions(desired, &lookups).await;
        let revision = |lookup: RevisionLookup| async move {
            let found = self.revision(&desired[lookup.group].target, &lookup.arn);
            (found.await, lookup)
        };
        let found: Vec<_> = bounded(revisions, revision, self.concurrency).await;
        for (revision, lookup) in found {
            match (revision, &mut results[lookup.group]) {
                (Ok(r), Ok(o)) if lookup.which == Revision::Tagged => o.tagged_task_definition = r,
                (Ok(r), Ok(o)) => o.service_task_definition = r,
                (Err(e), slot) => *slot = Err(e),
                (Ok(_), Err(_)) => {}
            }
        }
        for (i, family) in &lookups {
            let key = (desired[*i].target.clone(), family.clone());
            match latest_by_family.get(&key) {
                Some(Ok(r)) => {
                    if let Ok(o) = &mut results[*i] {
                        o.latest_revision = r.clone();
                    }
                }
                Some(Err(e)) => results[*i] = Err(e.clone()),
                None => {}
            }
        }
        self.observe_renames(desired, &mut results).await;
        self.observe_rollbacks(desired, &mut results).await;
        self.observe_tasks(desired, &mut results).await;
        self.observe_unsteady_services(desired, &mut results).await;
        self.observe_capacity(desired, &mut results).await;
        self.observe_scaling(desired, &mut results).await;
        results
    }

    /// Each group's service as DescribeServices answered, or, while it is not described yet,
    /// the one CreateService answered (not async: the lock is never held across an await).
    fn described(
        &self,
        desired: &[&DesiredGroup],
        services: &HashMap<(Target, String), Result<Described, AwsError>>,
    ) -> Vec<Result<ObservedGroup, AwsError>> {
        let now = Instant::now();
        let mut unlisted = self.unlisted();
        desired
            .iter()
            .map(|d| {
                if d.mode() != Mode::Service {
                    return Ok(ObservedGroup::default());
                }
                let key = (d.target.clone(), d.cluster().to_owned());
                let listed = match services.get(&key) {
                    Some(Err(e)) => return Err(e.clone()),
                    Some(Ok(listed)) => listed,
                    None => return Ok(ObservedGroup::default()),
                };
                if let Some(failure) = listed.failures.get(d.service_name()) {
                    return Err(failure.error(Operation::DescribeServices));
                }
                let mut service = listed.services.get(d.service_name()).cloned();
                // A service created moments ago may not be described yet.
                if !unlisted.is_empty() {
                    service = unlisted.service(&group_key(d), service, now);
                }
                Ok(ObservedGroup {
                    service,
                    ..ObservedGroup::default()
                })
            })
            .collect()
    }

    /// Groups about to create their service: is one of this controller's services in the
    /// cluster already this group's under another name (a rename)? Costs the cluster's listing,
    /// only when a service is about to be created.
    async fn observe_renames(&self, desired: &[&DesiredGroup], results: &mut crate::Observations) {
        let id = &self.options.controller_id;
        let key = group_key;
        let clusters = {
            let mut checked = self
                .renames
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            by_cluster(desired, results, |d, o| {
                let missing = o.service.as_ref().is_none_or(|s| !s.is_active());
                if !missing {
                    // Its service runs under its name: a later rename (even back to a name
                    // checked before) is looked for again.
                    checked.remove(&key(d));
                    return false;
                }
                let fresh = checked.get(&key(d)).is_some_and(|(name, at)| {
                    name == d.service_name() && at.elapsed() < crate::roles::ROLE_CACHE_TTL
                });
                d.mode() == Mode::Service && !d.group.spec.suspend && !fresh
            })
        };
        let scan = |((target, cluster), groups): ((Target, String), Vec<usize>)| async move {
            (groups, self.services_in_cluster(&target, &cluster).await)
        };
        let scans: Vec<_> = bounded(clusters, scan, self.concurrency).await;
        for (groups, services) in scans {
            for i in groups {
                let d = desired[i];
                match (&services, &mut results[i]) {
                    (Ok(services), Ok(o)) => {
                        o.previous_service = services
                            .iter()
                            .find(|s| {
                                s.is_active()
                                    && s.name != d.service_name()
                                    && s.is_ours(id)
                                    && s.tags.get(TAG_GROUP).map(String::as_str) == Some(d.name())
                            })
                            .cloned();
                        if o.previous_service.is_none() {
                            self.renames
                                .lock()
                                .unwrap_or_else(std::sync::PoisonError::into_inner)
                                .insert(key(d), (d.service_name().to_owned(), Instant::now()));
                        }
                    }
                    (Err(e), slot) => *slot = Err(e.clone()),
                    (Ok(_), Err(_)) => {}
                }
            }
        }
    }

    /// DescribeServices, batched by 10 per (region, cluster).
    async fn describe_services(
        &self,
        desired: &[&DesiredGroup],
    ) -> HashMap<(Target, String), Result<Described, AwsError>> {
        let mut names: BTreeMap<(Target, String), Vec<String>> = BTreeMap::new();
        for d in desired.iter().filter(|d| d.mode() == Mode::Service) {
            let list = names
                .entry((d.target.clone(), d.cluster().to_owned()))
                .or_default();
            if !list.iter().any(|n| n == d.service_name()) {
                list.push(d.service_name().to_owned());
            }
        }
        let batches: Vec<((Target, String), Vec<String>)> = names
            .into_iter()
            .flat_map(|(key, list)| {
                list.chunks(DESCRIBE_SERVICES_BATCH)
                    .map(|chunk| (key.clone(), chunk.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let describe = |(key, names): ((Target, String), Vec<String>)| async move {
            let cluster = key.1.clone();
            let client = self.client(&key.0);
            let answer = client.send(call::DescribeServices { cluster, names }).await;
            (key, answer)
        };
        let answers: Vec<_> = bounded(batches, describe, self.concurrency).await;
        let mut by_cluster: HashMap<(Target, String), Result<Described, AwsError>> = HashMap::new();
        for (key, answer) in answers {
            let entry = by_cluster
                .entry(key)
                .or_insert_with(|| Ok(Described::default()));
            match (answer, entry) {
                (Ok(answer), Ok(listed)) => {
                    for s in answer.services {
                        // An ACTIVE service wins over an INACTIVE one of the same name.
                        let map = &mut listed.services;
                        let keep_existing = map.get(&s.name).is_some_and(|e| e.is_active());
                        if !keep_existing {
                            map.insert(s.name.clone(), s);
                        }
                    }
                    for f in answer.failures {
                        listed.failures.insert(f.name.clone(), f);
                    }
                }
                (Err(e), entry) => *entry = Err(e),
                (Ok(_), Err(_)) => {}
            }
        }
        by_cluster
    }

    /// The latest ACTIVE revision of each family looked up, once per (region, family).
    pub(crate) async fn latest_revisions(
        &self,
        desired: &[&DesiredGroup],
        lookups: &[(usize, String)],
    ) -> HashMap<(Target, String), Result<Option<ObservedTaskDefinition>, AwsError>> {
        let mut families: Vec<(Target, String)> = lookups
            .iter()
            .map(|(i, family)| (desired[*i].target.clone(), family.clone()))
            .collect();
        families.sort();
        families.dedup();
        let latest = |(target, family): (Target, String)| async move {
            let answer = self.describe_task_definition(&target, &family).await;
            ((target, family), answer)
        };
        bounded(families, latest, self.concurrency).await
    }

    /// A revision by ARN (or `family:revision`), from the cache when seen before.
    pub(crate) async fn revision(
        &self,
        target: &Target,
        arn: &str,
    ) -> Result<Option<ObservedTaskDefinition>, AwsError> {
        let key = (target.clone(), arn.to_owned());
        if let Some(hit) = self.cached(&key) {
            return Ok(Some(hit));
        }
        let revision = self.describe_task_definition(target, arn).await?;
        if let Some(r) = &revision {
            self.remember(&key, r);
        }
        Ok(revision)
    }

    /// DescribeTaskDefinition, uncached: by ARN, `family:revision`, or family (its latest).
    pub(crate) async fn describe_task_definition(
        &self,
        target: &Target,
        task_definition: &str,
    ) -> Result<Option<ObservedTaskDefinition>, AwsError> {
        let describe = call::DescribeTaskDefinition {
            task_definition: task_definition.to_owned(),
        };
        self.client(target).send(describe).await
    }

    pub(crate) fn cached(&self, key: &(Target, String)) -> Option<ObservedTaskDefinition> {
        self.revisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    pub(crate) fn remember(&self, key: &(Target, String), revision: &ObservedTaskDefinition) {
        let mut cache = self
            .revisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // Documents are not kept: a fleet's worth of them would be most of the loop's memory.
        let revision = ObservedTaskDefinition {
            document: None,
            ..revision.clone()
        };
        cache.insert(key.clone(), revision.clone());
        cache.insert((key.0.clone(), revision.arn.clone()), revision);
    }
}

/// One cluster's DescribeServices answers: services by name, and the names ECS could not
/// describe (a failure other than MISSING: the service's existence is unknown).
#[derive(Default)]
struct Described {
    services: HashMap<String, ObservedService>,
    failures: HashMap<String, DescribeFailure>,
}

/// A failed observation as the group's error. A cluster that does not exist is named with where
/// it was looked for, from the error's code (DescribeServices' ClusterNotFoundException).
fn observe_error(desired: &DesiredGroup, error: AwsError) -> GroupError {
    if error.code.as_deref() != Some("ClusterNotFoundException") {
        return group_error(error);
    }
    let target = &desired.target;
    let place = match target.account_id() {
        Some(account) => format!("{account}/{}", target.region),
        None => format!("{} of the controller's account", target.region),
    };
    GroupError::new(
        plan::Reason::ReconcileError,
        format!(
            "cluster {} not found in {place}: create it, or correct spec.cluster (or spec.region, spec.account)",
            desired.cluster()
        ),
    )
    .caused_by(error)
}

/// Which revision of a group's service a lookup is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Revision {
    /// The one the service runs.
    Running,
    /// The one its task-definition tag names, when it runs another.
    Tagged,
}

/// One revision to describe for one group (by its index in the observed groups).
struct RevisionLookup {
    group: usize,
    which: Revision,
    arn: String,
}

impl<P: ClientProvider> Engine<P> {
    /// Application Auto Scaling of the groups with a count range, and of the services whose
    /// scaling tag says the controller registered a scalable target: per account and region, one
    /// DescribeScalableTargets per 50 such groups and one DescribeScalingPolicies; nothing
    /// without such groups. A failure fails the observation of the groups it was for.
    async fn observe_scaling(
        &self,
        desired: &[&DesiredGroup],
        results: &mut [Result<ObservedGroup, AwsError>],
    ) {
        let wanted: Vec<(usize, plan::Target, String)> = desired
            .iter()
            .zip(results.iter())
            .enumerate()
            .filter_map(|(i, (d, o))| {
                let o = o.as_ref().ok()?;
                let service = o.service.as_ref().filter(|s| s.is_active())?;
                let ours = service.tags.contains_key(spec::render::TAG_SCALING);
                (d.rendered.scaling.is_some() || ours).then(|| {
                    let resource = format!(
                        "service/{}/{}",
                        spec::arn::cluster_name(d.cluster()),
                        service.name
                    );
                    (i, d.target.clone(), resource)
                })
            })
            .collect();
        if wanted.is_empty() {
            return;
        }
        // Per target (account and region): DescribeScalableTargets by 50 resource ids, and one
        // DescribeScalingPolicies for the controller's policy name (every service's at once).
        let mut by_target: HashMap<plan::Target, Vec<(usize, String)>> = HashMap::new();
        for (i, target, resource_id) in wanted {
            by_target.entry(target).or_default().push((i, resource_id));
        }
        let read = |(target, members): (plan::Target, Vec<(usize, String)>)| async move {
            let api = self.client(&target);
            let mut targets = HashMap::new();
            for chunk in members.chunks(50) {
                let found = api
                    .send(client::call::DescribeScalableTargets {
                        resource_ids: chunk.iter().map(|(_, id)| id.clone()).collect(),
                    })
                    .await;
                match found {
                    Ok(found) => {
                        targets.extend(found.into_iter().map(|(id, min, max)| (id, (min, max))))
                    }
                    Err(e) => return (members, Err(e)),
                }
            }
            let policies = api
                .send(client::call::DescribeScalingPolicies {
                    policy_name: spec::document::SCALING_POLICY_NAME.into(),
                })
                .await
                .map(|all| {
                    all.into_iter()
                        .map(|(id, metric, target)| (id, (metric, target)))
                        .collect::<HashMap<_, _>>()
                });
            (members, policies.map(|policies| (targets, policies)))
        };
        let found: Vec<_> = crate::bounded(by_target, read, self.concurrency).await;
        for (members, answer) in found {
            for (i, resource_id) in members {
                match &answer {
                    Ok((targets, policies)) => {
                        if let Ok(o) = &mut results[i] {
                            o.scaling = Some(plan::ObservedScaling {
                                target: targets.get(&resource_id).copied(),
                                policy: policies.get(&resource_id).cloned(),
                            });
                        }
                    }
                    Err(e) => results[i] = Err(e.clone()),
                }
            }
        }
    }
}
