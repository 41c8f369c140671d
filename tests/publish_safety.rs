//! Master-side path safety: a tree followers could not hold is refused at publish time, with
//! a message naming the paths, and nothing is published.

mod common;

use common::Machine;

#[test]
fn a_case_clash_stops_the_publish_naming_both_paths() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let state = master.codexport_home.join("master/state.yaml");
    let published = fs_err::read(&state).unwrap();
    fs_err::write(master.codex_home.join("prompts/Review.md"), "upper").unwrap();
    fs_err::write(master.codex_home.join("prompts/review.md"), "lower").unwrap();
    let out = master.run(&["master", "rebuild"]).expect_code(4);
    assert!(
        out.stderr
            .contains("\"prompts/Review.md\" and \"prompts/review.md\" differ only by letter case"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("hint: rename or remove one of them"),
        "{}",
        out.stderr
    );
    assert_eq!(fs_err::read(&state).unwrap(), published, "nothing published");

    let fresh = Machine::with_example();
    fs_err::write(fresh.codex_home.join("prompts/X.md"), "a").unwrap();
    fs_err::write(fresh.codex_home.join("prompts/x.md"), "b").unwrap();
    fresh.run(&["master", "init"]).expect_code(4);
    assert!(!fresh.codexport_home.join("master/state.yaml").exists());
}

#[test]
fn a_backslash_in_a_file_name_stops_the_publish() {
    let master = Machine::with_example();
    fs_err::write(master.codex_home.join("prompts/a\\b.md"), "x").unwrap();
    let out = master.run(&["master", "init"]).expect_code(4);
    assert!(
        out.stderr.contains("prompts/a\\\\b.md") && out.stderr.contains("backslash"),
        "{}",
        out.stderr
    );
}

#[test]
fn include_entries_outside_codex_home_are_refused() {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let toml = master.codexport_home.join("master/master.toml");
    let text = fs_err::read_to_string(&toml).unwrap();
    for bad in ["../.ssh/", "/etc/"] {
        let patched = text.replacen("include = [", &format!("include = [\n    {bad:?},"), 1);
        assert_ne!(patched, text);
        fs_err::write(&toml, patched).unwrap();
        let out = master.run(&["master", "rebuild"]).expect_code(4);
        assert!(
            out.stderr
                .contains(&format!("include entry {bad:?} must be a path inside CODEX_HOME")),
            "{}",
            out.stderr
        );
    }
}

#[test]
fn the_size_cap_names_the_path_relative_to_codex_home() {
    let master = Machine::with_example();
    let big = master.codex_home.join("skills/code-review/references/huge.bin");
    fs_err::File::create(&big)
        .unwrap()
        .set_len(64 * 1024 * 1024 + 1)
        .unwrap();
    let out = master.run(&["master", "init"]).expect_code(4);
    assert!(
        out.stderr
            .contains("error: skills/code-review/references/huge.bin is 67108865 bytes"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("hint: add \"skills/code-review/references/huge.bin\" (or a pattern matching it) to `exclude`"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains(master.codex_home.to_str().unwrap()),
        "{}",
        out.stderr
    );
}
