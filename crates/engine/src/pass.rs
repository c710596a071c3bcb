//! The one reconcile pass (kube-runtime's `reconcile` + `error_policy`), which `plan`,
//! `status`, `reconcile --once`, `--wait` and the loop all call:
//!
//! ```text
//! groups in scope -> observe (batched) -> plan (pure) -> [prune plan] -> apply -> [prune]
//!                 -> per group: events, error, status, next step (the error policy)
//! ```
//!
//! Each group travels as one record ([`GroupReport`]), never as vectors aligned by index.

use std::sync::Arc;

use client::{ClientProvider, Target};
use plan::harness::HarnessView;
use plan::prune::plan_prune;
use plan::status::{derive, Applied};
use plan::{
    DesiredGroup, GroupError, GroupPlan, GroupStatus, ObservedGroup, Orphan, PruneLimits,
    PruneRefusal,
};
use tracing::{info, warn};

use crate::retry::Next;
use crate::scope::{Scope, WriteGate};
use crate::write::Write;
use crate::{Engine, GroupOutcome};

/// Whether a pass writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Observe and plan only (`plan`, `status`, `--dry-run`, `--wait`, a standby replica).
    Plan,
    /// Carry out the plan (while the write gate is open).
    Apply,
}

/// One group after a pass.
#[derive(Debug, Clone)]
pub struct GroupReport {
    /// What the files say.
    pub desired: Arc<DesiredGroup>,
    /// What ECS said; `None` when it could not be read (`error` says why).
    pub observed: Option<ObservedGroup>,
    /// What the pass planned.
    pub plan: GroupPlan,
    /// What it did, one event per write.
    pub done: Vec<Write>,
    /// Why the group failed this pass, if it did: set once, by the stage that failed
    /// (observing, planning, checking roles, applying).
    pub error: Option<GroupError>,
    /// What Harness said of it, with the Harness check on.
    pub harness: Option<HarnessView>,
    /// Its changes were held (by a change window, or an earlier rollout wave): the reason and
    /// why, for people.
    pub held: Option<(plan::Reason, String)>,
    /// Its derived status.
    pub status: GroupStatus,
}

impl GroupReport {
    /// The record of `desired` before any stage filled it.
    pub fn new(desired: Arc<DesiredGroup>) -> GroupReport {
        GroupReport {
            plan: GroupPlan::empty(&desired),
            desired,
            observed: None,
            done: Vec::new(),
            error: None,
            harness: None,
            held: None,
            status: GroupStatus::default(),
        }
    }
}

/// What a prune found and did.
#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    /// The groups found to remove.
    pub orphans: Vec<Orphan>,
    /// What removing them did (empty when planning only).
    pub outcomes: Vec<GroupOutcome>,
    /// Why nothing was pruned, if it was not.
    pub problem: Option<PruneProblem>,
}

/// Why a prune did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PruneProblem {
    /// Refused by policy (nothing at all is applied in that pass).
    #[error(transparent)]
    Refused(#[from] PruneRefusal),
    /// What exists could not be listed: a partial picture is never pruned from.
    #[error("finding what to prune: {0}")]
    Unlisted(GroupError),
}

/// The result of a pass.
#[derive(Debug, Clone, Default)]
pub struct PassReport {
    /// Every group in scope, in the order given.
    pub groups: Vec<GroupReport>,
    /// With a prune policy: the prune.
    pub prune: Option<PruneReport>,
}

impl PassReport {
    /// The plan, for `plan -o text|json|markdown`.
    pub fn plan(&self) -> plan::Plan {
        plan::Plan {
            // A group that could not be observed shows why in its plan.
            groups: self
                .groups
                .iter()
                .map(|g| GroupPlan {
                    error: g.plan.error.clone().or_else(|| g.error.clone()),
                    ..g.plan.clone()
                })
                .collect(),
            orphans: self
                .prune
                .as_ref()
                .map(|p| p.orphans.clone())
                .unwrap_or_default(),
            revision: None,
        }
    }

    /// The prune was refused or could not list what exists.
    pub fn prune_problem(&self) -> Option<&PruneProblem> {
        self.prune.as_ref().and_then(|p| p.problem.as_ref())
    }
}

impl<P: ClientProvider> Engine<P> {
    /// One pass over the groups in `scope`: observe, plan, (with `prune`) find what to remove,
    /// and in [`Mode::Apply`] carry it out while `gate` is open. A refused prune applies
    /// nothing at all.
    pub async fn pass(
        &self,
        scope: &Scope,
        groups: &[Arc<DesiredGroup>],
        mode: Mode,
        prune: Option<PruneLimits>,
        gate: &dyn WriteGate,
    ) -> PassReport {
        let started = tokio::time::Instant::now();
        let resolved = self.resolve_versions(groups).await;
        let groups = &resolved[..];
        // Harness is asked while ECS is read: a slow Harness delays status, never a write.
        let (mut records, views) =
            tokio::join!(self.observe_and_plan(groups), self.harness_views(groups));
        for record in &mut records {
            record.harness = views.get(record.desired.name()).cloned();
            hold_unresolved(record);
        }
        self.hold_waves(&mut records);
        let mut prune_report = match prune {
            Some(limits) => Some(self.plan_prune(scope, groups, limits, gate).await),
            None => None,
        };
        let refused = prune_report.as_ref().is_some_and(|p| p.problem.is_some());
        let window = self
            .windows
            .as_ref()
            .map(|w| (w.at(std::time::SystemTime::now()), w.drift_always));
        if let Some((verdict, drift_always)) = window.as_ref().filter(|(v, _)| v.is_held()) {
            self.hold(&mut records, verdict, *drift_always);
        }
        if mode == Mode::Apply && !refused {
            for record in &records {
                log_out_of_sync(record, gate);
            }
            // A held group keeps its plan (for plan and status) but is not applied.
            let mut held: Vec<Vec<plan::Action>> = records
                .iter_mut()
                .map(|r| {
                    if r.held.is_some() {
                        std::mem::take(&mut r.plan.actions)
                    } else {
                        Vec::new()
                    }
                })
                .collect();
            self.apply(&mut records, gate).await;
            for (record, actions) in records.iter_mut().zip(held.iter_mut()) {
                if record.held.is_some() {
                    record.plan.actions = std::mem::take(actions);
                }
            }
            let writes_held = window.as_ref().is_some_and(|(v, _)| v.is_held());
            if let Some(report) = prune_report.as_mut().filter(|_| !writes_held) {
                self.carry_out_prune(report, gate).await;
            }
            self.remember_clean(&records);
        }
        for record in &mut records {
            record.status = status_of(record);
            if let Some((verdict, _)) = &window {
                record.status.window = Some(verdict.describe());
            }
        }
        if mode == Mode::Apply {
            log_pass(&records, started.elapsed());
        }
        PassReport {
            groups: records,
            prune: prune_report,
        }
    }

    /// For `plan`: what each new revision changes inside the task definition, against the
    /// revision the group's service runs now (one DescribeTaskDefinition per group that
    /// registers one, none for a group in sync).
    pub async fn explain(&self, report: &mut PassReport) {
        let lookups: Vec<(usize, Target, String)> = report
            .groups
            .iter()
            .enumerate()
            .filter(|(_, g)| {
                g.plan
                    .actions
                    .iter()
                    .any(|a| matches!(a, plan::Action::RegisterTaskDefinition { .. }))
            })
            .filter_map(|(i, g)| {
                let running = g
                    .observed
                    .as_ref()?
                    .service
                    .as_ref()?
                    .task_definition
                    .clone();
                Some((i, g.desired.target.clone(), running))
            })
            .collect();
        let describe = |(i, target, arn): (usize, Target, String)| async move {
            (i, self.describe_task_definition(&target, &arn).await)
        };
        let found: Vec<_> = crate::bounded(lookups, describe, self.concurrency).await;
        for (i, live) in found {
            let Ok(Some(live)) = live else { continue };
            let Some(live) = live.document else { continue };
            for action in &mut report.groups[i].plan.actions {
                if let plan::Action::RegisterTaskDefinition {
                    document, changes, ..
                } = action
                {
                    *changes = plan::tddiff::changes(&live, document);
                }
            }
        }
    }

    /// A prune on its own (the loop's, at each resync), over `groups`: the whole desired set.
    pub async fn prune(
        &self,
        scope: &Scope,
        groups: &[Arc<DesiredGroup>],
        limits: PruneLimits,
        mode: Mode,
        gate: &dyn WriteGate,
    ) -> PruneReport {
        let mut report = self.plan_prune(scope, groups, limits, gate).await;
        if mode == Mode::Apply {
            self.carry_out_prune(&mut report, gate).await;
        }
        report
    }

    /// Removes the orphans of a prune that was not refused, while the gate is open.
    async fn carry_out_prune(&self, report: &mut PruneReport, gate: &dyn WriteGate) {
        if report.problem.is_some() || report.orphans.is_empty() {
            return;
        }
        report.outcomes = self.apply_prune(&report.orphans, gate).await;
        for outcome in &report.outcomes {
            let done: Vec<String> = outcome.done.iter().map(ToString::to_string).collect();
            match &outcome.error {
                None => {
                    info!(group = %outcome.group, cluster = %outcome.cluster, account = %outcome.target.account_label(), region = %outcome.target.region, done = %done.join("; "), "pruned")
                }
                Some(e) => {
                    warn!(group = %outcome.group, cluster = %outcome.cluster, account = %outcome.target.account_label(), region = %outcome.target.region, error = %e, "prune failed")
                }
            }
        }
    }

    /// The prune plan over `groups` (the whole desired set: a group of a shard this replica
    /// does not hold is still no orphan): refusals first (a selector in the scope is one), then
    /// what exists, of which only the groups `gate` covers are this replica's to remove.
    async fn plan_prune(
        &self,
        scope: &Scope,
        groups: &[Arc<DesiredGroup>],
        limits: PruneLimits,
        gate: &dyn WriteGate,
    ) -> PruneReport {
        let limits = PruneLimits {
            selector: limits.selector || scope.is_selected(),
            ..limits
        };
        let admitted = match limits.admit(groups.len()) {
            Ok(admitted) => admitted,
            Err(refusal) => {
                return PruneReport {
                    problem: Some(refusal.into()),
                    ..PruneReport::default()
                }
            }
        };
        let inventories = match self.inventory(groups).await {
            Ok(inventories) => inventories,
            Err(e) => {
                return PruneReport {
                    problem: Some(PruneProblem::Unlisted(crate::group_error(e))),
                    ..PruneReport::default()
                }
            }
        };
        let desired: Vec<&DesiredGroup> = groups.iter().map(|g| &**g).collect();
        match plan_prune(
            &desired,
            &inventories,
            &self.options.controller_id,
            admitted,
        ) {
            Ok(mut orphans) => {
                orphans.retain(|o| gate.covers(&crate::GroupId::of_orphan(o)));
                PruneReport {
                    orphans,
                    ..PruneReport::default()
                }
            }
            Err(refusal) => PruneReport {
                problem: Some(refusal.into()),
                ..PruneReport::default()
            },
        }
    }

    /// The groups with `spec.delegate.version: auto` rendered with the version Harness names
    /// (cached an hour per manager and account); a group Harness has named no version for
    /// stays unresolved, and [`hold_unresolved`] keeps it from being written.
    async fn resolve_versions(&self, groups: &[Arc<DesiredGroup>]) -> Vec<Arc<DesiredGroup>> {
        let Some(check) = self.harness.as_ref() else {
            return groups.to_vec();
        };
        if !groups
            .iter()
            .any(|g| g.group.spec.delegate.auto_track().is_some())
        {
            return groups.to_vec();
        }
        let borrowed: Vec<&DesiredGroup> = groups.iter().map(|g| &**g).collect();
        let answers = check.resolve(&borrowed).await;
        groups
            .iter()
            .zip(answers)
            .map(|(group, answer)| {
                let Some(track) = group.group.spec.delegate.auto_track() else {
                    return Arc::clone(group);
                };
                let track = plan::desired::track_name(track);
                match answer {
                    Some(Ok(found)) => {
                        let asked = humantime::format_rfc3339_seconds(found.asked_at);
                        let mut source = format!(
                            "auto ({track}): Harness's latest supported version for the \
                             account, asked {asked}"
                        );
                        if let Some(failure) = &found.stale {
                            source.push_str(&format!(" (Harness fails since: {failure})"));
                        }
                        match group.resolved(&found.version, source) {
                            Ok(resolved) => Arc::new(resolved),
                            Err(e) => {
                                warn!(group = %group.name(), error = %e, "rendering the resolved version failed");
                                Arc::clone(group)
                            }
                        }
                    }
                    Some(Err(failure)) => {
                        let mut unresolved = (**group).clone();
                        if let Some(note) = unresolved.version.as_mut() {
                            note.source =
                                format!("auto ({track}): Harness could not be read: {failure}");
                        }
                        Arc::new(unresolved)
                    }
                    None => Arc::clone(group),
                }
            })
            .collect()
    }

    /// With the Harness check on: what Harness says about each group, by group name (empty
    /// without it).
    async fn harness_views(
        &self,
        groups: &[Arc<DesiredGroup>],
    ) -> std::collections::HashMap<String, HarnessView> {
        let Some(check) = self.harness.as_ref() else {
            return std::collections::HashMap::new();
        };
        let groups: Vec<&DesiredGroup> = groups.iter().map(|g| &**g).collect();
        let views = check.views(&groups).await;
        groups
            .iter()
            .map(|g| g.name().to_owned())
            .zip(views)
            .collect()
    }

    /// When to look at a group again after a pass that acted on it: the retry policy's answer
    /// (a passing failure backs off, a success resets it). Only what schedules passes asks
    /// (the loop, `reconcile --once`'s retries): a pass that only looks (`plan`, `status`,
    /// `--wait`'s polling) leaves the backoff as it was.
    pub fn next_step(&self, group: &GroupReport) -> Next {
        self.retries
            .next(group.desired.name(), group.error.as_ref(), &group.status)
    }
}

impl<P: ClientProvider> Engine<P> {
    /// Marks the groups whose changes a closed window holds: every group with actions, except
    /// drift when the operator lets drift always be put back. On the record at the default
    /// level, as the writes would have been.
    fn hold(
        &self,
        records: &mut [GroupReport],
        verdict: &crate::windows::Verdict,
        drift_always: bool,
    ) {
        let clean = self
            .clean
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for record in records.iter_mut() {
            if record.plan.actions.is_empty() || record.error.is_some() {
                continue;
            }
            let key = crate::group_key(&record.desired);
            let drift = clean.get(&key) == Some(&crate::fingerprint(&record.desired));
            if drift && drift_always {
                continue;
            }
            if record.held.is_some() {
                continue;
            }
            let why = verdict.describe();
            info!(group = %record.desired.name(), cluster = %record.desired.cluster(), drift, held = %why, "changes held by a change window");
            record.plan.notes.push(why.clone());
            record.held = Some((plan::Reason::HeldByWindow, why));
        }
    }

    /// Records what this pass saw of each group, then holds the changes of each group whose
    /// earlier waves have not settled (see [`crate::waves`]). Nothing is held while no group
    /// names a wave.
    fn hold_waves(&self, records: &mut [GroupReport]) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for record in records.iter() {
            if record.observed.is_none() {
                continue;
            }
            let before = status_of(record);
            seen.insert(
                record.desired.name().to_owned(),
                crate::waves::Seen::of(
                    record.desired.group.spec.wave(),
                    has_changes(record),
                    &before,
                    record.observed.as_ref(),
                ),
            );
        }
        if !seen.values().any(|s| s.wave() > 0) {
            return;
        }
        for record in records.iter_mut() {
            let wave = record.desired.group.spec.wave();
            if !has_changes(record) || record.held.is_some() {
                continue;
            }
            match crate::waves::wait_reason(wave, &seen, self.wave_settings, now) {
                Some((reason, why)) => {
                    info!(group = %record.desired.name(), cluster = %record.desired.cluster(), wave, held = %why, "changes held for an earlier wave");
                    record.plan.notes.push(format!("wave {wave}: {why}"));
                    record.held = Some((reason, why));
                }
                None if wave > 0 => record.plan.notes.push(format!("wave {wave}: goes now")),
                None => {}
            }
        }
    }

    /// Forgets a group removed from the files: its backoff, its wave (which no longer holds
    /// anyone) and its last clean pass.
    pub fn forget(&self, name: &str) {
        self.retries.forget(name);
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(name);
        self.clean
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .retain(|(_, _, group), _| group != name);
    }

    /// Records the groups that ended this pass clean: in sync, or applied without error.
    fn remember_clean(&self, records: &[GroupReport]) {
        let mut clean = self
            .clean
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for record in records {
            if record.error.is_none()
                && record.held.is_none()
                && (record.plan.actions.is_empty() || !record.done.is_empty())
            {
                clean.insert(
                    crate::group_key(&record.desired),
                    crate::fingerprint(&record.desired),
                );
            }
        }
    }
}

/// Changes planned for the group that change what runs (not only its tags), and no error.
fn has_changes(record: &GroupReport) -> bool {
    record.error.is_none() && record.plan.actions.iter().any(|a| !a.is_tags_only())
}

/// A group whose `version: auto` Harness has not answered is observed but never written:
/// there is no image to write. Its plan is emptied and the group is stalled with why.
fn hold_unresolved(record: &mut GroupReport) {
    if !record.desired.unresolved() || record.error.is_some() {
        return;
    }
    let source = record
        .desired
        .version
        .as_ref()
        .map_or_else(String::new, |n| n.source.clone());
    record.plan.actions.clear();
    record.error = Some(GroupError {
        reason: plan::Reason::VersionUnknown,
        message: format!(
            "spec.delegate.version is {source}; nothing is changed for this group until Harness \
             names a version"
        ),
        retryable: true,
        source: None,
    });
}

/// A group's status from its record: what was observed, planned and done, its error and
/// what Harness said.
fn status_of(record: &GroupReport) -> GroupStatus {
    let applied = if record.done.is_empty() {
        Applied::Nothing
    } else {
        Applied::Changes
    };
    let mut status = derive(
        &record.desired,
        record.observed.as_ref(),
        Some(&record.plan),
        applied,
        record.error.as_ref(),
        record.harness.as_ref(),
    );
    if let Some((reason, why)) = &record.held {
        status.hold(*reason, why);
    }
    status
}

/// A group that differs from its files, on the record before anything is written: which
/// fields differ from what.
fn log_out_of_sync(record: &GroupReport, gate: &dyn WriteGate) {
    let (d, plan) = (&*record.desired, &record.plan);
    if plan.actions.is_empty() || !gate.covers(&crate::GroupId::of(d)) {
        return;
    }
    let changes: Vec<String> = plan
        .actions
        .iter()
        .filter(|a| !matches!(a, plan::Action::RegisterTaskDefinition { .. }))
        .map(plan::Action::changes_for_log)
        .filter(|c| !c.is_empty())
        .collect();
    let service = record.observed.as_ref().and_then(|o| o.service.as_ref());
    // Whether the files or ECS moved is the loop's to say (it knows the files it last
    // applied); here, what differs.
    let cause = match (d.mode(), service) {
        (spec::types::Mode::Tasks, _) => "tasks differ",
        (_, None) => "no service",
        (_, Some(_)) => "service differs",
    };
    info!(group = %d.name(), cluster = %d.cluster(), account = %d.target.account_label(), region = %d.target.region, cause, changes = %changes.join("; "), "out of sync");
}

/// One line per pass: how many groups, what became of them, how long it took.
fn log_pass(reports: &[GroupReport], took: std::time::Duration) {
    let failed = reports.iter().filter(|g| g.error.is_some()).count();
    let changed = reports
        .iter()
        .filter(|g| g.error.is_none() && !g.done.is_empty())
        .count();
    let pending = reports
        .iter()
        .filter(|g| g.error.is_none() && g.done.is_empty() && !g.plan.actions.is_empty())
        .count();
    let in_sync = reports.len() - failed - changed - pending;
    info!(groups = reports.len(), changed, in_sync, failed, not_written = pending, took = %crate::retry::for_people(took), "pass");
}
