//! Trust failures: nothing is written when the master cannot be trusted or reached.

mod common;

use common::proxy::TamperProxy;
use common::{Machine, Pair};

fn assert_nothing_written(follower: &Machine) {
    assert!(
        follower.codex_files().is_empty(),
        "CODEX_HOME was written: {:?}",
        follower.codex_files().keys()
    );
    assert!(
        !follower.codexport_home.join("enrollment.toml").exists(),
        "enrollment written"
    );
    // Only the day's log (which says why) stays.
    let leftovers = common::without_logs(follower.codexport_paths());
    assert!(leftovers.is_empty(), "CODEXPORT_HOME has {leftovers:?}");
}

fn master_serving() -> (Machine, common::Server) {
    let master = Machine::with_example();
    master.ok(&["master", "init"]);
    let server = master.serve();
    (master, server)
}

#[test]
fn a_wrong_fingerprint_in_the_link_exits_5_and_writes_nothing() {
    let (master, server) = master_serving();
    let link = master.link(&server, "f");
    let fp_start = link.find("fingerprint=").unwrap() + "fingerprint=".len();
    let mut forged = link.clone();
    let first = &link[fp_start..fp_start + 1];
    forged.replace_range(fp_start..fp_start + 1, if first == "0" { "1" } else { "0" });
    let follower = Machine::new();
    let out = follower.run(&["follower", "join", &forged]).expect_code(5);
    assert!(out.stderr.contains("fingerprint mismatch"), "{}", out.stderr);
    assert_nothing_written(&follower);
}

#[test]
fn an_unreachable_master_exits_6_naming_the_url() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let follower = Machine::new();
    let fp = "ab".repeat(32);
    let out = follower
        .run(&[
            "follower",
            "join",
            "--master",
            &format!("http://127.0.0.1:{port}"),
            "--fingerprint",
            &fp,
            "--token",
            "cxp_x",
        ])
        .expect_code(6);
    assert!(
        out.stderr
            .contains(&format!("master unreachable at http://127.0.0.1:{port}")),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
    assert_nothing_written(&follower);
}

#[test]
fn a_wrong_token_is_refused_and_nothing_is_written() {
    let (master, server) = master_serving();
    let link = master.link(&server, "f");
    let start = link.find("token=cxp_").unwrap() + "token=cxp_".len();
    let mut forged = link.clone();
    forged.replace_range(start..start + 4, "dead");
    let follower = Machine::new();
    let out = follower.run(&["follower", "join", &forged]).expect_code(5);
    assert!(out.stderr.contains("refused this follower's token"), "{}", out.stderr);
    assert_nothing_written(&follower);
    let blob = common::http().get(format!("{}/v1/state", server.url)).send().unwrap();
    assert_eq!(blob.status(), 404, "no token: same 404 as an unknown path");
    let unknown = common::http()
        .get(format!("{}/v1/nothing-here", server.url))
        .send()
        .unwrap();
    assert_eq!(unknown.status(), 404);
}

#[test]
fn a_tampered_state_is_refused_and_nothing_is_written() {
    let (master, server) = master_serving();
    let proxy = TamperProxy::start(server.port, b"path: AGENTS.md", b"path: AGENTS.mX");
    let link = master
        .link(&server, "f")
        .replace(&format!("port={}", server.port), &format!("port={}", proxy.port));
    let follower = Machine::new();
    let out = follower.run(&["follower", "join", &link]).expect_code(5);
    assert!(out.stderr.contains("signature does not match"), "{}", out.stderr);
    assert_nothing_written(&follower);
}

#[test]
fn a_blob_whose_bytes_do_not_match_its_hash_is_refused_and_nothing_is_written() {
    let (master, server) = master_serving();
    let proxy = TamperProxy::start(server.port, b"# Working agreements", b"# Working agreement5");
    let agents = fs_err::read_to_string(master.codex_home.join("AGENTS.md")).unwrap();
    assert!(
        agents.contains("# Working agreements"),
        "the example AGENTS.md changed: update this test's marker"
    );
    let link = master
        .link(&server, "f")
        .replace(&format!("port={}", server.port), &format!("port={}", proxy.port));
    let follower = Machine::new();
    let out = follower.run(&["follower", "join", &link]).expect_code(5);
    assert!(out.stderr.contains("arrived with bytes that hash to"), "{}", out.stderr);
    assert_nothing_written(&follower);
}

#[test]
fn a_changed_master_identity_is_refused_until_rejoin() {
    let pair = Pair::applied();
    let before = pair.follower.codex_files();
    let staged = fs_err::read(pair.follower.codexport_home.join("store/state.yaml")).unwrap();
    fs_err::remove_file(pair.master.codexport_home.join("master/identity.key")).unwrap();
    fs_err::write(pair.master.codex_home.join("AGENTS.md"), "changed").unwrap();
    pair.master.ok(&["master", "init"]);
    for args in [&["sync"][..], &["reconcile"], &["sync", "--apply"], &["plan"]] {
        let out = pair.follower.run(args).expect_code(5);
        assert!(out.stderr.contains("fingerprint mismatch"), "{args:?}: {}", out.stderr);
    }
    assert_eq!(pair.follower.codex_files(), before, "nothing applied");
    assert_eq!(
        fs_err::read(pair.follower.codexport_home.join("store/state.yaml")).unwrap(),
        staged,
        "nothing staged"
    );
    let status = pair.follower.ok(&["status"]);
    assert!(status.stdout.contains("master identity changed"), "{}", status.stdout);
    let link = pair.master.link(&pair.server, "again");
    pair.follower.ok(&["follower", "join", &link, "--apply"]);
    assert_eq!(
        fs_err::read_to_string(pair.follower.codex_home.join("AGENTS.md")).unwrap(),
        "changed"
    );
}
