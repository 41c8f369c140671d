//! config.toml (and hooks.json) portability: the master's `portable_toml`/`portable_json`, then
//! the follower's `expand_toml`/`expand_json`, on arbitrary text; and the follower's key-level
//! merge of config.toml (`reconcile::config_merge`): a first write is the desired text, merging
//! a file with itself changes nothing, and dropping every owned key leaves no key behind; and
//! the overlay's key-by-key patch (`overrides/config.toml`) of a document with itself.
//!
//! Properties, for two masters (CODEX_HOME inside and outside the home): never panics; the
//! portable text parses again (followers parse exactly that text); it expands with only
//! `home`/`codexHome` defined (a literal `${` was escaped); expanding with the master's own
//! paths gives back every string and key of the original, also after printing and parsing;
//! expanding with another follower's paths gives text that parses.

use std::collections::BTreeMap;

use codexport::codex::portable::{MasterPaths, expand_json, expand_toml, portable_json, portable_toml};
use toml_edit::{DocumentMut, Item, Table, Value};

const MAX_INPUT: usize = 64 * 1024;

fn masters() -> [MasterPaths; 2] {
    [
        MasterPaths {
            home: "/home/alice".into(),
            codex_home: "/home/alice/.codex".into(),
            variables: Default::default(),
        },
        MasterPaths {
            home: "/Users/a".into(),
            codex_home: "/srv/codex/".into(),
            variables: Default::default(),
        },
    ]
}

fn vars(home: &str, codex_home: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("home".into(), home.into()), ("codexHome".into(), codex_home.into())])
}

/// Every key and string value, in document order (what the rewrite may touch).
fn strings(doc: &DocumentMut) -> Vec<String> {
    fn table(t: &Table, out: &mut Vec<String>) {
        for (k, item) in t.iter() {
            out.push(k.to_string());
            match item {
                Item::Value(v) => value(v, out),
                Item::Table(t) => table(t, out),
                Item::ArrayOfTables(a) => a.iter().for_each(|t| table(t, out)),
                Item::None => {}
            }
        }
    }
    fn value(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) => out.push(s.value().clone()),
            Value::Array(a) => a.iter().for_each(|v| value(v, out)),
            Value::InlineTable(t) => {
                for (k, v) in t.iter() {
                    out.push(k.to_string());
                    value(v, out);
                }
            }
            _ => out.push(v.to_string().trim().to_string()),
        }
    }
    let mut out = Vec::new();
    table(doc.as_table(), &mut out);
    out
}

/// Run the round trips on `data` as config.toml and, when it is JSON, as hooks.json.
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.len() > MAX_INPUT {
        return;
    }
    if let Ok(original) = text.parse::<DocumentMut>() {
        toml_round_trip(text, &original);
        merge_properties(&original);
    }
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(text) {
        json_round_trip(&value);
    }
}

fn merge_properties(doc: &DocumentMut) {
    use codexport::codex::keys::leaves;
    use codexport::follower::local::OnDrift;
    use codexport::reconcile::config_merge::merge;
    let text = doc.to_string();
    let owned = leaves(doc.as_table());
    let first = merge(doc, None, &BTreeMap::new(), OnDrift::Overwrite);
    assert_eq!(first.doc.to_string(), text, "a first write is the desired document");
    assert_eq!(first.owned, owned);
    let again = merge(doc, Some(doc), &owned, OnDrift::Fail);
    assert_eq!(again.doc.to_string(), text, "merging a file with itself changes it");
    assert!(again.drift.is_empty() && again.removed.is_empty() && again.kept.is_empty());
    let dropped = merge(&DocumentMut::new(), Some(doc), &owned, OnDrift::Overwrite);
    let left = dropped.doc.to_string();
    let reparsed: DocumentMut = left
        .parse()
        .unwrap_or_else(|e| panic!("merged text does not parse: {e}\n{left}"));
    assert!(
        leaves(reparsed.as_table()).is_empty(),
        "every owned key dropped, yet keys are left:\n{left}"
    );
    // The overlay's `overrides/config.toml` patch: patching a document with itself keeps
    // every value, and the result prints as TOML that parses.
    let mut patched = doc.clone();
    codexport::reconcile::overlay_apply::merge_patch(patched.as_item_mut(), doc.as_item());
    let printed = patched.to_string();
    let reparsed: DocumentMut = printed
        .parse()
        .unwrap_or_else(|e| panic!("patched text does not parse: {e}\n{printed}"));
    assert_eq!(leaves(reparsed.as_table()), owned, "a self-patch changed a value");
}

fn toml_round_trip(text: &str, original: &DocumentMut) {
    let before = strings(original);
    let serde_ok = toml::from_str::<toml::Table>(text).is_ok();
    for master in masters() {
        let mut doc = original.clone();
        let n = portable_toml(&mut doc, &master);
        let portable = doc.to_string();
        if n == 0 {
            // toml_edit itself does not print every text back byte for byte (a CR before LF in
            // a comment, a missing final newline: tests/fuzz_findings.rs); the rewrite must not
            // change anything beyond that.
            assert_eq!(portable, original.to_string(), "nothing rewritten must print unchanged");
        }
        let reparsed: DocumentMut = portable
            .parse()
            .unwrap_or_else(|e| panic!("portable text does not parse: {e}\n{portable}"));
        if serde_ok {
            // The master reads [mcp_servers] from the portable text with the `toml` crate.
            toml::from_str::<toml::Table>(&portable).unwrap_or_else(|e| panic!("toml rejects portable: {e}"));
        }
        let mut expanded = reparsed.clone();
        // Roots never end in `/` (paths::Roots), so neither do the values a follower expands.
        let own = vars(
            master.home.trim_end_matches('/'),
            master.codex_home.trim_end_matches('/'),
        );
        expand_toml(&mut expanded, &own).unwrap_or_else(|e| panic!("portable text does not expand: {e}"));
        assert_eq!(strings(&expanded), before, "round trip changed a string or key");
        let printed = expanded.to_string();
        let again: DocumentMut = printed
            .parse()
            .unwrap_or_else(|e| panic!("expanded text does not parse: {e}"));
        assert_eq!(
            strings(&again),
            before,
            "round trip through text changed a string or key"
        );

        let mut other = reparsed;
        if expand_toml(&mut other, &vars("/Users/bob", "/Users/bob/Library/codex")).is_ok() {
            let printed = other.to_string();
            printed
                .parse::<DocumentMut>()
                .unwrap_or_else(|e| panic!("text expanded for another follower does not parse: {e}"));
        }
    }
}

fn json_round_trip(original: &serde_json::Value) {
    for master in masters() {
        let mut v = original.clone();
        portable_json(&mut v, &master);
        let text = serde_json::to_string_pretty(&v).expect("JSON prints");
        let mut back: serde_json::Value = serde_json::from_str(&text).expect("printed JSON parses");
        let own = vars(
            master.home.trim_end_matches('/'),
            master.codex_home.trim_end_matches('/'),
        );
        expand_json(&mut back, &own).unwrap_or_else(|e| panic!("portable JSON does not expand: {e}"));
        assert_eq!(&back, original, "JSON round trip changed the document");
    }
}
