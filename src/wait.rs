//! `reconcile --once --wait`: poll until every group is Ready, showing progress.

use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use client::{EcsApi, IamApi};
use engine::Engine;
use plan::{ConditionType, DesiredGroup, GroupStatus, Reason};

/// How often the wait looks at ECS.
const POLL: Duration = Duration::from_secs(2);

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
                Some(c) => format!("{} ({}): {}: {}", s.name, s.cluster, c.reason, c.message),
                None => format!("{} ({})", s.name, s.cluster),
            }
        })
        .collect()
}

/// Polls until every group is Ready (exit 0), a deployment fails or a group stalls (exit 1 at
/// once), or `limit` passes (exit 1). Progress goes to stderr: a bar on a terminal, a plain line
/// per poll otherwise.
pub async fn wait_ready<A: EcsApi + IamApi>(
    engine: &Engine<A>,
    desired: &[DesiredGroup],
    limit: Duration,
) -> anyhow::Result<ExitCode> {
    let start = Instant::now();
    let terminal = std::io::stderr().is_terminal();
    let total = desired.len();
    loop {
        let (plan, observed) = engine.observe_and_plan(desired).await;
        let statuses = engine::statuses(desired, &plan, &observed, None);
        let ready = statuses.iter().filter(|s| s.is_ready()).count();
        let elapsed = start.elapsed();
        let mut err = std::io::stderr().lock();
        if terminal {
            let width = 30;
            let filled = (ready * width).checked_div(total).unwrap_or(width);
            write!(
                err,
                "\r[{}{}] {ready}/{total} groups ready ({}s)",
                "#".repeat(filled),
                ".".repeat(width - filled),
                elapsed.as_secs()
            )?;
        } else {
            writeln!(
                err,
                "waiting: {ready}/{total} groups ready after {}s",
                elapsed.as_secs()
            )?;
        }
        if ready == total {
            if terminal {
                writeln!(err)?;
            }
            println!("All {total} groups are ready.");
            return Ok(ExitCode::SUCCESS);
        }
        let fatal: Vec<&GroupStatus> = statuses
            .iter()
            .filter(|s| {
                s.condition(ConditionType::Stalled)
                    .is_some_and(|c| c.is_true())
                    || s.condition(ConditionType::Degraded)
                        .is_some_and(|c| c.is_true() && c.reason == Reason::DeploymentFailed)
            })
            .collect();
        let timed_out = elapsed >= limit;
        if !fatal.is_empty() || timed_out {
            if terminal {
                writeln!(err)?;
            }
            let headline = if fatal.is_empty() {
                format!(
                    "error: timed out after {} waiting for {} of {total} groups",
                    humantime::format_duration(Duration::from_secs(limit.as_secs())),
                    total - ready
                )
            } else {
                "error: a deployment failed or a group is stalled".to_owned()
            };
            writeln!(err, "{headline}; not ready:")?;
            for line in not_ready(&statuses) {
                writeln!(err, "  {line}")?;
            }
            return Ok(ExitCode::FAILURE);
        }
        drop(err);
        tokio::time::sleep(
            POLL.min(limit.saturating_sub(elapsed))
                .max(Duration::from_millis(100)),
        )
        .await;
    }
}
