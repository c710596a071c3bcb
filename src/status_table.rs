//! `status -o table`: one line per group, then the reason of each stalled or degraded group.

use plan::{ConditionType, GroupStatus};

/// One line per group.
pub fn table(statuses: &[GroupStatus]) -> String {
    let mut rows = vec![[
        "NAME".to_owned(),
        "CLUSTER".into(),
        "MODE".into(),
        "DESIRED".into(),
        "RUNNING".into(),
        "PENDING".into(),
        "TASK DEFINITION".into(),
        "IN SYNC".into(),
        "READY".into(),
        "REASON".into(),
    ]];
    for s in statuses {
        let ready = s.condition(ConditionType::Ready);
        rows.push([
            s.name.clone(),
            s.cluster.clone(),
            s.mode.clone(),
            s.desired.to_string(),
            s.running.to_string(),
            s.pending.to_string(),
            s.task_definition.clone().unwrap_or_else(|| "-".into()),
            if s.in_sync { "yes" } else { "no" }.into(),
            ready.map_or("?".into(), |c| c.status.to_string()),
            ready.map_or(String::new(), |c| c.reason.to_string()),
        ]);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for row in &rows {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    for s in statuses {
        if let Some(problem) = s.conditions.iter().find(|c| {
            (c.kind == ConditionType::Stalled || c.kind == ConditionType::Degraded) && c.is_true()
        }) {
            out.push_str(&format!(
                "{}: {}: {}\n",
                s.name, problem.reason, problem.message
            ));
        }
    }
    out
}
