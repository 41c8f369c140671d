//! Key paths of config.toml and fingerprints of their values: the unit of ownership.
//!
//! A *leaf* is a key whose value is not a table: a string, number, boolean, datetime, array,
//! or array of tables (`[[skills.config]]` is one leaf). Tables, inline tables and dotted keys
//! are walked through, so `env = { A = "1" }` and `[mcp_servers.x.env] A = "1"` both give the
//! leaf `mcp_servers.x.env.A`. An empty table is a leaf of its own (so that an owned `[tui]`
//! with no keys can be removed again).
//!
//! Key paths are written in TOML dotted-key syntax with quoting where TOML needs it
//! (`projects."/home/bob/app".trust_level`), so they read back with [`decode`].
//! Fingerprints are the first 128 bits of sha256 over a canonical form of the value that
//! ignores formatting, comments and quoting style (`'a'` = `"a"`, `{a=1}` = `[t] a=1`), so
//! reformatting a value is not a change, and the inventory never holds a value itself.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use toml_edit::{Item, Key, Table, TableLike, Value};

/// Encode a key path (`["projects", "/x", "trust_level"]`) as `projects."/x".trust_level`.
pub fn encode<S: AsRef<str>>(path: &[S]) -> String {
    path.iter()
        .map(|k| Key::new(k.as_ref()).display_repr().into_owned())
        .collect::<Vec<_>>()
        .join(".")
}

/// Decode a dotted key path written by [`encode`]; `None` when it is not TOML key syntax.
pub fn decode(dotted: &str) -> Option<Vec<String>> {
    Key::parse(dotted)
        .ok()
        .map(|keys| keys.iter().map(|k| k.get().to_owned()).collect())
}

/// Every leaf under `table` with the fingerprint of its value, keyed by encoded path.
pub fn leaves(table: &dyn TableLike) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut path = Vec::new();
    walk(table, &mut path, &mut |p, item| {
        out.insert(encode(p), fingerprint(item));
    });
    out
}

/// Visit every leaf (see the module doc) under `table`, with its path.
pub fn walk(table: &dyn TableLike, path: &mut Vec<String>, visit: &mut dyn FnMut(&[String], &Item)) {
    for (key, item) in table.iter() {
        path.push(key.to_owned());
        match item.as_table_like() {
            Some(sub) if !sub.is_empty() => walk(sub, path, visit),
            _ => visit(path, item),
        }
        path.pop();
    }
}

/// The fingerprint of a value: 32 hex digits (128 bits of sha256 over its canonical form).
pub fn fingerprint(item: &Item) -> String {
    let mut canonical = String::new();
    canon_item(item, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    hex::encode(&digest[..16])
}

/// True when two items hold the same value (formatting and comments ignored).
pub fn same_value(a: &Item, b: &Item) -> bool {
    let (mut x, mut y) = (String::new(), String::new());
    canon_item(a, &mut x);
    canon_item(b, &mut y);
    x == y
}

fn canon_item(item: &Item, out: &mut String) {
    match item {
        Item::None => out.push_str("none"),
        Item::Value(v) => canon_value(v, out),
        Item::Table(t) => canon_table(t, out),
        Item::ArrayOfTables(a) => {
            out.push('[');
            for (i, t) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canon_table(t, out);
            }
            out.push(']');
        }
    }
}

fn canon_table(t: &dyn TableLike, out: &mut String) {
    let mut entries: Vec<(&str, &Item)> = t.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    out.push('{');
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::from(k).to_string());
        out.push(':');
        canon_item(v, out);
    }
    out.push('}');
}

fn canon_value(v: &Value, out: &mut String) {
    match v {
        Value::String(s) => out.push_str(&serde_json::Value::from(s.value().as_str()).to_string()),
        Value::Integer(i) => out.push_str(&i.value().to_string()),
        Value::Float(f) => out.push_str(&format!("f{:?}", f.value())),
        Value::Boolean(b) => out.push_str(&b.value().to_string()),
        Value::Datetime(d) => out.push_str(&format!("d{}", d.value())),
        Value::Array(a) => {
            out.push('[');
            for (i, v) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canon_value(v, out);
            }
            out.push(']');
        }
        Value::InlineTable(t) => canon_table(t, out),
    }
}

/// Forget the document positions of `item`'s tables (recursively), so that a table moved into
/// another document is printed after its preceding sibling instead of at its old position.
pub fn clear_positions(item: &mut Item) {
    match item {
        Item::Table(t) => clear_table_positions(t),
        Item::ArrayOfTables(a) => a.iter_mut().for_each(clear_table_positions),
        _ => {}
    }
}

fn clear_table_positions(t: &mut Table) {
    t.set_position(None);
    for (_, child) in t.iter_mut() {
        clear_positions(child);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(s: &str) -> toml_edit::DocumentMut {
        s.parse().unwrap()
    }

    #[test]
    fn paths_round_trip_with_quoting() {
        for path in [
            vec!["model"],
            vec!["projects", "/home/bob/app", "trust_level"],
            vec![
                "hooks",
                "state",
                "/h/.codex/hooks.json:session_start:0:0",
                "trusted_hash",
            ],
            vec!["plugins", "a@b", "enabled"],
            vec!["weird", "quote\"and'both", "x.y"],
        ] {
            let encoded = encode(&path);
            assert_eq!(decode(&encoded).unwrap(), path, "{encoded}");
        }
        assert_eq!(
            encode(&["projects", "/x", "trust_level"]),
            "projects.\"/x\".trust_level"
        );
        assert_eq!(decode("a.[b"), None);
    }

    #[test]
    fn leaves_see_through_tables_inline_tables_and_dotted_keys() {
        let a = doc("[mcp_servers.x]\ncommand = 'npx'\nenv = { A = \"1\" }\n[tui]\n");
        let b = doc("mcp_servers.x.command = \"npx\" # comment\n[mcp_servers.x.env]\nA = '1'\n[tui]\n");
        let la = leaves(a.as_table());
        assert_eq!(
            la.keys().collect::<Vec<_>>(),
            ["mcp_servers.x.command", "mcp_servers.x.env.A", "tui"]
        );
        assert_eq!(la, leaves(b.as_table()), "formatting and layout are not values");
    }

    #[test]
    fn fingerprints_tell_values_apart() {
        let d = doc("a = 1\nb = 1.0\nc = '1'\nd = [1]\ne = true\nf = 1979-05-27\n[[g]]\nx = 1\n");
        let l = leaves(d.as_table());
        let mut values: Vec<&String> = l.values().collect();
        values.sort();
        values.dedup();
        assert_eq!(values.len(), 7, "{l:?}");
        let x = doc("v = [1, 2]\n");
        let y = doc("v = [2, 1]\n");
        assert!(!same_value(&x["v"], &y["v"]));
        assert!(same_value(&doc("v = 'a' # c\n")["v"], &doc("v = \"a\"\n")["v"]));
    }
}
