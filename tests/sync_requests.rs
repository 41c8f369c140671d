//! A sync is a handful of round trips whatever the number of files: `/v1/meta`, `/v1/state`
//! and one batched `POST /v1/blobs`. Counted on the wire by a loopback proxy between a real
//! follower and a real master, for 2 and for 200 changed files.

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
        assert!(
            down <= changed_bytes + document + 16 * 1024,
            "{changed} changed files ({changed_bytes} B, document {document} B): {down} bytes down"
        );
        seen.push(requests);
    }
    assert_eq!(seen[0], seen[1], "requests for 2 and 200 changed files: {seen:?}");
    let expected = common::tree(&master.codex_home).get("skills/many/ref-199.md").cloned();
    assert_eq!(follower.codex_files().get("skills/many/ref-199.md"), expected.as_ref());
}
