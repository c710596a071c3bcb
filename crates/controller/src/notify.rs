//! Notifications: a webhook POST when a group becomes Degraded or Stalled, recovers to Ready,
//! has drift corrected, or is pruned. The body is Slack-compatible (`text`) and structured
//! (the same facts as fields). The loop hands notices over without waiting; a worker
//! deduplicates them per group (the same notice twice in a row is sent once), spaces them per
//! group (at most one per gap, [`GAP`] by default; the latest state wins), and sends each to every receiver
//! with retries and backoff. A receiver that fails or hangs never delays reconciliation. The
//! receivers' URLs (which carry tokens) are never logged: only their host.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

/// At most one notice per group this often, by default.
pub const GAP: Duration = Duration::from_secs(30);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NoticeKind {
    /// The group became Degraded.
    Degraded,
    /// The group became Stalled.
    Stalled,
    /// The group is Ready again.
    Recovered,
    /// Someone changed ECS; the controller put it back.
    DriftCorrected,
    /// The group was removed from the files and its service or tasks from ECS.
    Pruned,
    /// A connected delegate's version expires within the warning period.
    ExpiringSoon,
    /// A connected delegate's version has expired.
    Expired,
    /// A failed group of an earlier rollout wave halts this group's changes.
    WaveHalted,
}

/// One notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    /// What happened.
    pub kind: NoticeKind,
    /// The group.
    pub group: String,
    /// Its cluster.
    pub cluster: String,
    /// Its account (`self`: the controller's).
    pub account: String,
    /// Its region.
    pub region: String,
    /// The condition reason or what was done.
    pub reason: String,
    /// For people.
    pub message: String,
    /// The git commit of the files, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

impl Notice {
    /// The Slack-compatible line.
    pub fn text(&self) -> String {
        let icon = match self.kind {
            NoticeKind::Degraded
            | NoticeKind::Stalled
            | NoticeKind::ExpiringSoon
            | NoticeKind::Expired
            | NoticeKind::WaveHalted => ":warning:",
            NoticeKind::Recovered => ":white_check_mark:",
            NoticeKind::DriftCorrected => ":wrench:",
            NoticeKind::Pruned => ":wastebasket:",
        };
        let what = match self.kind {
            NoticeKind::Degraded => "is Degraded",
            NoticeKind::Stalled => "is Stalled",
            NoticeKind::Recovered => "is Ready again",
            NoticeKind::DriftCorrected => "had drift corrected",
            NoticeKind::Pruned => "was pruned",
            NoticeKind::ExpiringSoon => "runs a delegate version that expires soon",
            NoticeKind::Expired => "runs an expired delegate version",
            NoticeKind::WaveHalted => "is halted: an earlier rollout wave failed",
        };
        format!(
            "{icon} DelegateGroup *{}* ({}/{}/{}) {what}: {} — {}",
            self.group, self.account, self.region, self.cluster, self.reason, self.message
        )
    }

    /// The request body: `text` for Slack (and compatible receivers), then the facts.
    pub fn body(&self) -> serde_json::Value {
        let mut body = serde_json::json!(self);
        body["text"] = serde_json::json!(self.text());
        body["time"] =
            serde_json::json!(humantime::format_rfc3339_seconds(SystemTime::now()).to_string());
        body
    }
}

/// A receiver's URL, shown by host only.
#[derive(Clone)]
pub struct Receiver {
    url: reqwest::Url,
}

impl std::fmt::Debug for Receiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.host())
    }
}

impl Receiver {
    /// An http(s) URL.
    ///
    /// # Errors
    /// Not an http(s) URL (the message does not repeat it: it may hold a token).
    pub fn parse(url: &str) -> Result<Receiver, String> {
        let parsed = reqwest::Url::parse(url.trim())
            .map_err(|e| format!("a --notify URL is not a URL ({e})"))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err("a --notify URL must be http:// or https:// with a host".into());
        }
        Ok(Receiver { url: parsed })
    }

    /// The host, for logs.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or("?")
    }
}

/// The loop's side: hands notices to the worker without waiting.
#[derive(Clone, Debug)]
pub struct Notifier {
    tx: mpsc::Sender<Notice>,
}

impl Notifier {
    /// Starts the worker sending to `receivers`.
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn start(receivers: Vec<Receiver>, gap: Duration) -> Result<Notifier, String> {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!(
                "ecs-delegate-controller/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()
            .map_err(|e| format!("the notification HTTP client: {e}"))?;
        let (tx, rx) = mpsc::channel(256);
        tokio::spawn(worker(rx, client, receivers, gap));
        Ok(Notifier { tx })
    }

    /// Queues a notice; when the worker is that far behind, it is dropped (and logged).
    pub fn send(&self, notice: Notice) {
        if let Err(e) = self.tx.try_send(notice) {
            warn!(error = %e, "notification dropped: the sender is behind");
        }
    }
}

/// Per group: what was last sent and when, and what waits for the gap to end.
#[derive(Default)]
struct Slot {
    last: Option<(NoticeKind, String)>,
    sent_at: Option<Instant>,
    pending: Option<Notice>,
}

async fn worker(
    mut rx: mpsc::Receiver<Notice>,
    client: reqwest::Client,
    receivers: Vec<Receiver>,
    gap: Duration,
) {
    let mut slots: HashMap<String, Slot> = HashMap::new();
    loop {
        let next_due = slots
            .values()
            .filter(|s| s.pending.is_some())
            .filter_map(|s| s.sent_at.map(|t| t + gap))
            .min();
        let notice = tokio::select! {
            notice = rx.recv() => match notice {
                Some(notice) => Some(notice),
                None => return,
            },
            () = tokio::time::sleep_until(next_due.unwrap_or_else(Instant::now)), if next_due.is_some() => None,
        };
        let now = Instant::now();
        if let Some(notice) = notice {
            let slot = slots.entry(notice.group.clone()).or_default();
            if slot.last.as_ref() == Some(&(notice.kind, notice.reason.clone()))
                && slot.pending.is_none()
            {
                debug!(group = %notice.group, kind = ?notice.kind, "notification deduplicated");
                continue;
            }
            slot.pending = Some(notice);
        }
        for slot in slots.values_mut() {
            let due = slot.sent_at.is_none_or(|t| now >= t + gap);
            if !due {
                continue;
            }
            if let Some(notice) = slot.pending.take() {
                if slot.last.as_ref() == Some(&(notice.kind, notice.reason.clone())) {
                    continue;
                }
                slot.last = Some((notice.kind, notice.reason.clone()));
                slot.sent_at = Some(now);
                for receiver in &receivers {
                    tokio::spawn(deliver(client.clone(), receiver.clone(), notice.clone()));
                }
            }
        }
    }
}

/// POSTs `notice` to `receiver`: up to 4 attempts, 1 s, 2 s, 4 s apart.
async fn deliver(client: reqwest::Client, receiver: Receiver, notice: Notice) {
    let body = notice.body();
    let mut wait = Duration::from_secs(1);
    for attempt in 1..=4 {
        let result = client
            .post(receiver.url.clone())
            .json(&body)
            .send()
            .await
            .and_then(reqwest::Response::error_for_status);
        match result {
            Ok(_) => {
                info!(group = %notice.group, kind = ?notice.kind, receiver = receiver.host(), "notification sent");
                return;
            }
            Err(e) if attempt < 4 => {
                debug!(group = %notice.group, receiver = receiver.host(), attempt, error = %e.without_url(), "notification failed; retrying");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            Err(e) => {
                warn!(group = %notice.group, kind = ?notice.kind, receiver = receiver.host(), error = %e.without_url(), "notification failed after 4 attempts");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(kind: NoticeKind) -> Notice {
        Notice {
            kind,
            group: "g".into(),
            cluster: "c1".into(),
            account: "self".into(),
            region: "us-east-1".into(),
            reason: "InsufficientCapacity".into(),
            message: "1 task cannot be placed".into(),
            revision: None,
        }
    }

    #[test]
    fn the_body_is_slack_text_plus_facts() {
        let body = notice(NoticeKind::Degraded).body();
        assert!(body["text"].as_str().unwrap().contains("*g*"));
        assert_eq!(body["kind"], "Degraded");
        assert_eq!(body["group"], "g");
        assert_eq!(body["reason"], "InsufficientCapacity");
    }

    #[test]
    fn receivers_are_http_and_shown_by_host_only() {
        let r = Receiver::parse("https://hooks.slack.com/services/T0/B0/SECRET").unwrap();
        assert_eq!(format!("{r:?}"), "hooks.slack.com");
        let err = Receiver::parse("file:///etc/passwd").unwrap_err();
        assert!(!err.contains("passwd"));
        let err = Receiver::parse("not a url SECRET").unwrap_err();
        assert!(!err.contains("SECRET"));
    }
}
