//! `plan PATH...`: a pass that plans only, printed as text, JSON or Markdown.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use engine::{AlwaysOpen, Mode, PruneLimits};

use crate::cli::{GlobalArgs, LifecycleArgs, PlanFormat};
use crate::wiring::{prepare, OnEmpty};

pub async fn run(
    global: &GlobalArgs,
    paths: &[PathBuf],
    output: PlanFormat,
    detailed_exitcode: bool,
    lifecycle: LifecycleArgs,
) -> anyhow::Result<ExitCode> {
    let Some((groups, scope, engine)) = prepare(
        global,
        paths,
        8,
        lifecycle.allow_replace,
        // With the key: `version: auto` resolves to the version Harness names.
        true,
        on_empty(&lifecycle),
    )
    .await?
    else {
        return Ok(ExitCode::FAILURE);
    };
    let mut report = engine
        .pass(
            &scope,
            &groups,
            Mode::Plan,
            prune_policy(lifecycle),
            &AlwaysOpen,
        )
        .await;
    if let Some(problem) = report.prune_problem() {
        eprintln!("error: {problem}");
        return Ok(ExitCode::FAILURE);
    }
    engine.explain(&mut report).await;
    let mut plan = report.plan();
    plan.revision = controller::source::git_revision(paths);
    let text = match output {
        PlanFormat::Text => plan::output::to_text(&plan),
        PlanFormat::Json => serde_json::to_string_pretty(&plan::output::to_json(&plan))? + "\n",
        PlanFormat::Markdown => plan::output::to_markdown(&plan),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(if plan.has_errors() {
        ExitCode::FAILURE
    } else if detailed_exitcode && plan.has_changes() {
        ExitCode::from(super::EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--fail-on-empty`.
pub fn on_empty(lifecycle: &LifecycleArgs) -> OnEmpty {
    if lifecycle.fail_on_empty {
        OnEmpty::Fail
    } else {
        OnEmpty::Warn
    }
}

/// `--prune` with its `--max-prune`.
pub fn prune_policy(lifecycle: LifecycleArgs) -> Option<PruneLimits> {
    lifecycle.prune.then_some(PruneLimits {
        max_prune: lifecycle.max_prune,
        selector: false,
    })
}
