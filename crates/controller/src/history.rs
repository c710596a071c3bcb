//! Per group, a bounded list of recent events in Kubernetes' shape (type, reason, message,
//! count, first and last seen), deduplicated by reason: what the loop did and what went wrong,
//! for `/status` and the status page.

use std::collections::VecDeque;
use std::time::SystemTime;

use serde::Serialize;

/// Events kept per group.
pub const KEEP: usize = 10;

/// `Normal` or `Warning`, as Kubernetes has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EventType {
    /// Something done or recovered.
    Normal,
    /// Something wrong.
    Warning,
}

/// One event of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupEvent {
    /// Normal or Warning.
    pub r#type: EventType,
    /// CamelCase, e.g. `UpdatedService`, `InsufficientCapacity`.
    pub reason: String,
    /// For people (the latest, when repeated).
    pub message: String,
    /// Times seen.
    pub count: u32,
    /// First seen (RFC 3339).
    pub first_seen: String,
    /// Last seen (RFC 3339).
    pub last_seen: String,
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Records `reason` in `events` (newest first): a repeat of a kept reason counts up and moves
/// to the front; the oldest beyond [`KEEP`] go.
pub fn record(
    events: &mut VecDeque<GroupEvent>,
    kind: EventType,
    reason: &str,
    message: &str,
    at: SystemTime,
) {
    let now = rfc3339(at);
    if let Some(i) = events.iter().position(|e| e.reason == reason) {
        if let Some(mut event) = events.remove(i) {
            event.count += 1;
            event.last_seen = now;
            event.message = message.to_owned();
            event.r#type = kind;
            events.push_front(event);
            return;
        }
    }
    events.push_front(GroupEvent {
        r#type: kind,
        reason: reason.to_owned(),
        message: message.to_owned(),
        count: 1,
        first_seen: now.clone(),
        last_seen: now,
    });
    events.truncate(KEEP);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_count_up_and_the_list_is_bounded() {
        let mut events = VecDeque::new();
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
        record(&mut events, EventType::Warning, "Throttled", "slow down", t);
        record(&mut events, EventType::Normal, "UpdatedService", "a", t);
        record(
            &mut events,
            EventType::Warning,
            "Throttled",
            "slow down again",
            t,
        );
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].reason, "Throttled");
        assert_eq!(events[0].count, 2);
        assert_eq!(events[0].message, "slow down again");
        for i in 0..20 {
            record(&mut events, EventType::Normal, &format!("R{i}"), "", t);
        }
        assert_eq!(events.len(), KEEP);
        assert_eq!(events[0].reason, "R19");
    }
}
