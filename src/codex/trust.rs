//! Hook trust re-keyed for a follower (CODEX-FACTS.md "Hooks", DESIGN.md "Rendering on the
//! follower").
//!
//! The master publishes config.toml and hooks.json in portable form, so a trust entry such as
//! `[hooks.state."${codexHome}/hooks.json:session_start:0:0"]` already expands to the follower's
//! key. Its `trusted_hash` covers the handler's command as written, though, and a command that
//! names a master path (`/home/alice/.codex/hooks/x.sh`) is a different command on the follower
//! (`/home/bob/.codex/hooks/x.sh`). [`rekey_trust`] recomputes the hash for the follower, but
//! only for an entry whose hash matched the master's own handler: a hook the master did not trust
//! stays untrusted. Hashes are [`trust_hash`] (as in codex-rs/hooks; vectors in the tests).

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use toml_edit::{DocumentMut, Formatted, Item, Key, TableLike, Value};

use super::hooks::{event_snake_case, trust_hash};
use super::layout::{CONFIG_TOML, HOOKS_JSON};
use super::portable::{ExpandError, expand_json, expand_str};

#[path = "trust_rename.rs"]
mod rename;
pub use rename::rename_sources;

/// Source part of a portable trust key for the master's `hooks.json`.
pub const HOOKS_JSON_SOURCE: &str = "${codexHome}/hooks.json";
/// Source part of a portable trust key for the inline `[hooks]` tables of `config.toml`.
pub const CONFIG_TOML_SOURCE: &str = "${codexHome}/config.toml";

/// What [`rekey_trust`] did, by portable trust key (`${codexHome}/hooks.json:stop:0:0`), each
/// list in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrustRekey {
    /// Trusted on the master and now trusted for the follower's handler (hash recomputed; the
    /// same hash when the handler names no master path).
    pub rekeyed: Vec<String>,
    /// Entries for the master's hooks.json or config.toml that the master did not trust; they
    /// do not trust the follower's hook either.
    pub untrusted: Vec<Untrusted>,
    /// Entries for other hook sources (a project's `.codex/hooks.json`), left as they are.
    pub carried: Vec<String>,
}

/// A trust entry that stays untrusted on the follower.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Untrusted {
    /// The portable trust key.
    pub key: String,
    /// Why it is not trusted.
    pub reason: UntrustedReason,
}

/// Why a trust entry stays untrusted. The entry is left as it is, except that a carried hash
/// that would happen to match the follower's handler is removed, so that it never trusts a
/// hook the master did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UntrustedReason {
    /// The entry has no `trusted_hash` string (e.g. only `enabled = false`).
    NoHash,
    /// No handler at that event, group and index (or a malformed key).
    NoHandler,
    /// The hash does not match the master's handler (changed since it was trusted).
    Stale,
    /// The handler uses a variable the master's paths do not define, so what the master hashed
    /// cannot be rebuilt.
    Unverifiable,
}

/// Why re-keying failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// A string of a hook has a variable the follower has no value for. `source.key` is the
    /// path of the string in `file` (e.g. `hooks.SessionStart[0].hooks[1].command`), as the
    /// follower's own expansion of that file would report it.
    #[error("{file}: {source} (the hook of `hooks.state.\"{key}\"`)")]
    Expand {
        /// The portable trust key.
        key: String,
        /// `hooks.json` or `config.toml`.
        file: &'static str,
        /// The variable and where.
        source: ExpandError,
    },
}

/// One handler of a portable hook source.
struct Found<'a> {
    /// Event as written (PascalCase).
    event: &'a str,
    matcher: Option<&'a str>,
    handler: Map<String, Json>,
    /// `hooks.<Event>[g]`.
    group_path: String,
    /// `hooks.<Event>[g].hooks[h]`.
    handler_path: String,
}

/// What to do with an entry's `trusted_hash`.
enum Update {
    Set(String),
    Remove,
}

/// `name -> "${name}"` for `home`, `codexHome` and `names`: expanding a portable string with
/// these gives the portable string back, so a hash over the result is the same on every
/// machine (the form in which the master publishes its trust, see [`portable_trust`]).
pub fn identity_variables<'a>(names: impl IntoIterator<Item = &'a String>) -> BTreeMap<String, String> {
    ["home", "codexHome"]
        .into_iter()
        .map(str::to_owned)
        .chain(names.into_iter().cloned())
        .map(|n| {
            let value = format!("${{{n}}}");
            (n, value)
        })
        .collect()
}

/// On the master, before publishing: every `hooks.state` entry the master trusts (its hash
/// matches the hook expanded with `master_vars`, the master's own paths) gets the hash of the
/// *portable* hook instead ([`identity_variables`] over `names`, the variables the documents
/// use). The published trust then no longer depends on where the master's home is, so the same
/// tree gives the same revision on any machine, and a follower checks it with
/// [`rekey_trust`]`(config, hooks, &identity_variables(names), follower_vars)`.
pub fn portable_trust<'a>(
    config: &mut DocumentMut,
    hooks_json: Option<&Json>,
    master_vars: &BTreeMap<String, String>,
    names: impl IntoIterator<Item = &'a String>,
) -> Result<TrustRekey, TrustError> {
    rekey_trust(config, hooks_json, master_vars, &identity_variables(names))
}

/// Re-key the `hooks.state` entries of the portable `config` for a follower, in place.
///
/// `hooks_json` is the portable hooks.json (`None` when the master has none). `master_vars`
/// and `follower_vars` map `home` and `codexHome` to each side's paths. For every entry whose
/// key is [`HOOKS_JSON_SOURCE`] or [`CONFIG_TOML_SOURCE`] `:<event_snake>:<group>:<handler>`,
/// the handler is looked up (hooks.json, or the inline `[[hooks.<Event>]]` of `config`) and
/// expanded with `master_vars`; when the entry's `trusted_hash` is its [`trust_hash`], it is
/// replaced by the hash of the handler expanded with `follower_vars` (exactly what the
/// follower's rendered file holds). Otherwise the entry is reported in
/// [`TrustRekey::untrusted`]. Keys are not expanded here; other keys of an entry (`enabled`),
/// comments and layout are kept.
///
/// Errors: [`TrustError::Expand`] when a hook of such an entry uses a variable missing from
/// `follower_vars` (or an unterminated `${`).
pub fn rekey_trust(
    config: &mut DocumentMut,
    hooks_json: Option<&Json>,
    master_vars: &BTreeMap<String, String>,
    follower_vars: &BTreeMap<String, String>,
) -> Result<TrustRekey, TrustError> {
    let mut report = TrustRekey::default();
    let mut updates = Vec::new();
    let Some(state) = config
        .get("hooks")
        .and_then(|h| h.get("state"))
        .and_then(Item::as_table_like)
    else {
        return Ok(report);
    };
    for (key, entry) in state.iter() {
        match judge(config, hooks_json, key, entry, master_vars, follower_vars)? {
            Verdict::Carried => report.carried.push(key.to_owned()),
            Verdict::Trusted(new) => {
                report.rekeyed.push(key.to_owned());
                if let Some(hash) = new {
                    updates.push((key.to_owned(), Update::Set(hash)));
                }
            }
            Verdict::Untrusted(reason, disarm) => {
                report.untrusted.push(Untrusted {
                    key: key.to_owned(),
                    reason,
                });
                if disarm {
                    updates.push((key.to_owned(), Update::Remove));
                }
            }
        }
    }
    apply(config, updates);
    Ok(report)
}

/// The verdict on one `hooks.state` entry.
enum Verdict {
    /// Another hook source: left as it is.
    Carried,
    /// Trusted by the master; the follower's hash when it differs.
    Trusted(Option<String>),
    /// Not trusted by the master; `true` when its hash would trust the follower's handler.
    Untrusted(UntrustedReason, bool),
}

fn judge(
    config: &DocumentMut,
    hooks_json: Option<&Json>,
    key: &str,
    entry: &Item,
    master_vars: &BTreeMap<String, String>,
    follower_vars: &BTreeMap<String, String>,
) -> Result<Verdict, TrustError> {
    let Some((file, at)) = target(key) else {
        return Ok(Verdict::Carried);
    };
    let Some(current) = entry
        .as_table_like()
        .and_then(|t| t.get("trusted_hash"))
        .and_then(Item::as_str)
    else {
        return Ok(Verdict::Untrusted(UntrustedReason::NoHash, false));
    };
    let found = at.and_then(|(snake, g, h)| match file {
        HOOKS_JSON => hooks_json.and_then(|j| in_json(j, snake, g, h)),
        _ => in_toml(config, snake, g, h),
    });
    let Some(found) = found else {
        return Ok(Verdict::Untrusted(UntrustedReason::NoHandler, false));
    };
    let follower = hash_for(&found, follower_vars).map_err(|source| TrustError::Expand {
        key: key.to_owned(),
        file,
        source,
    })?;
    let reason = match hash_for(&found, master_vars) {
        Ok(master) if master == current => {
            return Ok(Verdict::Trusted((follower != current).then_some(follower)));
        }
        Ok(_) => UntrustedReason::Stale,
        Err(_) => UntrustedReason::Unverifiable,
    };
    Ok(Verdict::Untrusted(reason, follower == current))
}

/// Writes the new hashes, keeping each value's decor (comments, spacing).
fn apply(config: &mut DocumentMut, updates: Vec<(String, Update)>) {
    let Some(state) = config
        .get_mut("hooks")
        .and_then(|h| h.get_mut("state"))
        .and_then(Item::as_table_like_mut)
    else {
        return;
    };
    for (key, update) in updates {
        let Some(entry) = state.get_mut(&key).and_then(Item::as_table_like_mut) else {
            continue;
        };
        match update {
            Update::Set(hash) => {
                if let Some(Value::String(old)) = entry.get_mut("trusted_hash").and_then(Item::as_value_mut) {
                    let mut new = Formatted::new(hash);
                    *new.decor_mut() = old.decor().clone();
                    *old = new;
                }
            }
            Update::Remove => {
                entry.remove("trusted_hash");
            }
        }
    }
}

/// Where a trust key points in its source: `(event_snake, group, handler)`.
type At<'k> = (&'k str, usize, usize);

/// For a key of the master's hooks.json or config.toml: the file, and `(event_snake, group,
/// handler)` when the rest of the key is well formed. `None` for any other source.
fn target(key: &str) -> Option<(&'static str, Option<At<'_>>)> {
    let (file, rest) = [(HOOKS_JSON_SOURCE, HOOKS_JSON), (CONFIG_TOML_SOURCE, CONFIG_TOML)]
        .into_iter()
        .find_map(|(source, file)| Some((file, key.strip_prefix(source)?.strip_prefix(':')?)))?;
    let parts: Vec<&str> = rest.split(':').collect();
    let at = match parts[..] {
        [event, g, h] => index(g).zip(index(h)).map(|(g, h)| (event, g, h)),
        _ => None,
    };
    Some((file, at))
}

/// A decimal index exactly as Codex writes it (no sign, no leading zero).
fn index(s: &str) -> Option<usize> {
    s.parse().ok().filter(|i: &usize| i.to_string() == s)
}

fn paths(event: &str, g: usize, h: usize) -> (String, String) {
    let group = format!("hooks.{}[{g}]", Key::new(event).display_repr());
    let handler = format!("{group}.hooks[{h}]");
    (group, handler)
}

/// The handler at `(snake, g, h)` of a hooks.json document.
fn in_json<'a>(hooks: &'a Json, snake: &str, g: usize, h: usize) -> Option<Found<'a>> {
    let (event, groups) = hooks
        .get("hooks")?
        .as_object()?
        .iter()
        .find(|(e, _)| event_snake_case(e) == snake)?;
    let group = groups.as_array()?.get(g)?;
    let handler = group.get("hooks")?.as_array()?.get(h)?.as_object()?.clone();
    let (group_path, handler_path) = paths(event, g, h);
    Some(Found {
        event,
        matcher: group.get("matcher").and_then(Json::as_str),
        handler,
        group_path,
        handler_path,
    })
}

/// The handler at `(snake, g, h)` of the inline `[[hooks.<Event>]]` tables of config.toml
/// (arrays of tables or arrays of inline tables).
fn in_toml<'a>(config: &'a DocumentMut, snake: &str, g: usize, h: usize) -> Option<Found<'a>> {
    let (event, groups) = config
        .get("hooks")?
        .as_table_like()?
        .iter()
        .find(|(e, _)| *e != "state" && event_snake_case(e) == snake)?;
    let group = nth_table(groups, g)?;
    let handler = json_of_table(nth_table(group.get("hooks")?, h)?);
    let (group_path, handler_path) = paths(event, g, h);
    Some(Found {
        event,
        matcher: group.get("matcher").and_then(Item::as_str),
        handler,
        group_path,
        handler_path,
    })
}

fn nth_table(item: &Item, i: usize) -> Option<&dyn TableLike> {
    match item {
        Item::ArrayOfTables(a) => a.get(i).map(|t| t as &dyn TableLike),
        Item::Value(Value::Array(a)) => a.get(i)?.as_inline_table().map(|t| t as &dyn TableLike),
        _ => None,
    }
}

fn json_of_table(t: &dyn TableLike) -> Map<String, Json> {
    t.iter()
        .filter_map(|(k, item)| Some((k.to_owned(), json_of_item(item)?)))
        .collect()
}

fn json_of_item(item: &Item) -> Option<Json> {
    match item {
        Item::Value(v) => Some(json_of_value(v)),
        Item::Table(t) => Some(Json::Object(json_of_table(t))),
        Item::ArrayOfTables(a) => Some(a.iter().map(|t| Json::Object(json_of_table(t))).collect()),
        Item::None => None,
    }
}

/// A TOML value as Codex deserialises it into the same handler shape as hooks.json.
fn json_of_value(v: &Value) -> Json {
    match v {
        Value::String(s) => Json::from(s.value().as_str()),
        Value::Integer(i) => Json::from(*i.value()),
        Value::Float(f) => serde_json::Number::from_f64(*f.value()).map_or(Json::Null, Json::Number),
        Value::Boolean(b) => Json::from(*b.value()),
        Value::Datetime(d) => Json::from(d.value().to_string()),
        Value::Array(a) => a.iter().map(json_of_value).collect(),
        Value::InlineTable(t) => Json::Object(t.iter().map(|(k, v)| (k.to_owned(), json_of_value(v))).collect()),
    }
}

/// The trust hash of `found` with its strings expanded by `vars`, as a rendered file holds it.
fn hash_for(found: &Found<'_>, vars: &BTreeMap<String, String>) -> Result<String, ExpandError> {
    let matcher = found
        .matcher
        .map(|m| expand_str(m, vars).map_err(|e| relocate(e, &format!("{}.matcher", found.group_path))))
        .transpose()?;
    let mut handler = found.handler.clone();
    for (k, v) in handler.iter_mut() {
        let at = format!("{}.{}", found.handler_path, Key::new(k.as_str()).display_repr());
        expand_json(v, vars).map_err(|e| relocate(e, &at))?;
    }
    Ok(trust_hash(found.event, matcher.as_deref(), &handler))
}

/// Prefix the key path of `e` (relative to a value) with the value's own path.
fn relocate(mut e: ExpandError, prefix: &str) -> ExpandError {
    match &mut e {
        ExpandError::UnknownVariable { key, .. }
        | ExpandError::Unterminated { key }
        | ExpandError::DuplicateKey { key } => {
            *key = match key.as_str() {
                "" => prefix.to_owned(),
                k if k.starts_with('[') => format!("{prefix}{k}"),
                k => format!("{prefix}.{k}"),
            };
        }
    }
    e
}

#[cfg(test)]
#[path = "trust_tests.rs"]
mod tests;
