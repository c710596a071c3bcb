//! A group's history after a pass: its writes, its failure, drift corrected, a change of
//! state, and the notices those make. What a pass adds to the story is decided by the pure
//! [`story`]; [`Controller::record`] writes it down, logs it and sends the notices.

use super::*;

/// One line a pass adds to a group's history, and the notice it makes, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// Normal or Warning.
    pub kind: EventType,
    /// The reason (a write's, an error's, a condition's).
    pub reason: String,
    /// What happened.
    pub message: String,
    /// The notice it makes.
    pub notice: Option<NoticeKind>,
}

impl Entry {
    fn new(kind: EventType, reason: impl Into<String>, message: impl Into<String>) -> Entry {
        Entry {
            kind,
            reason: reason.into(),
            message: message.into(),
            notice: None,
        }
    }

    fn notify(self, kind: NoticeKind) -> Entry {
        Entry {
            notice: Some(kind),
            ..self
        }
    }
}

/// What a pass adds to a group's story, given the state it was in before (`None`: never
/// reported) and whether its writes corrected drift: each write, its failure, drift corrected,
/// and a change of state (Degraded or Stalled with its reason; Ready, a recovery when it
/// follows Degraded or Stalled).
pub(crate) fn story(group: &engine::GroupReport, before: Option<State>, drift: bool) -> Vec<Entry> {
    let mut entries: Vec<Entry> = group
        .done
        .iter()
        .map(|done| Entry::new(EventType::Normal, done.reason(), done.to_string()))
        .collect();
    if let Some(error) = &group.error {
        let reason = error.reason.to_string();
        entries.push(Entry::new(EventType::Warning, reason, &error.message));
    }
    if drift {
        let message: Vec<String> = group.done.iter().map(ToString::to_string).collect();
        entries.push(
            Entry::new(EventType::Normal, "DriftCorrected", message.join("; "))
                .notify(NoticeKind::DriftCorrected),
        );
    }
    let now = State::of(&group.status);
    if before == Some(now) {
        return entries;
    }
    let condition = |kind| group.status.condition(kind);
    match now {
        State::Degraded | State::Stalled => {
            let (kind, notice) = if now == State::Stalled {
                (plan::ConditionType::Stalled, NoticeKind::Stalled)
            } else {
                (plan::ConditionType::Degraded, NoticeKind::Degraded)
            };
            if let Some(c) = condition(kind) {
                let entry = Entry::new(EventType::Warning, c.reason.to_string(), &c.message);
                entries.push(entry.notify(notice));
            }
        }
        State::Ready => {
            let message = condition(plan::ConditionType::Ready).map_or("", |c| &c.message);
            let entry = Entry::new(EventType::Normal, "Ready", message);
            if matches!(before, Some(State::Degraded | State::Stalled)) {
                entries.push(entry.notify(NoticeKind::Recovered));
            } else {
                entries.push(entry);
            }
        }
        State::Progressing => {}
    }
    entries
}

impl<P: ClientProvider + 'static, S: DesiredSource> Controller<P, S> {
    /// A group's history after a pass (see [`story`]), on the record and in the notices, and
    /// the revision it was applied from, when.
    pub(super) fn record(&self, status: &mut StatusState, group: &engine::GroupReport) {
        let name = group.desired.name();
        let (cluster, account) = (
            group.desired.cluster(),
            group.desired.target.account_label(),
        );
        let region = &group.desired.target.region;
        let at = SystemTime::now();
        let spec = engine::fingerprint(&group.desired);
        // Writes to a group whose files did not change since its last clean pass: drift.
        let drift = !group.done.is_empty() && status.spec_applied.get(name) == Some(&spec);
        if drift {
            info!(group = %name, %cluster, %account, %region, "drift corrected: ECS had changed, the files had not");
        }
        let before = status.groups.get(name).map(State::of);
        let now = State::of(&group.status);
        let history = status.events.entry(name.to_owned()).or_default();
        let mut notices = Vec::new();
        let mut entries = story(group, before, drift);
        entries.extend(expiry(status.groups.get(name), &group.status));
        entries.extend(halted(status.groups.get(name), &group.status));
        for entry in entries {
            history::record(history, entry.kind, &entry.reason, &entry.message, at);
            let Some(kind) = entry.notice else { continue };
            match kind {
                NoticeKind::Degraded | NoticeKind::Stalled => {
                    warn!(group = %name, %cluster, %account, %region, state = now.label(), reason = %entry.reason, message = %entry.message, "group is {}", now.label());
                }
                NoticeKind::Recovered => {
                    info!(group = %name, %cluster, "group recovered: Ready");
                }
                NoticeKind::WaveHalted => {
                    warn!(group = %name, %cluster, %account, %region, message = %entry.message, "rollout halted for this group");
                }
                NoticeKind::ExpiringSoon | NoticeKind::Expired => {
                    warn!(group = %name, %cluster, %account, %region, reason = %entry.reason, message = %entry.message, "delegate version expiring");
                }
                NoticeKind::DriftCorrected | NoticeKind::Pruned => {}
            }
            notices.push(Notice {
                kind,
                group: name.to_owned(),
                cluster: cluster.to_owned(),
                account: account.to_owned(),
                region: region.clone(),
                reason: entry.reason,
                message: entry.message,
                revision: status.git.clone(),
            });
        }
        if group.error.is_none() {
            status.spec_applied.insert(name.to_owned(), spec);
            if let Some(git) = &status.git {
                status.applied.insert(name.to_owned(), git.clone());
            }
        }
        status.last_reconciled.insert(
            name.to_owned(),
            humantime::format_rfc3339_seconds(at).to_string(),
        );
        if let Some(notifier) = &self.notifier {
            for n in notices {
                notifier.send(n);
            }
        }
    }
}

/// A group whose changes an earlier wave's failure halts, when it was not before: a warning
/// and a notice, once.
pub(crate) fn halted(before: Option<&plan::GroupStatus>, now: &plan::GroupStatus) -> Vec<Entry> {
    let is_halted = |s: &plan::GroupStatus| {
        s.condition(plan::ConditionType::Ready)
            .is_some_and(|c| c.reason == plan::Reason::WaveHalted)
    };
    if !is_halted(now) || before.is_some_and(is_halted) {
        return Vec::new();
    }
    let message = now
        .condition(plan::ConditionType::Ready)
        .map_or(String::new(), |c| c.message.clone());
    vec![Entry::new(EventType::Warning, "WaveHalted", message).notify(NoticeKind::WaveHalted)]
}

/// `ExpiringSoon` or `Expired` that a group did not have before: a warning on the record and
/// a notice, once (while the condition stays, nothing more is said).
pub(crate) fn expiry(before: Option<&plan::GroupStatus>, now: &plan::GroupStatus) -> Vec<Entry> {
    [
        (plan::ConditionType::ExpiringSoon, NoticeKind::ExpiringSoon),
        (plan::ConditionType::Expired, NoticeKind::Expired),
    ]
    .into_iter()
    .filter_map(|(kind, notice)| {
        let condition = now.condition(kind)?;
        if before.is_some_and(|b| b.condition(kind).is_some()) {
            return None;
        }
        Some(
            Entry::new(
                EventType::Warning,
                condition.reason.to_string(),
                &condition.message,
            )
            .notify(notice),
        )
    })
    .collect()
}

/// A change of what Harness says about a group, on the record.
pub(super) fn log_connection(before: Option<&plan::GroupStatus>, now: &plan::GroupStatus) {
    let Some(connected) = now.condition(plan::ConditionType::Connected) else {
        return;
    };
    let previous = before
        .and_then(|b| b.condition(plan::ConditionType::Connected))
        .map(|c| c.reason);
    if previous == Some(connected.reason) {
        return;
    }
    if connected.reason == plan::Reason::DelegatesConnected {
        info!(group = %now.name, cluster = %now.cluster, reason = %connected.reason, message = %connected.message, "delegates connected to Harness");
    } else {
        warn!(group = %now.name, cluster = %now.cluster, reason = %connected.reason, message = %connected.message, "delegates not connected to Harness");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use plan::{Condition, ConditionType, GroupError, GroupStatus, Reason};

    fn report(conditions: Vec<Condition>, done: Vec<engine::Write>) -> engine::GroupReport {
        let desired = Arc::new(DesiredGroup::test("g").build());
        engine::GroupReport {
            done,
            status: GroupStatus {
                conditions,
                ..GroupStatus::default()
            },
            ..engine::GroupReport::new(desired)
        }
    }

    fn ready() -> Vec<Condition> {
        vec![Condition::new(
            ConditionType::Ready,
            true,
            Reason::Converged,
            "2 of 2 tasks running",
        )]
    }

    fn stalled() -> Vec<Condition> {
        vec![
            Condition::new(ConditionType::Ready, false, Reason::RoleNotFound, "no role"),
            Condition::new(
                ConditionType::Stalled,
                true,
                Reason::RoleNotFound,
                "no role",
            ),
        ]
    }

    fn notices(entries: &[Entry]) -> Vec<NoticeKind> {
        entries.iter().filter_map(|e| e.notice).collect()
    }

    #[test]
    fn a_new_state_is_told_once_and_a_recovery_is_a_notice() {
        let stalled = report(stalled(), Vec::new());
        let told = story(&stalled, Some(State::Ready), false);
        assert_eq!(notices(&told), [NoticeKind::Stalled]);
        assert_eq!(told[0].reason, "RoleNotFound");
        assert!(story(&stalled, Some(State::Stalled), false).is_empty());

        let ready = report(ready(), Vec::new());
        assert_eq!(
            notices(&story(&ready, Some(State::Stalled), false)),
            [NoticeKind::Recovered]
        );
        // Ready for the first time, or after Progressing, is history but no notice.
        let first = story(&ready, None, false);
        assert_eq!(first.len(), 1);
        assert!(notices(&first).is_empty());
    }

    #[test]
    fn writes_a_failure_and_drift_each_make_a_line() {
        let wrote = engine::Write::UpdatedService {
            service: "g".into(),
            fields: vec!["desiredCount".into()],
            untagged: Vec::new(),
        };
        let mut group = report(ready(), vec![wrote]);
        group.error = Some(GroupError::new(Reason::ReconcileError, "throttled"));
        let entries = story(&group, Some(State::Ready), true);
        let lines: Vec<(&str, Option<NoticeKind>)> = entries
            .iter()
            .map(|e| (e.reason.as_str(), e.notice))
            .collect();
        assert_eq!(
            lines,
            [
                ("UpdatedService", None),
                ("ReconcileError", None),
                ("DriftCorrected", Some(NoticeKind::DriftCorrected)),
            ]
        );
        assert_eq!(entries[2].message, entries[0].message);
    }

    #[test]
    fn a_halt_and_an_expiring_version_are_each_one_notice() {
        let mut held = GroupStatus::default();
        held.hold(
            Reason::WaveHalted,
            "halted: a of wave 0 failed (RolledBack)",
        );
        assert_eq!(notices(&halted(None, &held)), [NoticeKind::WaveHalted]);
        assert!(halted(Some(&held), &held).is_empty(), "once");
        let mut waiting = GroupStatus::default();
        waiting.hold(Reason::HeldByWave, "waiting for wave 0");
        assert!(halted(None, &waiting).is_empty());

        let soon = GroupStatus {
            conditions: vec![Condition::new(
                ConditionType::ExpiringSoon,
                true,
                Reason::VersionExpiringSoon,
                "expires at 2027-01-01T00:00:00Z",
            )],
            ..GroupStatus::default()
        };
        assert_eq!(notices(&expiry(None, &soon)), [NoticeKind::ExpiringSoon]);
        assert!(expiry(Some(&soon), &soon).is_empty(), "once");
    }
}
