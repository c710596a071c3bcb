//! The status page over a status whose every string comes from the fuzzer (group names,
//! labels, conditions' messages, events, problems in the files): the page is always
//! well-formed HTML whose only elements are the page's own.

use std::collections::{BTreeMap, VecDeque};

use controller::history::{EventType, GroupEvent};
use controller::status::StatusState;
use plan::{Condition, ConditionType, GroupStatus, Reason};

/// Builds a status from `data` (strings split at 0xFF) and renders the page.
pub fn run(data: &[u8]) {
    let mut strings = data
        .split(|b| *b == 0xFF)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .cycle()
        .take(64);
    let mut next = || strings.next().unwrap_or_default();
    let mut status = StatusState::default();
    let groups = 1 + data.first().map_or(0, |b| usize::from(b % 3));
    for _ in 0..groups {
        let name = next();
        let mut group = GroupStatus {
            name: name.clone(),
            cluster: next(),
            account: Some(next()),
            region: next(),
            mode: next(),
            desired: 2,
            running: 1,
            pending: 0,
            task_definition: Some(next()),
            capacity: None,
            in_sync: false,
            harness: plan::harness::Connection::default(),
            conditions: Vec::new(),
            version: Some(plan::desired::VersionNote {
                image: Some(next()),
                source: next(),
            }),
            window: Some(next()),
            autoscaling: Some(spec::document::ScalingDocument {
                resource_id: next(),
                min: 1,
                max: 4,
                policy_name: next(),
                metric: next(),
                target: 60,
            }),
        };
        group.conditions.push(Condition::new(
            ConditionType::Ready,
            false,
            Reason::ReconcileError,
            next(),
        ));
        group.stall(Reason::ConflictUnmanaged, &next());
        status
            .labels
            .insert(name.clone(), BTreeMap::from([(next(), next())]));
        status.applied.insert(name.clone(), next());
        status.last_reconciled.insert(name.clone(), next());
        status.events.insert(
            name.clone(),
            VecDeque::from([GroupEvent {
                r#type: EventType::Warning,
                reason: next(),
                message: next(),
                count: 2,
                first_seen: next(),
                last_seen: next(),
            }]),
        );
        status.groups.insert(name, group);
    }
    status.git = Some(next());
    if data.len().is_multiple_of(2) {
        status.config_errors = vec![next(), next()];
    }
    let context = controller::page::Context {
        replica: Some(next()),
        events: Some(next()),
    };
    let page = controller::page::render(&status, None, &context);
    if let Err(e) = crate::html::check(&page) {
        panic!("the page is not well-formed: {e}");
    }
}
