//! What changes inside a task definition: the desired document against the revision the
//! service runs now, field by field, as a reviewer reads it (`containerDefinitions[delegate].image:
//! harness/delegate:1 -> harness/delegate:2`). Lists of named things (containers, environment
//! variables, secrets, mount points by path) are matched by name, not position. Values of
//! environment variables whose name looks secret are never shown, and secrets are shown by the
//! ARN they come from, never a value.

use std::collections::BTreeMap;

use serde_json::Value;
use spec::document::TaskDefinitionDocument;

use crate::action::FieldChange;

/// Shown in place of a value that may be a secret.
pub const HIDDEN: &str = "(hidden)";
/// Shown for a field one side does not have.
pub const ABSENT: &str = "(none)";

/// Whether an environment variable's name suggests its value is a secret.
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    [
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "KEY",
        "CREDENTIAL",
        "PRIVATE",
    ]
    .iter()
    .any(|w| upper.contains(w))
}

/// The fields that differ between the live document and the desired one.
pub fn changes(
    live: &TaskDefinitionDocument,
    desired: &TaskDefinitionDocument,
) -> Vec<FieldChange> {
    let mut old = BTreeMap::new();
    let mut new = BTreeMap::new();
    flatten(
        "",
        &serde_json::to_value(live).unwrap_or_default(),
        &mut old,
    );
    flatten(
        "",
        &serde_json::to_value(desired).unwrap_or_default(),
        &mut new,
    );
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| old.get(*k) != new.get(*k))
        .filter(|k| !k.starts_with("tags"))
        .map(|k| {
            let secret = is_secret_path(k);
            let show = |v: Option<&String>| match v {
                None => ABSENT.to_owned(),
                Some(_) if secret => HIDDEN.to_owned(),
                Some(v) => v.clone(),
            };
            FieldChange::new(k, show(old.get(k)), show(new.get(k)))
        })
        .collect()
}

/// `...environment[NAME]` of a secret-looking NAME.
fn is_secret_path(path: &str) -> bool {
    path.rsplit_once(".environment[")
        .or_else(|| path.strip_prefix("environment[").map(|rest| ("", rest)))
        .is_some_and(|(_, rest)| looks_secret(rest.trim_end_matches(']')))
}

/// The key a list element is matched by: its `name`, `containerPath`, or `sourceVolume`.
fn element_key(value: &Value) -> Option<String> {
    ["name", "containerPath", "sourceVolume"]
        .iter()
        .find_map(|k| value.get(*k).and_then(Value::as_str))
        .map(str::to_owned)
}

fn flatten(path: &str, value: &Value, out: &mut BTreeMap<String, String>) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            for (k, v) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                flatten(&p, v, out);
            }
        }
        Value::Array(items) => {
            let keyed: Option<Vec<String>> = items.iter().map(element_key).collect();
            match keyed {
                // Environment variables: `environment[NAME]: value`.
                Some(keys) if path.ends_with("environment") => {
                    for (key, item) in keys.iter().zip(items) {
                        let v = item.get("value").map_or_else(String::new, scalar);
                        out.insert(format!("{path}[{key}]"), v);
                    }
                }
                // Secrets: `secrets[NAME]: arn` (where it comes from, never a value).
                Some(keys) if path.ends_with("secrets") => {
                    for (key, item) in keys.iter().zip(items) {
                        let v = item.get("valueFrom").map_or_else(String::new, scalar);
                        out.insert(format!("{path}[{key}]"), v);
                    }
                }
                Some(keys) => {
                    for (key, item) in keys.iter().zip(items) {
                        flatten(&format!("{path}[{key}]"), item, out);
                    }
                }
                None if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
                    out.insert(
                        path.to_owned(),
                        items.iter().map(scalar).collect::<Vec<_>>().join(", "),
                    );
                }
                None => {
                    for (i, item) in items.iter().enumerate() {
                        flatten(&format!("{path}[{i}]"), item, out);
                    }
                }
            }
        }
        other => {
            out.insert(path.to_owned(), scalar(other));
        }
    }
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(image: &str, env: &[(&str, &str)], cpu: &str) -> TaskDefinitionDocument {
        let env: Vec<Value> = env
            .iter()
            .map(|(n, v)| serde_json::json!({"name": n, "value": v}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "family": "g",
            "cpu": cpu,
            "memory": "2048",
            "executionRoleArn": "arn:aws:iam::123456789012:role/exec",
            "containerDefinitions": [{
                "name": "delegate",
                "image": image,
                "essential": true,
                "environment": env,
                "secrets": [{"name": "DELEGATE_TOKEN", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:t"}]
            }]
        }))
        .unwrap()
    }

    #[test]
    fn image_environment_and_cpu_changes_are_named_field_by_field() {
        let live = document(
            "harness/delegate:1",
            &[
                ("DELEGATE_NAME", "g"),
                ("OLD", "x"),
                ("PROXY_PASSWORD", "hunter2"),
            ],
            "1024",
        );
        let desired = document(
            "harness/delegate:2",
            &[
                ("DELEGATE_NAME", "g"),
                ("NEW", "y"),
                ("PROXY_PASSWORD", "swordfish"),
            ],
            "2048",
        );
        let lines: Vec<String> = changes(&live, &desired)
            .iter()
            .map(|c| format!("{}: {} -> {}", c.field, c.from, c.to))
            .collect();
        assert_eq!(
            lines,
            [
                "containerDefinitions[delegate].environment[NEW]: (none) -> y",
                "containerDefinitions[delegate].environment[OLD]: x -> (none)",
                "containerDefinitions[delegate].environment[PROXY_PASSWORD]: (hidden) -> (hidden)",
                "containerDefinitions[delegate].image: harness/delegate:1 -> harness/delegate:2",
                "cpu: 1024 -> 2048",
            ]
        );
        let text = lines.join("\n");
        assert!(!text.contains("hunter2") && !text.contains("swordfish"));
        assert!(changes(&live, &live).is_empty());
    }
}
