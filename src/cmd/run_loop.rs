//! `reconcile PATH...` without `--once`: the loop, serving HTTP, until SIGTERM or SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use client::metrics::ApiMetrics;
use controller::{FileSource, LoopConfig, Settings};
use engine::{AlwaysOpen, Backoff, PruneLimits};
use plan::PlanOptions;

use crate::cli::{EventsArgs, GlobalArgs, LeaseArgs, LifecycleArgs, NotifyArgs};
use crate::wiring::{scope, Aws};

/// The flags of the loop.
pub struct Loop {
    pub dry_run: bool,
    pub concurrency: usize,
    pub interval: Option<Duration>,
    pub listen: std::net::SocketAddr,
    pub lifecycle: LifecycleArgs,
    pub lease: LeaseArgs,
    pub events: EventsArgs,
    pub notify: NotifyArgs,
}

pub async fn run(global: &GlobalArgs, paths: Vec<PathBuf>, args: Loop) -> anyhow::Result<ExitCode> {
    // Before anything is read or called: a bad combination of the lease's durations.
    let timing = args
        .lease
        .lease_table
        .as_ref()
        .map(|_| lease_timing(&args.lease))
        .transpose()?;
    let mut aws = Aws::new(global).await?;
    if let Some(timing) = &timing {
        // No attempt waits longer than a request is assumed to travel.
        aws.sdk = aws.sdk.with_attempt_timeout(timing.write_timeout);
    }
    let policy = crate::wiring::policy(global, &paths)?;
    let windows = crate::wiring::windows(global, &policy)?;
    let source =
        FileSource::new(paths, &global.selector, aws.sdk.default_region())?.with_retries(policy);
    let scope = scope(&source);
    if args.lifecycle.prune {
        let limits = PruneLimits {
            max_prune: args.lifecycle.max_prune,
            selector: scope.is_selected(),
        };
        if let Some(refusal) = limits.refusal() {
            anyhow::bail!("{refusal}");
        }
    }
    let notify = receivers(&args.notify)?;
    let harness = crate::wiring::harness(global, &aws.sdk).await?;
    let elector = match (&args.lease.lease_table, timing) {
        (Some(table), Some(timing)) => {
            Some(elector(global, &aws, table, &args.lease, timing).await?)
        }
        _ => None,
    };
    let gate: Arc<dyn engine::WriteGate> = match &elector {
        Some(elector) => Arc::clone(elector) as Arc<dyn engine::WriteGate>,
        None => Arc::new(AlwaysOpen),
    };
    let events = match &args.events.events_queue {
        Some(url) => Some(events(&aws, url, &args.events).await),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let config = LoopConfig {
        source,
        scope,
        gate,
        settings: Settings {
            interval: args.interval.unwrap_or(if events.is_some() {
                Duration::from_secs(600)
            } else {
                Duration::from_secs(60)
            }),
            dry_run: args.dry_run,
            prune: args.lifecycle.prune.then_some(args.lifecycle.max_prune),
            after_pass: Some(crate::memory::release),
            ..Settings::default()
        },
        backoff: Backoff::default(),
        progress_requeue: Duration::from_secs(10),
        options: PlanOptions {
            controller_id: global.controller_id.clone(),
            allow_replace: args.lifecycle.allow_replace,
        },
        concurrency: args.concurrency,
        harness,
        windows,
        waves: crate::wiring::waves(global),
        leadership: elector.as_ref().map(|e| e.on_acquire()),
        events,
        notify,
        notify_gap: args.notify.notify_gap,
    };
    let metrics = ApiMetrics::default();
    let provider = aws.metered(&metrics);
    // The election runs until the loop has finished its work in flight, then releases the lease.
    let (finished, loop_done) = tokio::sync::oneshot::channel::<()>();
    let election = elector.map(|elector| {
        tokio::spawn(async move {
            let stop = async {
                let _ = loop_done.await;
            };
            if let Err(e) = elector.run(stop).await {
                tracing::error!(error = %e, "leader election stopped; this replica no longer writes");
            }
        })
    });
    let served = controller::serve_and_run(provider, metrics, config, listener, shutdown_signal())
        .await
        .context("serving HTTP");
    let _ = finished.send(());
    if let Some(election) = election {
        let _ = election.await;
    }
    served?;
    Ok(ExitCode::SUCCESS)
}

/// The lease's durations, checked: a bad combination is a startup error naming the flags and
/// the rule.
fn lease_timing(args: &LeaseArgs) -> anyhow::Result<lease::Timing> {
    let timing = lease::Timing {
        duration: args.lease_duration,
        renew_deadline: args.lease_renew_deadline,
        retry: args.lease_retry,
        write_timeout: args.lease_write_timeout,
    };
    timing.check().map_err(|e| {
        let flags = match e {
            lease::TimingError::DeadlineNotShorterThanLease { .. } => {
                "--lease-renew-deadline must be shorter than --lease-duration"
            }
            lease::TimingError::WritesOutliveLease { .. } => {
                "--lease-duration must be at least --lease-renew-deadline + --lease-write-timeout + the drift margin (--lease-duration / 20)"
            }
            lease::TimingError::RetryNotShorterThanDeadline { .. } => {
                "--lease-retry must be shorter than --lease-renew-deadline"
            }
        };
        anyhow::anyhow!("{flags}: {e}")
    })?;
    Ok(timing)
}

/// The replica's elector, after a first round that proves the table can be used: a missing
/// table or a denied call is a startup error naming the table and the action.
async fn elector(
    global: &GlobalArgs,
    aws: &crate::wiring::Aws,
    table: &str,
    args: &LeaseArgs,
    timing: lease::Timing,
) -> anyhow::Result<Arc<lease::Elector>> {
    let client = aws_sdk_dynamodb::Client::new(aws.sdk.config());
    let store = Arc::new(lease::DynamoStore::new(client, table));
    let name = args
        .lease_name
        .clone()
        .unwrap_or_else(|| global.controller_id.clone());
    let holder = lease::Elector::holder_name(&global.controller_id);
    let elector = Arc::new(lease::Elector::sharded(
        store,
        &name,
        &holder,
        timing,
        args.shards,
    ));
    elector
        .round()
        .await
        .with_context(|| format!("leader election on lease {name:?}"))?;
    tracing::info!(lease = %name, %holder, table, shards = args.shards, held = ?elector.held(), "leader election on");
    Ok(elector)
}

/// The webhook receivers of `--notify`, `EDC_NOTIFY` and `--notify-file` (URLs never echoed:
/// they carry tokens).
fn receivers(args: &NotifyArgs) -> anyhow::Result<Vec<controller::notify::Receiver>> {
    let mut urls = args.notify.clone();
    if let Some(file) = &args.notify_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading --notify-file {}", file.display()))?;
        urls.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_owned),
        );
    }
    urls.iter()
        .filter(|u| !u.trim().is_empty())
        .map(|u| controller::notify::Receiver::parse(u).map_err(anyhow::Error::msg))
        .collect()
}

/// Event-driven mode: the queue, and who this controller is in CloudTrail (STS
/// GetCallerIdentity; without it, its own calls are taken for someone else's and cost one
/// extra look at the group each).
async fn events(
    aws: &crate::wiring::Aws,
    url: &str,
    args: &EventsArgs,
) -> controller::events::EventsConfig {
    let identity = match aws_sdk_sts::Client::new(aws.sdk.config())
        .get_caller_identity()
        .send()
        .await
    {
        Ok(me) => {
            tracing::info!(
                caller = me.arn().unwrap_or_default(),
                "event-driven: CloudTrail events of this caller are the controller's own"
            );
            events::Identity::new(me.account().map(str::to_owned), me.arn())
        }
        Err(e) => {
            tracing::warn!(error = %aws_sdk_sts::error::DisplayErrorContext(&e), "sts:GetCallerIdentity failed: the controller's own CloudTrail events cannot be told apart from others'");
            events::Identity::default()
        }
    };
    let queue = events::SqsQueue::new(aws_sdk_sqs::Client::new(aws.sdk.config()), url);
    controller::events::EventsConfig {
        queue: Arc::new(queue),
        identity,
        fallback_interval: args.events_fallback_interval,
    }
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
