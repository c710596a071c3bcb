//! `reconcile PATH...` without `--once`: the loop, serving HTTP, until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use client::metrics::ApiMetrics;
use controller::{FileSource, LoopConfig, Settings};
use engine::{AlwaysOpen, BackoffPolicy, PrunePolicy};
use plan::PlanOptions;

use crate::cli::{GlobalArgs, LifecycleArgs};
use crate::wiring::{scope, Aws};

/// The flags of the loop.
pub struct Loop {
    pub dry_run: bool,
    pub concurrency: usize,
    pub interval: Duration,
    pub listen: std::net::SocketAddr,
    pub lifecycle: LifecycleArgs,
}

pub async fn run(global: &GlobalArgs, paths: Vec<PathBuf>, args: Loop) -> anyhow::Result<ExitCode> {
    let aws = Aws::new(global).await;
    let source = FileSource::new(paths, &global.selector, aws.sdk.default_region())?;
    let scope = scope(&source);
    if args.lifecycle.prune {
        let policy = PrunePolicy {
            max_prune: args.lifecycle.max_prune,
            selector: scope.is_selected(),
        };
        if let Some(refusal) = plan::prune::refusal_of_policy(policy) {
            anyhow::bail!("{refusal}");
        }
    }
    let harness = crate::wiring::harness(global, &aws.sdk).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let config = LoopConfig {
        source,
        scope,
        gate: Arc::new(AlwaysOpen),
        settings: Settings {
            interval: args.interval,
            dry_run: args.dry_run,
            prune: args.lifecycle.prune.then_some(args.lifecycle.max_prune),
            ..Settings::default()
        },
        backoff: BackoffPolicy::default(),
        progress_requeue: Duration::from_secs(10),
        options: PlanOptions {
            controller_id: global.controller_id.clone(),
            allow_replace: args.lifecycle.allow_replace,
        },
        concurrency: args.concurrency,
        harness,
    };
    let metrics = ApiMetrics::default();
    let provider = aws.metered(&metrics);
    controller::serve_and_run(provider, metrics, config, listener, shutdown_signal())
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
