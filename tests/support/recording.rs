//! What the controller asked of the endpoint, read back from moto's request recorder: the
//! operations in order, their bodies, and the writes among them (one definition of a write:
//! `client::Operation::is_write`).

use super::{proxy, Moto};

impl Moto {
    /// The ECS operations recorded since the last reset, in order (e.g. `CreateService`).
    pub fn calls(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|entry| {
                let headers = entry.get("headers")?;
                let target = headers
                    .get("X-Amz-Target")
                    .or_else(|| headers.get("x-amz-target"))?
                    .as_str()?;
                Some(target.rsplit('.').next()?.to_owned())
            })
            .collect()
    }

    /// The JSON bodies of the recorded calls of `operation` (e.g. `ListTasks`), in order.
    pub fn requests(&self, operation: &str) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|entry| {
                let headers = &entry["headers"];
                let target = headers["X-Amz-Target"]
                    .as_str()
                    .or_else(|| headers["x-amz-target"].as_str());
                target.is_some_and(|t| t.rsplit('.').next() == Some(operation))
            })
            .filter_map(|entry| serde_json::from_slice(&body_of(&entry)?).ok())
            .collect()
    }

    /// The decoded bodies of the recorded query-protocol calls (STS, IAM) of `action`.
    pub fn query_requests(&self, action: &str) -> Vec<String> {
        let text = std::fs::read_to_string(&self.recording).unwrap_or_default();
        let wanted = format!("Action={action}");
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|entry| {
                let body = String::from_utf8(body_of(&entry)?).ok()?;
                body.split('&').any(|p| p == wanted).then_some(body)
            })
            .collect()
    }

    /// The recorded calls that change state, by the one definition of a write
    /// ([`client::Operation::is_write`]).
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| proxy::is_write(c, None))
            .collect()
    }

    /// The recorded ECS calls that change something, by operation.
    pub fn ecs_writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| proxy::is_write(c, Some("ecs")))
            .collect()
    }

    /// Forgets the recorded calls.
    pub fn reset_calls(&self) {
        std::fs::write(&self.recording, "").expect("reset recording");
    }
}

/// A recorded request's body, decoded when the recorder kept it as base64.
fn body_of(entry: &serde_json::Value) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let body = entry["body"].as_str()?;
    if entry["body_encoded"] == true {
        base64::engine::general_purpose::STANDARD.decode(body).ok()
    } else {
        Some(body.as_bytes().to_vec())
    }
}
