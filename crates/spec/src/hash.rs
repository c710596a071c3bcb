//! The spec-hash: a stable fingerprint of the canonical rendered task definition document.
//!
//! Canonical means object keys sorted at every depth and compact JSON, written here rather than
//! left to `serde_json::Map`, whose order depends on a cargo feature any dependency may switch on.

use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Hex SHA-256 of the canonical JSON of `document`, shortened to 32 hex characters (128 bits).
pub fn spec_hash<T: Serialize>(document: &T) -> String {
    let value = serde_json::to_value(document).unwrap_or(Value::Null);
    let mut canonical = String::new();
    write_canonical(&value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().take(16).fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, value)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(value, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_does_not_matter() {
        let a = json!({"b": 1, "a": {"y": [1, 2], "x": "s"}});
        let b = json!({"a": {"x": "s", "y": [1, 2]}, "b": 1});
        assert_eq!(spec_hash(&a), spec_hash(&b));
    }

    #[test]
    fn array_order_and_values_do_matter() {
        let a = json!({"a": [1, 2]});
        assert_ne!(spec_hash(&a), spec_hash(&json!({"a": [2, 1]})));
        assert_ne!(spec_hash(&a), spec_hash(&json!({"a": [1, 3]})));
    }

    #[test]
    fn hash_is_a_fixed_value_on_every_machine() {
        // Pinned (sha256 of `{"family":"x"}`, first 16 bytes): a change here means every
        // deployed service would see a spurious diff.
        assert_eq!(
            spec_hash(&json!({"family": "x"})),
            "ab57e42cd24934bbe57e6210b51fcd37"
        );
    }
}
