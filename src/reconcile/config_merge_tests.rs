use super::*;

fn doc(s: &str) -> DocumentMut {
    s.parse().unwrap()
}

const MASTER: &str = "# tuned on the master\nmodel = \"gpt-5\" # the default\n\n[mcp_servers.docs]\ncommand = \"npx\"\nargs = [\"-y\", \"docs\"]\n\n[tui]\nanimations = false\n";

/// What Codex appends on the follower at run time.
const CODEX_WRITES: &str = "\n# trusted by bob\n[projects.\"/home/bob/app\"]\ntrust_level = \"trusted\"\n\n[hooks.state.\"/home/bob/.codex/hooks.json:session_start:0:0\"]\ntrusted_hash = \"sha256:00\"\n";

fn owned(s: &str) -> BTreeMap<String, String> {
    leaves(doc(s).as_table())
}

#[test]
fn first_write_is_the_desired_document_and_owns_all_its_leaves() {
    let m = merge(&doc(MASTER), None, &BTreeMap::new(), OnDrift::Overwrite);
    assert_eq!(m.doc.to_string(), MASTER);
    assert_eq!(m.owned, owned(MASTER));
    assert_eq!(m.set.len(), 4);
}

#[test]
fn keys_codex_wrote_are_kept_with_their_comments_and_are_not_drift() {
    let disk = format!("{MASTER}{CODEX_WRITES}");
    let m = merge(&doc(MASTER), Some(&doc(&disk)), &owned(MASTER), OnDrift::Fail);
    assert_eq!(m.doc.to_string(), disk, "nothing to change");
    assert!(m.drift.is_empty() && m.set.is_empty() && m.removed.is_empty());
    assert_eq!(
        m.kept,
        [
            "projects.\"/home/bob/app\".trust_level",
            "hooks.state.\"/home/bob/.codex/hooks.json:session_start:0:0\".trusted_hash"
        ]
    );
    assert_eq!(
        m.owned,
        owned(MASTER),
        "codexport does not take ownership of Codex's keys"
    );
}

#[test]
fn a_key_the_master_drops_disappears_and_codex_keys_stay() {
    let disk = format!("{MASTER}{CODEX_WRITES}");
    let next = MASTER.replace("[tui]\nanimations = false\n", "");
    let m = merge(&doc(&next), Some(&doc(&disk)), &owned(MASTER), OnDrift::Overwrite);
    let text = m.doc.to_string();
    assert!(!text.contains("animations") && !text.contains("[tui]"), "{text}");
    assert!(text.contains("[projects.\"/home/bob/app\"]") && text.contains("# trusted by bob"));
    assert_eq!(m.removed, ["tui.animations"]);
    assert!(m.drift.is_empty());
}

#[test]
fn a_master_change_is_set_without_drift() {
    let next = MASTER.replace("gpt-5\"", "gpt-6\"");
    let m = merge(&doc(&next), Some(&doc(MASTER)), &owned(MASTER), OnDrift::Fail);
    assert_eq!(m.set, ["model"]);
    assert!(m.drift.is_empty());
    assert_eq!(m.doc.to_string(), next);
}

#[test]
fn a_local_edit_of_an_owned_key_is_drift_decided_per_key_by_the_policy() {
    let disk = MASTER.replace("gpt-5\"", "local\"");
    let next = MASTER.replace("animations = false", "animations = true");
    let run = |policy| merge(&doc(&next), Some(&doc(&disk)), &owned(MASTER), policy);
    let over = run(OnDrift::Overwrite);
    assert_eq!(
        over.drift,
        [KeyDrift {
            key: "model".into(),
            kind: KeyDriftKind::EditedLocally
        }]
    );
    assert_eq!(over.doc.to_string(), next);
    let keep = run(OnDrift::Keep);
    let text = keep.doc.to_string();
    assert!(
        text.contains("model = \"local\"") && text.contains("animations = true"),
        "{text}"
    );
    assert_eq!(
        keep.owned["model"],
        owned(MASTER)["model"],
        "a kept key keeps the fingerprint codexport wrote, so it stays drift"
    );
    assert_eq!(run(OnDrift::Fail).drift.len(), 1);
}

#[test]
fn the_master_wins_over_a_codex_written_key_only_where_it_sets_it() {
    let disk = format!("{MASTER}{CODEX_WRITES}");
    let next = format!("{MASTER}\n[projects.\"/home/bob/app\"]\ntrust_level = \"untrusted\"\n");
    let m = merge(&doc(&next), Some(&doc(&disk)), &owned(MASTER), OnDrift::Fail);
    assert_eq!(m.overridden, ["projects.\"/home/bob/app\".trust_level"]);
    assert!(m.drift.is_empty());
    let text = m.doc.to_string();
    assert!(text.contains("trust_level = \"untrusted\"") && text.contains("trusted_hash = \"sha256:00\""));
}

#[test]
fn a_dropped_key_edited_locally_is_drift() {
    let disk = MASTER.replace("animations = false", "animations = true");
    let next = MASTER.replace("[tui]\nanimations = false\n", "");
    let keep = merge(&doc(&next), Some(&doc(&disk)), &owned(MASTER), OnDrift::Keep);
    assert_eq!(keep.drift[0].kind, KeyDriftKind::DroppedButEdited);
    assert!(keep.doc.to_string().contains("animations = true"));
    let over = merge(&doc(&next), Some(&doc(&disk)), &owned(MASTER), OnDrift::Overwrite);
    assert!(!over.doc.to_string().contains("animations"));
    assert_eq!(over.removed, ["tui.animations"]);
}

#[test]
fn foreign_keys_inside_owned_tables_stay_in_place() {
    let disk = MASTER.replace(
        "animations = false\n",
        "animations = false\nmodel_availability_nux = { \"gpt-5\" = 1 }\n",
    ) + "\n[mcp_servers.docs.tools.search]\napproval_mode = \"approve\"\n";
    let m = merge(&doc(MASTER), Some(&doc(&disk)), &owned(MASTER), OnDrift::Fail);
    let text = m.doc.to_string();
    assert!(text.contains("animations = false\nmodel_availability_nux"), "{text}");
    let tools = text.find("[mcp_servers.docs.tools.search]").unwrap();
    assert!(tools < text.find("[tui]").unwrap(), "placed after its sibling:\n{text}");
    assert_eq!(m.kept.len(), 2);
}

#[test]
fn merging_again_changes_nothing() {
    let disk = format!("{MASTER}{CODEX_WRITES}");
    let next = MASTER
        .replace("gpt-5\"", "gpt-6\"")
        .replace("[tui]\nanimations = false\n", "");
    let first = merge(&doc(&next), Some(&doc(&disk)), &owned(MASTER), OnDrift::Overwrite);
    let again = merge(&doc(&next), Some(&first.doc), &first.owned, OnDrift::Fail);
    assert_eq!(again.doc.to_string(), first.doc.to_string());
    assert!(again.set.is_empty() && again.removed.is_empty() && again.drift.is_empty());
}

#[test]
fn an_empty_owned_table_takes_in_codex_keys() {
    let master = "[features]\n";
    let disk = "[features]\nweb_search = true\n";
    let m = merge(&doc(master), Some(&doc(disk)), &owned(master), OnDrift::Fail);
    assert_eq!(m.doc.to_string(), disk);
    assert_eq!(m.kept, ["features.web_search"]);
}
