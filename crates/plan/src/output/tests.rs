use super::*;
use crate::{GroupError, Reason, Target};

fn failed(name: &str) -> GroupPlan {
    GroupPlan {
        group: name.into(),
        cluster: "c1".into(),
        target: Target::region("us-east-1"),
        actions: Vec::new(),
        error: Some(GroupError::new(Reason::ReconcileError, "could not be read")),
        suspended: false,
        notes: Vec::new(),
    }
}

/// When no group could be planned, the summary says so and claims nothing else (it said
/// "Only ownership tags change; nothing that runs does").
#[test]
fn a_plan_of_failed_groups_claims_no_changes() {
    let plan = Plan {
        groups: vec![failed("a"), failed("b")],
        orphans: Vec::new(),
        revision: None,
    };
    assert_eq!(
        summary_line(&plan),
        "2 of 2 groups failed and were not planned."
    );
    assert!(!to_text(&plan).contains("Only ownership tags change"));
}
