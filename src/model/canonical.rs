//! Canonical JSON: compact, object keys sorted at every level.
//!
//! Used for the revision (sha256 over the canonical form of `spec`, DESIGN.md) and for Codex
//! hook trust hashes (CODEX-FACTS.md "Trust": compact JSON, keys sorted at every level).

use serde::Serialize;
use sha2::{Digest, Sha256};

/// Serialize `value` to canonical JSON bytes (compact, keys sorted recursively).
///
/// Errors only when `value` cannot be represented as JSON (e.g. a map with non-string keys).
pub fn to_canonical_json<T: Serialize>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(&to_canonical_value(value)?)
}

/// `value` as a JSON tree whose object keys are in sorted order at every level (serializing it
/// compactly gives [`to_canonical_json`]).
pub(crate) fn to_canonical_value<T: Serialize>(value: &T) -> Result<serde_json::Value, serde_json::Error> {
    Ok(sorted(serde_json::to_value(value)?))
}

/// `"sha256:" + hex(sha256(canonical JSON of value))`.
pub fn canonical_sha256<T: Serialize>(value: &T) -> Result<String, serde_json::Error> {
    Ok(format!(
        "sha256:{}",
        hex::encode(Sha256::digest(to_canonical_json(value)?))
    ))
}

fn sorted(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sorted_at_every_level_and_compact() {
        let v = serde_json::json!({"b": 1, "a": {"d": [ {"z": 1, "y": 2} ], "c": "x"}});
        let out = String::from_utf8(to_canonical_json(&v).unwrap()).unwrap();
        assert_eq!(out, r#"{"a":{"c":"x","d":[{"y":2,"z":1}]},"b":1}"#);
    }

    #[test]
    fn matches_a_real_codex_trust_hash_vector() {
        // corpus/other/trust_hash_vectors.json, first vector (hooks.json:session_start:0:0).
        let identity = serde_json::json!({
            "hooks": [{"type": "command", "timeout": 10, "async": false,
                        "command": "bash '/home/nullsense/.codex/herdr-agent-state.sh' session"}],
            "event_name": "session_start"
        });
        assert_eq!(
            canonical_sha256(&identity).unwrap(),
            "sha256:081cd176018f05c112b621bc48bbded0424b4c01dc5503631771c110e6d13c8e"
        );
    }
}
