//! The document walker behind [`super::portable_toml`], [`super::expand_toml`] and friends: applies
//! a string rewrite to every string value and table key of a TOML or JSON document, in place.

use std::collections::HashSet;

use toml_edit::{DocumentMut, Formatted, InlineTable, Item, Key, Table, Value};

use super::ExpandError;
pub(super) type Rewrite<'a> = dyn FnMut(&str) -> Result<Option<String>, ExpandError> + 'a;

/// Applies a string rewrite to every string value and key of a document.
struct Walker<'a> {
    f: &'a mut Rewrite<'a>,
    count: usize,
    /// On two keys of one table rewritten to the same name, keep the later one as it was
    /// instead of failing (the master side: a Windows path has many spellings).
    keep_duplicates: bool,
}

fn child(path: &str, key: &str) -> String {
    let key = Key::new(key);
    if path.is_empty() {
        key.display_repr().into_owned()
    } else {
        format!("{path}.{}", key.display_repr())
    }
}

/// Tables whose keys can be renamed in place (remove all, re-insert in the same order).
trait Keyed {
    type V;
    fn keys(&self) -> Vec<Key>;
    fn take(&mut self, key: &str) -> Option<(Key, Self::V)>;
    fn put(&mut self, key: &Key, v: Self::V);
}

impl Keyed for Table {
    type V = Item;
    fn keys(&self) -> Vec<Key> {
        self.iter().filter_map(|(k, _)| self.key(k).cloned()).collect()
    }
    fn take(&mut self, key: &str) -> Option<(Key, Item)> {
        self.remove_entry(key)
    }
    fn put(&mut self, key: &Key, v: Item) {
        self.insert_formatted(key, v);
    }
}

impl Keyed for InlineTable {
    type V = Value;
    fn keys(&self) -> Vec<Key> {
        self.iter().filter_map(|(k, _)| self.key(k).cloned()).collect()
    }
    fn take(&mut self, key: &str) -> Option<(Key, Value)> {
        self.remove_entry(key)
    }
    fn put(&mut self, key: &Key, v: Value) {
        self.insert_formatted(key, v);
    }
}

impl Walker<'_> {
    fn apply(&mut self, s: &str, path: &str) -> Result<Option<String>, ExpandError> {
        let new = (self.f)(s).map_err(|e| e.at(path))?;
        self.count += usize::from(new.is_some());
        Ok(new)
    }

    /// New names for `keys` (None = unchanged), or None when no key changes. Fails on an
    /// expansion error or when two keys would end up equal; with `keep_duplicates`, a key whose
    /// new name is taken by an earlier key keeps its old name instead.
    fn new_names<'k>(
        &mut self,
        keys: impl Iterator<Item = &'k str> + Clone,
        path: &str,
    ) -> Result<Option<Vec<Option<String>>>, ExpandError> {
        let mut names = Vec::new();
        for k in keys.clone() {
            names.push(self.apply(k, &child(path, k))?);
        }
        if names.iter().all(Option::is_none) {
            return Ok(None);
        }
        let mut seen = HashSet::new();
        for (k, n) in keys.zip(names.iter_mut()) {
            let name = n.clone().unwrap_or_else(|| k.to_owned());
            if seen.contains(&name) && self.keep_duplicates && n.is_some() {
                *n = None;
                self.count -= 1;
            }
            let name = n.clone().unwrap_or_else(|| k.to_owned());
            if !seen.insert(name) {
                let key = child(path, n.as_deref().unwrap_or(k));
                return Err(ExpandError::DuplicateKey { key });
            }
        }
        Ok(Some(names))
    }

    /// Renames the keys of `m` that the rewrite changes. toml_edit cannot rename a key in
    /// place, so all entries are removed and re-inserted in order; a renamed key gets a fresh
    /// repr and the old key's leaf and dotted decor.
    fn rename<M: Keyed>(&mut self, m: &mut M, path: &str) -> Result<(), ExpandError> {
        let keys = m.keys();
        let Some(names) = self.new_names(keys.iter().map(Key::get), path)? else {
            return Ok(());
        };
        let mut entries = Vec::with_capacity(keys.len());
        for (k, n) in keys.iter().zip(names) {
            if let Some((key, v)) = m.take(k.get()) {
                let key = match n {
                    Some(n) => Key::new(n)
                        .with_leaf_decor(key.leaf_decor().clone())
                        .with_dotted_decor(key.dotted_decor().clone()),
                    None => key,
                };
                entries.push((key, v));
            }
        }
        for (key, v) in entries {
            m.put(&key, v);
        }
        Ok(())
    }

    fn table(&mut self, t: &mut Table, path: &str) -> Result<(), ExpandError> {
        for (k, item) in t.iter_mut() {
            self.item(item, &child(path, k.get()))?;
        }
        self.rename(t, path)
    }

    fn item(&mut self, item: &mut Item, path: &str) -> Result<(), ExpandError> {
        match item {
            Item::Value(v) => self.value(v, path),
            Item::Table(t) => self.table(t, path),
            Item::ArrayOfTables(a) => {
                for (i, t) in a.iter_mut().enumerate() {
                    self.table(t, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            Item::None => Ok(()),
        }
    }

    fn value(&mut self, v: &mut Value, path: &str) -> Result<(), ExpandError> {
        match v {
            Value::String(s) => {
                if let Some(new) = self.apply(s.value(), path)? {
                    // A fresh repr: toml_edit picks a valid encoding for the new content.
                    let mut f = Formatted::new(new);
                    *f.decor_mut() = s.decor().clone();
                    *s = f;
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter_mut().enumerate() {
                    self.value(v, &format!("{path}[{i}]"))?;
                }
            }
            Value::InlineTable(t) => {
                for (k, v) in t.iter_mut() {
                    self.value(v, &child(path, k.get()))?;
                }
                self.rename(t, path)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn json(&mut self, v: &mut serde_json::Value, path: &str) -> Result<(), ExpandError> {
        use serde_json::Value as J;
        match v {
            J::String(s) => {
                if let Some(new) = self.apply(s, path)? {
                    *s = new;
                }
            }
            J::Array(a) => {
                for (i, v) in a.iter_mut().enumerate() {
                    self.json(v, &format!("{path}[{i}]"))?;
                }
            }
            J::Object(m) => {
                for (k, v) in m.iter_mut() {
                    self.json(v, &child(path, k))?;
                }
                if let Some(names) = self.new_names(m.keys().map(String::as_str), path)? {
                    let old = std::mem::take(m);
                    for ((k, v), n) in old.into_iter().zip(names) {
                        m.insert(n.unwrap_or(k), v);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Rewrites every string value and key of `doc` with `f`; returns how many changed.
pub(super) fn walk_toml(doc: &mut DocumentMut, f: &mut Rewrite<'_>) -> Result<usize, ExpandError> {
    walk_toml_with(doc, f, false)
}

/// [`walk_toml`], with `keep_duplicates` as in [`Walker`].
pub(super) fn walk_toml_with(
    doc: &mut DocumentMut,
    f: &mut Rewrite<'_>,
    keep_duplicates: bool,
) -> Result<usize, ExpandError> {
    let mut w = Walker {
        f,
        count: 0,
        keep_duplicates,
    };
    w.table(doc.as_table_mut(), "")?;
    Ok(w.count)
}

/// Rewrites every string value and key of a JSON document with `f`; returns how many changed.
pub(super) fn walk_json(v: &mut serde_json::Value, f: &mut Rewrite<'_>) -> Result<usize, ExpandError> {
    walk_json_with(v, f, false)
}

/// [`walk_json`], with `keep_duplicates` as in [`Walker`].
pub(super) fn walk_json_with(
    v: &mut serde_json::Value,
    f: &mut Rewrite<'_>,
    keep_duplicates: bool,
) -> Result<usize, ExpandError> {
    let mut w = Walker {
        f,
        count: 0,
        keep_duplicates,
    };
    w.json(v, "")?;
    Ok(w.count)
}
