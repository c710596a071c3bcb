//! HTTP: / (the status page), /healthz (alive), /readyz (the current configuration loaded and a
//! first full pass done), /metrics (Prometheus text format), /status (the JSON of `status -o json`).

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
        .route("/", get(page))
        .route("/page.css", get(css))
        // Browsers ask for it; nothing to show.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .with_state(state)
}

/// The page's headers: a strict Content-Security-Policy, no sniffing, no referrer, no caching.
const PAGE_HEADERS: [(header::HeaderName, &str); 4] = [
    (header::CONTENT_SECURITY_POLICY, crate::page::CSP),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::CACHE_CONTROL, "no-store"),
];

async fn page(State(state): State<AppState>, uri: axum::http::Uri) -> impl IntoResponse {
    // `?state=degraded`: the only parameter; anything else shows every group.
    let filter = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("state="))
        .and_then(crate::page::State::parse);
    let context = crate::page::Context {
        replica: state.gate.leadership().map(|l| {
            if !l.leading {
                "standby".to_owned()
            } else if l.shards > 1 {
                let held: Vec<String> = l.held.iter().map(ToString::to_string).collect();
                format!("leader of shards {}", held.join(", "))
            } else {
                "leader".to_owned()
            }
        }),
        events: state.events.as_ref().map(|q| {
            let q = q.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if q.reachable {
                "events queue: receiving".to_owned()
            } else {
                "events queue: unreachable, resyncing by interval".to_owned()
            }
        }),
    };
    let html = crate::page::render(&read(&state.status), filter, &context);
    (
        PAGE_HEADERS,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        crate::page::CSS,
    )
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let status = read(&state.status);
    match status.readiness() {
        Ok(()) => (StatusCode::OK, "ready\n".to_owned()),
        Err(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
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
