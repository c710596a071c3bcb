//! The commands: one module each. They parse nothing (clap did), decide nothing (the engine
//! and the plan do): they wire, print and choose the exit code.

use std::process::ExitCode;

use anyhow::Context as _;

use crate::cli::{Cli, Command, GlobalArgs, LogFormat};

mod completions;
mod doctor;
mod import;
mod plan;
mod probe;
mod reconcile;
mod run_loop;
mod schema;
mod status;
mod validate;

/// Exit code 2: `plan --detailed-exitcode` found changes.
const EXIT_CHANGES: u8 = 2;

/// Logs to stderr, text or JSON, at the level -v asks for (RUST_LOG overrides).
pub fn init_logging(global: &GlobalArgs) {
    let default = match global.verbose {
        // The controller's own info is the audit record (every write, drift, failure, a line
        // per pass, leadership); its libraries' (the SDK's) stays at warn.
        // The SDK's own warnings (the instance metadata it tried, with raw Debug dumps of its
        // types) are summarised into the controller's errors instead; -vv shows them.
        0 => "warn,ecs_delegate=info,aws_config=error,aws_smithy_runtime=error,aws_runtime=error",
        1 => "info,aws_config=error,aws_smithy_runtime=error,aws_runtime=error",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    // Colour only on a terminal, and never with NO_COLOR (no-color.org) set.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = match global.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let global = &cli.global;
    let result = match cli.command {
        Command::Validate { paths } => validate::run(global, &paths),
        Command::Schema => schema::run(),
        Command::Completions { shell } => completions::run(shell),
        Command::Probe { url } => block_on_current_thread(probe::run(url)),
        Command::Plan {
            paths,
            output,
            detailed_exitcode,
            lifecycle,
        } => block_on(plan::run(
            global,
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
        } => block_on(reconcile::run(
            global,
            &paths,
            reconcile::Once {
                dry_run,
                concurrency: concurrency.into(),
                wait,
                lifecycle,
            },
        )),
        Command::Reconcile {
            paths,
            once: false,
            dry_run,
            concurrency,
            interval,
            listen,
            lifecycle,
            lease,
            events,
            notify,
            ..
        } => block_on_current_thread(run_loop::run(
            global,
            paths,
            run_loop::Loop {
                dry_run,
                concurrency: concurrency.into(),
                interval,
                listen,
                lifecycle,
                lease,
                events,
                notify,
            },
        )),
        Command::Status { paths, output } => block_on(status::run(global, &paths, output)),
        Command::Doctor {
            paths,
            lease_table,
            events_queue,
        } => block_on(doctor::run(
            global,
            &paths,
            doctor::Doctor {
                lease_table,
                events_queue,
            },
        )),
        Command::Import {
            task_spec,
            service_spec,
            cluster,
            service,
            name,
            account_role_arn,
            external_id,
        } => block_on(import::run(
            global,
            task_spec,
            service_spec,
            cluster.zip(service),
            name,
            account_role_arn.map(|role_arn| spec::Account {
                role_arn,
                external_id,
                session_name: None,
            }),
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

/// Commands that run many AWS calls at once use every core.
fn block_on<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    future: F,
) -> anyhow::Result<ExitCode> {
    run_on(tokio::runtime::Builder::new_multi_thread(), future)
}

/// The loop runs on one thread: its work is waiting on AWS, and one thread keeps one malloc
/// arena, which keeps the resident memory of a long-running sidecar small and flat.
fn block_on_current_thread<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    future: F,
) -> anyhow::Result<ExitCode> {
    run_on(tokio::runtime::Builder::new_current_thread(), future)
}

fn run_on<F: std::future::Future<Output = anyhow::Result<ExitCode>>>(
    mut runtime: tokio::runtime::Builder,
    future: F,
) -> anyhow::Result<ExitCode> {
    let runtime = runtime
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(future);
    // Dropping a runtime waits for every blocking thread; one running a load that was
    // abandoned (or any other stuck call) must not keep the process from exiting on SIGTERM.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    result
}
