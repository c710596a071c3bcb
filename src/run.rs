//! The commands' implementations: load files, wire the engine, print, choose the exit code.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use aws::{Connection, SdkEcs};
use client::limiter::{RateLimited, RateLimiter};
use controller::{LoopConfig, Settings, Source, SourceError};
use engine::Engine;
use plan::{DesiredGroup, PlanOptions};
use spec::LoadedGroup;

use crate::cli::{
    Cli, Command, CompletionShell, GlobalArgs, LifecycleArgs, LogFormat, PlanFormat, StatusFormat,
};

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
        Command::Completions { shell } => completions(shell),
        Command::Probe { url } => block_on_current_thread(probe(url)),
        Command::Plan {
            paths,
            output,
            detailed_exitcode,
            lifecycle,
        } => block_on(plan(
            &cli.global,
            &paths,
            output,
            detailed_exitcode,
            lifecycle,
        )),
        Command::Reconcile {
            paths,
            once: true,
            dry_run,
            concurrency,
            wait,
            lifecycle,
            ..
        } => block_on(reconcile(
            &cli.global,
            &paths,
            dry_run,
            concurrency.into(),
            wait,
            lifecycle,
        )),
        Command::Status { paths, output } => block_on(status(&cli.global, &paths, output)),
        Command::Import {
            task_spec,
            service_spec,
            cluster,
            service,
            name,
        } => block_on(import(
            &cli.global,
            task_spec,
            service_spec,
            cluster.zip(service),
            name,
        )),
        Command::Reconcile {
            paths,
            once: false,
            dry_run,
            concurrency,
            interval,
            listen,
            lifecycle,
            ..
        } => block_on_current_thread(reconcile_loop(
            &cli.global,
            paths,
            dry_run,
            concurrency.into(),
            interval,
            listen,
            lifecycle,
        )),
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

/// The loop runs on one thread: its work is waiting on AWS, and one thread keeps one malloc
/// arena, which keeps the resident memory of a long-running sidecar small and flat.
fn block_on_current_thread<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    future: F,
) -> anyhow::Result<ExitCode> {
    tokio::runtime::Builder::new_current_thread()
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

fn completions(shell: CompletionShell) -> anyhow::Result<ExitCode> {
    use clap::CommandFactory as _;
    let shell = match shell {
        CompletionShell::Bash => clap_complete::Shell::Bash,
        CompletionShell::Zsh => clap_complete::Shell::Zsh,
        CompletionShell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "ecs-delegate-controller",
        &mut std::io::stdout(),
    );
    Ok(ExitCode::SUCCESS)
}

/// A plain HTTP/1.0 GET with a 5 s limit; 2xx is healthy.
async fn probe(url: String) -> anyhow::Result<ExitCode> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("{url}: only http:// URLs"))?;
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(a, p)| (a, format!("/{p}")));
    let answer = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        let mut stream = tokio::net::TcpStream::connect(authority).await?;
        stream
            .write_all(format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\n\r\n").as_bytes())
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        Ok::<_, std::io::Error>(response)
    })
    .await;
    let healthy = matches!(&answer, Ok(Ok(response)) if response.split_whitespace().nth(1).is_some_and(|code| code.starts_with('2')));
    if !healthy {
        eprintln!("unhealthy: {url}");
    }
    Ok(if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn schema() -> anyhow::Result<ExitCode> {
    let text = serde_json::to_string_pretty(&spec::json_schema())?;
    writeln!(std::io::stdout().lock(), "{text}")?;
    Ok(ExitCode::SUCCESS)
}

/// The AWS APIs behind the client-side rate limiter.
async fn limited_sdk(global: &GlobalArgs) -> RateLimited<SdkEcs> {
    let endpoint = global
        .endpoint_url
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_ECS").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
    let local = endpoint
        .as_deref()
        .is_some_and(client::limiter::is_local_endpoint);
    let scale = global.api_rate_scale.or((!local).then_some(1.0));
    RateLimiter::wrap(sdk(global).await, scale)
}

async fn sdk(global: &GlobalArgs) -> SdkEcs {
    let connection = Connection {
        region: global.region.clone(),
        profile: global.profile.clone(),
        endpoint_url: global.endpoint_url.clone(),
    };
    SdkEcs::new(aws::load_config(&connection).await)
}

fn plan_options(global: &GlobalArgs, lifecycle: LifecycleArgs) -> PlanOptions {
    PlanOptions {
        controller_id: global.controller_id.clone(),
        allow_replace: lifecycle.allow_replace,
    }
}

/// With `--prune`, adds the orphans to the plan; `Err` with the reason when pruning must not
/// happen (then nothing at all is applied).
async fn add_prune(
    global: &GlobalArgs,
    lifecycle: LifecycleArgs,
    engine: &Engine<RateLimited<SdkEcs>>,
    desired: &[DesiredGroup],
    plan: &mut plan::Plan,
) -> anyhow::Result<Result<(), String>> {
    if !lifecycle.prune {
        return Ok(Ok(()));
    }
    if !global.selector.is_empty() {
        return Ok(Err(
            "refusing to prune with --selector: groups outside the selection would look removed"
                .into(),
        ));
    }
    if desired.is_empty() {
        return Ok(Err(
            plan::prune_refusal(0, &[], lifecycle.max_prune).unwrap_or_default()
        ));
    }
    let orphans = engine
        .plan_prune(desired)
        .await
        .context("finding what to prune")?;
    if let Some(refusal) = plan::prune_refusal(desired.len(), &orphans, lifecycle.max_prune) {
        return Ok(Err(refusal));
    }
    plan.orphans = orphans;
    Ok(Ok(()))
}

/// Files -> selected, rendered groups and an engine over the SDK; `None` (problems printed)
/// when the files are invalid.
async fn prepare(
    global: &GlobalArgs,
    paths: &[PathBuf],
    concurrency: usize,
    lifecycle: LifecycleArgs,
) -> anyhow::Result<Option<(Vec<DesiredGroup>, Engine<RateLimited<SdkEcs>>)>> {
    let api = limited_sdk(global).await;
    let source = Source::new(
        paths.to_vec(),
        &global.selector,
        api.inner().default_region(),
    )?;
    let desired = match source.load() {
        Ok(desired) => desired,
        Err(SourceError::Invalid(lines)) => {
            for line in &lines {
                eprintln!("{line}");
            }
            eprintln!(
                "{} error{}; nothing was applied",
                lines.len(),
                plural(lines.len())
            );
            return Ok(None);
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Some((
        desired,
        Engine::new(api, plan_options(global, lifecycle), concurrency),
    )))
}

async fn plan(
    global: &GlobalArgs,
    paths: &[PathBuf],
    output: PlanFormat,
    detailed_exitcode: bool,
    lifecycle: LifecycleArgs,
) -> anyhow::Result<ExitCode> {
    let Some((desired, engine)) = prepare(global, paths, 8, lifecycle).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let mut plan = engine.plan(&desired).await;
    if let Err(refusal) = add_prune(global, lifecycle, &engine, &desired, &mut plan).await? {
        eprintln!("error: {refusal}");
        return Ok(ExitCode::FAILURE);
    }
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
    wait: Option<std::time::Duration>,
    lifecycle: LifecycleArgs,
) -> anyhow::Result<ExitCode> {
    let Some((desired, engine)) = prepare(global, paths, concurrency, lifecycle).await? else {
        return Ok(ExitCode::FAILURE);
    };
    let mut plan = engine.plan(&desired).await;
    if let Err(refusal) = add_prune(global, lifecycle, &engine, &desired, &mut plan).await? {
        eprintln!("error: {refusal}; nothing was applied");
        return Ok(ExitCode::FAILURE);
    }
    if dry_run {
        print!("{}", plan::output::to_text(&plan));
        return Ok(if plan.has_errors() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        });
    }
    let mut outcomes = engine.apply(&desired, &plan).await;
    retry_passing_failures(&engine, &desired, &mut plan, &mut outcomes).await;
    outcomes.extend(engine.apply_prune(&plan.orphans).await);
    let mut out = std::io::stdout().lock();
    let (mut changed, mut failed) = (0, 0);
    for (outcome, group_plan) in outcomes.iter().zip(plan.all_groups()) {
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
    if failed > 0 {
        return Ok(ExitCode::FAILURE);
    }
    match wait {
        Some(limit) => {
            drop(out);
            crate::wait::wait_ready(&engine, &desired, limit).await
        }
        None => Ok(ExitCode::SUCCESS),
    }
}

/// Rounds in which `--once` tries again the groups that failed for a passing reason.
const ONCE_RETRY_ROUNDS: u32 = 4;

/// The per-group backoff of `--once`: a group that failed for a passing reason (throttling, a
/// 5xx, a lost connection) is observed, planned and applied again after 1, 2, 4, 8 s; what it
/// did before is kept in its summary.
async fn retry_passing_failures(
    engine: &Engine<RateLimited<SdkEcs>>,
    desired: &[DesiredGroup],
    plan: &mut plan::Plan,
    outcomes: &mut [engine::GroupOutcome],
) {
    for round in 0..ONCE_RETRY_ROUNDS {
        let failed: Vec<usize> = outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| o.error.as_ref().is_some_and(|e| e.retryable))
            .map(|(i, _)| i)
            .collect();
        if failed.is_empty() {
            return;
        }
        tracing::info!(
            groups = failed.len(),
            round,
            "retrying groups that failed for a passing reason"
        );
        tokio::time::sleep(std::time::Duration::from_secs(1 << round)).await;
        let subset: Vec<&DesiredGroup> = failed.iter().map(|&i| &desired[i]).collect();
        let again = engine.plan(&subset).await;
        let results = engine.apply(&subset, &again).await;
        for ((&i, result), group_plan) in failed.iter().zip(results).zip(again.groups) {
            outcomes[i].done.extend(result.done);
            outcomes[i].error = result.error;
            plan.groups[i] = group_plan;
        }
    }
}

async fn status(
    global: &GlobalArgs,
    paths: &[PathBuf],
    output: StatusFormat,
) -> anyhow::Result<ExitCode> {
    let Some((desired, engine)) = prepare(
        global,
        paths,
        8,
        LifecycleArgs {
            prune: false,
            max_prune: 0,
            allow_replace: false,
        },
    )
    .await?
    else {
        return Ok(ExitCode::FAILURE);
    };
    let (plan, observed) = engine.observe_and_plan(&desired).await;
    let statuses = engine::statuses(&desired, &plan, &observed, None);
    let text = match output {
        StatusFormat::Json => {
            serde_json::to_string_pretty(&serde_json::json!({ "groups": statuses }))? + "\n"
        }
        StatusFormat::Table => crate::status_table::table(&statuses),
    };
    std::io::stdout().lock().write_all(text.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

async fn reconcile_loop(
    global: &GlobalArgs,
    paths: Vec<PathBuf>,
    dry_run: bool,
    concurrency: usize,
    interval: std::time::Duration,
    listen: std::net::SocketAddr,
    lifecycle: LifecycleArgs,
) -> anyhow::Result<ExitCode> {
    if lifecycle.prune && !global.selector.is_empty() {
        anyhow::bail!(
            "refusing to prune with --selector: groups outside the selection would look removed"
        );
    }
    let api = limited_sdk(global).await;
    let source = Source::new(paths, &global.selector, api.inner().default_region())?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let config = LoopConfig {
        source,
        settings: Settings {
            interval,
            dry_run,
            prune: lifecycle.prune.then_some(lifecycle.max_prune),
            ..Settings::default()
        },
        options: plan_options(global, lifecycle),
        concurrency,
    };
    controller::serve_and_run(api, config, listener, shutdown_signal())
        .await
        .context("serving HTTP")?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (what ECS and Kubernetes send) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

fn read_json(path: &std::path::Path) -> anyhow::Result<serde_json::Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))
}

async fn import(
    global: &GlobalArgs,
    task_spec: Option<PathBuf>,
    service_spec: Option<PathBuf>,
    live: Option<(String, String)>,
    name: Option<String>,
) -> anyhow::Result<ExitCode> {
    let (task_definition, service, origin, exact) = match (task_spec, live) {
        (Some(path), _) => {
            let service = service_spec.as_deref().map(read_json).transpose()?;
            (
                read_json(&path)?,
                service,
                path.display().to_string(),
                false,
            )
        }
        (None, Some((cluster, service))) => {
            let api = sdk(global).await;
            let region = global
                .region
                .clone()
                .or_else(|| api.default_region())
                .context("no region: set --region or AWS_REGION")?;
            let (td, service_json, tags) = api
                .import_documents(&region, &cluster, &service)
                .await
                .context("reading the live service")?;
            if let Some(owner) = tags.get(spec::render::TAG_MANAGED_BY) {
                eprintln!(
                    "warning: service {service} is already managed by controller id {owner:?}"
                );
            }
            let origin = format!("service {service} in cluster {cluster}");
            (td, Some(service_json), origin, true)
        }
        (None, None) => anyhow::bail!("give --task-spec FILE or --cluster C --service S"),
    };
    let imported = spec::import::import(&spec::import::ImportSource {
        task_definition: &task_definition,
        service: service.as_ref(),
        name: name.as_deref(),
        cluster: None,
        exact,
    })?;
    for warning in &imported.warnings {
        eprintln!("warning: {warning}");
    }
    std::io::stdout()
        .lock()
        .write_all(spec::import::to_yaml(&imported, &origin).as_bytes())?;
    Ok(ExitCode::SUCCESS)
}
