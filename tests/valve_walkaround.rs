//! The mass-delete valve cannot be walked around through unattended runs: deletions are
//! measured against the newest generation an operator ran, so padding (add 12 files, then drop
//! the 10 real ones) and halving (10 -> 5 -> 3) are refused when the SessionStart hook would
//! apply them. An operator's own run that changes something (an override included) moves the
//! reference. Real master, real CLI.

mod common;

use common::{Machine, Server};

fn publish(master: &Machine, files: &[String]) {
    write_prompts(master, files);
    master.ok(&["master", "rebuild"]);
}

fn write_prompts(master: &Machine, files: &[String]) {
    let prompts = master.codex_home.join("prompts");
    if prompts.exists() {
        fs_err::remove_dir_all(&prompts).unwrap();
    }
    fs_err::create_dir_all(&prompts).unwrap();
    for f in files {
        fs_err::write(prompts.join(f), format!("prompt {f}")).unwrap();
    }
}

fn names(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}.md")).collect()
}

fn setup(real: &[String]) -> (Machine, Server, Machine) {
    let master = Machine::new();
    write_prompts(&master, real);
    master.ok(&["master", "init"]);
    let server = master.serve();
    let follower = Machine::new();
    follower.ok(&["follower", "join", &master.link(&server, "f"), "--apply"]);
    (master, server, follower)
}

/// One SessionStart hook run; its recorded outcome.
fn hook(f: &Machine) -> serde_json::Value {
    f.ok(&["reconcile", "--hook", "--timeout-ms", "10000"]);
    serde_json::from_slice(&fs_err::read(f.codexport_home.join("hook-last.json")).unwrap()).unwrap()
}

fn prompts(f: &Machine) -> usize {
    fs_err::read_dir(f.codex_home.join("prompts")).unwrap().count()
}

#[test]
fn padding_then_dropping_the_real_files_is_refused_for_the_hook_and_the_operator() {
    let real = names("real", 10);
    let (master, _server, f) = setup(&real);
    let padded: Vec<String> = real.iter().cloned().chain(names("pad", 12)).collect();
    publish(&master, &padded);
    assert_eq!(hook(&f)["outcome"], "applied");
    assert_eq!(prompts(&f), 22);

    publish(&master, &names("pad", 12));
    let last = hook(&f);
    assert_eq!(last["outcome"], "refused", "{last}");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("leaves out 10 of the 10 files"),
        "{last}"
    );
    assert_eq!(prompts(&f), 22, "nothing removed");
    let manual = f.run(&["reconcile"]).expect_code(3);
    assert!(
        manual.stderr.contains("the last one an operator ran"),
        "{}",
        manual.stderr
    );
    f.ok(&["reconcile", "--allow-mass-delete"]);
    assert_eq!(prompts(&f), 12, "the operator's override applies it");
}

#[test]
fn halving_through_the_hook_stops_at_the_second_step_an_operator_run_moves_the_reference() {
    let real = names("real", 10);
    let (master, _server, f) = setup(&real);
    publish(&master, &real[..5]);
    assert_eq!(hook(&f)["outcome"], "applied", "half of the reference is allowed");
    publish(&master, &real[..3]);
    let last = hook(&f);
    assert_eq!(last["outcome"], "refused", "{last}");
    assert_eq!(prompts(&f), 5);

    // The operator sees the same refusal, decides, and overrides: that run is the new
    // reference, so the hook may now apply what is within half of it.
    f.run(&["reconcile"]).expect_code(3);
    f.ok(&["reconcile", "--allow-mass-delete"]);
    assert_eq!(prompts(&f), 3);
    publish(&master, &real[..2]);
    assert_eq!(hook(&f)["outcome"], "applied", "3 -> 2 against the operator's 3");
    assert_eq!(prompts(&f), 2);
}
