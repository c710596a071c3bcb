//! HTTP: /healthz (alive), /readyz (configuration loaded and a first full pass done), /metrics
//! (Prometheus text format), /status (the JSON of `status -o json`).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use prometheus_client::registry::Registry;

use crate::status::{read, SharedStatus};

/// What the handlers read.
#[derive(Clone)]
pub struct AppState {
    /// Group status.
    pub status: SharedStatus,
    /// Every metric.
    pub registry: Arc<Registry>,
    /// The write gate: with several replicas, who leads.
    pub gate: Arc<dyn engine::WriteGate>,
    /// The lease metrics, brought up to date at each scrape.
    pub lease: crate::metrics::LeaseMetrics,
    /// The events queue's condition, with `--events-queue`.
    pub events: Option<crate::events::SharedQueueStatus>,
}

/// The routes.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(state)
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let status = read(&state.status);
    if status.is_ready() {
        (StatusCode::OK, "ready\n".to_owned())
    } else if !status.config_loaded {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no valid configuration loaded yet\n".to_owned(),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "not ready: {} group(s) not reconciled yet\n",
                status.awaiting_first_pass.len()
            ),
        )
    }
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    state.lease.update(state.gate.leadership().as_ref());
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            e.to_string(),
        ),
    }
}

async fn status(State(state): State<AppState>) -> impl IntoResponse {
    let mut value = read(&state.status).to_json();
    if let Some(leadership) = state.gate.leadership() {
        value["leader"] = serde_json::json!(leadership);
    }
    if let Some(queue) = &state.events {
        let queue = queue
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        value["events"] = serde_json::json!(*queue);
    }
    Json(value)
}
