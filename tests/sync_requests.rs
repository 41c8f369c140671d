//! A sync is a handful of round trips whatever the number of files: `/v1/meta`, `/v1/state`
//! and one batched `POST /v1/blobs`. Counted on the wire by a loopback proxy between a real
//! follower and a real master, for 2 and for 200 changed files. The document travels as a
//! delta from the staged one (issue 8: changed bytes + 64 KiB on the wire), and whole again
//! when the master no longer has the follower's base.

mod common;

use common::Machine;
use common::counting::CountingProxy;

const FILES: usize = 220;

fn write_skill_files(master: &Machine, count: usize, version: &str) -> u64 {
    let mut bytes = 0;
    for i in 0..count {
        let path = master.codex_home.join(format!("skills/many/ref-{i:03}.md"));
        fs_err::create_dir_all(path.parent().unwrap()).unwrap();
        let body = format!("# reference {i} ({version})\n{}\n", "text ".repeat(40 + i));
        bytes += body.len() as u64;
        fs_err::write(path, body).unwrap();
    }
    bytes
}

#[test]
fn sync_requests_do_not_grow_with_the_number_of_changed_files() {
    let master = Machine::with_example();
    write_skill_files(&master, FILES, "v1");
    master.ok(&["master", "init"]);
    let server = master.serve();
    let proxy = CountingProxy::start(server.port);
    let link = master.link_on_port(proxy.port, "counted");
    let follower = Machine::new();
    follower.ok(&["follower", "join", &link, "--apply"]);
    let (join_requests, _, _) = proxy.take();
    assert!(
        join_requests <= 4,
        "join took {join_requests} requests for {FILES} files"
    );

    follower.ok(&["sync"]);
    let (requests, _, down) = proxy.take();
    assert_eq!(requests, 1, "an unchanged sync is one meta request");
    assert!(down < 4096, "an unchanged sync moved {down} bytes");

    let mut seen = Vec::new();
    for (changed, version) in [(2usize, "v2"), (200, "v3")] {
        let changed_bytes = write_skill_files(&master, changed, version);
        master.ok(&["master", "rebuild"]);
        let document = fs_err::metadata(master.codexport_home.join("master/state.yaml"))
            .unwrap()
            .len();
        proxy.take();
        let run = follower.ok(&["sync", "--apply"]);
        let (requests, _, down) = proxy.take();
        assert!(
            run.stdout.contains(&format!("({changed} blobs")),
            "{changed} changed files: {}",
            run.stdout
        );
        assert!(requests <= 4, "{changed} changed files took {requests} requests");
        // Two changed entries travel as a delta; 200 of 220 would not be half the document.
        assert_eq!(run.stdout.contains("document delta"), changed == 2, "{}", run.stdout);
        assert!(
            down <= changed_bytes + 64 * 1024,
            "{changed} changed files ({changed_bytes} B, document {document} B): {down} bytes down"
        );
        seen.push(requests);
    }
    assert_eq!(seen[0], seen[1], "requests for 2 and 200 changed files: {seen:?}");
    let expected = common::tree(&master.codex_home).get("skills/many/ref-199.md").cloned();
    assert_eq!(follower.codex_files().get("skills/many/ref-199.md"), expected.as_ref());

    // The master lost its history (or the follower is too far behind): the whole document.
    fs_err::remove_dir_all(master.codexport_home.join("master/history")).unwrap();
    write_skill_files(&master, 1, "v4");
    master.ok(&["master", "rebuild"]);
    let document = fs_err::metadata(master.codexport_home.join("master/state.yaml"))
        .unwrap()
        .len();
    proxy.take();
    let run = follower.ok(&["sync", "--apply"]);
    let (requests, _, down) = proxy.take();
    assert!(requests <= 4, "{requests} requests");
    assert!(!run.stdout.contains("document delta"), "{}", run.stdout);
    assert!(down > document, "a whole document of {document} B, {down} B down");
    let expected = common::tree(&master.codex_home).get("skills/many/ref-000.md").cloned();
    assert_eq!(follower.codex_files().get("skills/many/ref-000.md"), expected.as_ref());
}
