//! A local fake of Harness's delegate listings and version endpoint, answering field by field as
//! harness-core's classes do:
//!
//! - NextGen `POST /gateway/ng/api/delegate-setup/listDelegates` (`RestResponse` of
//!   `DelegateListResponse` with `delegateReplicas`), filtered by scope as
//!   `DelegateSetupServiceImpl.getDelegateGroupIds` does: the owner built from the query's org
//!   and project (`DelegateEntityOwnerHelper.buildOwner`: org and project, org alone, or none)
//!   must equal the group's, and "none" lists account-level groups only.
//! - FirstGen `POST /gateway/api/graphql` (`delegateList { nodes { ... } }`, `QLDelegate`): one
//!   node per delegate with the `delegateName` it registered with (`DelegateParams.delegateName`,
//!   from DELEGATE_NAME; empty when unset, as Harness's own ECS download leaves it) and the host
//!   name Harness gives an ECS delegate (`hostname_seq`, `getHostNameToBeUsedForECSDelegate`).
//! - NextGen `GET /gateway/ng/api/delegate-setup/latest-supported-version`
//!   (`RestResponse<SupportedDelegateVersion>`: `latestSupportedVersion`,
//!   `latestSupportedMinimalVersion` = the version and `.minimal`, as
//!   `DelegateSetupResource.getSupportedDelegateVersion` builds it).
//!
//! Disconnected replicas stay listed (Harness keeps a delegate record for hours after its last
//! heartbeat; how long is modelled, no source: an hour-old heartbeat here). Modelled, with no
//! source sentence: NextGen replica host names (`host-N`), the GraphQL refusal's exact message
//! and `classification`, and the 500 when no latest version is set. Delegates register from the environment a task runs with ([`FakeHarness::register`]):
//! a NextGen one in its DELEGATE_ORG/PROJECT_IDENTIFIER scope, else its token's scope; a
//! FirstGen one only when the variables its start script needs are there. Switches: a refused
//! key (401), GraphQL refusing the query, 500s, slowness. Every request is recorded.

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
    /// FirstGen GraphQL answers 200 with `errors`: the key's user may not list delegates
    /// (`AuthRuleGraphQL`'s AccessDeniedException, through `AbstractDataFetcher`).
    GraphQlDenied,
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

/// One delegate (NextGen: a group of replicas) as Harness keeps it.
#[derive(Debug, Clone)]
struct Record {
    nextgen: bool,
    /// NextGen: the group name; FirstGen: `delegateName` (may be empty).
    name: String,
    /// The host name before Harness's ECS sequence number.
    host: String,
    /// NextGen: `org` or `org/project`; `None` at account level.
    owner: Option<String>,
    replicas: Vec<Replica>,
}

#[derive(Default)]
struct FakeState {
    records: Vec<Record>,
    /// The scope a NextGen token belongs to (`org` or `org/project`; `None`: account).
    token_owner: Option<String>,
    latest: Option<String>,
    behaviour: Option<Behaviour>,
    requests: Vec<Recorded>,
}

/// `DelegateEntityOwnerHelper.buildOwner`: a project owner needs its org.
fn build_owner(org: Option<&str>, project: Option<&str>) -> Option<String> {
    match (
        org.filter(|o| !o.is_empty()),
        project.filter(|p| !p.is_empty()),
    ) {
        (Some(org), Some(project)) => Some(format!("{org}/{project}")),
        (Some(org), None) => Some(org.to_owned()),
        _ => None,
    }
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
            .route(
                "/gateway/ng/api/delegate-setup/latest-supported-version",
                axum::routing::get(latest),
            )
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

    /// The replicas Harness lists under the account-level NextGen group `name`.
    pub fn set(&self, name: &str, replicas: Vec<Replica>) {
        self.set_record(true, name, "ip-10-0-0", None, replicas);
    }

    fn set_record(
        &self,
        nextgen: bool,
        name: &str,
        host: &str,
        owner: Option<String>,
        replicas: Vec<Replica>,
    ) {
        self.with(|s| {
            s.records
                .retain(|r| !(r.nextgen == nextgen && r.name == name && r.owner == owner));
            s.records.push(Record {
                nextgen,
                name: name.into(),
                host: host.into(),
                owner,
                replicas,
            });
        });
    }

    /// `connected` of `total` replicas of `name` connected, on `version`.
    pub fn set_connected(&self, name: &str, connected: usize, total: usize, version: &str) {
        let replicas = (0..total)
            .map(|i| current(version, i < connected))
            .collect();
        self.set(name, replicas);
    }

    /// NextGen tokens belong to this scope (`None`: the account).
    pub fn token_scope(&self, org: Option<&str>, project: Option<&str>) {
        let owner = build_owner(org, project);
        self.with(|s| s.token_owner = owner);
    }

    /// Delegates started with `env` (a task definition's variables) and `hostname` (the
    /// container's, if set) register as Harness registers them, one per replica; `false` when
    /// such a delegate would never start or register.
    pub fn register(
        &self,
        env: &BTreeMap<String, String>,
        hostname: Option<&str>,
        replicas: Vec<Replica>,
    ) -> bool {
        let var = |name: &str| env.get(name).map(String::as_str).filter(|v| !v.is_empty());
        let nextgen = var("NEXT_GEN") == Some("true");
        if nextgen {
            let Some(name) = var("DELEGATE_NAME") else {
                return false;
            };
            let owner = build_owner(
                var("DELEGATE_ORG_IDENTIFIER"),
                var("DELEGATE_PROJECT_IDENTIFIER"),
            )
            .or_else(|| self.with(|s| s.token_owner.clone()));
            self.set_record(true, name, hostname.unwrap_or("ip-10-0-0"), owner, replicas);
            return true;
        }
        // The legacy image's start script fetches the watcher from
        // $WATCHER_STORAGE_URL/$WATCHER_CHECK_LOCATION and writes the delegate's check location
        // into config-watcher.yml: without them nothing starts.
        let starts = [
            "WATCHER_STORAGE_URL",
            "WATCHER_CHECK_LOCATION",
            "DELEGATE_STORAGE_URL",
            "DELEGATE_CHECK_LOCATION",
            "ACCOUNT_ID",
            "MANAGER_HOST_AND_PORT",
        ]
        .iter()
        .all(|v| var(v).is_some());
        if !starts {
            return false;
        }
        let name = var("DELEGATE_NAME").unwrap_or_default();
        self.set_record(false, name, hostname.unwrap_or("ip-10-0-1"), None, replicas);
        true
    }

    /// Harness's latest supported delegate version for the account.
    pub fn set_latest(&self, version: &str) {
        self.with(|s| s.latest = Some(version.into()));
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
    let query_text = query.clone().unwrap_or_default();
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
    let param = |name: &str| -> Option<String> {
        // Identifiers need no percent-decoding.
        query_text
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    };
    let asked = build_owner(
        param("orgIdentifier").as_deref(),
        param("projectIdentifier").as_deref(),
    );
    let records = state.lock().unwrap().records.clone();
    let resource: Vec<Value> = records
        .iter()
        .filter(|r| r.nextgen && r.owner == asked)
        .map(|r| {
            let (name, replicas) = (&r.name, &r.replicas);
            let newest = if replicas.is_empty() { 0 } else { now_ms() };
            json!({
                "type": "DOCKER",
                "name": name,
                "description": "",
                "tags": [],
                "lastHeartBeat": newest,
                "connected": replicas.iter().any(|r| r.connected),
                "delegateReplicas": replicas.iter().enumerate().map(|(i, rep)| json!({
                    "uuid": format!("{name}-{i}"),
                    "lastHeartbeat": if rep.connected { now_ms() } else { now_ms() - 3_600_000 },
                    "connected": rep.connected,
                    "hostName": format!("{}-{i}", r.host),
                    "version": rep.version,
                    "expiringAt": rep.expiring_at,
                })).collect::<Vec<_>>(),
                "autoUpgrade": "OFF",
                "legacy": false,
                "orgName": r.owner.as_ref().map(|o| o.split('/').next().unwrap_or_default().to_owned()),
                "projectName": r.owner.as_ref().and_then(|o| o.split('/').nth(1).map(str::to_owned)),
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
    if state.lock().unwrap().behaviour == Some(Behaviour::GraphQlDenied) {
        // graphql-java's ExceptionWhileDataFetching around the data fetcher's WingsException.
        return axum::Json(json!({"data": {"delegateList": null}, "errors": [{
            "message": "Exception while fetching data (/delegateList) : Not authorized",
            "locations": [{"line": 1, "column": 3}],
            "path": ["delegateList"],
            "extensions": {"classification": "DataFetchingException"},
        }]}))
        .into_response();
    }
    let records = state.lock().unwrap().records.clone();
    let nodes: Vec<Value> = records
        .iter()
        .filter(|r| !r.nextgen)
        .flat_map(|r| {
            r.replicas.iter().enumerate().map(move |(i, rep)| {
                json!({
                    "delegateName": r.name,
                    "hostName": format!("{}_{}", r.host, i + 1),
                    "status": "ENABLED",
                    "disconnected": !rep.connected,
                    "lastHeartBeat": if rep.connected { now_ms() } else { now_ms() - 3_600_000 },
                    "version": rep.version,
                })
            })
        })
        .skip(offset)
        .take(limit)
        .collect();
    axum::Json(json!({"data": {"delegateList": {"nodes": nodes}}})).into_response()
}

async fn latest(State(state): Shared, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let path = "/gateway/ng/api/delegate-setup/latest-supported-version";
    if let Some(refusal) = admit(&state, path, &headers, query, &Bytes::new()).await {
        return refusal;
    }
    let Some(version) = state.lock().unwrap().latest.clone() else {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            "no version set in the fake",
        )
            .into_response();
    };
    axum::Json(json!({
        "metaData": {},
        "resource": {
            "latestSupportedVersion": version,
            "latestSupportedMinimalVersion": format!("{version}.minimal"),
        },
        "responseMessages": [],
    }))
    .into_response()
}
