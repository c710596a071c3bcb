//! A local fake of Harness's two delegate listings, serving the documented shapes:
//! NextGen `POST /gateway/ng/api/delegate-setup/listDelegates` (`RestResponse` of
//! `DelegateListResponse` with `delegateReplicas`) and FirstGen `POST /gateway/api/graphql`
//! (`delegateList { nodes { ... } }`). Switches: which delegates are connected and their
//! versions (expired ones too), a refused key (401), 500s, slowness. Every request is recorded.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};

/// The key the fake accepts.
pub const GOOD_KEY: &str = "pat.abc123.fake-harness-key.s3cr3t";

/// One delegate replica the fake lists.
#[derive(Debug, Clone)]
pub struct Replica {
    /// Connected now.
    pub connected: bool,
    /// Its version.
    pub version: String,
    /// When its version expires (ms since the epoch).
    pub expiring_at: i64,
}

/// How the fake answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// As Harness does.
    Normal,
    /// HTTP 500 to everything.
    ServerError,
    /// Answers after this long.
    Slow(Duration),
    /// 307 to the same path on this loopback port: a redirect an attacker (or a proxy) could
    /// answer with, to carry the key elsewhere. Not Harness's behaviour; modelled for the test.
    Redirect(u16),
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The path.
    pub path: String,
    /// The query string.
    pub query: String,
    /// The JSON body.
    pub body: Value,
    /// Whether `x-api-key` was the good key.
    pub key_ok: bool,
}

#[derive(Default)]
struct FakeState {
    delegates: BTreeMap<String, Vec<Replica>>,
    behaviour: Option<Behaviour>,
    requests: Vec<Recorded>,
}

/// The fake, served on a free loopback port from its own thread; stopped on drop.
pub struct FakeHarness {
    /// `http://127.0.0.1:PORT`: put it in `spec.delegate.managerUrl`.
    pub url: String,
    state: Arc<Mutex<FakeState>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// Now, in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    i64::try_from(now.as_millis()).unwrap()
}

/// A version that expires in 90 days.
pub fn current(version: &str, connected: bool) -> Replica {
    Replica {
        connected,
        version: version.into(),
        expiring_at: now_ms() + 90 * 24 * 3600 * 1000,
    }
}

impl FakeHarness {
    /// Starts the fake.
    pub fn start() -> FakeHarness {
        let state = Arc::new(Mutex::new(FakeState::default()));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let app = Router::new()
            .route(
                "/gateway/ng/api/delegate-setup/listDelegates",
                post(nextgen),
            )
            .route("/gateway/api/graphql", post(firstgen))
            .with_state(Arc::clone(&state));
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        FakeHarness {
            url,
            state,
            stop: Some(stop),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut FakeState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    /// The replicas Harness lists under `name`.
    pub fn set(&self, name: &str, replicas: Vec<Replica>) {
        self.with(|s| s.delegates.insert(name.into(), replicas));
    }

    /// `connected` of `total` replicas of `name` connected, on `version`.
    pub fn set_connected(&self, name: &str, connected: usize, total: usize, version: &str) {
        let replicas = (0..total)
            .map(|i| current(version, i < connected))
            .collect();
        self.set(name, replicas);
    }

    /// How it answers from now on.
    pub fn behave(&self, behaviour: Behaviour) {
        self.with(|s| s.behaviour = Some(behaviour));
    }

    /// The requests so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.with(|s| s.requests.clone())
    }
}

impl Drop for FakeHarness {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

type Shared = State<Arc<Mutex<FakeState>>>;

/// Records the request; the refusal or failure to answer with, if any.
async fn admit(
    state: &Arc<Mutex<FakeState>>,
    path: &str,
    headers: &HeaderMap,
    query: Option<String>,
    body: &Bytes,
) -> Option<Response> {
    let key_ok = headers.get("x-api-key").and_then(|v| v.to_str().ok()) == Some(GOOD_KEY);
    let behaviour = {
        let mut s = state.lock().unwrap();
        s.requests.push(Recorded {
            path: path.into(),
            query: query.unwrap_or_default(),
            body: serde_json::from_slice(body).unwrap_or(Value::Null),
            key_ok,
        });
        s.behaviour.unwrap_or(Behaviour::Normal)
    };
    if let Behaviour::Slow(delay) = behaviour {
        tokio::time::sleep(delay).await;
    }
    if let Behaviour::Redirect(port) = behaviour {
        let to = format!("http://127.0.0.1:{port}{path}");
        return Some(
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(axum::http::header::LOCATION, to)],
            )
                .into_response(),
        );
    }
    if behaviour == Behaviour::ServerError {
        let body = json!({"status": "ERROR", "code": "UNEXPECTED", "message": "Oops, something went wrong on our end."});
        return Some((StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response());
    }
    if !key_ok {
        // Harness's answer to a bad x-api-key.
        let body = json!({"status": "ERROR", "code": "INVALID_TOKEN", "message": "Token is not valid.", "responseMessages": []});
        return Some((StatusCode::UNAUTHORIZED, axum::Json(body)).into_response());
    }
    None
}

async fn nextgen(
    State(state): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if let Some(refusal) = admit(
        &state,
        "/gateway/ng/api/delegate-setup/listDelegates",
        &headers,
        query,
        &body,
    )
    .await
    {
        return refusal;
    }
    let delegates = state.lock().unwrap().delegates.clone();
    let resource: Vec<Value> = delegates
        .iter()
        .map(|(name, replicas)| {
            let newest = if replicas.is_empty() { 0 } else { now_ms() };
            json!({
                "type": "DOCKER",
                "name": name,
                "description": "",
                "tags": [],
                "lastHeartBeat": newest,
                "connected": replicas.iter().any(|r| r.connected),
                "delegateReplicas": replicas.iter().enumerate().map(|(i, r)| json!({
                    "uuid": format!("{name}-{i}"),
                    "lastHeartbeat": if r.connected { now_ms() } else { now_ms() - 3_600_000 },
                    "connected": r.connected,
                    "hostName": format!("ip-10-0-0-{i}"),
                    "version": r.version,
                    "expiringAt": r.expiring_at,
                })).collect::<Vec<_>>(),
                "autoUpgrade": "OFF",
                "legacy": false,
                "orgName": null,
                "projectName": null,
            })
        })
        .collect();
    axum::Json(json!({"metaData": {}, "resource": resource, "responseMessages": []}))
        .into_response()
}

async fn firstgen(
    State(state): Shared,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    if let Some(refusal) = admit(&state, "/gateway/api/graphql", &headers, query, &body).await {
        return refusal;
    }
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let text = request["query"].as_str().unwrap_or_default().to_owned();
    if !text.contains("delegateList(") {
        return axum::Json(json!({"errors": [{"message": "unknown query"}]})).into_response();
    }
    let number = |name: &str| -> usize {
        text.split(&format!("{name}: "))
            .nth(1)
            .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let (limit, offset) = (number("limit"), number("offset"));
    let delegates = state.lock().unwrap().delegates.clone();
    let nodes: Vec<Value> = delegates
        .iter()
        .flat_map(|(name, replicas)| {
            replicas.iter().enumerate().map(move |(i, r)| {
                json!({
                    "delegateName": name,
                    "hostName": format!("ip-10-0-1-{i}"),
                    "status": "ENABLED",
                    "disconnected": !r.connected,
                    "lastHeartBeat": now_ms(),
                    "version": r.version,
                })
            })
        })
        .skip(offset)
        .take(limit)
        .collect();
    axum::Json(json!({"data": {"delegateList": {"nodes": nodes}}})).into_response()
}
