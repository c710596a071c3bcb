//! What Harness says about a group's delegates: where they are listed (one call per scope per
//! pass), what was found, and the `Connected` verdict with its grace period. Pure: the calls are
//! made by the harness crate.
//!
//! A group's delegates register under its name: NextGen `DELEGATE_NAME`, FirstGen
//! `DELEGATE_GROUP_NAME` (see `spec::render`), so Harness lists them under `metadata.name`.

use spec::Flavor;

use crate::desired::DesiredGroup;

/// Where a group's delegates are listed: the Harness API, flavor, account and (NextGen) the
/// organization and project the delegate token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HarnessScope {
    /// The API base: the manager URL's origin and `/gateway`, as Harness's API references
    /// address it (`https://app.harness.io/gateway/ng/api/...`).
    pub api: String,
    /// NextGen (REST) or FirstGen (GraphQL).
    pub flavor: Flavor,
    /// Harness account identifier.
    pub account: String,
    /// NextGen organization identifier.
    pub org: Option<String>,
    /// NextGen project identifier.
    pub project: Option<String>,
}

impl HarnessScope {
    /// The scope a group's delegates register in.
    pub fn of(desired: &DesiredGroup) -> HarnessScope {
        let delegate = &desired.group.spec.delegate;
        let nextgen = delegate.flavor == Flavor::Nextgen;
        HarnessScope {
            api: format!("{}/gateway", delegate.manager_origin()),
            flavor: delegate.flavor,
            account: delegate.account_id.clone(),
            org: delegate.org.clone().filter(|_| nextgen),
            project: delegate.project.clone().filter(|_| nextgen),
        }
    }
}

impl std::fmt::Display for HarnessScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} account {}", self.api, self.account)?;
        if let Some(org) = &self.org {
            write!(f, " org {org}")?;
        }
        if let Some(project) = &self.project {
            write!(f, " project {project}")?;
        }
        Ok(())
    }
}

/// Where Harness's latest supported delegate version is asked: the manager API and account
/// (the version Harness releases to an account, `DelegateRingService.getDelegateImageTag`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VersionScope {
    /// The API base (`origin/gateway`).
    pub api: String,
    /// Harness account identifier.
    pub account: String,
}

impl VersionScope {
    /// The scope a group's version is asked in.
    pub fn of(desired: &DesiredGroup) -> VersionScope {
        let scope = HarnessScope::of(desired);
        VersionScope {
            api: scope.api,
            account: scope.account,
        }
    }
}

impl std::fmt::Display for VersionScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} account {}", self.api, self.account)
    }
}

/// Harness's `SupportedDelegateVersion`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupportedVersion {
    /// `latestSupportedVersion`, e.g. `25.01.84800`.
    pub latest: String,
    /// `latestSupportedMinimalVersion`, e.g. `25.01.84800.minimal`.
    pub minimal: String,
}

impl SupportedVersion {
    /// The version of a track.
    pub fn of(&self, track: spec::Track) -> &str {
        match track {
            spec::Track::Latest => &self.latest,
            spec::Track::Minimal => &self.minimal,
        }
    }
}

/// One delegate as Harness lists it: a NextGen delegate replica, or a FirstGen delegate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HarnessDelegate {
    /// The name it registered under (NextGen `name`, FirstGen `delegateName`).
    pub name: String,
    /// The host (the task's hostname).
    pub host: String,
    /// The delegate version.
    pub version: String,
    /// Connected to the manager now.
    pub connected: bool,
    /// Its last heartbeat, milliseconds since the epoch.
    pub last_heartbeat: Option<i64>,
    /// NextGen: when its version expires, milliseconds since the epoch.
    pub expiring_at: Option<i64>,
}

/// Why Harness could not be read. Never carries the API key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HarnessFailure {
    /// 401 or 403, or a GraphQL error refusing the query: the key is wrong, revoked, or may
    /// not list delegates. Carries how Harness said it (`HTTP 401`, the GraphQL message).
    #[error(
        "Harness refused the API key ({0}): check the key in the secret \
         --harness-api-key-secret names, and that it may view delegates"
    )]
    Unauthorized(String),
    /// Connection refused, timeout, 5xx or 429 after retries, or an answer not in the
    /// documented shape.
    #[error("Harness could not be read: {0}")]
    Unreachable(String),
    /// The group's manager URL is not an origin the operator lets the API key go to
    /// (`--harness-origin`): nothing was sent.
    #[error(
        "the API key is not sent to {0}: it is not among the operator's --harness-origin \
         (EDC_HARNESS_ORIGINS); the delegates' connection is not checked"
    )]
    OriginNotAllowed(String),
}

/// The Harness check of one group, as its status needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessView {
    /// The group's delegates (listed under its name), or why Harness could not be read.
    pub delegates: Result<Vec<HarnessDelegate>, HarnessFailure>,
    /// How long after the last deployment the delegates may take to connect.
    pub grace_seconds: i64,
    /// Now, in seconds since the epoch.
    pub now: i64,
    /// Said when Harness lists none of the group's delegates and the group is NotConnected:
    /// where they may be instead.
    pub unlisted_hint: Option<String>,
    /// With `spec.delegate.version`: the version the delegates must run to count (its
    /// `.minimal` suffix dropped: a minimal image reports the build's version).
    pub wanted_version: Option<String>,
    /// `ExpiringSoon` this long before a connected delegate's version expires.
    pub expiry_warning_seconds: i64,
}

/// The version a group's delegates must report, with `spec.delegate.version`.
pub fn wanted_version(desired: &DesiredGroup) -> Option<String> {
    let delegate = &desired.group.spec.delegate;
    let version = match delegate.version.as_ref()?.wanted() {
        spec::WantedVersion::Pinned(tag) => tag.to_owned(),
        spec::WantedVersion::Auto(_) => delegate.resolved_version.clone()?,
    };
    Some(reported(&version).to_owned())
}

/// A version as a delegate reports it: without the image's `.minimal` suffix.
fn reported(version: &str) -> &str {
    version.strip_suffix(".minimal").unwrap_or(version)
}

/// Whether Harness's `delegate` is one of `desired`'s.
///
/// By name: NextGen lists a group under its DELEGATE_NAME, and FirstGen lists each delegate
/// with the DELEGATE_NAME it was started with (see `spec::render`). The documented fallback for
/// FirstGen delegates started without one (Harness's own download sets none, so older task
/// definitions and imported ones list an empty `delegateName`): the host name Harness gives an
/// ECS delegate, the container's hostname and `_` and its sequence number
/// (`DelegateServiceImpl.getHostNameToBeUsedForECSDelegate`), when the group sets
/// `spec.hostname`.
pub fn belongs(desired: &DesiredGroup, delegate: &HarnessDelegate) -> bool {
    if delegate.name == desired.name() {
        return true;
    }
    let spec = &desired.group.spec;
    if spec.delegate.flavor != Flavor::Firstgen || !delegate.name.is_empty() {
        return false;
    }
    spec.hostname.as_deref().is_some_and(|hostname| {
        delegate
            .host
            .strip_prefix(hostname)
            .and_then(|rest| rest.strip_prefix('_'))
            .is_some_and(|seq| !seq.is_empty() && seq.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// The hint for a NextGen group asked at account scope whose delegates Harness does not list.
pub fn unlisted_hint(desired: &DesiredGroup) -> Option<String> {
    let delegate = &desired.group.spec.delegate;
    (delegate.flavor == Flavor::Nextgen && delegate.org.is_none()).then(|| {
        format!(
            "Harness lists no delegate named {:?} at account scope. A delegate registers in its \
             token's scope (\"Delegate scope for a delegate for Amazon ECS is based on the token \
             you use\", Harness's ECS delegate docs), and the controller asks the scope the \
             file names: if the token belongs to an organization or project, set \
             spec.delegate.org (and project) to it",
            desired.name()
        )
    })
}

/// What the check found, summed up for `status` and `/status`.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// `off` (no `--harness-api-key-secret`), `on`, or `failed` (Harness could not be read).
    pub check: CheckState,
    /// Delegates of the group connected to Harness.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connected: Option<i64>,
    /// The versions the connected delegates run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub versions: Vec<String>,
    /// Versions Harness says have expired.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expired_versions: Vec<String>,
    /// The newest heartbeat, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<String>,
}

impl Connection {
    /// For the table: `off`, `?` (Harness not read) or `connected/desired`.
    pub fn column(&self, desired: i64) -> String {
        match (self.check, self.connected) {
            (CheckState::Off, _) => "off".into(),
            (CheckState::On, Some(n)) => format!("{n}/{desired}"),
            _ => "?".into(),
        }
    }
}

/// Whether the Harness check ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    /// No API key given: Ready means what ECS says.
    #[default]
    Off,
    /// Harness was read.
    On,
    /// Harness could not be read this pass.
    Failed,
}

/// What the delegates' connection means for a group that ECS runs as the files say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// At least the count is connected.
    Connected,
    /// Fewer are connected, within the grace period: still Progressing.
    Waiting,
    /// Fewer are connected after the grace period: Degraded `NotConnected`.
    NotConnected,
    /// Harness could not be read: not known, and not the fleet's fault.
    Unknown(HarnessFailure),
}

/// The check's findings for one group: the summary, the verdict, and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// For status.
    pub connection: Connection,
    /// For the conditions.
    pub verdict: Judgement,
    /// For people.
    pub message: String,
    /// A connected delegate's version expires soon, or has expired.
    pub expiry: Option<Expiry>,
}

/// What Harness's `expiringAt` of the connected delegates says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expiry {
    /// Within the warning period: the versions and the first expiry (RFC 3339).
    Soon {
        /// The versions.
        versions: Vec<String>,
        /// When the first expires.
        at: String,
    },
    /// Past it.
    Expired {
        /// The versions.
        versions: Vec<String>,
    },
}

impl Expiry {
    /// For the condition and the notice.
    pub fn message(&self) -> String {
        match self {
            Expiry::Soon { versions, at } => format!(
                "Harness says delegate version {} expires at {at}: a delegate keeps working only \
                 until its version expires; update spec.delegate.version (or image)",
                versions.join(", ")
            ),
            Expiry::Expired { versions } => format!(
                "Harness says delegate version {} has expired: update spec.delegate.version (or \
                 image)",
                versions.join(", ")
            ),
        }
    }
}

/// Judges a group's delegates: `wanted` is the count, `deployed_at` the start of its last
/// deployment (seconds since the epoch; `None` when ECS did not say, then the grace period is
/// over), `manager_url` for the hint.
pub fn judge(
    view: &HarnessView,
    wanted: i64,
    deployed_at: Option<i64>,
    manager_url: &str,
) -> Finding {
    let delegates = match &view.delegates {
        Ok(delegates) => delegates,
        Err(failure) => {
            return Finding {
                connection: Connection {
                    check: CheckState::Failed,
                    ..Connection::default()
                },
                verdict: Judgement::Unknown(failure.clone()),
                message: failure.to_string(),
                expiry: None,
            }
        }
    };
    let all_connected: Vec<&HarnessDelegate> = delegates.iter().filter(|d| d.connected).collect();
    // With a version wanted, only delegates on it count: a rollout is done when Harness lists
    // the new version connected, not when ECS replaced the tasks.
    let (connected, others): (Vec<&HarnessDelegate>, Vec<&HarnessDelegate>) =
        all_connected.iter().partition(|d| {
            view.wanted_version
                .as_deref()
                .is_none_or(|wanted| reported(&d.version) == wanted)
        });
    let mut versions: Vec<String> = all_connected.iter().map(|d| d.version.clone()).collect();
    versions.sort_unstable();
    versions.dedup();
    versions.retain(|v| !v.is_empty());
    let now_ms = view.now.saturating_mul(1000);
    // Only the connected: Harness keeps a disconnected replica listed for hours after it went
    // away (a replaced task's old version is not the fleet's).
    let mut expired: Vec<String> = all_connected
        .iter()
        .filter(|d| d.expiring_at.is_some_and(|at| at > 0 && at <= now_ms))
        .map(|d| d.version.clone())
        .collect();
    expired.sort_unstable();
    expired.dedup();
    let warn_until = now_ms.saturating_add(view.expiry_warning_seconds.saturating_mul(1000));
    let soon: Vec<&HarnessDelegate> = all_connected
        .iter()
        .copied()
        .filter(|d| {
            d.expiring_at
                .is_some_and(|at| at > now_ms && at <= warn_until)
        })
        .collect();
    let expiry = if !expired.is_empty() {
        Some(Expiry::Expired {
            versions: expired.clone(),
        })
    } else if let Some(first) = soon.iter().filter_map(|d| d.expiring_at).min() {
        let mut versions: Vec<String> = soon.iter().map(|d| d.version.clone()).collect();
        versions.sort_unstable();
        versions.dedup();
        Some(Expiry::Soon {
            versions,
            at: rfc3339_ms(first),
        })
    } else {
        None
    };
    let newest = delegates.iter().filter_map(|d| d.last_heartbeat).max();
    let count = i64::try_from(connected.len()).unwrap_or(i64::MAX);
    let connection = Connection {
        check: CheckState::On,
        connected: Some(count),
        versions: versions.clone(),
        expired_versions: expired.clone(),
        last_heartbeat: newest.map(rfc3339_ms),
    };
    let mut message = format!(
        "{count} of {wanted} delegate{} connected to Harness",
        if wanted == 1 { "" } else { "s" }
    );
    match &view.wanted_version {
        Some(version) => {
            message.push_str(&format!(" on version {version}"));
            if !others.is_empty() {
                let mut old: Vec<&str> = others.iter().map(|d| d.version.as_str()).collect();
                old.sort_unstable();
                old.dedup();
                message.push_str(&format!(" ({} more on {})", others.len(), old.join(", ")));
            }
        }
        None if !versions.is_empty() => {
            message.push_str(&format!(" (version {})", versions.join(", ")));
        }
        None => {}
    }
    if let Some(newest) = newest {
        message.push_str(&format!("; last heartbeat {}", rfc3339_ms(newest)));
    }
    if !expired.is_empty() {
        message.push_str(&format!(
            "; Harness says version {} has expired: update spec.delegate.image",
            expired.join(", ")
        ));
    }
    let since = deployed_at.map_or(i64::MAX, |at| view.now.saturating_sub(at));
    let verdict = if count >= wanted {
        Judgement::Connected
    } else if since < view.grace_seconds {
        message.push_str(&format!(
            "; waiting up to {} after the deployment for them to register",
            minutes(view.grace_seconds)
        ));
        Judgement::Waiting
    } else {
        message.push_str(&format!(
            "{}: ECS runs the tasks but the delegates did not register with Harness. Check the \
             token secret (spec.delegate.token: the value, and that the token is not revoked), \
             the manager URL (spec.delegate.managerUrl: {manager_url}), and that the tasks can \
             reach it (subnets' route to the internet or a NAT, security group egress, proxy)",
            match deployed_at {
                Some(_) => format!(" {} after the deployment", minutes(since)),
                None => String::new(),
            }
        ));
        if let Some(hint) = view.unlisted_hint.as_ref().filter(|_| delegates.is_empty()) {
            message.push_str(&format!(". {hint}"));
        }
        Judgement::NotConnected
    };
    Finding {
        connection,
        verdict,
        message,
        expiry,
    }
}

/// `10m`, `90s`.
fn minutes(seconds: i64) -> String {
    if seconds >= 120 {
        format!("{}m", seconds / 60)
    } else {
        format!("{seconds}s")
    }
}

fn rfc3339_ms(ms: i64) -> String {
    let secs = u64::try_from(ms / 1000).unwrap_or(0);
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delegate(connected: bool, version: &str) -> HarnessDelegate {
        HarnessDelegate {
            name: "g".into(),
            host: "h".into(),
            version: version.into(),
            connected,
            last_heartbeat: Some(1_800_000_000_000),
            expiring_at: None,
        }
    }

    fn view(delegates: Vec<HarnessDelegate>) -> HarnessView {
        HarnessView {
            delegates: Ok(delegates),
            grace_seconds: 600,
            now: 1_800_000_100,
            unlisted_hint: None,
            wanted_version: None,
            expiry_warning_seconds: 30 * 86_400,
        }
    }

    #[test]
    fn the_api_is_the_manager_urls_origin_and_gateway() {
        let origin = |url: &str| {
            let group = DesiredGroup::test("g").manager_url(url).build();
            HarnessScope::of(&group).api
        };
        assert_eq!(
            origin("https://app.harness.io/gratis"),
            "https://app.harness.io/gateway"
        );
        assert_eq!(
            origin("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/gateway"
        );
        assert_eq!(
            origin("https://h.example.com:443/?x"),
            "https://h.example.com:443/gateway"
        );
    }

    #[test]
    fn connected_when_the_count_is_connected() {
        let found = judge(
            &view(vec![
                delegate(true, "1.2"),
                delegate(true, "1.1"),
                delegate(false, "1.0"),
            ]),
            2,
            Some(1_800_000_000),
            "https://app.harness.io",
        );
        assert_eq!(found.verdict, Judgement::Connected);
        assert_eq!(found.connection.connected, Some(2));
        assert_eq!(found.connection.versions, ["1.1", "1.2"]);
        assert!(found
            .message
            .starts_with("2 of 2 delegates connected to Harness (version 1.1, 1.2)"));
    }

    #[test]
    fn waiting_within_the_grace_period_then_not_connected_with_the_hint() {
        let v = view(vec![delegate(true, "1.2")]);
        let waiting = judge(&v, 2, Some(v.now - 599), "https://app.harness.io");
        assert_eq!(waiting.verdict, Judgement::Waiting);
        let late = judge(&v, 2, Some(v.now - 600), "https://app.harness.io");
        assert_eq!(late.verdict, Judgement::NotConnected);
        assert!(late.message.contains("1 of 2 delegates connected"));
        assert!(late.message.contains("10m after the deployment"));
        assert!(late
            .message
            .contains("spec.delegate.managerUrl: https://app.harness.io"));
        assert!(late.message.contains("token"));
        assert!(late.message.contains("egress"));
    }

    #[test]
    fn expired_versions_are_reported() {
        let mut old = delegate(true, "23.01.1");
        old.expiring_at = Some(1_700_000_000_000);
        let found = judge(&view(vec![old]), 1, None, "https://app.harness.io");
        assert_eq!(found.verdict, Judgement::Connected);
        assert_eq!(found.connection.expired_versions, ["23.01.1"]);
        assert!(found.message.contains("version 23.01.1 has expired"));
    }

    #[test]
    fn expired_versions_count_connected_replicas_only() {
        let mut gone = delegate(false, "23.01.1");
        gone.expiring_at = Some(1_700_000_000_000);
        let found = judge(
            &view(vec![gone, delegate(true, "25.01.2")]),
            1,
            None,
            "https://app.harness.io",
        );
        assert!(found.connection.expired_versions.is_empty());
        assert!(!found.message.contains("expired"), "{}", found.message);
    }

    #[test]
    fn a_firstgen_delegate_without_a_name_is_found_by_its_ecs_host_name() {
        let group = DesiredGroup::test("fg")
            .firstgen()
            .spec("  hostname: fg-host")
            .build();
        let listed = |name: &str, host: &str| HarnessDelegate {
            name: name.into(),
            host: host.into(),
            ..HarnessDelegate::default()
        };
        assert!(belongs(&group, &listed("fg", "whatever")));
        assert!(belongs(&group, &listed("", "fg-host_3")));
        assert!(!belongs(&group, &listed("", "fg-host_")));
        assert!(!belongs(&group, &listed("", "fg-host-2_3")));
        assert!(!belongs(&group, &listed("other", "fg-host_3")));
        let nextgen = DesiredGroup::test("fg")
            .count(1)
            .spec("  hostname: fg-host")
            .build();
        assert!(!belongs(&nextgen, &listed("", "fg-host_3")));
    }

    #[test]
    fn a_failure_is_unknown_not_broken() {
        let v = HarnessView {
            delegates: Err(HarnessFailure::Unauthorized("HTTP 401".into())),
            grace_seconds: 600,
            now: 0,
            unlisted_hint: None,
            wanted_version: None,
            expiry_warning_seconds: 30 * 86_400,
        };
        let found = judge(&v, 1, None, "https://app.harness.io");
        assert_eq!(found.connection.check, CheckState::Failed);
        assert!(matches!(found.verdict, Judgement::Unknown(_)));
        assert_eq!(found.connection.column(1), "?");
    }
}
