//! Key-level ownership of `~/.codex/config.toml` (DESIGN.md "Key ownership in config.toml").
//!
//! Three writers share the file: the master (canonical keys), the follower's overlay, and the
//! follower's own Codex (`projects.*`, `hooks.state.*`, `notice.*`, ... written at run time).
//! codexport owns exactly the leaves it wrote (recorded in the inventory with a fingerprint of
//! the value written, see [`crate::codex::keys`]). The merge starts from the desired document
//! (so the master's comments and layout arrive) and grafts onto it every key of the disk
//! document that codexport does not own, with its comments; owned keys the new revision dropped
//! are left out. An owned key edited locally is *drift*, decided by `onDrift` per key.
//!
//! Pure: documents in, document and report out; the caller reads and writes files.

use std::collections::BTreeMap;

use toml_edit::{DocumentMut, Item, Key, Value};

use crate::codex::keys::{clear_positions, encode, fingerprint, leaves};
use crate::follower::local::OnDrift;

/// How an owned key drifted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyDriftKind {
    /// Its value on disk is neither what codexport wrote nor what the master wants now.
    EditedLocally,
    /// The master dropped it, but it was edited locally since codexport wrote it.
    DroppedButEdited,
}

/// One drifted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDrift {
    /// Encoded key path (`model`, `mcp_servers.x.args`).
    pub key: String,
    /// What happened to it.
    pub kind: KeyDriftKind,
}

/// The merged document and what the merge did, by encoded key path.
#[derive(Debug, Clone)]
pub struct ConfigMerge {
    /// The document to write.
    pub doc: DocumentMut,
    /// Keys codexport owns after writing `doc`, with the fingerprint to record (under
    /// `onDrift = keep`, a kept key keeps the fingerprint codexport wrote last, so it stays drift).
    pub owned: BTreeMap<String, String>,
    /// Owned keys whose value the merge sets (absent or changed on disk).
    pub set: Vec<String>,
    /// Owned keys the new revision dropped, removed from the file.
    pub removed: Vec<String>,
    /// Keys on disk codexport did not write (Codex's own, or local), carried over.
    pub kept: Vec<String>,
    /// Keys on disk codexport did not write but the master now sets: the master's value wins.
    pub overridden: Vec<String>,
    /// Owned keys edited locally.
    pub drift: Vec<KeyDrift>,
}

/// Merge `desired` (what codexport wants to own) onto `disk` (the file as it is now), given
/// `owned_before` (key -> fingerprint codexport last wrote) and the drift `policy`.
///
/// With no `disk`, the result is `desired` and codexport owns all its leaves.
pub fn merge(
    desired: &DocumentMut,
    disk: Option<&DocumentMut>,
    owned_before: &BTreeMap<String, String>,
    policy: OnDrift,
) -> ConfigMerge {
    let wanted = leaves(desired.as_table());
    let mut m = Merger {
        owned_before,
        policy,
        out: ConfigMerge {
            doc: desired.clone(),
            owned: wanted.clone(),
            set: Vec::new(),
            removed: Vec::new(),
            kept: Vec::new(),
            overridden: Vec::new(),
            drift: Vec::new(),
        },
    };
    let Some(disk) = disk else {
        m.out.set = wanted.keys().cloned().collect();
        return m.out;
    };
    let on_disk = leaves(disk.as_table());
    m.out.set = wanted.keys().filter(|k| !on_disk.contains_key(*k)).cloned().collect();
    let mut result = std::mem::take(&mut m.out.doc);
    m.graft(result.as_item_mut(), disk.as_item(), &mut Vec::new());
    m.out.doc = result;
    m.out.set.sort();
    m.out.set.dedup();
    m.out
}

struct Merger<'a> {
    owned_before: &'a BTreeMap<String, String>,
    policy: OnDrift,
    out: ConfigMerge,
}

impl Merger<'_> {
    /// Walk a disk table beside the result table at the same path.
    fn graft(&mut self, result: &mut Item, disk: &Item, path: &mut Vec<String>) {
        let Some(disk_table) = disk.as_table_like() else { return };
        for (name, disk_item) in disk_table.iter() {
            path.push(name.to_owned());
            let Some(res_table) = result.as_table_like_mut() else {
                path.pop();
                return;
            };
            match res_table.get_mut(name) {
                Some(res_item) if res_item.is_table_like() && disk_item.is_table_like() => {
                    self.graft(res_item, disk_item, path);
                }
                Some(res_item) => self.collide(res_item, disk_item, path),
                None => {
                    let mut copy = disk_item.clone();
                    if self.keep_foreign(&mut copy, path) {
                        clear_positions(&mut copy);
                        let key = disk_table.key(name).cloned().unwrap_or_else(|| Key::new(name));
                        insert(result, &key, copy);
                    }
                }
            }
            path.pop();
        }
    }

    /// The desired state sets this key and the disk has it too.
    fn collide(&mut self, res_item: &mut Item, disk_item: &Item, path: &[String]) {
        let key = encode(path);
        let (want, have) = (fingerprint(res_item), fingerprint(disk_item));
        if want == have {
            return;
        }
        if is_nonempty_table(res_item) || is_nonempty_table(disk_item) {
            // A table on one side and a value on the other: the master's shape wins.
            self.out.set.push(key.clone());
            if !self.owned_before.contains_key(&key) {
                self.out.overridden.push(key);
            }
            return;
        }
        match self.owned_before.get(&key) {
            None => {
                self.out.set.push(key.clone());
                self.out.overridden.push(key);
            }
            Some(last) if *last == have => self.out.set.push(key),
            Some(last) => {
                self.out.drift.push(KeyDrift {
                    key: key.clone(),
                    kind: KeyDriftKind::EditedLocally,
                });
                if self.policy == OnDrift::Keep {
                    *res_item = disk_item.clone();
                    self.out.owned.insert(key, last.clone());
                } else {
                    self.out.set.push(key);
                }
            }
        }
    }

    /// A disk item the desired state does not have at this path: prune the owned leaves the
    /// master dropped from it; true when something is left to keep.
    fn keep_foreign(&mut self, item: &mut Item, path: &mut Vec<String>) -> bool {
        if is_nonempty_table(item) {
            let Some(table) = item.as_table_like_mut() else {
                return false;
            };
            let names: Vec<String> = table.iter().map(|(k, _)| k.to_owned()).collect();
            for name in names {
                path.push(name.clone());
                let keep = match table.get_mut(&name) {
                    Some(child) => self.keep_foreign(child, path),
                    None => false,
                };
                if !keep {
                    table.remove(&name);
                }
                path.pop();
            }
            return !table.is_empty();
        }
        let key = encode(path);
        let Some(last) = self.owned_before.get(&key) else {
            self.out.kept.push(key);
            return true;
        };
        if *last == fingerprint(item) {
            self.out.removed.push(key);
            return false;
        }
        self.out.drift.push(KeyDrift {
            key: key.clone(),
            kind: KeyDriftKind::DroppedButEdited,
        });
        if self.policy == OnDrift::Keep {
            self.out.owned.insert(key, last.clone());
            true
        } else {
            self.out.removed.push(key);
            false
        }
    }
}

fn is_nonempty_table(item: &Item) -> bool {
    item.as_table_like().is_some_and(|t| !t.is_empty())
}

fn insert(parent: &mut Item, key: &Key, item: Item) {
    match parent {
        Item::Table(t) => {
            t.insert_formatted(key, item);
        }
        Item::Value(Value::InlineTable(t)) => {
            if let Ok(v) = item.into_value() {
                t.insert_formatted(key, v);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
#[path = "config_merge_tests.rs"]
mod tests;
