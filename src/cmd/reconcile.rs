//! `reconcile --once PATH...`: the engine's once-pass (with its retry rounds), a line per
//! group, then with `--wait` the progress until every group is Ready.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use engine::{AlwaysOpen, GroupOutcome, GroupReport, Mode, WaitEnd, WaitProgress};
use plan::{ConditionType, GroupStatus};

use plan::output::place;

use crate::cli::{GlobalArgs, LifecycleArgs};
use crate::cmd::plan::prune_policy;
use crate::wiring::{plural, prepare};

/// The flags of `reconcile --once`.
pub struct Once {
    pub dry_run: bool,
    pub concurrency: usize,
    pub wait: Option<Duration>,
    pub lifecycle: LifecycleArgs,
}

pub async fn run(global: &GlobalArgs, paths: &[PathBuf], once: Once) -> anyhow::Result<ExitCode> {
    let Some((groups, scope, engine)) = prepare(
        global,
        paths,
        once.concurrency,
        once.lifecycle.allow_replace,
        true,
        super::plan::on_empty(&once.lifecycle),
    )
    .await?
    else {
        return Ok(ExitCode::FAILURE);
    };
    let prune = prune_policy(once.lifecycle);
    let report = if once.dry_run {
        engine
            .pass(&scope, &groups, Mode::Plan, prune, &AlwaysOpen)
            .await
    } else {
        engine
            .reconcile_once(&scope, &groups, prune, &AlwaysOpen)
            .await
    };
    if let Some(problem) = report.prune_problem() {
        eprintln!("error: {problem}; nothing was applied");
        return Ok(ExitCode::FAILURE);
    }
    if once.dry_run {
        let plan = report.plan();
        print!("{}", plan::output::to_text(&plan));
        return Ok(if plan.has_errors() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let mut out = std::io::stdout().lock();
    let (mut changed, mut failed, mut total) = (0, 0, 0);
    let groups_done = report.groups.iter().map(|g| (line(g), g.error.is_some()));
    let pruned = report
        .prune
        .iter()
        .flat_map(|p| &p.outcomes)
        .map(|o| (outcome_line(o), o.error.is_some()));
    for ((text, state), error) in groups_done.chain(pruned) {
        total += 1;
        failed += usize::from(error);
        changed += usize::from(state == Line::Changed);
        writeln!(out, "{text}")?;
    }
    writeln!(
        out,
        "Reconciled {total} group{}: {changed} changed, {} in sync, {failed} failed.",
        plural(total),
        total - changed - failed
    )?;
    if failed > 0 {
        return Ok(ExitCode::FAILURE);
    }
    drop(out);
    match once.wait {
        Some(limit) => {
            let end = engine
                .wait_ready(
                    &scope,
                    &groups,
                    limit,
                    if once.dry_run {
                        Mode::Plan
                    } else {
                        Mode::Apply
                    },
                    progress(groups.len(), limit),
                )
                .await;
            Ok(match end {
                WaitEnd::Ready => ExitCode::SUCCESS,
                WaitEnd::Failed | WaitEnd::TimedOut => ExitCode::FAILURE,
            })
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Line {
    Changed,
    Unchanged,
}

/// `name (cluster): what was done`, or its error, or that it is in sync.
fn line(g: &GroupReport) -> (String, Line) {
    let title = format!(
        "{} ({})",
        g.desired.name(),
        place(g.desired.cluster(), &g.desired.target)
    );
    let done = joined(&g.done);
    if let Some(error) = &g.error {
        let after = if done.is_empty() {
            String::new()
        } else {
            format!(" after: {done}")
        };
        (format!("{title}: error: {error}{after}"), Line::Unchanged)
    } else if g.plan.suspended {
        (format!("{title}: suspended, not changed"), Line::Unchanged)
    } else {
        // A finding that does not stop the writes but will stop the delegates.
        let warning = g
            .observed
            .as_ref()
            .and_then(|o| o.secret_access.as_ref())
            .map(|p| format!("; warning: {p}"))
            .unwrap_or_default();
        if done.is_empty() {
            (format!("{title}: in sync{warning}"), Line::Unchanged)
        } else {
            (format!("{title}: {done}{warning}"), Line::Changed)
        }
    }
}

fn outcome_line(o: &GroupOutcome) -> (String, Line) {
    let title = format!("{} ({})", o.group, place(&o.cluster, &o.target));
    let done = joined(&o.done);
    match &o.error {
        Some(error) => (format!("{title}: error: {error}"), Line::Unchanged),
        None => (format!("{title}: {done}"), Line::Changed),
    }
}

fn joined(events: &[engine::Write]) -> String {
    events
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Progress on stderr: a bar on a terminal, a plain line per look otherwise; at the end, the
/// groups that are not ready and why.
fn progress(total: usize, limit: Duration) -> impl FnMut(&WaitProgress) {
    let terminal = std::io::stderr().is_terminal();
    move |p: &WaitProgress| {
        let ready = p.ready();
        let mut err = std::io::stderr().lock();
        if terminal {
            let width = 30;
            let filled = (ready * width).checked_div(total).unwrap_or(width);
            let _ = write!(
                err,
                "\r[{}{}] {ready}/{total} groups ready ({}s)",
                "#".repeat(filled),
                ".".repeat(width - filled),
                p.elapsed.as_secs()
            );
        } else {
            let _ = writeln!(
                err,
                "waiting: {ready}/{total} groups ready after {}s",
                p.elapsed.as_secs()
            );
        }
        let Some(end) = &p.end else { return };
        if terminal {
            let _ = writeln!(err);
        }
        let headline = match end {
            WaitEnd::Ready => {
                println!("All {total} groups are ready.");
                return;
            }
            WaitEnd::Failed => "error: a deployment failed or a group is stalled".to_owned(),
            WaitEnd::TimedOut => format!(
                "error: timed out after {} waiting for {} of {total} groups",
                humantime::format_duration(Duration::from_secs(limit.as_secs())),
                total - ready
            ),
        };
        let _ = writeln!(err, "{headline}; not ready:");
        for line in not_ready(&p.statuses) {
            let _ = writeln!(err, "  {line}");
        }
    }
}

/// A status's cluster, and its account and region when that is another account.
fn where_(s: &GroupStatus) -> String {
    match &s.account {
        Some(account) => format!("{} in {account}/{}", s.cluster, s.region),
        None => s.cluster.clone(),
    }
}

fn not_ready(statuses: &[GroupStatus]) -> Vec<String> {
    statuses
        .iter()
        .filter(|s| !s.is_ready())
        .map(|s| {
            let why = s
                .conditions
                .iter()
                .find(|c| c.kind == ConditionType::Stalled && c.is_true())
                .or_else(|| {
                    s.conditions
                        .iter()
                        .find(|c| c.kind == ConditionType::Degraded && c.is_true())
                })
                .or_else(|| s.condition(ConditionType::Ready));
            match why {
                Some(c) => format!("{} ({}): {}: {}", s.name, where_(s), c.reason, c.message),
                None => format!("{} ({})", s.name, where_(s)),
            }
        })
        .collect()
}
