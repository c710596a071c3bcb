//! `status -o table`: one line per group, then the reason of each stalled or degraded group,
//! of a Harness that could not be read, of delegate versions expired or expiring, and where a
//! managed version came from.

use plan::{ConditionStatus, ConditionType, GroupStatus};

/// One line per group.
pub fn table(statuses: &[GroupStatus]) -> String {
    let mut rows = vec![[
        "NAME".to_owned(),
        "CLUSTER".into(),
        "ACCOUNT/REGION".into(),
        "MODE".into(),
        "DESIRED".into(),
        "RUNNING".into(),
        "PENDING".into(),
        "TASK DEFINITION".into(),
        "IN SYNC".into(),
        "CONNECTED".into(),
        "READY".into(),
        "REASON".into(),
    ]];
    for s in statuses {
        let ready = s.condition(ConditionType::Ready);
        rows.push([
            s.name.clone(),
            s.cluster.clone(),
            format!("{}/{}", s.account.as_deref().unwrap_or("self"), s.region),
            s.mode.clone(),
            s.desired.to_string(),
            s.running.to_string(),
            s.pending.to_string(),
            s.task_definition.clone().unwrap_or_else(|| "-".into()),
            if s.in_sync { "yes" } else { "no" }.into(),
            s.harness.column(s.desired),
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
    if let Some(window) = statuses.iter().find_map(|s| s.window.as_deref()) {
        out.push_str(&format!("change window: {window}\n"));
    }
    for s in statuses {
        let problem = s
            .conditions
            .iter()
            .find(|c| {
                (c.kind == ConditionType::Stalled || c.kind == ConditionType::Degraded)
                    && c.is_true()
            })
            .or_else(|| {
                s.condition(ConditionType::Connected)
                    .filter(|c| c.status == ConditionStatus::Unknown)
            });
        if let Some(problem) = problem {
            out.push_str(&format!(
                "{}: {}: {}\n",
                s.name, problem.reason, problem.message
            ));
        }
        if !s.harness.expired_versions.is_empty() {
            out.push_str(&format!(
                "{}: warning: Harness says delegate version {} has expired: update \
                 spec.delegate.image\n",
                s.name,
                s.harness.expired_versions.join(", ")
            ));
        } else if let Some(soon) = s.condition(ConditionType::ExpiringSoon) {
            out.push_str(&format!("{}: warning: {}\n", s.name, soon.message));
        }
        if let Some(version) = &s.version {
            out.push_str(&format!(
                "{}: version {} ({})\n",
                s.name,
                version.image.as_deref().unwrap_or("not resolved"),
                version.source
            ));
        }
    }
    out
}
