//! observe -> plan -> apply for a set of groups, over any `EcsApi`.
//!
//! Observation cost per pass for converged service-mode groups: one DescribeServices per 10
//! services of a cluster and nothing else. Task definitions are looked up only for groups whose
//! service tags do not already prove convergence, and revisions (immutable) are cached by ARN for
//! the life of the engine.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use futures::stream::{self, StreamExt};
use plan::{
    plan_group, task_definition_lookup_needed, Action, DesiredGroup, GroupError, GroupPlan,
    ObservedGroup, ObservedService, ObservedTaskDefinition, Plan, PlanOptions, TaskDefinitionRef,
};
use spec::render::TAG_TASK_DEFINITION;
use spec::Mode;
use tokio::sync::OnceCell;
use tracing::{info, info_span, warn, Instrument};

use client::api::{EcsApi, IamApi};
use client::{AwsError, ErrorKind, Operation};

/// Groups as plain references, whatever the caller holds them in (values, `Arc`s).
fn borrowed<G: Borrow<DesiredGroup>>(desired: &[G]) -> Vec<&DesiredGroup> {
    desired.iter().map(Borrow::borrow).collect()
}

/// Runs `futures` with at most `limit` in flight; results in completion order.
///
/// The futures are built before they are streamed: a stream that maps a borrowing closure is
/// not provably `Send` for every lifetime, which a task spawned on the runtime requires.
fn bounded<F: std::future::Future>(
    futures: Vec<F>,
    limit: usize,
) -> impl futures::Stream<Item = F::Output> {
    stream::iter(futures).buffer_unordered(limit)
}

/// DescribeServices takes at most 10 names.
const DESCRIBE_SERVICES_BATCH: usize = 10;

/// What happened to one group in an apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOutcome {
    /// Group name.
    pub group: String,
    /// Cluster as written.
    pub cluster: String,
    /// What was done, one entry per write, e.g. `registered d1:3`.
    pub done: Vec<String>,
    /// Why the group failed, if it did.
    pub error: Option<GroupError>,
}

type SharedRegistration = Arc<OnceCell<Result<String, AwsError>>>;

/// The reconcile engine.
pub struct Engine<A> {
    api: A,
    options: PlanOptions,
    concurrency: usize,
    revisions: Mutex<HashMap<(String, String), ObservedTaskDefinition>>,
    /// Roles found good, and when.
    roles: Mutex<HashMap<String, std::time::Instant>>,
}

impl<A: EcsApi + IamApi> Engine<A> {
    /// An engine over `api`, running up to `concurrency` calls or groups at once.
    pub fn new(api: A, options: PlanOptions, concurrency: usize) -> Self {
        Engine {
            api,
            options,
            concurrency: concurrency.max(1),
            revisions: Mutex::new(HashMap::new()),
            roles: Mutex::new(HashMap::new()),
        }
    }

    /// The API the engine calls.
    pub fn api(&self) -> &A {
        &self.api
    }

    /// Observes and plans every group; a group whose observation failed carries the error.
    pub async fn plan<G: Borrow<DesiredGroup> + Sync>(&self, desired: &[G]) -> Plan {
        self.observe_and_plan(desired).await.0
    }

    /// Observes and plans every group, and returns the observations too (for status).
    pub async fn observe_and_plan<G: Borrow<DesiredGroup> + Sync>(
        &self,
        desired: &[G],
    ) -> (Plan, Vec<Result<ObservedGroup, AwsError>>) {
        let desired = borrowed(desired);
        let mut observed = self.observe(&desired).await;
        let groups = desired
            .iter()
            .zip(&observed)
            .map(|(d, o)| match o {
                Ok(o) => plan_group(d, o, &self.options),
                Err(e) => GroupPlan {
                    group: d.name().into(),
                    cluster: d.cluster().into(),
                    actions: Vec::new(),
                    error: Some(group_error(e.clone())),
                    suspended: d.group.spec.suspend,
                },
            })
            .collect();
        let mut plan = Plan {
            groups,
            orphans: Vec::new(),
        };
        self.check_roles(&desired, &mut observed, &mut plan).await;
        (plan, observed)
    }

    /// Reads the live state of every group, aligned with `desired`.
    pub async fn observe<G: Borrow<DesiredGroup> + Sync>(
        &self,
        desired: &[G],
    ) -> Vec<Result<ObservedGroup, AwsError>> {
        let desired = &borrowed(desired)[..];
        let services = self.describe_services(desired).await;
        let mut results: Vec<Result<ObservedGroup, AwsError>> = desired
            .iter()
            .map(|d| {
                if d.mode() != Mode::Service {
                    return Ok(ObservedGroup::default());
                }
                let key = (d.region.clone(), d.cluster().to_owned());
                match services.get(&key) {
                    Some(Err(e)) => Err(e.clone()),
                    Some(Ok(by_name)) => Ok(ObservedGroup {
                        service: by_name.get(d.service_name()).cloned(),
                        ..ObservedGroup::default()
                    }),
                    None => Ok(ObservedGroup::default()),
                }
            })
            .collect();

        // Task definitions, only for groups whose service tags do not prove convergence.
        let mut lookups: Vec<(usize, String)> = Vec::new();
        // (group, tagged?, revision): the revision the service runs and, when different, the one
        // its task-definition tag names (someone may have pointed the service elsewhere).
        let mut revisions: Vec<(usize, bool, String)> = Vec::new();
        for (i, (d, o)) in desired.iter().zip(&results).enumerate() {
            let Ok(o) = o else { continue };
            if !task_definition_lookup_needed(d, o.service.as_ref(), &self.options) {
                continue;
            }
            lookups.push((i, d.rendered.task_definition.family.clone()));
            if let Some(s) = o.service.as_ref().filter(|s| s.is_active()) {
                if !s.task_definition.is_empty() {
                    revisions.push((i, false, s.task_definition.clone()));
                }
                if let Some(tagged) = s.tags.get(TAG_TASK_DEFINITION) {
                    if *tagged != s.task_definition {
                        revisions.push((i, true, tagged.clone()));
                    }
                }
            }
        }
        let latest_by_family = self.latest_revisions(desired, &lookups).await;
        let found = bounded(
            (revisions)
                .into_iter()
                .map(|(i, tagged, arn)| async move {
                    (i, tagged, self.revision(&desired[i].region, &arn).await)
                })
                .collect::<Vec<_>>(),
            self.concurrency,
        )
        .collect::<Vec<_>>()
        .await;
        for (i, tagged, revision) in found {
            match (revision, &mut results[i]) {
                (Ok(r), Ok(o)) if tagged => o.tagged_task_definition = r,
                (Ok(r), Ok(o)) => o.service_task_definition = r,
                (Err(e), slot) => *slot = Err(e),
                (Ok(_), Err(_)) => {}
            }
        }
        for (i, family) in &lookups {
            let key = (desired[*i].region.clone(), family.clone());
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
        self.observe_tasks(desired, &mut results).await;
        self.observe_unsteady_services(desired, &mut results).await;
        self.observe_capacity(desired, &mut results).await;
        results
    }

    /// DescribeServices, batched by 10 per (region, cluster); name -> service.
    async fn describe_services(
        &self,
        desired: &[&DesiredGroup],
    ) -> HashMap<(String, String), Result<HashMap<String, ObservedService>, AwsError>> {
        let mut names: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
        for d in desired.iter().filter(|d| d.mode() == Mode::Service) {
            let list = names
                .entry((d.region.clone(), d.cluster().to_owned()))
                .or_default();
            if !list.iter().any(|n| n == d.service_name()) {
                list.push(d.service_name().to_owned());
            }
        }
        let batches: Vec<((String, String), Vec<String>)> = names
            .into_iter()
            .flat_map(|(key, list)| {
                list.chunks(DESCRIBE_SERVICES_BATCH)
                    .map(|chunk| (key.clone(), chunk.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let answers = bounded(
            (batches)
                .into_iter()
                .map(|(key, chunk)| async move {
                    let answer = self.api.describe_services(&key.0, &key.1, &chunk).await;
                    (key, answer)
                })
                .collect::<Vec<_>>(),
            self.concurrency,
        )
        .collect::<Vec<_>>()
        .await;
        let mut by_cluster: HashMap<
            (String, String),
            Result<HashMap<String, ObservedService>, AwsError>,
        > = HashMap::new();
        for (key, answer) in answers {
            let entry = by_cluster.entry(key).or_insert_with(|| Ok(HashMap::new()));
            match (answer, entry) {
                (Ok(services), Ok(map)) => {
                    for s in services {
                        // An ACTIVE service wins over an INACTIVE one of the same name.
                        let keep_existing = map.get(&s.name).is_some_and(|e| e.is_active());
                        if !keep_existing {
                            map.insert(s.name.clone(), s);
                        }
                    }
                }
                (Err(e), entry) => *entry = Err(e),
                (Ok(_), Err(_)) => {}
            }
        }
        by_cluster
    }

    /// The latest ACTIVE revision of each family looked up, once per (region, family).
    async fn latest_revisions(
        &self,
        desired: &[&DesiredGroup],
        lookups: &[(usize, String)],
    ) -> HashMap<(String, String), Result<Option<ObservedTaskDefinition>, AwsError>> {
        let mut families: Vec<(String, String)> = lookups
            .iter()
            .map(|(i, family)| (desired[*i].region.clone(), family.clone()))
            .collect();
        families.sort();
        families.dedup();
        bounded(
            (families)
                .into_iter()
                .map(|(region, family)| async move {
                    let answer = self.api.describe_task_definition(&region, &family).await;
                    ((region, family), answer)
                })
                .collect::<Vec<_>>(),
            self.concurrency,
        )
        .collect()
        .await
    }

    /// A revision by ARN (or `family:revision`), from the cache when seen before.
    async fn revision(
        &self,
        region: &str,
        arn: &str,
    ) -> Result<Option<ObservedTaskDefinition>, AwsError> {
        let key = (region.to_owned(), arn.to_owned());
        if let Some(hit) = self.cached(&key) {
            return Ok(Some(hit));
        }
        let revision = self.api.describe_task_definition(region, arn).await?;
        if let Some(r) = &revision {
            self.remember(&key, r);
        }
        Ok(revision)
    }

    fn cached(&self, key: &(String, String)) -> Option<ObservedTaskDefinition> {
        self.revisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn remember(&self, key: &(String, String), revision: &ObservedTaskDefinition) {
        let mut cache = self
            .revisions
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        cache.insert(key.clone(), revision.clone());
        cache.insert((key.0.clone(), revision.arn.clone()), revision.clone());
    }

    /// Carries out `plan`; groups in parallel (bounded), failures isolated per group. Groups with
    /// identical task definition documents share one registration.
    pub async fn apply<G: Borrow<DesiredGroup> + Sync>(
        &self,
        desired: &[G],
        plan: &Plan,
    ) -> Vec<GroupOutcome> {
        let registrations: Mutex<HashMap<(String, String), SharedRegistration>> =
            Mutex::new(HashMap::new());
        let registrations = &registrations;
        let by_name: HashMap<&str, &DesiredGroup> = desired
            .iter()
            .map(|d| (d.borrow().name(), d.borrow()))
            .collect();
        let mut outcomes: Vec<(usize, GroupOutcome)> = bounded(
            plan.groups.iter().enumerate()
            .map(|(i, group_plan)| {
                let d = by_name.get(group_plan.group.as_str()).copied();
                let span = info_span!("reconcile", group = %group_plan.group, cluster = %group_plan.cluster);
                async move {
                    let outcome = match d {
                        Some(d) => self.apply_group(d, group_plan, registrations).await,
                        None => GroupOutcome {
                            group: group_plan.group.clone(),
                            cluster: group_plan.cluster.clone(),
                            done: Vec::new(),
                            error: Some(GroupError::new(
                                plan::Reason::ReconcileError,
                                "no desired state for this group",
                            )),
                        },
                    };
                    (i, outcome)
                }
                .instrument(span)
            })
            .collect::<Vec<_>>(),
            self.concurrency,
        )
            .collect()
            .await;
        outcomes.sort_by_key(|(i, _)| *i);
        outcomes.into_iter().map(|(_, o)| o).collect()
    }

    async fn apply_group(
        &self,
        d: &DesiredGroup,
        group_plan: &GroupPlan,
        registrations: &Mutex<HashMap<(String, String), SharedRegistration>>,
    ) -> GroupOutcome {
        let mut outcome = GroupOutcome {
            group: group_plan.group.clone(),
            cluster: group_plan.cluster.clone(),
            done: Vec::new(),
            error: group_plan.error.clone(),
        };
        if outcome.error.is_some() {
            return outcome;
        }
        let mut registered: Option<String> = None;
        for action in &group_plan.actions {
            let result = self
                .apply_action(d, action, &mut registered, registrations)
                .await;
            match result {
                Ok(done) => {
                    info!(action = action.kind(), %done, "applied");
                    outcome.done.push(done);
                }
                Err(e) => {
                    warn!(action = action.kind(), error = %e, "failed");
                    outcome.error = Some(e);
                    break;
                }
            }
        }
        outcome
    }

    async fn apply_action(
        &self,
        d: &DesiredGroup,
        action: &Action,
        registered: &mut Option<String>,
        registrations: &Mutex<HashMap<(String, String), SharedRegistration>>,
    ) -> Result<String, GroupError> {
        let id = &self.options.controller_id;
        let resolve = |r: &TaskDefinitionRef, registered: &Option<String>| match r {
            TaskDefinitionRef::Existing(arn) => Ok(arn.clone()),
            TaskDefinitionRef::ToRegister { .. } => registered.clone().ok_or_else(|| {
                GroupError::new(
                    plan::Reason::ReconcileError,
                    "internal: task definition was not registered",
                )
            }),
        };
        match action {
            Action::RegisterTaskDefinition {
                document,
                spec_hash,
            } => {
                let cell = {
                    let mut map = registrations
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    map.entry((d.region.clone(), spec_hash.clone()))
                        .or_default()
                        .clone()
                };
                let tags = plan::desired::to_tag_list(&d.ownership_tags(id));
                let arn = cell
                    .get_or_init(|| async {
                        let r = self
                            .register_once(&d.region, document, spec_hash, &tags)
                            .await?;
                        self.remember(&(d.region.clone(), r.arn.clone()), &r);
                        Ok(r.arn)
                    })
                    .await
                    .clone()
                    .map_err(group_error)?;
                *registered = Some(arn.clone());
                Ok(format!(
                    "registered {}",
                    spec::arn::task_definition_short(&arn)
                ))
            }
            Action::CreateService {
                document,
                task_definition,
            } => {
                let arn = resolve(task_definition, registered)?;
                let mut tags = d.service_tags(id);
                tags.insert(TAG_TASK_DEFINITION.into(), arn.clone());
                self.create_once(
                    &d.region,
                    document,
                    &arn,
                    &plan::desired::to_tag_list(&tags),
                )
                .await
                .map_err(group_error)?;
                Ok(format!(
                    "created service {} ({} x {})",
                    document.service_name,
                    document.desired_count,
                    spec::arn::task_definition_short(&arn)
                ))
            }
            Action::UpdateService {
                service_arn,
                document,
                task_definition,
                changes,
                force_new_deployment,
                retag,
                ..
            } => {
                let arn = resolve(task_definition, registered)?;
                if !changes.is_empty() || *force_new_deployment {
                    self.api
                        .update_service(&d.region, document, &arn, *force_new_deployment)
                        .await
                        .map_err(group_error)?;
                }
                // Tags last: a crash before this leaves stale tags, which the next pass sees
                // and completes, never a service whose tags claim more than it runs.
                if *retag {
                    let mut tags = d.service_tags(id);
                    tags.insert(TAG_TASK_DEFINITION.into(), arn.clone());
                    self.api
                        .tag_resource(&d.region, service_arn, &plan::desired::to_tag_list(&tags))
                        .await
                        .map_err(group_error)?;
                }
                let fields: Vec<&str> = changes.iter().map(|c| c.field.as_str()).collect();
                Ok(if fields.is_empty() {
                    format!("updated service {} tags", document.service_name)
                } else {
                    format!(
                        "updated service {} ({})",
                        document.service_name,
                        fields.join(", ")
                    )
                })
            }
            Action::RunTask {
                document,
                task_definition,
                count,
            } => {
                let arn = resolve(task_definition, registered)?;
                let tags = plan::desired::to_tag_list(&d.ownership_tags(id));
                let mut started = 0;
                let mut failures: Vec<String> = Vec::new();
                // RunTask starts at most 10 tasks per call.
                let mut left = *count;
                while left > 0 {
                    let batch = left.min(10);
                    let out = self
                        .api
                        .run_task(&d.region, document, &arn, batch, &tags)
                        .await
                        .map_err(group_error)?;
                    started += out.tasks.len();
                    failures.extend(out.failures);
                    left -= batch;
                }
                let mut done = format!(
                    "started {started} of {count} task{} ({})",
                    if *count == 1 { "" } else { "s" },
                    spec::arn::task_definition_short(&arn)
                );
                if usize::try_from(*count).unwrap_or(0) > started {
                    failures.sort();
                    failures.dedup();
                    let why = if failures.is_empty() {
                        "not placed".to_owned()
                    } else {
                        failures.join(", ")
                    };
                    // Not an error: capacity is reported as a condition, and the next pass
                    // tries again.
                    done.push_str(&format!("; the rest: {why}"));
                }
                Ok(done)
            }
            Action::StopTask {
                cluster,
                task_arn,
                reason,
            } => {
                self.api
                    .stop_task(&d.region, cluster, task_arn, reason)
                    .await
                    .map_err(group_error)?;
                Ok(format!(
                    "stopped task {} ({})",
                    spec::arn::last_segment(task_arn),
                    reason
                        .trim_start_matches(spec::render::STOP_REASON_PREFIX)
                        .trim()
                ))
            }
            Action::ReplaceService {
                changes,
                document,
                task_definition,
                ..
            } => {
                let why = changes
                    .iter()
                    .map(|c| format!("{}: {} -> {}", c.field, c.from, c.to))
                    .collect::<Vec<_>>()
                    .join(", ");
                if !self.options.allow_replace {
                    return Err(GroupError::new(
                        plan::Reason::ReplaceRequired,
                        format!(
                            "the service must be replaced ({why}): UpdateService cannot change \
                             that; run with --allow-replace to delete and create it"
                        ),
                    ));
                }
                let arn = resolve(task_definition, registered)?;
                self.replace_service(d, document, &arn)
                    .await
                    .map_err(group_error)?;
                Ok(format!(
                    "replaced service {} ({why}; {} x {})",
                    document.service_name,
                    document.desired_count,
                    spec::arn::task_definition_short(&arn)
                ))
            }
            Action::DeleteService { .. } => Err(GroupError::new(
                plan::Reason::ReconcileError,
                "delete-service belongs to a prune",
            )),
        }
    }
}

mod prune;
mod roles;
mod tasks;

#[cfg(test)]
mod tests;

/// An AWS failure as a group's error; throttles, transport failures and 5xx are retryable.
pub fn group_error(error: AwsError) -> GroupError {
    GroupError::new(plan::Reason::ReconcileError, error.to_string()).retryable(retryable(&error))
}

/// Attempts of a write that is not idempotent, each after looking whether the last one landed.
const WRITE_ATTEMPTS: u32 = 5;

/// Whether a failed write may be tried again (after re-observing).
fn retryable(error: &AwsError) -> bool {
    matches!(
        error.kind,
        ErrorKind::Throttled | ErrorKind::Transport | ErrorKind::Other
    )
}

async fn write_backoff(attempt: u32) {
    let base = std::time::Duration::from_millis(200 * 2u64.pow(attempt.min(5)));
    let jitter = base.mul_f64(rand::random::<f64>() * 0.5);
    tokio::time::sleep(base + jitter).await;
}

impl<A: EcsApi + IamApi> Engine<A> {
    /// RegisterTaskDefinition exactly once: after a failure whose answer may have been lost,
    /// the family's latest revision is checked for the hash before trying again.
    async fn register_once(
        &self,
        region: &str,
        document: &spec::document::TaskDefinitionDocument,
        spec_hash: &str,
        tags: &[spec::document::Tag],
    ) -> Result<ObservedTaskDefinition, AwsError> {
        let mut attempt = 0;
        loop {
            match self
                .api
                .register_task_definition(region, document, tags)
                .await
            {
                Ok(r) => return Ok(r),
                Err(e) if retryable(&e) && attempt + 1 < WRITE_ATTEMPTS => {
                    warn!(error = %e, "RegisterTaskDefinition failed; checking whether it landed");
                    write_backoff(attempt).await;
                    attempt += 1;
                    if let Ok(Some(latest)) = self
                        .api
                        .describe_task_definition(region, &document.family)
                        .await
                    {
                        if latest.spec_hash.as_deref() == Some(spec_hash) {
                            return Ok(latest);
                        }
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// CreateService exactly once: after a failure whose answer may have been lost, the service
    /// is looked up before trying again ("already exists" is then success, not an error).
    async fn create_once(
        &self,
        region: &str,
        document: &spec::document::ServiceDocument,
        task_definition: &str,
        tags: &[spec::document::Tag],
    ) -> Result<(), AwsError> {
        let mut attempt = 0;
        loop {
            let failed = match self
                .api
                .create_service(region, document, task_definition, tags)
                .await
            {
                Ok(_) => return Ok(()),
                Err(e) => e,
            };
            let ours = |s: &ObservedService| {
                s.is_active()
                    && s.tags.get(spec::render::TAG_MANAGED_BY) == Some(&self.options.controller_id)
            };
            // Retried with the same name, ECS answers that creation was not idempotent: the
            // first attempt landed.
            let maybe_landed = retryable(&failed) || failed.kind == ErrorKind::Invalid;
            if maybe_landed && attempt + 1 < WRITE_ATTEMPTS {
                warn!(error = %failed, "CreateService failed; checking whether it landed");
                write_backoff(attempt).await;
                attempt += 1;
                let found = self
                    .api
                    .describe_services(
                        region,
                        &document.cluster,
                        std::slice::from_ref(&document.service_name),
                    )
                    .await?;
                if found.iter().any(ours) {
                    return Ok(());
                }
                if !retryable(&failed) {
                    return Err(failed);
                }
            } else {
                return Err(failed);
            }
        }
    }

    /// Deletes the service, waits until its name is free (DRAINING blocks it on ECS), and
    /// creates it again with the ownership tags.
    async fn replace_service(
        &self,
        d: &DesiredGroup,
        document: &spec::document::ServiceDocument,
        task_definition: &str,
    ) -> Result<(), AwsError> {
        let name = &document.service_name;
        let current = self
            .api
            .describe_services(&d.region, &document.cluster, std::slice::from_ref(name))
            .await?;
        if let Some(s) = current.iter().find(|s| s.is_active()) {
            self.delete_service(&d.region, &document.cluster, name, s.desired_count)
                .await?;
        }
        let deadline = std::time::Instant::now() + REPLACE_WAIT;
        loop {
            let services = self
                .api
                .describe_services(&d.region, &document.cluster, std::slice::from_ref(name))
                .await?;
            if services.iter().all(|s| s.status == "INACTIVE") {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(AwsError::invalid(
                    Operation::CreateService,
                    format!("service {name} still blocks its name after deletion; try again later"),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        }
        let mut tags = d.service_tags(&self.options.controller_id);
        tags.insert(TAG_TASK_DEFINITION.into(), task_definition.into());
        self.create_once(
            &d.region,
            document,
            task_definition,
            &plan::desired::to_tag_list(&tags),
        )
        .await
    }
}

/// How long a replacement waits for a deleted service to free its name.
const REPLACE_WAIT: std::time::Duration = std::time::Duration::from_secs(600);

/// The status of every group after a pass: what was observed, planned and (if anything) applied.
pub fn statuses<G: Borrow<DesiredGroup>>(
    desired: &[G],
    plan: &Plan,
    observed: &[Result<ObservedGroup, AwsError>],
    outcomes: Option<&[GroupOutcome]>,
) -> Vec<plan::GroupStatus> {
    desired
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let outcome = outcomes.map(|o| &o[i]);
            let error = match (&observed[i], outcome) {
                (Err(e), _) => Some(group_error(e.clone())),
                (_, Some(o)) => o.error.clone(),
                (_, None) => None,
            };
            let applied = if outcome.is_some_and(|o| !o.done.is_empty()) {
                plan::status::Applied::Changes
            } else {
                plan::status::Applied::Nothing
            };
            plan::status::derive(
                d.borrow(),
                observed[i].as_ref().ok(),
                Some(&plan.groups[i]),
                applied,
                error.as_ref(),
            )
        })
        .collect()
}
