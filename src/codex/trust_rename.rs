//! Trust keys renamed to the name Codex gives the follower's CODEX_HOME (docs/codex-facts.md
//! "Trust keys and symlinked CODEX_HOME").

use std::collections::HashSet;
use std::path::Path;

use toml_edit::{DocumentMut, Item, Key};

use crate::codex::layout::{CONFIG_TOML, HOOKS_JSON};

/// Renames the `hooks.state` keys of the user's hook sources from the follower's CODEX_HOME
/// as given (`given`, the `${codexHome}` of the rendered documents) to the name Codex uses for
/// it (`named`, [`super::hooks::codex_home_in_keys`]): `<given>/hooks.json:<rest>` ->
/// `<named>/hooks.json:<rest>`, and the same for `config.toml`. Keys are matched as Codex
/// forms them (`Path::join` then `display`). Other keys, entry contents, order and decor are
/// kept; a renamed entry replaces an entry already under its new name (the rendered,
/// re-keyed trust wins). Returns the number of keys renamed (0 when `given == named`).
pub fn rename_sources(config: &mut DocumentMut, given: &Path, named: &Path) -> usize {
    if given == named {
        return 0;
    }
    let renames: Vec<(String, String)> = [HOOKS_JSON, CONFIG_TOML]
        .iter()
        .map(|f| {
            (
                format!("{}:", given.join(f).display()),
                format!("{}:", named.join(f).display()),
            )
        })
        .collect();
    let Some(state) = config
        .get_mut("hooks")
        .and_then(|h| h.get_mut("state"))
        .and_then(Item::as_table_like_mut)
    else {
        return 0;
    };
    let new_name = |key: &str| {
        renames
            .iter()
            .find_map(|(from, to)| Some(format!("{to}{}", key.strip_prefix(from.as_str())?)))
    };
    let keys: Vec<Key> = state.iter().filter_map(|(k, _)| state.key(k).cloned()).collect();
    if !keys.iter().any(|k| new_name(k.get()).is_some()) {
        return 0;
    }
    // toml_edit cannot rename a key in place: remove every entry, re-insert them in order.
    let mut entries = Vec::with_capacity(keys.len());
    let mut new_names = HashSet::new();
    for key in keys {
        let Some(item) = state.remove(key.get()) else { continue };
        match new_name(key.get()) {
            Some(name) => {
                new_names.insert(name.clone());
                let key = Key::new(name)
                    .with_leaf_decor(key.leaf_decor().clone())
                    .with_dotted_decor(key.dotted_decor().clone());
                entries.push((key, item, true));
            }
            None => entries.push((key, item, false)),
        }
    }
    let renamed = new_names.len();
    for (key, item, is_renamed) in entries {
        // An entry already under a new name gives way to the renamed one.
        if is_renamed || !new_names.contains(key.get()) {
            state.entry_format(&key).or_insert(item);
        }
    }
    renamed
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"model = "x"

# trusted by the master
[hooks.state."/h/.codex/hooks.json:session_start:0:0"]
trusted_hash = "sha256:a"

[hooks.state."/repo/.codex/hooks.json:stop:0:0"]
trusted_hash = "sha256:p"

[hooks.state."/h/.codex/config.toml:pre_tool_use:0:0"] # inline
trusted_hash = "sha256:b"
enabled = false

[hooks.state."/h/.codex/hooks.json.bak:stop:0:0"]
trusted_hash = "sha256:c"
"#;

    #[test]
    fn both_sources_are_renamed_in_place_and_nothing_else() {
        let mut doc: DocumentMut = CONFIG.parse().unwrap();
        let n = rename_sources(&mut doc, Path::new("/h/.codex"), Path::new("/h/dotfiles/codex"));
        assert_eq!(n, 2);
        let want = CONFIG
            .replace("\"/h/.codex/hooks.json:", "\"/h/dotfiles/codex/hooks.json:")
            .replace("\"/h/.codex/config.toml:", "\"/h/dotfiles/codex/config.toml:");
        assert_eq!(doc.to_string(), want, "order, comments and other keys kept");
    }

    #[test]
    fn the_same_name_or_no_state_changes_nothing() {
        let mut doc: DocumentMut = CONFIG.parse().unwrap();
        assert_eq!(
            rename_sources(&mut doc, Path::new("/h/.codex"), Path::new("/h/.codex")),
            0
        );
        assert_eq!(rename_sources(&mut doc, Path::new("/other"), Path::new("/x")), 0);
        assert_eq!(doc.to_string(), CONFIG);
        let mut plain: DocumentMut = "model = \"x\"\n".parse().unwrap();
        assert_eq!(rename_sources(&mut plain, Path::new("/h/.codex"), Path::new("/x")), 0);
    }

    #[test]
    fn a_renamed_entry_replaces_one_already_under_its_new_name() {
        let text = "[hooks.state.\"/real/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:old\"\n\n\
                    [hooks.state.\"/link/hooks.json:stop:0:0\"]\ntrusted_hash = \"sha256:new\"\n";
        let mut doc: DocumentMut = text.parse().unwrap();
        assert_eq!(rename_sources(&mut doc, Path::new("/link"), Path::new("/real")), 1);
        let table: toml::Table = toml::from_str(&doc.to_string()).unwrap();
        let state = table["hooks"]["state"].as_table().unwrap();
        assert_eq!(state.len(), 1, "{doc}");
        assert_eq!(
            state["/real/hooks.json:stop:0:0"]["trusted_hash"].as_str(),
            Some("sha256:new")
        );
    }
}
