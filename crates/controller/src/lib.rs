//! The reconcile loop for platform teams running the controller as a sidecar or ECS service:
//! desired-state sources (files and their watch today), a work queue scheduled by the engine's
//! error policy, passes of the engine behind a write gate, status, HTTP
//! health/metrics/status, and graceful shutdown.

pub mod controller;
pub mod events;
pub mod history;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod page;
pub mod queue;
pub mod serve;
pub mod source;
pub mod status;
pub mod watch;

pub use controller::{Controller, Settings};
pub use source::{DesiredSource, FileSource, Load, Snapshot, SourceError};
pub use status::{SharedStatus, StatusState};

use std::future::Future;
use std::sync::Arc;

use client::metrics::ApiMetrics;
use client::ClientProvider;
use engine::{Backoff, Engine, Retries, Scope, WriteGate};
use plan::PlanOptions;
use prometheus_client::registry::Registry;
use tracing::info;

/// Everything `reconcile` (the loop) needs besides the AWS API.
pub struct LoopConfig<S> {
    /// Where the desired state comes from.
    pub source: S,
    /// Which groups this controller reconciles.
    pub scope: Scope,
    /// Whether it may write (always, with one replica).
    pub gate: Arc<dyn WriteGate>,
    /// Loop behaviour.
    pub settings: Settings,
    /// Retry policy of failing groups.
    pub backoff: Backoff,
    /// How soon a group that is progressing is looked at again.
    pub progress_requeue: std::time::Duration,
    /// Plan settings (controller id).
    pub options: PlanOptions,
    /// AWS calls in flight per pass.
    pub concurrency: usize,
    /// With `--harness-api-key-secret`: Ready also means connected to Harness.
    pub harness: Option<Arc<harness::HarnessCheck>>,
    /// The operator's change windows.
    pub windows: Option<Arc<engine::windows::Windows>>,
    /// Rollout waves: bake time and failure policy.
    pub waves: engine::waves::WaveSettings,
    /// With several replicas: changes each time this one takes the lease (it then reconciles
    /// every group at once: a failover starts warm).
    pub leadership: Option<tokio::sync::watch::Receiver<u64>>,
    /// With `--events-queue`: reconcile the groups ECS and CloudTrail events concern at once.
    pub events: Option<events::EventsConfig>,
    /// `--notify`: webhook receivers of groups' changes of state.
    pub notify: Vec<notify::Receiver>,
    /// At most one notice per group this often.
    pub notify_gap: std::time::Duration,
}

/// Serves HTTP on `listener` and runs the loop over the targets `provider` gives clients for
/// until `shutdown`; then stops HTTP. `api_metrics` (the provider's metrics layer) is served
/// on /metrics.
///
/// # Errors
/// When the HTTP server fails.
pub async fn serve_and_run<P: ClientProvider + 'static, S: DesiredSource>(
    provider: P,
    api_metrics: ApiMetrics,
    config: LoopConfig<S>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut registry = Registry::with_prefix("ecs_delegate_controller");
    api_metrics.register(&mut registry);
    let loop_metrics = metrics::ControllerMetrics::default();
    loop_metrics.register(&mut registry);
    let lease_metrics = metrics::LeaseMetrics::default();
    if config.gate.leadership().is_some() {
        lease_metrics.register(&mut registry);
    }
    let event_metrics = metrics::EventMetrics::default();
    let queue_status = config.events.as_ref().map(|e| {
        event_metrics.register(&mut registry);
        Arc::new(std::sync::RwLock::new(events::QueueStatus::starting(
            e.queue.name(),
        )))
    });
    let notifier = if config.notify.is_empty() {
        None
    } else {
        info!(receivers = ?config.notify, "notifications on");
        Some(
            notify::Notifier::start(config.notify, config.notify_gap)
                .map_err(std::io::Error::other)?,
        )
    };
    let status = SharedStatus::default();
    let engine = Engine::with_retries(
        provider,
        config.options,
        config.concurrency,
        Retries::new(config.backoff, config.progress_requeue),
    )
    .with_harness(config.harness)
    .with_windows(config.windows)
    .with_waves(config.waves);
    let state = http::AppState {
        status: Arc::clone(&status),
        registry: Arc::new(registry),
        gate: Arc::clone(&config.gate),
        lease: lease_metrics,
        events: queue_status.clone(),
    };
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "serving /healthz /readyz /metrics /status");
    }
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve::serve(listener, http::router(state), async {
        let _ = http_stopped.await;
    }));
    Controller::new(
        engine,
        config.source,
        config.scope,
        config.gate,
        config.settings,
        status,
        loop_metrics,
    )
    .on_leadership(config.leadership)
    .on_events(config.events, event_metrics, queue_status)
    .with_notifier(notifier)
    .run(shutdown)
    .await;
    let _ = stop_http.send(());
    server.await.map_err(std::io::Error::other)
}
