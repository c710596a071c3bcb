//! A plan as text (like a Terraform plan), JSON (stable, documented) and Markdown (for pull
//! request comments).

use std::fmt::Write as _;

use serde_json::{json, Value};
use spec::arn::task_definition_short;

use crate::action::{Action, GroupPlan, Plan, Replacement};
use crate::prune::{Orphan, PruneAction};
use crate::target::Target;

const ACTION_KINDS: [&str; 9] = [
    "register-task-definition",
    "create-service",
    "update-service",
    "replace-service",
    "delete-service",
    "run-task",
    "stop-task",
    "put-scaling",
    "remove-scaling",
];

fn sign(action: &Action) -> &'static str {
    match action {
        Action::RegisterTaskDefinition { .. } | Action::CreateService { .. } => "+",
        Action::UpdateService { .. } => "~",
        Action::ReplaceService { .. } => "-/+",
        Action::RunTask { .. } => "+",
        Action::StopTask { .. } => "-",
        Action::PutScaling { .. } => "~",
        Action::RemoveScaling { .. } => "-",
    }
}

/// One line naming the action and its object.
fn headline(action: &Action) -> String {
    match action {
        Action::RegisterTaskDefinition {
            document,
            spec_hash,
            ..
        } => format!(
            "register-task-definition {} (spec-hash {})",
            document.family,
            &spec_hash[..spec_hash.len().min(12)]
        ),
        Action::CreateService {
            document,
            task_definition,
        } => format!(
            "create-service {}: desiredCount {}, {}, taskDefinition {}",
            document.service_name,
            document.desired_count,
            document.capacity(),
            task_definition
        ),
        Action::UpdateService {
            document,
            changes,
            adopt,
            untag,
            rollback,
            ..
        } => {
            let mut line = format!("update-service {}", document.service_name);
            if *adopt {
                line.push_str(" (adopt: add this controller's ownership tags)");
            } else if let Some(r) = rollback {
                line.push_str(&format!(
                    " (hold at {}, where ECS rolled {} back to)",
                    task_definition_short(&r.running),
                    task_definition_short(&r.failed)
                ));
            } else if changes.is_empty() && untag.is_empty() {
                // Only the ownership tags (spec-hash, task-definition) are behind.
                line.push_str(" (ownership tags only)");
            }
            if !untag.is_empty() {
                line.push_str(&format!("; untag {}", untag.join(", ")));
            }
            line
        }
        Action::ReplaceService {
            service_arn,
            task_definition,
            replacement,
            document,
            ..
        } => {
            let old = spec::arn::last_segment(service_arn);
            let needs = match replacement {
                Replacement::Allowed => "",
                Replacement::Refused => "; needs --allow-replace",
            };
            if old == document.service_name {
                format!("replace-service {old} (delete, then create with {task_definition}{needs})")
            } else {
                format!(
                    "replace-service {old} -> {} (delete {old}, then create it with \
                     {task_definition}{needs})",
                    document.service_name
                )
            }
        }
        Action::RunTask {
            task_definition,
            count,
            document,
        } => format!(
            "run-task {count} x {task_definition}, {}",
            document.capacity()
        ),
        Action::StopTask {
            task_arn, reason, ..
        } => format!(
            "stop-task {} ({})",
            spec::arn::last_segment(task_arn),
            reason
                .trim_start_matches(spec::render::STOP_REASON_PREFIX)
                .trim()
        ),
        Action::PutScaling { document, .. } => format!(
            "put-scaling {}: {} to {} tasks, {} at {}%",
            document.resource_id, document.min, document.max, document.metric, document.target
        ),
        Action::RemoveScaling { resource_id } => {
            format!("remove-scaling {resource_id} (deregister the scalable target)")
        }
    }
}

fn field_lines(action: &Action) -> Vec<String> {
    match action {
        Action::UpdateService { changes, .. }
        | Action::ReplaceService { changes, .. }
        | Action::PutScaling { changes, .. }
        | Action::RegisterTaskDefinition { changes, .. } => changes
            .iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.from, c.to))
            .collect(),
        _ => Vec::new(),
    }
}

fn detail(action: &Action) -> Value {
    match action {
        Action::RegisterTaskDefinition {
            document,
            spec_hash,
            changes,
        } => json!({"family": document.family, "specHash": spec_hash, "changes": changes}),
        Action::CreateService {
            document,
            task_definition,
        } => json!({
            "service": document.service_name,
            "taskDefinition": task_definition.to_string(),
            "desiredCount": document.desired_count,
            "launchType": document.launch_type,
            "capacityProviderStrategy": document.capacity_provider_strategy,
        }),
        Action::UpdateService {
            document,
            changes,
            task_definition,
            adopt,
            untag,
            rollback,
            ..
        } => json!({
            "service": document.service_name,
            "taskDefinition": task_definition.to_string(),
            "changes": changes,
            "adopt": adopt,
            "untag": untag,
            "rollback": rollback,
        }),
        Action::ReplaceService {
            service_arn,
            changes,
            task_definition,
            ..
        } => json!({
            "serviceArn": service_arn,
            "changes": changes,
            "taskDefinition": task_definition.to_string(),
        }),
        Action::RunTask {
            task_definition,
            count,
            document,
        } => json!({
            "taskDefinition": task_definition.to_string(),
            "count": count,
            "launchType": document.launch_type,
            "capacityProviderStrategy": document.capacity_provider_strategy,
        }),
        Action::StopTask {
            task_arn, reason, ..
        } => json!({"taskArn": task_arn, "reason": reason}),
        Action::PutScaling {
            document, changes, ..
        } => json!({"scaling": document, "changes": changes}),
        Action::RemoveScaling { resource_id } => json!({"resourceId": resource_id}),
    }
}

fn prune_detail(action: &PruneAction) -> Value {
    match action {
        PruneAction::DeleteService {
            service_name,
            desired_count,
            ..
        } => json!({"service": service_name, "desiredCount": desired_count}),
        PruneAction::StopTask {
            task_arn, reason, ..
        } => json!({"taskArn": task_arn, "reason": reason}),
    }
}

/// One action of the plan as every format shows it: a group's own, or a prune's.
struct Row<'a> {
    group: &'a str,
    cluster: &'a str,
    target: &'a Target,
    sign: &'static str,
    kind: &'static str,
    headline: String,
    fields: Vec<String>,
    detail: Value,
}

fn group_rows(group: &GroupPlan) -> impl Iterator<Item = Row<'_>> {
    group.actions.iter().map(|a| Row {
        group: &group.group,
        cluster: &group.cluster,
        target: &group.target,
        sign: sign(a),
        kind: a.kind(),
        headline: headline(a),
        fields: field_lines(a),
        detail: detail(a),
    })
}

fn orphan_rows(orphan: &Orphan) -> impl Iterator<Item = Row<'_>> {
    orphan.actions.iter().map(|a| Row {
        group: &orphan.group,
        cluster: &orphan.cluster,
        target: &orphan.target,
        sign: "-",
        kind: a.kind(),
        headline: a.headline(),
        fields: Vec::new(),
        detail: prune_detail(a),
    })
}

/// Every action of the plan: the desired groups' in file order, then the prunes'.
fn rows(plan: &Plan) -> impl Iterator<Item = Row<'_>> {
    plan.groups
        .iter()
        .flat_map(group_rows)
        .chain(plan.orphans.iter().flat_map(orphan_rows))
}

/// Counts per action kind plus group totals.
fn summary(plan: &Plan) -> Value {
    let mut summary = serde_json::Map::new();
    for kind in ACTION_KINDS {
        let n = rows(plan).filter(|r| r.kind == kind).count();
        summary.insert(kind.into(), n.into());
    }
    summary.insert("groups".into(), plan.groups.len().into());
    summary.insert(
        "inSync".into(),
        plan.groups.iter().filter(|g| g.in_sync()).count().into(),
    );
    summary.insert(
        "errors".into(),
        plan.groups
            .iter()
            .filter(|g| g.error.is_some())
            .count()
            .into(),
    );
    Value::Object(summary)
}

/// The plan in one line. Failed groups come first, and nothing is claimed of them: a group that
/// could not be planned has no changes to describe.
fn summary_line(plan: &Plan) -> String {
    let s = summary(plan);
    let n = |k: &str| s[k].as_u64().unwrap_or(0);
    let (failed, groups) = (n("errors"), n("groups"));
    let mut line = String::new();
    if failed > 0 {
        let _ = write!(
            line,
            "{failed} of {groups} group{} failed and {} not planned.",
            if groups == 1 { "" } else { "s" },
            if failed == 1 { "was" } else { "were" }
        );
        if failed == groups && plan.orphans.is_empty() {
            return line;
        }
        line.push(' ');
    }
    let _ = write!(
        line,
        "Plan: {} to register, {} to create, {} to update, {} to replace, {} to delete.",
        n("register-task-definition"),
        n("create-service"),
        n("update-service"),
        n("replace-service"),
        n("delete-service")
    );
    if n("run-task") + n("stop-task") > 0 {
        line.pop();
        let _ = write!(
            line,
            ", {} tasks to run, {} to stop.",
            plan.groups
                .iter()
                .flat_map(|g| &g.actions)
                .map(|a| match a {
                    Action::RunTask { count, .. } => u64::try_from(*count).unwrap_or(0),
                    _ => 0,
                })
                .sum::<u64>(),
            n("stop-task")
        );
    }
    if n("put-scaling") + n("remove-scaling") > 0 {
        line.pop();
        let _ = write!(
            line,
            ", {} autoscaling to set, {} to remove.",
            n("put-scaling"),
            n("remove-scaling")
        );
    }
    if rows(plan).next().is_some() && !plan.has_changes() {
        line.push_str(" Only ownership tags change; nothing that runs does.");
    }
    let _ = write!(line, " {} of {} groups in sync.", n("inSync"), groups);
    line
}

fn group_title(group: &GroupPlan) -> String {
    format!(
        "{} (cluster {})",
        group.group,
        place(&group.cluster, &group.target)
    )
}

/// The cluster, and where it is when that is another account: `c1 in 111122223333/eu-west-1`.
pub fn place(cluster: &str, target: &Target) -> String {
    match target.account_id() {
        Some(_) => format!("{cluster} in {target}"),
        None => cluster.to_owned(),
    }
}

/// The plan for a terminal.
pub fn to_text(plan: &Plan) -> String {
    let mut out = String::new();
    for group in &plan.groups {
        for note in &group.notes {
            let _ = writeln!(out, "  {}: {note}", group.group);
        }
    }
    let any_action = rows(plan).next().is_some();
    if !any_action && !plan.has_errors() {
        let suspended = plan.groups.iter().filter(|g| g.suspended).count();
        let _ = write!(
            out,
            "No changes. {} group{} in sync",
            plan.groups.len(),
            if plan.groups.len() == 1 {
                " is"
            } else {
                "s are"
            }
        );
        if suspended > 0 {
            let _ = write!(out, " ({suspended} suspended)");
        }
        out.push_str(".\n");
        return out;
    }
    for group in &plan.groups {
        if let Some(error) = &group.error {
            let _ = writeln!(
                out,
                "! {}: error ({}): {error}",
                group_title(group),
                error.reason
            );
        } else if group.suspended {
            let _ = writeln!(out, "  {}: suspended, not changed", group_title(group));
        } else if group.actions.is_empty() {
            let _ = writeln!(out, "  {}: no changes", group_title(group));
        } else {
            let _ = writeln!(out, "  {}", group_title(group));
            write_rows(&mut out, group_rows(group));
        }
    }
    for orphan in &plan.orphans {
        let _ = writeln!(
            out,
            "  {} (cluster {})",
            orphan.group,
            place(&orphan.cluster, &orphan.target)
        );
        write_rows(&mut out, orphan_rows(orphan));
    }
    out.push('\n');
    out.push_str(&summary_line(plan));
    out.push('\n');
    out
}

fn write_rows<'a>(out: &mut String, rows: impl Iterator<Item = Row<'a>>) {
    for row in rows {
        let _ = writeln!(out, "  {} {}", row.sign, row.headline);
        for line in &row.fields {
            let _ = writeln!(out, "        {line}");
        }
    }
}

/// The plan as DESIGN.md's JSON:
/// `{"changes":[{"group","cluster","account","region","action","detail"}],"errors":[...],
/// "summary":{...}}`; `account` is null for the controller's own account.
pub fn to_json(plan: &Plan) -> Value {
    let changes: Vec<Value> = rows(plan)
        .map(|r| json!({"group": r.group, "cluster": r.cluster, "account": r.target.account_id(), "region": r.target.region, "action": r.kind, "detail": r.detail}))
        .collect();
    let errors: Vec<Value> = plan
        .groups
        .iter()
        .filter_map(|g| {
            g.error
                .as_ref()
                .map(|e| json!({"group": g.group, "cluster": g.cluster, "account": g.target.account_id(), "region": g.target.region, "reason": e.reason, "message": e.message}))
        })
        .collect();
    let mut value = json!({"changes": changes, "errors": errors, "summary": summary(plan)});
    let notes: Vec<Value> = plan
        .groups
        .iter()
        .flat_map(|g| {
            g.notes
                .iter()
                .map(move |n| json!({"group": g.group, "note": n}))
        })
        .collect();
    if !notes.is_empty() {
        value["notes"] = json!(notes);
    }
    if let Some(revision) = &plan.revision {
        value["revision"] = json!(revision);
    }
    value
}

/// More fields than this in one Markdown row are collapsed under `<details>`.
const COLLAPSE_OVER: usize = 5;

/// The plan as a Markdown comment for a pull request (headed by the files' git commit).
pub fn to_markdown(plan: &Plan) -> String {
    let mut out = String::from("### ecs-delegate-controller plan\n\n");
    if let Some(revision) = &plan.revision {
        let _ = writeln!(out, "Files at `{}`.\n", &revision[..revision.len().min(12)]);
    }
    let any_action = rows(plan).next().is_some();
    if !any_action && !plan.has_errors() {
        let _ = writeln!(out, "No changes: {} groups in sync.", plan.groups.len());
        return out;
    }
    let _ = writeln!(out, "**{}**\n", summary_line(plan).trim_end_matches('.'));
    if any_action {
        out.push_str("| | group | cluster | action | details |\n|---|---|---|---|---|\n");
        for row in rows(plan) {
            let mut details = row
                .headline
                .split_once(' ')
                .map_or(String::new(), |(_, rest)| rest.to_owned());
            // A long list of fields (a new task definition revision) is collapsed.
            let fields: String = row.fields.iter().map(|l| format!("<br>`{l}`")).collect();
            if row.fields.len() > COLLAPSE_OVER {
                let _ = write!(
                    details,
                    "<details><summary>{} fields</summary>{fields}</details>",
                    row.fields.len()
                );
            } else {
                details.push_str(&fields);
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                row.sign,
                row.group,
                place(row.cluster, row.target),
                row.kind,
                details.replace('|', "\\|")
            );
        }
    }
    let errors: Vec<_> = plan.groups.iter().filter(|g| g.error.is_some()).collect();
    if !errors.is_empty() {
        out.push_str("\n**Errors**\n\n");
        for group in errors {
            let _ = writeln!(
                out,
                "- `{}` ({}): {}",
                group.group,
                place(&group.cluster, &group.target),
                group.error.as_ref().map_or("", |e| e.message.as_str())
            );
        }
    }
    out
}

#[cfg(test)]
mod tests;
