//! The reconcile loop for platform teams running the controller as a sidecar or ECS service:
//! file sources and watch, a work queue with per-group backoff, passes of the engine, status,
//! HTTP health/metrics/status, and graceful shutdown.

pub mod controller;
pub mod http;
pub mod metrics;
pub mod queue;
pub mod source;
pub mod status;
pub mod watch;

pub use controller::{Controller, Settings};
pub use source::{Source, SourceError};
pub use status::{SharedStatus, StatusState};

use std::future::Future;
use std::sync::Arc;

use client::layer::Layered;
use client::metrics::ApiMetrics;
use client::{EcsApi, IamApi};
use engine::Engine;
use plan::PlanOptions;
use prometheus_client::registry::Registry;
use tracing::info;

/// Everything `reconcile` (the loop) needs besides the AWS API.
pub struct LoopConfig {
    /// Where the desired state comes from.
    pub source: Source,
    /// Loop behaviour.
    pub settings: Settings,
    /// Plan settings (controller id).
    pub options: PlanOptions,
    /// AWS calls in flight per pass.
    pub concurrency: usize,
}

/// Serves HTTP on `listener` and runs the loop over `api` until `shutdown`; then stops HTTP.
///
/// # Errors
/// When the HTTP server fails.
pub async fn serve_and_run<A: EcsApi + IamApi + 'static>(
    api: A,
    config: LoopConfig,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let mut registry = Registry::with_prefix("ecs_delegate_controller");
    let api_metrics = ApiMetrics::default();
    api_metrics.register(&mut registry);
    let loop_metrics = metrics::ControllerMetrics::default();
    loop_metrics.register(&mut registry);
    let status = SharedStatus::default();
    let engine = Engine::new(
        Layered::new(api, api_metrics),
        config.options,
        config.concurrency,
    );
    let state = http::AppState {
        status: Arc::clone(&status),
        registry: Arc::new(registry),
    };
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "serving /healthz /readyz /metrics /status");
    }
    let (stop_http, http_stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, http::router(state))
            .with_graceful_shutdown(async {
                let _ = http_stopped.await;
            })
            .await
    });
    Controller::new(engine, config.source, config.settings, status, loop_metrics)
        .run(shutdown)
        .await;
    let _ = stop_http.send(());
    match server.await {
        Ok(result) => result,
        Err(e) => Err(std::io::Error::other(e)),
    }
}
