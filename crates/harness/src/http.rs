//! Harness's two delegate listings over HTTP, with the API key in the `x-api-key` header.
//!
//! - NextGen: `POST {api}/ng/api/delegate-setup/listDelegates?accountIdentifier=&orgIdentifier=
//!   &projectIdentifier=` with `{"filterType":"Delegate"}`, answering Harness's
//!   `RestResponse<List<DelegateListResponse>>`: `{"metaData", "resource": [{"type", "name",
//!   "connected", "lastHeartBeat", "delegateReplicas": [{"uuid", "lastHeartbeat", "connected",
//!   "hostName", "version", "expiringAt"}], ...}], "responseMessages"}`. The operation is
//!   `DelegateSetupResource.listDelegates` (apidocs.harness.io, "Lists all delegates in NG
//!   filtered by provided conditions"; harness-core
//!   `io.harness.delegate.beans.DelegateListResponse`), the one the Harness Terraform provider's
//!   delegate list data source calls. No `status` filter is sent: a delegate that registered and
//!   disconnected is told apart from one that never registered.
//! - FirstGen: `POST {api}/api/graphql?accountId=` with the query
//!   `delegateList(filters: [{accountId}], limit, offset) { nodes { delegateName hostName status
//!   disconnected lastHeartBeat version } }` (developer.harness.io, "How do I check the delegate
//!   disconnected status in the API?"; harness-core `QLDelegate`, `QLDelegateFilter`). A delegate
//!   is connected when its status is `ENABLED` and it is not `disconnected`.

use std::time::Duration;

use backoff::backoff::Backoff as _;
use backoff::ExponentialBackoff;
use plan::harness::{
    HarnessDelegate, HarnessFailure, HarnessScope, SupportedVersion, VersionScope,
};
use reqwest::header::{HeaderValue, CONTENT_TYPE};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use spec::Flavor;

use crate::HarnessApi;

/// A Harness API key. Its `Debug` and `Display` never show it.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key, trimmed of the whitespace a secret's value often ends with.
    pub fn new(key: &str) -> Self {
        ApiKey(key.trim().to_owned())
    }

    fn header(&self) -> Result<HeaderValue, HarnessFailure> {
        let mut value = HeaderValue::from_str(&self.0).map_err(|_| {
            HarnessFailure::Unreachable(
                "the API key has characters an HTTP header cannot carry".into(),
            )
        })?;
        value.set_sensitive(true);
        Ok(value)
    }
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// Attempts per listing: the first and two retries, for 429, 5xx, timeouts and lost connections.
const ATTEMPTS: u32 = 3;

/// FirstGen GraphQL page size.
const PAGE: usize = 100;

/// At most this many FirstGen pages (10 000 delegates).
const PAGES: usize = 100;

/// The origins (`scheme://host[:port]`) the operator lets the API key go to: https, or http on
/// a loopback address (a local Harness, the tests' fake). A group's `managerUrl` is written by
/// whoever commits; the key is the operator's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedOrigins(Vec<String>);

impl AllowedOrigins {
    /// Harness SaaS: what a key is sent to when the operator names no origin.
    pub const SAAS: &'static str = "https://app.harness.io";

    /// The origins of `urls` (each `https://host[:port]`, a trailing `/` allowed).
    ///
    /// # Errors
    /// A value that is not an origin, or plain http to a host that is not loopback.
    pub fn parse<S: AsRef<str>>(urls: &[S]) -> Result<Self, String> {
        let mut origins = Vec::new();
        for value in urls {
            let value = value.as_ref().trim();
            let url = Url::parse(value).map_err(|e| format!("{value:?}: not a URL: {e}"))?;
            if !url.username().is_empty()
                || url.password().is_some()
                || url.query().is_some()
                || url.fragment().is_some()
                || !matches!(url.path(), "" | "/")
            {
                return Err(format!(
                    "{value:?}: an origin is scheme://host[:port], without a path, user or query"
                ));
            }
            match url.scheme() {
                "https" => {}
                "http" if is_loopback(&url) => {}
                "http" => {
                    return Err(format!(
                        "{value:?}: the key goes over https only (plain http only to a loopback address)"
                    ))
                }
                other => return Err(format!("{value:?}: scheme {other} is not https")),
            }
            origins.push(url.origin().ascii_serialization());
        }
        Ok(AllowedOrigins(origins))
    }

    /// Whether `url`'s origin is one of these.
    pub fn allows(&self, url: &Url) -> bool {
        let origin = url.origin().ascii_serialization();
        self.0.contains(&origin)
    }

    /// Whether a manager URL's origin is one of these (`false` for what is not a URL).
    pub fn allows_str(&self, url: &str) -> bool {
        Url::parse(url).is_ok_and(|u| self.allows(&u))
    }

    /// The origins, for logs.
    pub fn as_slice(&self) -> &[String] {
        &self.0
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Harness over HTTP.
pub struct HttpHarness {
    http: reqwest::Client,
    key: ApiKey,
    origins: AllowedOrigins,
}

impl HttpHarness {
    /// A client that sends `key` to `origins` only, each request given up after `timeout`.
    /// Redirects are never followed: the key is a custom header, which an HTTP client carries
    /// across a redirect to any host.
    ///
    /// # Errors
    /// When no TLS configuration can be built.
    pub fn new(key: ApiKey, timeout: Duration, origins: AllowedOrigins) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "ecs-delegate-controller/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(HttpHarness { http, key, origins })
    }

    /// One POST (with `body`) or GET (without), retried with backoff when the failure may
    /// pass; the answer's body, at most [`MAX_ANSWER_BYTES`].
    async fn post(&self, url: Url, body: &serde_json::Value) -> Result<Vec<u8>, HarnessFailure> {
        self.send(url, Some(body)).await
    }

    async fn send(
        &self,
        url: Url,
        body: Option<&serde_json::Value>,
    ) -> Result<Vec<u8>, HarnessFailure> {
        if !self.origins.allows(&url) {
            return Err(HarnessFailure::OriginNotAllowed(
                url.origin().ascii_serialization(),
            ));
        }
        let key = self.key.header()?;
        let mut backoff = ExponentialBackoff {
            initial_interval: Duration::from_millis(250),
            max_interval: Duration::from_secs(2),
            max_elapsed_time: None,
            ..ExponentialBackoff::default()
        };
        let mut attempt = 1;
        loop {
            let request = match body {
                Some(body) => self
                    .http
                    .post(url.clone())
                    .header(CONTENT_TYPE, "application/json")
                    .json(body),
                None => self.http.get(url.clone()),
            };
            let sent = request.header("x-api-key", key.clone()).send().await;
            let failure = match sent {
                Ok(response) if response.status().is_success() => {
                    return read_bounded(response).await.map_err(|e| match e {
                        ReadError::Http(e) => unreachable(&url, &e.without_url()),
                        ReadError::TooLarge => HarnessFailure::Unreachable(format!(
                            "{}: an answer larger than {} MiB",
                            path(&url),
                            MAX_ANSWER_BYTES >> 20
                        )),
                    });
                }
                Ok(response)
                    if matches!(
                        response.status(),
                        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN
                    ) =>
                {
                    return Err(HarnessFailure::Unauthorized(format!(
                        "HTTP {}",
                        response.status().as_u16()
                    )));
                }
                Ok(response) if response.status().is_redirection() => {
                    return Err(HarnessFailure::Unreachable(format!(
                        "{}: HTTP {}: redirects are not followed with the API key; set \
                         spec.delegate.managerUrl to where it points",
                        path(&url),
                        response.status()
                    )));
                }
                Ok(response) => {
                    let status = response.status();
                    let failure =
                        HarnessFailure::Unreachable(format!("{}: HTTP {status}", path(&url)));
                    if !(status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()) {
                        return Err(failure);
                    }
                    failure
                }
                Err(e) => unreachable(&url, &e.without_url()),
            };
            match backoff.next_backoff() {
                Some(wait) if attempt < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(wait).await;
                }
                _ => return Err(failure),
            }
        }
    }

    async fn nextgen(&self, scope: &HarnessScope) -> Result<Vec<HarnessDelegate>, HarnessFailure> {
        let mut params = vec![("accountIdentifier", scope.account.as_str())];
        if let Some(org) = &scope.org {
            params.push(("orgIdentifier", org));
        }
        if let Some(project) = &scope.project {
            params.push(("projectIdentifier", project));
        }
        let url = endpoint(
            &format!("{}/ng/api/delegate-setup/listDelegates", scope.api),
            &params,
        )?;
        let body = serde_json::json!({ "filterType": "Delegate" });
        let answer = self.post(url.clone(), &body).await?;
        parse_nextgen(&answer).map_err(|e| undocumented(&url, &e))
    }

    async fn firstgen(&self, scope: &HarnessScope) -> Result<Vec<HarnessDelegate>, HarnessFailure> {
        let url = endpoint(
            &format!("{}/api/graphql", scope.api),
            &[("accountId", scope.account.as_str())],
        )?;
        // The account id goes in as a GraphQL string literal (JSON's escaping is GraphQL's).
        let account = serde_json::Value::String(scope.account.clone()).to_string();
        let mut delegates = Vec::new();
        for page in 0..PAGES {
            let query = format!(
                "{{ delegateList(filters: [{{accountId: {account}}}], limit: {PAGE}, offset: {}) \
                 {{ nodes {{ delegateName hostName status disconnected lastHeartBeat version }} }} }}",
                page * PAGE
            );
            let answer = self
                .post(url.clone(), &serde_json::json!({ "query": query }))
                .await?;
            let page = parse_firstgen(&answer).map_err(|e| undocumented(&url, &e))?;
            if let Some(error) = page.error {
                return Err(if refuses_access(&error) {
                    HarnessFailure::Unauthorized(format!("GraphQL: {error}"))
                } else {
                    HarnessFailure::Unreachable(format!("{}: GraphQL error: {error}", path(&url)))
                });
            }
            let full = page.delegates.len() == PAGE;
            delegates.extend(page.delegates);
            if !full {
                break;
            }
        }
        Ok(delegates)
    }
}

#[async_trait::async_trait]
impl HarnessApi for HttpHarness {
    async fn latest_version(
        &self,
        scope: &VersionScope,
    ) -> Result<SupportedVersion, HarnessFailure> {
        let url = endpoint(
            &format!(
                "{}/ng/api/delegate-setup/latest-supported-version",
                scope.api
            ),
            &[("accountIdentifier", scope.account.as_str())],
        )?;
        let answer = self.send(url.clone(), None).await?;
        parse_latest(&answer).map_err(|e| {
            HarnessFailure::Unreachable(format!(
                "{}: an answer not in the documented shape: {e}",
                path(&url)
            ))
        })
    }

    async fn list_delegates(
        &self,
        scope: &HarnessScope,
    ) -> Result<Vec<HarnessDelegate>, HarnessFailure> {
        match scope.flavor {
            Flavor::Nextgen => self.nextgen(scope).await,
            Flavor::Firstgen => self.firstgen(scope).await,
        }
    }
}

/// Whether a GraphQL error is Harness refusing the key. FirstGen's GraphQL answers 200 with
/// `errors` when the key's user may not run the query: its data fetchers turn the
/// `AccessDeniedException` of `AuthRuleGraphQL` (ErrorCode `ACCESS_DENIED`, "Not authorized")
/// and an invalid key's `INVALID_TOKEN`/`USER_NOT_AUTHORIZED` into a `WingsException` whose
/// message is the error's only content (harness-core `AbstractDataFetcher.get`: no code, no
/// extensions beyond graphql-java's `classification`). So the message is what there is to
/// decide from; anything else stays "could not be read".
fn refuses_access(message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    [
        "not authorized",
        "access denied",
        "accessdenied",
        "access_denied",
        "user_not_authorized",
        "invalid_token",
        "invalid api key",
        "permission",
    ]
    .iter()
    .any(|marker| message.contains(marker))
}

fn endpoint(base: &str, params: &[(&str, &str)]) -> Result<Url, HarnessFailure> {
    Url::parse_with_params(base, params)
        .map_err(|e| HarnessFailure::Unreachable(format!("{base}: not a URL: {e}")))
}

/// The URL without its query, for messages.
fn path(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// The largest answer read: 10 000 delegates of a few replicas each fit in a few MiB.
pub const MAX_ANSWER_BYTES: usize = 16 << 20;

enum ReadError {
    Http(reqwest::Error),
    TooLarge,
}

/// The body, chunk by chunk, refused once it passes [`MAX_ANSWER_BYTES`]: an answer is
/// outside bytes, and its length is whatever the other end says.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, ReadError> {
    if response
        .content_length()
        .is_some_and(|n| n > MAX_ANSWER_BYTES as u64)
    {
        return Err(ReadError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ReadError::Http)? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(ReadError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn undocumented(url: &Url, e: &serde_json::Error) -> HarnessFailure {
    HarnessFailure::Unreachable(format!(
        "{}: an answer not in the documented shape: {e}",
        path(url)
    ))
}

/// `GET /ng/api/delegate-setup/latest-supported-version`: Harness's
/// `RestResponse<SupportedDelegateVersion>` (`{"resource": {"latestSupportedVersion":
/// "24.04.82804", "latestSupportedMinimalVersion": "24.04.82804.minimal"}}`, Harness's
/// "Delegate automatic upgrades and expiration policy" page). Each version becomes an image tag,
/// so each must be one (`[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`): an answer is outside bytes.
///
/// # Errors
/// Another shape, or a version that is not a tag.
pub fn parse_latest(body: &[u8]) -> Result<SupportedVersion, String> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Supported {
        latest_supported_version: String,
        latest_supported_minimal_version: String,
    }
    #[derive(Deserialize)]
    struct Answer {
        resource: Supported,
    }
    let answer: Answer = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let Supported {
        latest_supported_version: latest,
        latest_supported_minimal_version: minimal,
    } = answer.resource;
    for version in [&latest, &minimal] {
        if !spec::validate::is_image_tag(version) {
            return Err(format!("{version:?} is not an image tag"));
        }
    }
    Ok(SupportedVersion { latest, minimal })
}

/// NextGen's listing answer: one [`HarnessDelegate`] per replica.
///
/// # Errors
/// An answer that is not `RestResponse<List<DelegateListResponse>>`.
pub fn parse_nextgen(body: &[u8]) -> Result<Vec<HarnessDelegate>, serde_json::Error> {
    serde_json::from_slice::<RestResponse>(body).map(RestResponse::delegates)
}

/// One page of FirstGen's GraphQL `delegateList`.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstgenPage {
    /// The page's delegates.
    pub delegates: Vec<HarnessDelegate>,
    /// The first of GraphQL's `errors`, when there are any.
    pub error: Option<String>,
}

/// FirstGen's GraphQL answer.
///
/// # Errors
/// An answer that is not GraphQL's `{data, errors}` with `delegateList.nodes`.
pub fn parse_firstgen(body: &[u8]) -> Result<FirstgenPage, serde_json::Error> {
    let answer: GraphQlResponse = serde_json::from_slice(body)?;
    Ok(FirstgenPage {
        error: answer.errors.into_iter().next().map(|e| e.message),
        delegates: answer
            .data
            .and_then(|d| d.delegate_list)
            .map(|l| l.nodes)
            .unwrap_or_default()
            .into_iter()
            .map(QlDelegate::into_delegate)
            .collect(),
    })
}

fn unreachable(url: &Url, e: &reqwest::Error) -> HarnessFailure {
    let what = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        format!("could not connect: {e}")
    } else {
        e.to_string()
    };
    HarnessFailure::Unreachable(format!("{}: {what}", path(url)))
}

/// NextGen's `RestResponse<List<DelegateListResponse>>`.
#[derive(Debug, Deserialize)]
struct RestResponse {
    #[serde(default)]
    resource: Vec<DelegateListResponse>,
}

impl RestResponse {
    /// One [`HarnessDelegate`] per replica, named after its group.
    fn delegates(self) -> Vec<HarnessDelegate> {
        self.resource
            .into_iter()
            .flat_map(|group| {
                let name = group.name;
                let connected = group.connected;
                group
                    .delegate_replicas
                    .into_iter()
                    .map(move |r| HarnessDelegate {
                        name: name.clone(),
                        host: r.host_name.unwrap_or_default(),
                        version: r.version.unwrap_or_default(),
                        // Older managers carry `connected` on the group only.
                        connected: r.connected.unwrap_or(connected),
                        last_heartbeat: r.last_heartbeat,
                        expiring_at: r.expiring_at,
                    })
            })
            .collect()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DelegateListResponse {
    #[serde(default)]
    name: String,
    #[serde(default)]
    connected: bool,
    #[serde(default)]
    delegate_replicas: Vec<DelegateReplica>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct DelegateReplica {
    host_name: Option<String>,
    version: Option<String>,
    connected: Option<bool>,
    last_heartbeat: Option<i64>,
    expiring_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct GraphQlResponse {
    data: Option<GraphQlData>,
    #[serde(default)]
    errors: Vec<GraphQlError>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GraphQlData {
    delegate_list: Option<QlDelegateList>,
}

#[derive(Debug, Deserialize)]
struct QlDelegateList {
    #[serde(default)]
    nodes: Vec<QlDelegate>,
}

#[derive(Debug, Deserialize)]
struct GraphQlError {
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QlDelegate {
    #[serde(default)]
    delegate_name: String,
    host_name: Option<String>,
    status: Option<String>,
    #[serde(default)]
    disconnected: bool,
    last_heart_beat: Option<i64>,
    version: Option<String>,
}

impl QlDelegate {
    fn into_delegate(self) -> HarnessDelegate {
        HarnessDelegate {
            connected: self.status.as_deref() == Some("ENABLED") && !self.disconnected,
            name: self.delegate_name,
            host: self.host_name.unwrap_or_default(),
            version: self.version.unwrap_or_default(),
            last_heartbeat: self.last_heart_beat,
            expiring_at: None,
        }
    }
}

#[cfg(test)]
mod tests;
