use super::*;

fn document(files: usize, changed: Option<usize>) -> String {
    let mut s = String::from(
        "apiVersion: codexport/v1\nkind: DesiredState\nmetadata:\n  revision: sha256:aa\nspec:\n  files:\n",
    );
    for i in 0..files {
        let hash = if Some(i) == changed { "ff" } else { "00" };
        s.push_str(&format!(
            "  - path: skills/s{i}/SKILL.md\n    sha256: {hash}{i:062}\n    size: {}\n    mode: 420\n    class: skill\n",
            100 + i
        ));
    }
    s
}

#[test]
fn one_changed_entry_costs_a_few_lines() {
    let base = document(2000, None);
    let target = document(2000, Some(1234));
    let delta = encode(base.as_bytes(), target.as_bytes()).unwrap();
    let wire = serde_json::to_vec(&delta).unwrap();
    assert!(
        wire.len() < 1024,
        "{} bytes for one changed line of {}",
        wire.len(),
        target.len()
    );
    assert_eq!(apply(base.as_bytes(), &delta, 1 << 30).unwrap(), target.as_bytes());
}

#[test]
fn round_trips_on_unrelated_and_edge_inputs() {
    let cases: [(&str, &str); 7] = [
        ("", ""),
        ("", "a\nb\n"),
        ("a\nb\n", ""),
        ("a\nb", "a\nb\n"),
        ("x\r\ny\r\n", "x\r\nz\r\n"),
        ("héllo\nwörld\n", "wörld\nhéllo\n"),
        ("same\n", "same\n"),
    ];
    for (base, target) in cases {
        let delta = encode(base.as_bytes(), target.as_bytes()).unwrap();
        let rebuilt = apply(base.as_bytes(), &delta, 1 << 20).unwrap();
        assert_eq!(rebuilt, target.as_bytes(), "{base:?} -> {target:?}");
    }
    let a = document(300, None);
    let b = document(200, Some(7)).replace("class: skill", "class: rule");
    let delta = encode(a.as_bytes(), b.as_bytes()).unwrap();
    assert_eq!(apply(a.as_bytes(), &delta, 1 << 30).unwrap(), b.as_bytes());
}

#[test]
fn non_utf8_documents_get_no_delta() {
    assert_eq!(encode(b"\xff\n", b"a\n"), None);
    assert_eq!(encode(b"a\n", b"\xfe\n"), None);
}

#[test]
fn hostile_deltas_are_refused_without_panicking() {
    let base = b"line one\nline two\n";
    let good = encode(base, b"line one\nline 2\n").unwrap();

    let err = apply(b"other bytes\n", &good, 1024).unwrap_err();
    assert!(matches!(err, DeltaError::WrongBase { .. }), "{err}");

    let err = apply(base, &good, 4).unwrap_err();
    assert_eq!(
        err,
        DeltaError::TooLarge {
            size: good.size,
            cap: 4
        }
    );

    let mut past_end = good.clone();
    past_end.ops = vec![DeltaOp::Copy {
        offset: 5,
        len: u64::MAX,
    }];
    let err = apply(base, &past_end, 1024).unwrap_err();
    assert!(matches!(err, DeltaError::OutOfRange { index: 0, .. }), "{err}");

    // Growing past the declared size stops at once, whatever the ops say.
    let mut growing = good.clone();
    growing.ops = vec![DeltaOp::Copy { offset: 0, len: 9 }; 1000];
    let err = apply(base, &growing, 1 << 20).unwrap_err();
    assert!(matches!(err, DeltaError::TooLarge { .. }), "{err}");

    // Same length, other bytes: only the hash can tell.
    let mut swapped = good.clone();
    swapped.ops = vec![DeltaOp::Insert("x".repeat(good.size as usize))];
    let err = apply(base, &swapped, 1 << 20).unwrap_err();
    assert!(matches!(err, DeltaError::WrongTarget { .. }), "{err}");

    let mut wrong = good.clone();
    wrong.target = digest(b"something else");
    let err = apply(base, &wrong, 1 << 20).unwrap_err();
    assert!(matches!(err, DeltaError::WrongTarget { .. }), "{err}");

    let err = serde_json::from_str::<StateDelta>(r#"{"base":"","target":"","size":0,"ops":[{"move":1}]}"#);
    assert!(err.is_err());
}
