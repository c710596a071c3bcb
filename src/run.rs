//! The commands' implementations: load files, wire the engine, print, choose the exit code.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context as _};
use aws::{Connection, Engine, SdkEcs};
use plan::{DesiredGroup, PlanOptions};
use spec::LoadedGroup;

use crate::cli::{Cli, Command, GlobalArgs, LogFormat, PlanFormat};

/// Exit code 2: `plan --detailed-exitcode` found changes.
const EXIT_CHANGES: u8 = 2;

/// Logs to stderr, text or JSON, at the level -v asks for (RUST_LOG overrides).
pub fn init_logging(global: &GlobalArgs) {
    let default = match global.verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match global.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Validate { paths } => validate(&paths),
        Command::Schema => schema(),
        Command::Plan {
            paths,
            output,
            detailed_exitcode,
        } => block_on(plan(&cli.global, &paths, output, detailed_exitcode)),
        Command::Reconcile {
            paths,
            once: _,
            dry_run,
            concurrency,
        } => block_on(reconcile(&cli.global, &paths, dry_run, concurrency.into())),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    future: F,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?
        .block_on(future)
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn validate(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let Some(groups) = load(paths) else {
        return Ok(ExitCode::FAILURE);
    };
    let files: BTreeSet<_> = groups.iter().map(|g| &g.file).collect();
    println!(
        "valid: {} group{} in {} file{}",
        groups.len(),
        plural(groups.len()),
        files.len(),
        plural(files.len()),
    );
    Ok(ExitCode::SUCCESS)
}

/// Loads and validates; prints every problem and returns `None` when the set is invalid.
fn load(paths: &[PathBuf]) -> Option<Vec<LoadedGroup>> {
    match spec::load(paths) {
        Ok(groups) => Some(groups),
        Err(diagnostics) => {
            let count = diagnostics.0.len();
            eprintln!("{diagnostics}");
            eprintln!("{count} error{}; nothing was applied", plural(count));
            None
        }
    }
}

fn schema() -> anyhow::Result<ExitCode> {
    let text = serde_json::to_string_pretty(&spec::json_schema())?;
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(ExitCode::SUCCESS)
}

/// `key=value` label selectors; every one must match.
fn parse_selectors(selectors: &[String]) -> anyhow::Result<Vec<(String, String)>> {
    selectors
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| match s.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => bail!("--selector {s:?}: expected KEY=VALUE"),
        })
        .collect()
}

/// Files -> selected, rendered groups and an engine over the SDK.
async fn prepare(
    global: &GlobalArgs,
    paths: &[PathBuf],
    concurrency: usize,
) -> anyhow::Result<Option<(Vec<DesiredGroup>, Engine<SdkEcs>)>> {
    let selectors = parse_selectors(&global.selector)?;
    let Some(loaded) = load(paths) else {
        return Ok(None);
    };
    let connection = Connection {
        region: global.region.clone(),
        profile: global.profile.clone(),
        endpoint_url: global.endpoint_url.clone(),
    };
    let api = SdkEcs::new(aws::load_config(&connection).await);
    let default_region = api.default_region();
    let mut desired = Vec::new();
    for loaded in loaded {
        let labels = &loaded.group.metadata.labels;
        if !selectors.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            continue;
        }
        let region = match (&loaded.group.spec.region, &default_region) {
            (Some(region), _) | (None, Some(region)) => region.clone(),
            (None, None) => bail!(
                "{}: group {} has no spec.region and no default region is configured \
                 (set --region or AWS_REGION)",
                loaded.origin(),
                loaded.group.metadata.name
            ),
        };
        let origin = loaded.origin();
        desired.push(DesiredGroup::new(loaded.group, &region).with_context(|| origin.clone())?);
    }
    let options = PlanOptions {
        controller_id: global.controller_id.clone(),
    };
    Ok(Some((desired, Engine::new(api, options, concurrency))))
}

async fn plan(
    global: &GlobalArgs,
    paths: &[PathBuf],
    output: PlanFormat,
    detailed_exitcode: bool,
) -> anyhow::Result<ExitCode> {
    let Some((desired, engine)) = prepare(global, paths, 8).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let plan = engine.plan(&desired).await;
    let text = match output {
        PlanFormat::Text => plan::output::to_text(&plan),
        PlanFormat::Json => serde_json::to_string_pretty(&plan::output::to_json(&plan))? + "\n",
        PlanFormat::Markdown => plan::output::to_markdown(&plan),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(if plan.has_errors() {
        ExitCode::FAILURE
    } else if detailed_exitcode && plan.has_changes() {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

async fn reconcile(
    global: &GlobalArgs,
    paths: &[PathBuf],
    dry_run: bool,
    concurrency: usize,
) -> anyhow::Result<ExitCode> {
    let Some((desired, engine)) = prepare(global, paths, concurrency).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let plan = engine.plan(&desired).await;
    if dry_run {
        print!("{}", plan::output::to_text(&plan));
        return Ok(if plan.has_errors() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let outcomes = engine.apply(&desired, &plan).await;
    let mut out = std::io::stdout().lock();
    let (mut changed, mut failed) = (0, 0);
    for (outcome, group_plan) in outcomes.iter().zip(&plan.groups) {
        let title = format!("{} ({})", outcome.group, outcome.cluster);
        if let Some(error) = &outcome.error {
            failed += 1;
            let done = if outcome.done.is_empty() {
                String::new()
            } else {
                format!(" after: {}", outcome.done.join("; "))
            };
            writeln!(out, "{title}: error: {error}{done}")?;
        } else if group_plan.suspended {
            writeln!(out, "{title}: suspended, not changed")?;
        } else if outcome.done.is_empty() {
            writeln!(out, "{title}: in sync")?;
        } else {
            changed += 1;
            writeln!(out, "{title}: {}", outcome.done.join("; "))?;
        }
    }
    let total = outcomes.len();
    writeln!(
        out,
        "Reconciled {total} group{}: {changed} changed, {} in sync, {failed} failed.",
        plural(total),
        total - changed - failed
    )?;
    Ok(if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
