//! Service events as evidence of why a service cannot run its tasks. Events are text: this is
//! the one table of the message forms ECS documents for placement and quota failures, each with
//! its source, read where ECS answers are converted (`aws::response`). Nothing else reads
//! events.
//!
//! Source: Amazon ECS Developer Guide, "Amazon ECS service event messages"
//! (service-event-messages-list.html). The page writes the messages' start as
//! `service (service-name)`; DescribeServices answers `(service service-name)` (its "has
//! reached a steady state" event, as every ECS user has seen it). Both are read.

use crate::vocab::Reason;

/// A documented message form (the text after `service (NAME) `) and what it means.
const FORMS: &[(&str, Reason)] = &[
    // "service (service-name) was unable to place a task because no container instance met all
    // of its requirements." (with "The closest matching container-instance ... has insufficient
    // CPU units available." or "... encountered error "AGENT"." after it)
    (
        "was unable to place a task because no container instance met all of its requirements",
        Reason::InsufficientCapacity,
    ),
    // "service (service-name) was unable to place a task. Reason: You've reached the limit on
    // the number of tasks you can run concurrently"
    (
        "was unable to place a task. Reason: You've reached the limit on the number of tasks you can run concurrently",
        Reason::QuotaExceeded,
    ),
    // "... Reason: You've reached the limit on the number of vCPUs you can run concurrently"
    (
        "was unable to place a task. Reason: You've reached the limit on the number of vCPUs you can run concurrently",
        Reason::QuotaExceeded,
    ),
    // "... Reason: The requested CPU configuration is above your limit."
    (
        "was unable to place a task. Reason: The requested CPU configuration is above your limit",
        Reason::QuotaExceeded,
    ),
    // "... Reason: The requested MEMORY configuration is above your limit."
    (
        "was unable to place a task. Reason: The requested MEMORY configuration is above your limit",
        Reason::QuotaExceeded,
    ),
    // "... Reason: Capacity is unavailable at this time. Please try again later or in a
    // different availability zone."
    (
        "was unable to place a task. Reason: Capacity is unavailable at this time",
        Reason::InsufficientCapacity,
    ),
];

/// "service (service-name) has reached a steady state.": nothing is wrong since.
const STEADY: &str = "has reached a steady state";

/// Why ECS cannot place the service's tasks, with ECS's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceProblem {
    /// InsufficientCapacity or QuotaExceeded.
    pub reason: Reason,
    /// The event's message, as ECS wrote it.
    pub message: String,
}

/// The newest documented placement or quota failure among `events` (newest first, as
/// DescribeServices lists them: (created at, message)) of service `name`, if no steady state
/// was reached after it and it is not older than `since` (the primary deployment's creation).
pub fn placement_problem<'a>(
    name: &str,
    events: impl IntoIterator<Item = (Option<i64>, &'a str)>,
    since: Option<i64>,
) -> Option<ServiceProblem> {
    let prefixes = [format!("(service {name}) "), format!("service ({name}) ")];
    for (at, message) in events {
        if at.zip(since).is_some_and(|(at, since)| at < since) {
            return None;
        }
        let rest = prefixes
            .iter()
            .find_map(|p| message.strip_prefix(p.as_str()));
        let Some(rest) = rest else {
            continue;
        };
        if rest.starts_with(STEADY) {
            return None;
        }
        if let Some((_, reason)) = FORMS.iter().find(|(form, _)| rest.starts_with(form)) {
            return Some(ServiceProblem {
                reason: *reason,
                message: message.to_owned(),
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUOTA: &str = "service (d1) was unable to place a task. Reason: You've reached the limit on the number of tasks you can run concurrently. For more information, see the Troubleshooting section of the Amazon ECS Developer Guide.";

    #[test]
    fn the_newest_documented_failure_since_the_deployment_is_the_problem() {
        let events = [
            (Some(20), QUOTA),
            (Some(10), "service (d1) has started 1 tasks: (task a)."),
        ];
        let problem = placement_problem("d1", events, Some(5)).unwrap();
        assert_eq!(problem.reason, Reason::QuotaExceeded);
        assert_eq!(problem.message, QUOTA);
    }

    #[test]
    fn a_steady_state_since_an_older_deployment_or_another_service_is_no_problem() {
        let steady = "service (d1) has reached a steady state.";
        assert_eq!(
            placement_problem("d1", [(Some(30), steady), (Some(20), QUOTA)], None),
            None
        );
        assert_eq!(placement_problem("d1", [(Some(20), QUOTA)], Some(25)), None);
        assert_eq!(placement_problem("d2", [(Some(20), QUOTA)], None), None);
        let capacity = "(service d1) was unable to place a task because no container instance met all of its requirements. The closest matching (container-instance 1) has insufficient memory available.";
        let found = placement_problem("d1", [(None, capacity)], None).unwrap();
        assert_eq!(found.reason, Reason::InsufficientCapacity);
    }
}
