//! One named test per fuzzing finding: the input (or the family it stands for) and the
//! behaviour now required. The raw crash inputs are in `tests/fuzz_regressions/<target>/` and
//! run through the fuzz properties by `tests/fuzz_seeds.rs`.

use codexport::exit::{Exit, ExitStatus};
use codexport::follower::enrollment::JoinLink;

/// Finding (join_link seeds, before the fuzzer ran): `host=` was pasted into
/// `http://{host}:{port}`, so `host=evil.example/x?` gave the master URL
/// `http://evil.example/x?:80` (port 80, a path and a query) and `host=a@b` gave user info.
/// Now `host=` must be a host name or address, and `--master` only scheme, host and port.
#[test]
fn join_link_host_cannot_become_a_path_query_or_user_info() {
    let fp = "ab".repeat(32);
    for host in ["evil.example%2Fx%3F", "a%40b", "h%23frag", "a%3A1", "a%20b", ""] {
        let link = format!("codexport://join?host={host}&port=80&fingerprint={fp}&token=t");
        let err = JoinLink::parse(&link).unwrap_err();
        assert_eq!(err.exit(), Exit::Usage, "{host}: {err}");
    }
    for url in [
        "http://u@h:1",
        "http://u:p@h:1",
        "http://h:1/x",
        "http://h:1?q",
        "http://h:1#f",
    ] {
        assert_eq!(JoinLink::new(url, &fp, "t").unwrap_err().exit(), Exit::Usage, "{url}");
    }
    let ok = JoinLink::parse(&format!(
        "codexport://join?host=%3A%3A1&port=7&fingerprint={fp}&token=t"
    ))
    .unwrap();
    assert_eq!(ok.master_url, "http://[::1]:7");
    let ok = JoinLink::parse(&format!(
        "codexport://join?host=Master.Local&port=7&fingerprint={fp}&token=t"
    ))
    .unwrap();
    assert_eq!(ok.master_url, "http://master.local:7");
    assert_eq!(JoinLink::new("http://h:1/", &fp, "t").unwrap().master_url, "http://h:1");
}
