use std::path::Path;

use super::*;
use crate::master::scan::scan;

fn write(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    fs_err::create_dir_all(p.parent().unwrap()).unwrap();
    fs_err::write(p, body).unwrap();
}

/// Everything a report says, in a comparable form.
fn summary(r: &ScanReport) -> String {
    let files: Vec<String> = r
        .files
        .iter()
        .map(|f| {
            format!(
                "{} {} {:o} {:?} {:?} {}",
                f.rel,
                f.size,
                f.mode,
                f.class,
                f.stamp,
                f.abs.display()
            )
        })
        .collect();
    format!(
        "files {files:#?}\nsymlinks {:?}\nruntime {:?}\nnot included {:?}\nspecial {:?}\nexcluded {:?}",
        r.symlinks, r.runtime_skipped, r.not_included, r.special_skipped, r.excluded
    )
}

/// A tree with a bit of everything the scan tells apart.
fn tree(root: &Path) {
    write(root, "config.toml", "model = \"o3\"\n");
    write(root, "AGENTS.md", "be brief\n");
    write(root, "skills/a/SKILL.md", "a\n");
    write(root, "skills/a/ref/one.md", "1\n");
    write(root, "skills/a-b/SKILL.md", "a-b\n");
    write(root, "skills/a/.git/HEAD", "ref\n");
    write(root, "skills/b/SKILL.md", "b\n");
    write(root, "skills/b/db.sqlite", "runtime\n");
    write(root, "prompts/p.md", "p\n");
    write(root, "sessions/s.jsonl", "{}\n");
    write(root, "notes.txt", "not included\n");
}

/// Apply `change` to a fresh tree, then check that rescanning `changed` gives what a full
/// scan gives, and return whether the published paths moved.
fn check(settings: &MasterSettings, change: impl FnOnce(&Path), changed: &[&str]) -> bool {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    tree(root);
    let before = scan(root, settings).unwrap();
    change(root);
    let changed: Vec<String> = changed.iter().map(|c| c.to_string()).collect();
    let got = rescan(root, settings, before, &changed).unwrap();
    let want = scan(root, settings).unwrap();
    assert_eq!(summary(&got.report), summary(&want), "changed {changed:?}");
    got.paths_changed
}

#[test]
fn an_edited_file_is_read_again_and_the_paths_stay() {
    let moved = check(
        &MasterSettings::default(),
        |r| write(r, "skills/a/SKILL.md", "a, longer now\n"),
        &["skills/a/SKILL.md"],
    );
    assert!(!moved);
}

#[test]
fn a_new_directory_is_walked_whole() {
    let moved = check(
        &MasterSettings::default(),
        |r| {
            write(r, "skills/c/SKILL.md", "c\n");
            write(r, "skills/c/deep/er/x.md", "x\n");
            write(r, "skills/c/node_modules/m.js", "excluded\n");
        },
        &["skills/c"],
    );
    assert!(moved);
}

#[test]
fn a_removed_directory_takes_everything_below_it_and_nothing_beside_it() {
    // skills/a-b sorts between skills/a and skills/a/...: it must survive.
    let moved = check(
        &MasterSettings::default(),
        |r| fs_err::remove_dir_all(r.join("skills/a")).unwrap(),
        &["skills/a/SKILL.md", "skills/a"],
    );
    assert!(moved);
}

#[test]
fn a_renamed_directory_is_gone_under_one_name_and_found_under_the_other() {
    check(
        &MasterSettings::default(),
        |r| fs_err::rename(r.join("skills/a"), r.join("skills/z")).unwrap(),
        &["skills/a", "skills/z"],
    );
}

#[cfg(unix)]
#[test]
fn a_directory_replaced_by_a_symlink_is_reported_not_followed() {
    check(
        &MasterSettings::default(),
        |r| {
            fs_err::remove_dir_all(r.join("skills/b")).unwrap();
            std::os::unix::fs::symlink(r.join("prompts"), r.join("skills/b")).unwrap();
        },
        &["skills/b"],
    );
}

#[cfg(unix)]
#[test]
fn a_file_below_a_directory_that_became_a_symlink_is_not_read() {
    // Only the file's own event is handed over; the directory above it is a symlink now.
    check(
        &MasterSettings::default(),
        |r| {
            fs_err::rename(r.join("skills/a"), r.join("elsewhere")).unwrap();
            std::os::unix::fs::symlink(r.join("elsewhere"), r.join("skills/a")).unwrap();
        },
        &[
            "skills/a/SKILL.md",
            "skills/a/ref/one.md",
            "skills/a/.git/HEAD",
            "skills/a",
        ],
    );
}

#[cfg(unix)]
#[test]
fn a_new_mode_is_seen() {
    use std::os::unix::fs::PermissionsExt;
    let moved = check(
        &MasterSettings::default(),
        |r| fs_err::set_permissions(r.join("AGENTS.md"), std::fs::Permissions::from_mode(0o600)).unwrap(),
        &["AGENTS.md"],
    );
    assert!(!moved);
}

#[test]
fn excluded_runtime_and_top_level_entries_are_listed_as_a_full_scan_lists_them() {
    check(
        &MasterSettings::default(),
        |r| {
            write(r, "skills/b/.git/config", "x\n");
            write(r, "skills/b/more.sqlite", "x\n");
            write(r, "more-notes.txt", "x\n");
            fs_err::remove_file(r.join("notes.txt")).unwrap();
            write(r, "log/codex.log", "x\n");
        },
        &[
            "skills/b/.git/config",
            "skills/b/more.sqlite",
            "more-notes.txt",
            "notes.txt",
            "log",
        ],
    );
}

#[test]
fn an_include_root_removed_and_created_again() {
    check(
        &MasterSettings::default(),
        |r| {
            fs_err::remove_dir_all(r.join("skills")).unwrap();
            write(r, "skills/new/SKILL.md", "n\n");
        },
        &["skills"],
    );
}

#[test]
fn a_change_above_an_include_entry_rescans_the_entry() {
    let settings = MasterSettings {
        include: vec!["config.toml".into(), "skills/b/".into()],
        ..Default::default()
    };
    check(
        &settings,
        |r| {
            fs_err::remove_dir_all(r.join("skills")).unwrap();
            write(r, "skills/b/SKILL.md", "b again, longer\n");
        },
        &["skills"],
    );
}

#[test]
fn a_file_that_is_gone_again_before_the_rescan_is_simply_absent() {
    let moved = check(
        &MasterSettings::default(),
        |r| {
            write(r, "prompts/tmp.md", "x\n");
            fs_err::remove_file(r.join("prompts/tmp.md")).unwrap();
        },
        &["prompts/tmp.md", "prompts/never-existed.md"],
    );
    assert!(!moved);
}

#[test]
fn a_file_over_the_cap_stops_the_rescan_by_name() {
    let dir = tempfile::tempdir().unwrap();
    tree(dir.path());
    let settings = MasterSettings::default();
    let before = scan(dir.path(), &settings).unwrap();
    let f = fs_err::File::create(dir.path().join("skills/a/big.bin")).unwrap();
    f.set_len(crate::model::wire::MAX_FILE_BYTES + 1).unwrap();
    let err = rescan(dir.path(), &settings, before, &["skills/a/big.bin".into()]).unwrap_err();
    assert!(err.to_string().starts_with("skills/a/big.bin is "), "{err}");
}

#[test]
fn outermost_keeps_only_the_highest_changed_paths() {
    let changed: Vec<String> = ["skills/a/x", "skills/a", "skills/a-b/y", "prompts/", "prompts/q", ""]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(outermost(&changed), ["prompts", "skills/a", "skills/a-b/y"]);
}
